# frozen_string_literal: true
require "spec_helper"

# Connection#start_tls options: keys and certificates from files or PEM
# strings, passphrase-protected keys, and EM's validation errors. The Ruby-side
# checks (files exist, no conflicting options, known ssl_version) raise before
# anything changes on the connection; problems found while loading a key from
# a PEM string, an ECDH curve or a dhparam file raise EM::InvalidPrivateKey
# from start_tls; a key or certificate *file* that does not load raises nothing
# and the handshake fails instead.
RSpec.describe "Connection#start_tls options" do
  # Client sends "ping", server echoes, client closes once it is back.
  def ping_pair(server_tls, client_tls = {}, **more)
    tls_pair(server: { tls: server_tls, echo: true },
             client: { tls: client_tls, send: "ping", on_data: ->(c, _) { c.close_connection if c.received.bytesize >= 4 } }, **more)
  end

  # Runs start_tls(opts) on a fresh client connection (to a plain server) and
  # returns what it raised (nil when nothing), the connection then closed.
  def start_tls_error(opts, side: :client)
    srv, cl, = tls_pair(server: { tls: side == :server ? opts : nil }, client: { tls: side == :client ? opts : nil })
    (side == :server ? srv : cl).error
  end

  def expect_works(server_tls, client_tls = {})
    srv, cl, = ping_pair(server_tls, client_tls)
    expect(cl.error).to be_nil
    expect(srv.error).to be_nil
    expect(cl.handshake?).to be(true)
    expect(cl.received).to eq("ping")
    [srv, cl]
  end

  describe "keys and certificates" do
    it ":private_key_file and :cert_chain_file (PEM files); the chain file's extra certificates are sent" do
      _, cl = expect_works(certs.server_opts, verify_peer: true)
      expect(cl.verified_subjects).to eq(["/CN=em_rust test CA", "/CN=em_rust test CA", "/CN=localhost"])
    end

    it ":private_key and :cert as PEM strings" do
      _, cl = expect_works({ private_key: certs.server_key_pem, cert: certs.server_cert_pem })
      expect(cl.at_handshake[:peer_cert]).to eq(certs.server_cert.to_pem)
    end

    it "a PEM-string key with a certificate file, and a key file with a PEM-string certificate" do
      expect_works({ private_key: certs.server_key_pem, cert_chain_file: certs.chain_file })
      expect_works({ private_key_file: certs.server_key_file, cert: certs.server_cert_pem })
    end

    it ":private_key_pass decrypts a passphrase-protected key file (traditional PEM and PKCS#8)" do
      [certs.encrypted_key_file, certs.encrypted_pkcs8_key_file].each do |file|
        expect(File.read(file)).to include("ENCRYPTED")
        _, cl = expect_works({ private_key_file: file, private_key_pass: certs.passphrase, cert_chain_file: certs.chain_file })
        expect(cl.at_handshake[:peer_cert]).to eq(certs.server_cert.to_pem)
      end
    end

    it ":private_key_pass decrypts a passphrase-protected :private_key string (traditional PEM and PKCS#8)" do
      [certs.encrypted_key_pem, certs.encrypted_key_pkcs8_pem].each do |pem|
        expect_works({ private_key: pem, private_key_pass: certs.passphrase, cert: certs.server_cert_pem })
      end
    end

    it "a :private_key_pass with an unencrypted key is ignored" do
      expect_works(certs.server_opts.merge(private_key_pass: "unused"))
    end

    it "nil and empty-string options count as absent" do
      expect_works(certs.server_opts.merge(private_key: nil, cert: "", sni_hostname: nil, cipher_list: "", ecdh_curve: "", dhparam: ""),
                   { private_key_file: "", cert_chain_file: nil, sni_hostname: "", ssl_version: nil })
    end

    it "a client may give a certificate chain file without a key (em-http-request passes its CA file that way)" do
      expect_works(certs.server_opts, { cert_chain_file: certs.ca_file })
    end
  end

  describe "validation in start_tls (raised from the call, the connection left as it was)" do
    it "the exception classes: FileNotFoundException and BadParams are Exceptions (not StandardErrors); BadCertParams and BadPrivateKeyParams are BadParams; InvalidPrivateKey is a RuntimeError" do
      expect(EM::FileNotFoundException.superclass).to eq(Exception)
      expect(EM::BadParams.superclass).to eq(Exception)
      expect(EM::BadCertParams.superclass).to eq(EM::BadParams)
      expect(EM::BadPrivateKeyParams.superclass).to eq(EM::BadParams)
      expect(EM::InvalidPrivateKey.superclass).to eq(RuntimeError)
    end

    it "a missing :private_key_file or :cert_chain_file: EM::FileNotFoundException \"Could not find <path> for start_tls\"" do
      missing = File.join(certs.dir, "no-such.key")
      [{ private_key_file: missing, cert_chain_file: certs.server_cert_file },
       { private_key_file: certs.server_key_file, cert_chain_file: missing },
       { cert_chain_file: missing }].each do |opts|
        err = start_tls_error(opts)
        expect(err).to be_a(EM::FileNotFoundException)
        expect(err.message).to eq("Could not find #{missing} for start_tls")
      end
    end

    it "the files are checked first (before conflicting options)" do
      missing = File.join(certs.dir, "no-such.key")
      err = start_tls_error({ private_key_file: missing, private_key: certs.server_key_pem })
      expect(err).to be_a(EM::FileNotFoundException)
      expect(err.message).to eq("Could not find #{missing} for start_tls")
    end

    it "both :private_key and :private_key_file: EM::BadPrivateKeyParams" do
      err = start_tls_error(certs.server_opts.merge(private_key: certs.server_key_pem))
      expect(err).to be_an_instance_of(EM::BadPrivateKeyParams)
      expect(err.message).to eq("Specifying both private_key and private_key_file not allowed")
    end

    it "both :cert and :cert_chain_file: EM::BadCertParams (checked after the key conflict)" do
      err = start_tls_error(certs.server_opts.merge(cert: certs.server_cert_pem))
      expect(err).to be_an_instance_of(EM::BadCertParams)
      expect(err.message).to eq("Specifying both cert and cert_chain_file not allowed")
      err = start_tls_error(certs.server_opts.merge(cert: certs.server_cert_pem, private_key: certs.server_key_pem))
      expect(err).to be_an_instance_of(EM::BadPrivateKeyParams)
    end

    it "a key without a certificate: EM::BadParams" do
      [{ private_key_file: certs.server_key_file }, { private_key: certs.server_key_pem }].each do |opts|
        err = start_tls_error(opts)
        expect(err).to be_an_instance_of(EM::BadParams)
        expect(err.message).to eq("You have specified a private key to use, but not the related cert")
      end
    end

    it "an unknown :ssl_version: RuntimeError \"Unrecognized SSL/TLS Protocol: <name>\" (the first unknown one of an Array)" do
      err = start_tls_error({ ssl_version: "tlsv9" })
      expect(err).to be_an_instance_of(RuntimeError)
      expect(err.message).to eq("Unrecognized SSL/TLS Protocol: tlsv9")
      err = start_tls_error({ ssl_version: ["TLSv1_2", :nope, "bad"] })
      expect(err.message).to eq("Unrecognized SSL/TLS Protocol: nope")
    end

    it "is the same on a server connection" do
      err = start_tls_error({ private_key_file: certs.server_key_file }, side: :server)
      expect(err).to be_an_instance_of(EM::BadParams)
      err = start_tls_error({ ssl_version: "bogus" }, side: :server)
      expect(err.message).to eq("Unrecognized SSL/TLS Protocol: bogus")
    end

    it "not rescued, the error ends EM.run and is re-raised from it" do
      missing = File.join(certs.dir, "no-such.crt")
      handler = Class.new(EM::Connection) do
        define_method(:connection_completed) { start_tls(cert_chain_file: missing) }
      end
      expect do
        run_em(12) do
          _, port = start_server_on_free_port(EM::Connection)
          EM.connect(TlsHelpers::HOST, port, handler)
        end
      end.to raise_error(EM::FileNotFoundException, "Could not find #{missing} for start_tls")
      expect(EM.reactor_running?).to be(false)
    end
  end

  describe "EM::InvalidPrivateKey (raised from start_tls)" do
    it "for a :private_key string that is not a key" do
      err = start_tls_error({ private_key: "not a key", cert: certs.server_cert_pem }, side: :server)
      expect(err).to be_an_instance_of(EM::InvalidPrivateKey)
      expect(err.message).not_to be_empty
    end

    it "for an encrypted :private_key string with a wrong passphrase, or none (never a prompt)" do
      [{ private_key_pass: "wrong" }, {}].each do |pass|
        err = start_tls_error({ private_key: certs.encrypted_key_pem, cert: certs.server_cert_pem }.merge(pass))
        expect(err).to be_an_instance_of(EM::InvalidPrivateKey)
        expect(err.message).to match(/bad decrypt/)
      end
    end

    it "for a :private_key string that does not match the certificate" do
      err = start_tls_error({ private_key: certs.other_key.to_pem, cert: certs.server_cert_pem }, side: :server)
      expect(err).to be_an_instance_of(EM::InvalidPrivateKey)
      expect(err.message).to match(/key values mismatch/)
    end

    it "for an unknown :ecdh_curve: \"ecdh_curve: Unknown curve name: <name>\"" do
      err = start_tls_error(certs.server_opts.merge(ecdh_curve: "nosuchcurve"), side: :server)
      expect(err).to be_an_instance_of(EM::InvalidPrivateKey)
      expect(err.message).to eq("ecdh_curve: Unknown curve name: nosuchcurve")
    end

    it "for a :dhparam file that is missing (not FileNotFoundException) or holds no DH parameters" do
      missing = File.join(certs.dir, "no-such-dh.pem")
      err = start_tls_error(certs.server_opts.merge(dhparam: missing), side: :server)
      expect(err).to be_an_instance_of(EM::InvalidPrivateKey)
      expect(err.message).to eq("dhparam: BIO_new_file(#{missing}) failed")
      err = start_tls_error(certs.server_opts.merge(dhparam: certs.garbage_key_file), side: :server)
      expect(err).to be_an_instance_of(EM::InvalidPrivateKey)
      expect(err.message).to eq("dhparam: PEM_read_bio_DHparams(#{certs.garbage_key_file}) failed")
    end
  end

  describe "key or certificate files that do not load: no exception, the server's handshake fails" do
    {
      "a key file that does not match the certificate" => -> { { private_key_file: certs.other_key_file, cert_chain_file: certs.server_cert_file } },
      "a key file that is not a key" => -> { { private_key_file: certs.garbage_key_file, cert_chain_file: certs.server_cert_file } },
      "an encrypted key file with a wrong passphrase" => lambda {
        { private_key_file: certs.encrypted_key_file, private_key_pass: "wrong", cert_chain_file: certs.server_cert_file }
      },
      "a certificate file that holds no certificate" => -> { { private_key_file: certs.server_key_file, cert_chain_file: certs.garbage_key_file } },
      "a :cert string that is not a certificate" => -> { { private_key: certs.server_key_pem, cert: "not a certificate" } }
    }.each do |what, opts|
      it "#{what}: start_tls returns, then the server unbinds with EPROTO and no handshake on either end" do
        srv, cl, = ping_pair(instance_exec(&opts))
        expect(srv.error).to be_nil
        expect(srv.events).to eq(%i[post_init start_tls unbind])
        expect(srv.reason).to eq(Errno::EPROTO)
        expect(cl.handshake?).to be(false)
        expect(cl.unbound?).to be(true)
        expect(cl.received).to eq("")
      end
    end
  end
end
