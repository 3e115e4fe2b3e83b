# frozen_string_literal: true
# A private RabbitMQ node (Debian package rabbitmq-server) for the amqp gem's
# specs, never the system service: /usr/lib/rabbitmq/bin/rabbitmq-server run
# as the current user with its own node name (emrust_spec_<pid>@localhost),
# AMQP port, distribution port, epmd (spawned here, on its own port through
# ERL_EPMD_PORT, so a system epmd is neither used nor started) and every file
# (config, mnesia, logs, cookie, plugins) in a temporary directory. Everything
# listens on 127.0.0.1. Stopped by pid: the node (TERM: the script stops the
# VM), then the epmd it used.
require_relative "private_server"

class RabbitMQServer < PrivateServer
  PACKAGE = "rabbitmq-server"
  START_TIMEOUT = 60 # a cold boot takes ~5 s on an idle machine, more under load

  attr_reader :port

  # The Debian wrapper in /usr/sbin switches to the rabbitmq user (via su, as
  # root); the script it runs is started here directly, as the current user.
  SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"

  def initialize = super("em_rust-rabbitmq")

  def node_name = "emrust_spec_#{Process.pid}@localhost"

  # Options for AMQP.connect.
  def connection_options = { host: HOST, port: port, user: "guest", pass: "guest", vhost: "/" }

  private

  def boot
    server = File.executable?(SCRIPT) ? SCRIPT : raise("#{PACKAGE} is not installed: no #{SCRIPT} " \
                                                       "(bin/setup installs it; by hand: apt-get install -y #{PACKAGE})")
    epmd = self.class.require_package!("erlang-base (a dependency of #{PACKAGE})", "epmd")
    @port = free_port
    dist_port = free_port
    epmd_port = free_port
    File.write(path("rabbitmq.conf"), <<~CONF)
      listeners.tcp.default = #{HOST}:#{@port}
      loopback_users.guest = true
      log.console = true
      log.console.level = warning
      log.file = false
    CONF
    File.write(path("enabled_plugins"), "[].\n")
    File.write(path("rabbitmq-env.conf"), "")
    env = {
      "HOME" => @dir, # the Erlang cookie goes to $HOME/.erlang.cookie
      "ERL_EPMD_PORT" => epmd_port.to_s,
      "ERL_EPMD_ADDRESS" => HOST,
      "RABBITMQ_NODENAME" => node_name,
      "RABBITMQ_NODE_IP_ADDRESS" => HOST,
      "RABBITMQ_NODE_PORT" => @port.to_s,
      "RABBITMQ_DIST_PORT" => dist_port.to_s,
      "RABBITMQ_CONF_ENV_FILE" => path("rabbitmq-env.conf"),
      "RABBITMQ_CONFIG_FILE" => path("rabbitmq.conf"),
      "RABBITMQ_ADVANCED_CONFIG_FILE" => path("advanced.config"),
      "RABBITMQ_ENABLED_PLUGINS_FILE" => path("enabled_plugins"),
      "RABBITMQ_PLUGINS_EXPAND_DIR" => path("plugins-expand"),
      "RABBITMQ_MNESIA_BASE" => path("mnesia"),
      "RABBITMQ_LOG_BASE" => path("log"),
      "RABBITMQ_PID_FILE" => path("rabbitmq.pid"),
      "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS" => "-kernel inet_dist_use_interface {127,0,0,1}",
      "RABBITMQ_ALLOW_INPUT" => nil, "RABBITMQ_NODE_ONLY" => nil, "NOTIFY_SOCKET" => nil
    }
    epmd_pid = spawn_logged(env, epmd, "-port", epmd_port.to_s, "-address", HOST, log: "epmd.log", what: "epmd")
    return false unless wait_until(epmd_pid, 10) { accepting?(epmd_port) }

    pid = spawn_logged(env, server, log: "rabbitmq.log", what: "rabbitmq-server")
    wait_until(pid, START_TIMEOUT) { amqp_ready? }
  end

  def logs = read_log("epmd.log") + read_log("rabbitmq.log")

  def accepting?(port)
    TCPSocket.new(HOST, port).close
    true
  rescue SystemCallError
    false
  end

  # The broker answers an AMQP 0-9-1 protocol header with a connection.start
  # method frame (type 1, channel 0) once it is booted.
  def amqp_ready?
    TCPSocket.open(HOST, @port) do |s|
      s.write("AMQP\x00\x00\x09\x01")
      return false unless IO.select([s], nil, nil, 2)
      s.readpartial(7).unpack("Cn") == [1, 0]
    end
  rescue SystemCallError, EOFError, IOError
    false
  end
end
