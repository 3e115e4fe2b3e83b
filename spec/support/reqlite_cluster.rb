# frozen_string_literal: true
# Several independent reqlite processes on loopback, each on its own port, for
# the failover specs. Not a RethinkDB cluster: reqlite has no replication, so
# each server has its own data and a failover lands on a server that has never
# seen the other's writes.
require_relative "reqlite_server"

class ReqliteCluster
  attr_reader :servers

  def initialize(size)
    @servers = Array.new(size) { ReqliteServer.new }
    @servers.each(&:start)
  end

  def hosts
    @servers.map { |server| ["127.0.0.1", server.port] }
  end

  def port(index) = @servers.fetch(index).port

  # Kills server `index` (its process group, by pid).
  def kill(index)
    @servers.fetch(index).stop
  end

  # Starts server `index` again on its old port.
  def revive(index)
    server = @servers.fetch(index)
    server.start(port: server.port)
  end

  def index_of(port)
    @servers.index { |server| server.port == port }
  end

  def stop
    @servers.each(&:stop)
  end
end
