# frozen_string_literal: true
# The TLS benchmarks' server certificate: a self-signed RSA 2048 certificate for
# localhost / 127.0.0.1, made with Ruby's OpenSSL at run time (no key is committed).
# bench/run.rb makes it once, in a temporary directory, and passes the directory to
# every child in BENCH_TLS_DIR, so both implementations load the same key. A TLS
# benchmark run directly (without the driver) makes its own, before anything is timed.
# This file must not load EventMachine: the driver requires it.
require "openssl"
require "tmpdir"
require "fileutils"

module BenchTLS
  ENV_KEY = "BENCH_TLS_DIR"
  KEY_FILE = "server.key"
  CERT_FILE = "server.crt"

  module_function

  # Writes server.key and server.crt into dir; returns dir.
  def generate(dir)
    key = OpenSSL::PKey::RSA.new(2048)
    name = OpenSSL::X509::Name.parse("/CN=localhost")
    cert = OpenSSL::X509::Certificate.new
    cert.version = 2
    cert.serial = Random.new.rand(1 << 64)
    cert.subject = name
    cert.issuer = name
    cert.public_key = key.public_key
    cert.not_before = Time.now - 3600
    cert.not_after = Time.now + 86_400
    ef = OpenSSL::X509::ExtensionFactory.new(cert, cert)
    cert.add_extension(ef.create_extension("basicConstraints", "CA:FALSE", true))
    cert.add_extension(ef.create_extension("subjectAltName", "DNS:localhost,IP:127.0.0.1"))
    cert.add_extension(ef.create_extension("subjectKeyIdentifier", "hash"))
    cert.sign(key, OpenSSL::Digest.new("SHA256"))
    File.write(File.join(dir, KEY_FILE), key.to_pem, perm: 0o600)
    File.write(File.join(dir, CERT_FILE), cert.to_pem)
    dir
  end

  # A fresh temporary directory holding a new key and certificate, removed at exit.
  def generate_tmp
    dir = Dir.mktmpdir("em-bench-tls-")
    at_exit { FileUtils.remove_entry(dir) if File.directory?(dir) }
    generate(dir)
  end

  # {private_key_file:, cert_chain_file:, from:} for the server side of a benchmark.
  def server_files
    dir = ENV[ENV_KEY]
    from = "parent"
    if dir.nil? || dir.empty?
      dir = generate_tmp
      from = "self"
    end
    files = { private_key_file: File.join(dir, KEY_FILE), cert_chain_file: File.join(dir, CERT_FILE) }
    files.each_value { |f| raise "bench: TLS file #{f} missing (#{ENV_KEY}=#{dir})" unless File.file?(f) }
    files.merge(from: from)
  end

  # start_tls options for the server end: the files of server_files, plus extra.
  def server_opts(files, **extra)
    { private_key_file: files.fetch(:private_key_file), cert_chain_file: files.fetch(:cert_chain_file), **extra }
  end
end
