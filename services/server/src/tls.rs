//! TLS on the listener (rustls), and who a verified client certificate names.
//!
//! The listener offers ALPN `h2` then `http/1.1`: gRPC clients and browsers speak HTTP/2;
//! a client that speaks only HTTP/1.1 still reaches the operators' console. Tonic's own
//! TLS acceptor offers `h2` alone, so [`accept`] does the handshakes itself, beside the
//! accept loop, each bounded by [`HANDSHAKE_TIMEOUT`], and hands tonic rustls streams (so
//! a request's extensions carry the same `TlsConnectInfo` as before).
//!
//! [`TlsSettings`] holds the served certificate chain and key, and optionally a client CA.
//! With a client CA, a client certificate is optional but verified when presented: a
//! service (the phone switch, a gateway) presents one signed by that CA, a driver's app or
//! a device presents none and proves who it is by other means. A certificate signed by
//! anyone else is refused during the handshake, before any request is read.
//!
//! [`client_identity`] reads the verified certificate's subject common name from a
//! request's extensions, for the authorization layer to map to a service identity.

use futures::Stream;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_stream::StreamExt;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// rustls's ring provider with AES-128-GCM first. The default puts AES-256-GCM first and
/// the server follows the client's order, so every call and every offer was encrypted with
/// 14 AES rounds instead of 10. TLS_AES_128_GCM_SHA256 is the suite every TLS 1.3
/// implementation must support (RFC 8446 §9.1) and the first choice of most servers. The
/// server picks (`ignore_client_order`), so each client gets it whatever its own order;
/// the suites offered are the provider's, only reordered.
pub fn preferring_aes_128() -> tokio_rustls::rustls::crypto::CryptoProvider {
    use tokio_rustls::rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let mut provider = tokio_rustls::rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != TLS13_AES_128_GCM_SHA256.suite());
    provider
}

/// How long a client has to finish the TLS handshake. Without a bound, a connection that
/// opens and never speaks holds a handshake task for as long as the server runs.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listener's TLS: a certificate chain and its key, and optionally the CA whose
/// client certificates identify services. Built only by [`TlsSettings::from_pem`], so a
/// value of this type holds PEM that parsed and a key that matches its certificate.
#[derive(Clone)]
pub struct TlsSettings {
    cert_chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
    client_ca_pem: Option<Vec<u8>>,
}

/// Which part of the TLS configuration is wrong, and why (the caller names its flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsSettingsError {
    /// The certificate chain.
    #[error("certificate chain: {0}")]
    CertChain(String),
    /// The private key.
    #[error("private key: {0}")]
    Key(String),
    /// The client CA.
    #[error("client CA: {0}")]
    ClientCa(String),
    /// Each parsed, but rustls refuses them together (a key of another certificate).
    #[error("certificate and key do not go together: {0}")]
    Pair(String),
}

impl TlsSettings {
    /// Checks and keeps the PEM texts: the chain (end-entity certificate first), its
    /// private key (PKCS#8, PKCS#1 or SEC1), and optionally the client CA certificates.
    pub fn from_pem(
        cert_chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
        client_ca_pem: Option<Vec<u8>>,
    ) -> Result<Self, TlsSettingsError> {
        let settings = Self {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
            client_ca_pem,
        };
        certificates(&settings.cert_chain_pem).map_err(TlsSettingsError::CertChain)?;
        PrivateKeyDer::from_pem_slice(&settings.key_pem).map_err(|e| {
            TlsSettingsError::Key(match e {
                rustls_pki_types::pem::Error::NoItemsFound => {
                    "no PRIVATE KEY block found".to_string()
                }
                e => e.to_string(),
            })
        })?;
        if let Some(ca) = &settings.client_ca_pem {
            certificates(ca).map_err(TlsSettingsError::ClientCa)?;
        }
        // What rustls checks when the server is built (the key is the certificate's, the
        // client CA is usable as a trust anchor), checked now rather than at serve time.
        Server::builder()
            .tls_config(settings.server_tls_config())
            .map_err(|e| TlsSettingsError::Pair(error_chain(&e)))?;
        settings.rustls_config()?;
        Ok(settings)
    }

    /// Whether client certificates are asked for (a client CA is configured).
    pub fn verifies_clients(&self) -> bool {
        self.client_ca_pem.is_some()
    }

    /// The rustls configuration [`crate::run`] serves with: the chain and key, client
    /// certificates optional but verified against the client CA if one is configured,
    /// ALPN `h2` then `http/1.1`.
    pub fn rustls_config(&self) -> Result<Arc<ServerConfig>, TlsSettingsError> {
        let provider = Arc::new(preferring_aes_128());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSettingsError::Pair(e.to_string()))?;
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates(ca).map_err(TlsSettingsError::ClientCa)? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsSettingsError::ClientCa(e.to_string()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsSettingsError::ClientCa(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain = certificates(&self.cert_chain_pem).map_err(TlsSettingsError::CertChain)?;
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| TlsSettingsError::Key(e.to_string()))?;
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| TlsSettingsError::Pair(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.ignore_client_order = true;
        Ok(Arc::new(config))
    }

    /// The tonic configuration (used to check the settings as tonic would).
    pub fn server_tls_config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_chain_pem, &self.key_pem))
            .timeout(HANDSHAKE_TIMEOUT);
        match &self.client_ca_pem {
            Some(ca) => config
                .client_ca_root(Certificate::from_pem(ca))
                .client_auth_optional(true),
            None => config,
        }
    }
}

impl fmt::Debug for TlsSettings {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("verifies_clients", &self.verifies_clients())
            .finish_non_exhaustive()
    }
}

