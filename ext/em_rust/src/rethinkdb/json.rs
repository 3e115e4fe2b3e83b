//! Decodes a response payload in one pass, straight into the caller's values: a
//! [`Builder`] says how to make a null, a number, a string, an array or an object.
//! The Ruby glue builds Ruby objects with it (no intermediate tree); tests build
//! `serde_json::Value`s.
//!
//! Nesting is limited by serde_json's recursion limit (128 levels), which keeps a
//! hostile payload from overflowing the stack: it is an error like any other
//! invalid JSON.
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Makes values of one kind. Containers are created empty and filled in order,
/// so a builder whose values live in a garbage-collected heap always has every
/// finished value reachable from a container or from the decoder's stack.
pub trait Builder {
    type Value;
    type Key;
    fn null(&mut self) -> Self::Value;
    fn boolean(&mut self, b: bool) -> Self::Value;
    fn int(&mut self, i: i64) -> Self::Value;
    fn uint(&mut self, u: u64) -> Self::Value;
    fn float(&mut self, f: f64) -> Self::Value;
    fn string(&mut self, s: &str) -> Self::Value;
    fn array(&mut self) -> Self::Value;
    fn push(&mut self, array: &mut Self::Value, item: Self::Value);
    fn object(&mut self) -> Self::Value;
    fn key(&mut self, s: &str) -> Self::Key;
    fn insert(&mut self, object: &mut Self::Value, key: Self::Key, value: Self::Value);
}

/// Decodes one JSON document (and nothing after it but whitespace).
pub fn decode<B: Builder>(bytes: &[u8], builder: &mut B) -> Result<B::Value, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = ValueSeed(builder).deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

struct ValueSeed<'b, B>(&'b mut B);
struct KeySeed<'b, B>(&'b mut B);

impl<'de, B: Builder> DeserializeSeed<'de> for ValueSeed<'_, B> {
    type Value = B::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<B::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, B: Builder> Visitor<'de> for ValueSeed<'_, B> {
    type Value = B::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<B::Value, E> {
        Ok(self.0.null())
    }

    fn visit_bool<E>(self, b: bool) -> Result<B::Value, E> {
        Ok(self.0.boolean(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<B::Value, E> {
        Ok(self.0.int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<B::Value, E> {
        Ok(self.0.uint(u))
    }

    fn visit_f64<E>(self, f: f64) -> Result<B::Value, E> {
        Ok(self.0.float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<B::Value, E> {
        Ok(self.0.string(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<B::Value, A::Error> {
        let mut array = self.0.array();
        while let Some(item) = seq.next_element_seed(ValueSeed(&mut *self.0))? {
            self.0.push(&mut array, item);
        }
        Ok(array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<B::Value, A::Error> {
        let mut object = self.0.object();
        while let Some(key) = map.next_key_seed(KeySeed(&mut *self.0))? {
            let value = map.next_value_seed(ValueSeed(&mut *self.0))?;
            self.0.insert(&mut object, key, value);
        }
        Ok(object)
    }
}

impl<'de, B: Builder> DeserializeSeed<'de> for KeySeed<'_, B> {
    type Value = B::Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<B::Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, B: Builder> Visitor<'de> for KeySeed<'_, B> {
    type Value = B::Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, s: &str) -> Result<B::Key, E> {
        Ok(self.0.key(s))
    }
}

/// Builds `serde_json::Value`s: the reference the Ruby builder is tested against.
#[cfg(test)]
pub(crate) struct TreeBuilder;

#[cfg(test)]
impl Builder for TreeBuilder {
    type Value = serde_json::Value;
    type Key = String;
    fn null(&mut self) -> serde_json::Value {
        serde_json::Value::Null
    }
    fn boolean(&mut self, b: bool) -> serde_json::Value {
        b.into()
    }
    fn int(&mut self, i: i64) -> serde_json::Value {
        i.into()
    }
    fn uint(&mut self, u: u64) -> serde_json::Value {
        u.into()
    }
    fn float(&mut self, f: f64) -> serde_json::Value {
        serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
    fn string(&mut self, s: &str) -> serde_json::Value {
        s.into()
    }
    fn array(&mut self) -> serde_json::Value {
        serde_json::Value::Array(Vec::new())
    }
    fn push(&mut self, array: &mut serde_json::Value, item: serde_json::Value) {
        array.as_array_mut().unwrap().push(item);
    }
    fn object(&mut self) -> serde_json::Value {
        serde_json::Value::Object(Default::default())
    }
    fn key(&mut self, s: &str) -> String {
        s.to_string()
    }
    fn insert(&mut self, object: &mut serde_json::Value, key: String, value: serde_json::Value) {
        object.as_object_mut().unwrap().insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(text: &str) -> Result<serde_json::Value, String> {
        decode(text.as_bytes(), &mut TreeBuilder)
    }

    #[test]
    fn decodes_every_kind() {
        let text = r#" {"t":1,"r":[null,true,false,-5,18446744073709551615,1.5,"a\u00e9\"b",[],{}],"n":[],"k":{"x":{"y":[1]}}} "#;
        assert_eq!(
            tree(text).unwrap(),
            json!({"t":1,"r":[null,true,false,-5,18446744073709551615u64,1.5,"a\u{e9}\"b",[],{}],"n":[],"k":{"x":{"y":[1]}}})
        );
    }

    #[test]
    fn invalid_documents_are_errors() {
        for bad in ["", "{", "{\"t\":1", "[1,]", "{\"t\":1} x", "nul", "\"\\ud800\"", "{1:2}", "[1] [2]"] {
            assert!(tree(bad).is_err(), "{bad:?} decoded");
        }
        assert!(decode(b"\"\xff\"", &mut TreeBuilder).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let err = tree(&deep).unwrap_err();
        assert!(err.contains("recursion limit"), "{err}");
        let ok = "[".repeat(100) + &"]".repeat(100);
        assert!(tree(&ok).is_ok());
    }
}
