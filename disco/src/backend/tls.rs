//! The TLS client configuration of the Consul backend's HTTPS: trust only
//! the given CA (a store's authority is the user's, never the system's
//! roots), show the client certificate when there is one (Consul's
//! `verify_incoming` demands it), and check the store's certificate
//! against a fixed name when the endpoints are addresses it does not name.
//!
//! etcd does the same through tonic's own options (see `etcd.rs`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::Credentials;
use crate::RegistryError;

fn config_err(what: &'static str, reason: impl std::fmt::Display) -> RegistryError {
    RegistryError::Config {
        what,
        reason: reason.to_string(),
    }
}

/// The rustls client configuration for `creds`; `None` when they hold no
/// CA (plain HTTP).
pub fn client_config(creds: &Credentials) -> Result<Option<ClientConfig>, RegistryError> {
    let Some(ca) = &creds.ca else {
        return Ok(None);
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = trusting(ca, &provider)?;
    let verifier: Arc<dyn ServerCertVerifier> = match &creds.server_name {
        Some(name) => Arc::new(NamedVerifier {
            inner: webpki,
            name: ServerName::try_from(name.clone())
                .map_err(|e| config_err("server name", format!("{name:?}: {e}")))?,
        }),
        None => webpki,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err("TLS", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &creds.identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| config_err("certificate", format!("unreadable PEM: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| config_err("key", format!("no private key in it: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_err("certificate", format!("does not match its key: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Some(config))
}

/// The webpki verifier that trusts the certificates in `ca` (PEM) and no
/// other authority.
fn trusting(
    ca: &[u8],
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, RegistryError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        let cert = cert.map_err(|e| config_err("CA", format!("unreadable PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| config_err("CA", format!("not a CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(config_err("CA", "holds no certificate"));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| config_err("CA", e))
}

/// The configuration of a client built for plain HTTP. reqwest's TLS has
/// no default here: without one it would load the system's roots, which a
/// `FROM scratch` container lacks (and fail to build even a plain
/// client); a client given no CA trusts no server instead.
pub(crate) fn plain_config() -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(TrustNoServer::of(&provider));
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// Refuses every server certificate: see [`plain_config`].
#[derive(Debug)]
struct TrustNoServer(Vec<SignatureScheme>);

impl TrustNoServer {
    /// Offering `provider`'s signature schemes, so that a handshake gets
    /// as far as the certificate and fails there, saying why.
    fn of(provider: &rustls::crypto::CryptoProvider) -> TrustNoServer {
        TrustNoServer(
            provider
                .signature_verification_algorithms
                .supported_schemes(),
        )
    }

    fn refuse() -> rustls::Error {
        rustls::Error::General(
            "no CA was given for this client: pass one to reach a TLS store".into(),
        )
    }
}

impl ServerCertVerifier for TrustNoServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(Self::refuse())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(Self::refuse())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(Self::refuse())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// The webpki verifier, checking every certificate against one fixed name
/// instead of the host the URL names.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether a transport error is a TLS handshake that failed over
/// credentials (the store's alert about our certificate, or its
/// certificate not from our CA) rather than over the network: the text is
/// all that tonic and reqwest hand on, so rustls's own phrases are matched
/// (a closed connection mid-handshake, "tls handshake eof", is the
/// network's). Callers pass the text without URLs, which name the user's
/// keys.
pub(crate) fn refused_by_tls(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "invalid peer certificate",
        "received fatal alert",
        "certificaterequired",
        "badcertificate",
        "unknownca",
    ]
    .iter()
    .any(|w| r.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterlab_servers::pki::Authority;

    fn with_ca(ca: &Authority) -> Credentials {
        Credentials {
            ca: Some(ca.pem().into_bytes()),
            ..Credentials::default()
        }
    }

    fn config_error(r: Result<Option<ClientConfig>, RegistryError>) -> (&'static str, String) {
        match r {
            Err(RegistryError::Config { what, reason }) => (what, reason),
            other => panic!(
                "expected a configuration error, got {:?}",
                other.map(|c| c.is_some())
            ),
        }
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    /// No CA is plain HTTP; a CA file with no certificate in it, a server
    /// name that is not one, and a certificate that does not match its key
    /// are each named at start, not met later as a failed handshake.
    #[test]
    fn bad_credentials_are_named_before_any_connection() {
        assert!(client_config(&Credentials::default()).unwrap().is_none());
        let ca = Authority::new("test");
        assert!(client_config(&with_ca(&ca)).unwrap().is_some());

        let empty = Credentials {
            ca: Some(b"no certificate here\n".to_vec()),
            ..Credentials::default()
        };
        let (what, reason) = config_error(client_config(&empty));
        assert_eq!((what, reason.as_str()), ("CA", "holds no certificate"));

        let named = Credentials {
            server_name: Some("not a name!".into()),
            ..with_ca(&ca)
        };
        assert_eq!(config_error(client_config(&named)).0, "server name");

        let a = ca.issue("a", &["a"]);
        let b = ca.issue("b", &["b"]);
        let mismatched = Credentials {
            identity: Some((a.cert.into_bytes(), b.key.into_bytes())),
            ..with_ca(&ca)
        };
        let (what, reason) = config_error(client_config(&mismatched));
        assert_eq!(what, "certificate");
        assert!(reason.contains("does not match its key"), "{reason}");
    }

    /// With a fixed server name, the store's certificate is checked
    /// against that name, not the address the URL holds, and still only
    /// against the given CA.
    #[test]
    fn a_fixed_server_name_replaces_the_urls_host() {
        let ca = Authority::new("test");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = trusting(ca.pem().as_bytes(), &provider).unwrap();
        let verifier = |name: &str| NamedVerifier {
            inner: inner.clone(),
            name: ServerName::try_from(name.to_string()).unwrap(),
        };
        let address = ServerName::try_from("127.0.0.1").unwrap();
        let now = UnixTime::now();
        let store = der(&ca.issue("store", &["server.dc1.consul"]).cert);
        assert!(verifier("server.dc1.consul")
            .verify_server_cert(&store, &[], &address, &[], now)
            .is_ok());
        assert!(verifier("other.dc1.consul")
            .verify_server_cert(&store, &[], &address, &[], now)
            .is_err());
        let stranger = der(&Authority::new("other")
            .issue("store", &["server.dc1.consul"])
            .cert);
        assert!(verifier("server.dc1.consul")
            .verify_server_cert(&stranger, &[], &address, &[], now)
            .is_err());
        assert!(!verifier("server.dc1.consul")
            .supported_verify_schemes()
            .is_empty());
    }

    /// A client given no CA refuses every server, and says why.
    #[test]
    fn a_client_without_a_ca_trusts_no_server() {
        let ca = Authority::new("test");
        let store = der(&ca.issue("store", &["store"]).cert);
        let v = TrustNoServer::of(&rustls::crypto::ring::default_provider());
        let name = ServerName::try_from("store").unwrap();
        let err = v
            .verify_server_cert(&store, &[], &name, &[], UnixTime::now())
            .unwrap_err();
        assert!(err.to_string().contains("no CA was given"), "{err}");
        assert!(!v.supported_verify_schemes().is_empty());
    }

    /// rustls's phrases for a refused handshake are credentials; a closed
    /// connection, a refused port or a failed lookup are the network's.
    #[test]
    fn refusals_are_told_from_network_failures() {
        for refused in [
            "invalid peer certificate: UnknownIssuer",
            "received fatal alert: CertificateRequired",
            "Received Fatal Alert: BadCertificate",
            "peer sent alert UnknownCA",
        ] {
            assert!(refused_by_tls(refused), "{refused}");
        }
        for network in [
            "tls handshake eof",
            "tcp connect error: Connection refused (os error 111)",
            "dns error: failed to lookup address information",
            "operation timed out",
        ] {
            assert!(!refused_by_tls(network), "{network}");
        }
    }
}