/// The subject common name of the client certificate the TLS handshake verified, if the
/// connection is TLS, a client CA is configured and the client presented a certificate
/// (rustls refuses the connection if it does not verify, so one that is here was
/// verified). `None` also for a certificate without exactly one common name: an identity
/// must not be ambiguous.
///
/// Takes the request's extensions: a `tonic::Request`'s (`request.extensions()`) or, in a
/// tower layer, the `http::Request`'s (the same type).
pub fn client_identity(extensions: &tonic::Extensions) -> Option<String> {
    let info = extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let chain = info.peer_certs()?;
    common_name(chain.first()?.as_ref())
}

/// [`client_identity`] of a request.
pub fn client_identity_of<T>(request: &tonic::Request<T>) -> Option<String> {
    client_identity(request.extensions())
}

/// The one subject common name of a DER certificate.
fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut names = cert.subject().iter_common_name();
    let name = names.next()?.as_str().ok()?.to_string();
    if names.next().is_some() || name.is_empty() {
        return None;
    }
    Some(name)
}

/// TLS connections from `tcp`: each handshake runs in a task of its own, bounded by
/// [`HANDSHAKE_TIMEOUT`], so a client that connects and never speaks holds up nobody; a
/// failed handshake is logged (debug) and dropped. The accept loop ends when the server
/// stops reading the stream (shutdown), closing the listener.
pub fn accept<S>(
    tcp: S,
    config: Arc<ServerConfig>,
) -> impl Stream<Item = Result<TlsStream<TcpStream>, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<TcpStream, std::io::Error>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let mut tcp = std::pin::pin!(tcp);
        loop {
            let next = tokio::select! {
                next = tcp.next() => next,
                () = tx.closed() => return,
            };
            match next {
                None => return,
                Some(Err(e)) => tracing::debug!(error = %e, "accept failed"),
                Some(Ok(stream)) => {
                    let (acceptor, tx) = (acceptor.clone(), tx.clone());
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls)) => {
                                let _ = tx.send(Ok(tls)).await;
                            }
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Every certificate of a PEM text, each one a well-formed X.509 certificate.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block found".to_string());
    }
    for (i, der) in certs.iter().enumerate() {
        x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| format!("certificate {} is not X.509: {e}", i + 1))?;
    }
    Ok(certs)
}

/// An error and its sources on one line (tonic's transport error says little by itself).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The peer address of a connection, plain or TLS.
pub fn peer_addr(extensions: &tonic::Extensions) -> Option<std::net::SocketAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    extensions
        .get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr())
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    fn cert(cn: Option<&str>) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec()
    }

    #[test]
    fn the_server_picks_aes_128_gcm_even_when_the_client_prefers_aes_256() {
        use tokio_rustls::rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
        use tokio_rustls::rustls::pki_types::ServerName;
        use tokio_rustls::rustls::{ClientConfig, ClientConnection, ServerConnection};
        let (c, k) = cert(Some("localhost"));
        let server_config = TlsSettings::from_pem(c.clone(), k, None)
            .unwrap()
            .rustls_config()
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(der(&c))).unwrap();
        // The provider's own order: AES-256-GCM first.
        let provider = tokio_rustls::rustls::crypto::ring::default_provider();
        assert_ne!(
            provider.cipher_suites[0].suite(),
            TLS13_AES_128_GCM_SHA256.suite()
        );
        let client_config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let mut client = ClientConnection::new(Arc::new(client_config), name).unwrap();
        let mut server = ServerConnection::new(server_config).unwrap();
        // The handshake, byte for byte, in memory.
        for _ in 0..10 {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut wire = Vec::new();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets().unwrap();
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
        }
        assert!(!client.is_handshaking());
        assert_eq!(
            client.negotiated_cipher_suite().map(|s| s.suite()),
            Some(TLS13_AES_128_GCM_SHA256.suite())
        );
    }

    #[test]
    fn the_common_name_is_the_identity() {
        assert_eq!(
            common_name(&der(&cert(Some("phone-switch")).0)).as_deref(),
            Some("phone-switch")
        );
        assert_eq!(common_name(&der(&cert(None).0)), None);
        assert_eq!(common_name(b"not a certificate"), None);
    }

    #[test]
    fn a_matching_pair_is_accepted_and_its_key_never_printed() {
        let (c, k) = cert(Some("localhost"));
        let s = TlsSettings::from_pem(c.clone(), k.clone(), None).unwrap();
        assert!(!s.verifies_clients());
        let s = TlsSettings::from_pem(c.clone(), k.clone(), Some(c.into_bytes())).unwrap();
        assert!(s.verifies_clients());
        assert!(!format!("{s:?}").contains("PRIVATE"));
    }

    #[test]
    fn each_bad_part_is_named() {
        let (c, k) = cert(Some("localhost"));
        let (_, other_key) = cert(Some("localhost"));
        let cases = [
            (
                TlsSettings::from_pem("", k.clone(), None),
                "certificate chain: no CERTIFICATE",
            ),
            (
                TlsSettings::from_pem(
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                    k.clone(),
                    None,
                ),
                "certificate chain: certificate 1 is not X.509",
            ),
            (
                TlsSettings::from_pem(c.clone(), c.clone(), None),
                "private key: no PRIVATE KEY",
            ),
            (
                TlsSettings::from_pem(c.clone(), k.clone(), Some(k.clone().into_bytes())),
                "client CA: no CERTIFICATE",
            ),
            (
                TlsSettings::from_pem(c.clone(), other_key, None),
                "do not go together",
            ),
        ];
        for (result, needle) in cases {
            let err = result.unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
