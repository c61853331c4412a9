//! Throw-away certificates (rcgen) and TLS clients for the tests.
//!
//! A [`TestCa`] is a certificate authority made for one test: it signs a server
//! certificate for `localhost` and `127.0.0.1` ([`TestCa::server`]) and client
//! certificates naming a service ([`TestCa::client`], e.g. `phone-switch`). Nothing is
//! written to disk unless a test does it (the binary's tests write PEM files for
//! `--tls-cert`).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use taxi_server::tls::TlsSettings;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The name the test server certificate is for, and the one clients ask for.
pub const SERVER_NAME: &str = "localhost";

/// A certificate authority of one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl Leaf {
    /// As a client identity (what a service presents).
    pub fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

impl TestCa {
    /// A new CA whose certificate's common name is `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's certificate (what a client trusts, or a server's client CA).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn server(&self) -> Leaf {
        self.leaf(
            &[SERVER_NAME, "127.0.0.1"],
            SERVER_NAME,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate whose subject common name is `cn`.
    pub fn client(&self, cn: &str) -> Leaf {
        self.leaf(&[], cn, ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// Server TLS with this CA's server certificate; client certificates verified against
    /// `client_ca` when given.
    pub fn server_settings(&self, client_ca: Option<&TestCa>) -> TlsSettings {
        let leaf = self.server();
        TlsSettings::from_pem(
            leaf.cert_pem,
            leaf.key_pem,
            client_ca.map(|ca| ca.cert_pem.clone().into_bytes()),
        )
        .expect("test TLS settings")
    }

    /// A client configuration trusting only this CA, asking for `localhost`.
    pub fn client_tls(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.cert_pem))
            .domain_name(SERVER_NAME)
    }

    fn leaf(&self, names: &[&str], cn: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("names");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// One attempt to open a TLS channel to `addr` (the handshake happens here, so a server
/// certificate the client does not trust fails here).
pub async fn try_connect(
    addr: SocketAddr,
    tls: ClientTlsConfig,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
}

/// A TLS channel to `addr`, waiting until the server accepts.
pub async fn connect(addr: SocketAddr, tls: ClientTlsConfig) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match try_connect(addr, tls.clone()).await {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => {
                panic!("server at {addr} never accepted TLS: {e:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
