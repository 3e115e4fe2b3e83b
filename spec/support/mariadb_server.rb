# frozen_string_literal: true
# A private MariaDB server (Debian package mariadb-server) for the mysql2 specs,
# never the system service: a data directory made by mariadb-install-db in a
# temporary directory, then mariadbd started as the current user (as root it
# needs --user=root) with --no-defaults (no /etc/mysql), on 127.0.0.1 and a
# free port, its socket, pid file and log in that directory. The root account
# has no password (--auth-root-authentication-method=normal). Stopped by pid.
require_relative "private_server"

class MariaDBServer < PrivateServer
  PACKAGE = "mariadb-server"
  DATABASE = "emrust_spec"
  START_TIMEOUT = 30

  attr_reader :port

  def initialize = super("em_rust-mariadb")

  def socket = path("mysqld.sock")

  # Options for Mysql2::Client.new / Mysql2::EM::Client.new.
  def client_options = { host: HOST, port: port, username: "root", database: DATABASE, connect_timeout: 5 }

  # A blocking client (setup and checks outside the reactor).
  def client(**opts)
    require "mysql2"
    Mysql2::Client.new(**client_options, **opts)
  end

  private

  def boot
    install = self.class.require_package!(PACKAGE, "mariadb-install-db", "mysql_install_db")
    server = self.class.require_package!(PACKAGE, "mariadbd", "mysqld")
    user = root? ? ["--user=#{Etc.getpwuid.name}"] : []
    tuning = %w[--innodb-buffer-pool-size=16M --innodb-log-file-size=8M --skip-name-resolve]
    data = path("data")
    pid = spawn_logged({}, install, "--no-defaults", "--datadir=#{data}", *user, "--auth-root-authentication-method=normal",
                       "--skip-test-db", *tuning, log: "install.log", what: "mariadb-install-db")
    status = wait_exit(pid, 60) or raise "mariadb-install-db did not finish within 60 s"
    @pids.pop
    raise "mariadb-install-db failed (#{status.inspect})" unless status.success?

    @port = free_port
    pid = spawn_logged({}, server, "--no-defaults", "--datadir=#{data}", *user, "--bind-address=#{HOST}",
                       "--port=#{@port}", "--skip-networking=0", "--socket=#{socket}", "--pid-file=#{path('mysqld.pid')}",
                       "--tmpdir=#{@dir}", "--log-error=#{path('mysqld.err')}", *tuning,
                       log: "mysqld.log", what: "mariadbd")
    return false unless wait_until(pid, START_TIMEOUT) { accepting? }

    client(database: nil).tap { |c| c.query("CREATE DATABASE #{DATABASE}") }.close
    true
  end

  def logs = read_log("install.log") + read_log("mysqld.log") + read_log("mysqld.err")

  # Logs in and runs a query: the server is past its startup.
  def accepting?
    require "mysql2"
    Mysql2::Client.new(host: HOST, port: @port, username: "root", connect_timeout: 2).tap { |c| c.query("SELECT 1") }.close
    true
  rescue Mysql2::Error
    false
  end
end
