//! The module functions of `EventMachine` that are native because they are the
//! hottest entry points: `add_timer`, `next_tick` and `send_data` (with
//! `Connection#send_data`, which EM writes in Ruby as a call of it).
use super::machine::{current_machine, Machine};
use super::{errors, raw};
use magnus::{
    method,
    prelude::*,
    typed_data::Obj,
    value::{Lazy, LazyId},
    Error, Float, Integer, RArray, RModule, RString, Ruby, Value,
};

static RESPOND_TO: LazyId = LazyId::new("respond_to?");
static TO_F: LazyId = LazyId::new("to_f");
static CALL: LazyId = LazyId::new("call");
static TO_S: LazyId = LazyId::new("to_s");
static MACHINE_IVAR: LazyId = LazyId::new("@machine");
static TICKS_IVAR: LazyId = LazyId::new("@next_tick_queue");
static SIGNATURE_IVAR: LazyId = LazyId::new("@signature");
static EVENT_MACHINE: Lazy<RModule> = Lazy::new(|ruby| ruby.define_module("EventMachine").expect("EventMachine"));

/// `EM.add_timer(interval, callable = nil, &block)`: the hottest timer entry
/// point, so it is native. Returns the timer's signature, or nil without code.
fn add_timer(ruby: &Ruby, em: RModule, args: &[Value]) -> Result<Value, Error> {
    check_arity(ruby, args, 1, 2)?;
    let Some(code) = callable_or_block(ruby, args.get(1).copied())? else {
        return Ok(ruby.qnil().as_value());
    };
    if !is_callable(ruby, code)? {
        return Err(Error::new(ruby.exception_arg_error(), "timer callback must respond to #call"));
    }
    let seconds = interval_seconds(ruby, args[0])?;
    let machine = current_machine(ruby, em, "evma_install_oneshot_timer")?;
    machine.add_callback_timer(ruby, seconds, code)
}

/// `EM.send_data(sig, data, size = nil)`, which `Connection#send_data` calls: queues
/// `data` (its `to_s` if not a String; `size` is not needed) and returns the bytes
/// queued, -1 for a connection that is gone.
fn send_data(ruby: &Ruby, em: RModule, args: &[Value]) -> Result<i64, Error> {
    check_arity(ruby, args, 2, 3)?;
    send_on(ruby, em, args[0], args[1])
}

/// `Connection#send_data(data)`: what EM's Ruby version does (`EM.send_data(@signature,
/// data, data.bytesize)`), without the Ruby calls in between.
fn connection_send_data(ruby: &Ruby, conn: Value, data: Value) -> Result<i64, Error> {
    let sig = raw::ivar(conn, LazyId::get_inner_with(&SIGNATURE_IVAR, ruby));
    send_on(ruby, ruby.get_inner(&EVENT_MACHINE), sig, data)
}

fn send_on(ruby: &Ruby, em: RModule, sig: Value, data: Value) -> Result<i64, Error> {
    let machine = current_machine(ruby, em, "evma_send_data_to_connection")?;
    let sig = u64::try_convert(sig)?;
    let data = match RString::from_value(data) {
        Some(s) => s,
        None => data.funcall(*TO_S, ())?,
    };
    Ok(Machine::send_data(ruby, &machine, sig, data))
}

/// `EM.next_tick(callable = nil, &block)`: queues a callback for the next turn;
/// works before `EM.run` and from any thread (wakes a sleeping reactor).
fn next_tick(ruby: &Ruby, em: RModule, args: &[Value]) -> Result<Value, Error> {
    check_arity(ruby, args, 0, 1)?;
    let explicit = args.first().copied().filter(|pr| !pr.is_nil());
    let callback = match explicit {
        Some(pr) if is_callable(ruby, pr)? => pr,
        _ if ruby.block_given() => ruby.block_proc()?.as_value(),
        _ => return Err(Error::new(ruby.exception_arg_error(), "no proc or block given")),
    };
    queue_tick(ruby, em, callback)?;
    Ok(ruby.qnil().as_value())
}

/// Queues a callable for the next turn and wakes a waiting reactor. It calls no
/// Ruby method, so no interrupt (Thread#raise, #kill) can land between the push
/// and the return.
pub(super) fn queue_tick(ruby: &Ruby, em: RModule, callback: Value) -> Result<(), Error> {
    let ticks = RArray::from_value(raw::ivar(em, LazyId::get_inner_with(&TICKS_IVAR, ruby)))
        .ok_or_else(|| errors::runtime_error(ruby, "em_rust: next-tick queue missing"))?;
    raw::ary_push(ticks, callback);
    let machine = raw::ivar(em, LazyId::get_inner_with(&MACHINE_IVAR, ruby));
    if !machine.is_nil() {
        Obj::<Machine>::try_convert(machine)?.reactor.wakeup.nudge();
    }
    Ok(())
}

/// Ruby's own message for a wrong argument count.
fn check_arity(ruby: &Ruby, args: &[Value], min: usize, max: usize) -> Result<(), Error> {
    if (min..=max).contains(&args.len()) {
        return Ok(());
    }
    let msg = format!("wrong number of arguments (given {}, expected {min}..{max})", args.len());
    Err(Error::new(ruby.exception_arg_error(), msg))
}

/// The explicit callable if given (non-nil), else the block as a Proc, else None.
fn callable_or_block(ruby: &Ruby, explicit: Option<Value>) -> Result<Option<Value>, Error> {
    match explicit.filter(|code| !code.is_nil()) {
        Some(code) => Ok(Some(code)),
        None if ruby.block_given() => Ok(Some(ruby.block_proc()?.as_value())),
        None => Ok(None),
    }
}

/// Procs are callable without asking; anything else must answer `respond_to?(:call)`.
fn is_callable(ruby: &Ruby, code: Value) -> Result<bool, Error> {
    if raw::is_proc(code) {
        return Ok(true);
    }
    code.funcall(*RESPOND_TO, (magnus::Symbol::from(LazyId::get_inner_with(&CALL, ruby)),))
}

/// An interval as EM reads it (`interval.to_f`): NaN raises FloatDomainError, as
/// `to_i` does in EM; negative means now.
fn interval_seconds(ruby: &Ruby, interval: Value) -> Result<f64, Error> {
    let seconds = if let Some(i) = Integer::from_value(interval) {
        i.to_i64().map(|n| n as f64).unwrap_or(f64::INFINITY)
    } else if let Some(f) = Float::from_value(interval) {
        f.to_f64()
    } else {
        interval.funcall::<_, _, f64>(*TO_F, ())?
    };
    if !seconds.is_finite() {
        let shown = if seconds.is_nan() {
            "NaN"
        } else if seconds > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        return Err(Error::new(ruby.exception_float_domain_error(), shown));
    }
    Ok(seconds.max(0.0))
}

pub fn init(ruby: &Ruby, em: RModule) -> Result<(), Error> {
    // lib/em/connection.rb reopens the class and leaves send_data to this.
    let connection = em.define_class("Connection", ruby.class_object())?;
    connection.define_method("send_data", method!(connection_send_data, 1))?;
    em.define_singleton_method("add_timer", method!(add_timer, -1))?;
    em.define_singleton_method("next_tick", method!(next_tick, -1))?;
    em.define_singleton_method("send_data", method!(send_data, -1))?;
    Ok(())
}
