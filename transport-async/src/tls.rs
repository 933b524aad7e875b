//! TLS settings: which roots to trust and which name to verify.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use mqtt_proto::Redacted;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

/// How to verify the broker (and, through [`TlsConfig::from_client_config`], anything else
/// rustls can do: client certificates, ALPN, custom verifiers).
///
/// Certificates and host names are verified by default: the broker's certificate must chain
/// to a trusted root and name the host that was dialled (or [`TlsConfig::server_name`]).
/// Uses rustls with the `ring` provider.
///
/// ```no_run
/// use transport_async::TlsConfig;
/// let tls = TlsConfig::with_ca_file("ca.pem")?.server_name("broker.example");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &self.config.alpn_protocols)
            // A client certificate's private key may sit in the rustls configuration: show
            // only that there is one.
            .field(
                "client_auth",
                &self
                    .config
                    .client_auth_cert_resolver
                    .has_certs()
                    .then_some(Redacted),
            )
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.into())
}

impl TlsConfig {
    /// Uses a rustls configuration built by the caller as it is.
    pub fn from_client_config(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            server_name: None,
        }
    }

    /// Trusts exactly these roots (no client certificate).
    pub fn with_roots(roots: RootCertStore) -> io::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self::from_client_config(Arc::new(config)))
    }

    /// Trusts the CA certificates in PEM text.
    pub fn with_ca_pem(pem: &[u8]) -> io::Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            roots
                .add(cert?)
                .map_err(|e| invalid(format!("bad CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(invalid("the PEM data holds no certificate"));
        }
        Self::with_roots(roots)
    }

    /// Trusts the CA certificates in a PEM file.
    pub fn with_ca_file(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::with_ca_pem(&std::fs::read(path)?)
    }

    /// Trusts the operating system's root certificates.
    pub fn with_platform_roots() -> io::Result<Self> {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            return Err(invalid("no usable root certificates found on this system"));
        }
        Self::with_roots(roots)
    }

    /// Verifies the certificate against this name instead of the host dialled.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The rustls configuration and the name to verify, for a connection to `host`.
    pub(crate) fn build(&self, host: &str) -> io::Result<(Arc<ClientConfig>, ServerName<'static>)> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_string())
            .map_err(|e| invalid(format!("server name {name:?}: {e}")))?;
        Ok((self.config.clone(), name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_a_redaction_marker_instead_of_the_client_key() {
        let generated = rcgen::generate_simple_self_signed(vec!["client".to_owned()])
            .expect("generate a client certificate");
        let key_der = generated.signing_key.serialize_der();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(key_der.clone()).expect("a PKCS#8 key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(RootCertStore::empty())
            .with_client_auth_cert(vec![generated.cert.der().clone()], key)
            .expect("client auth");
        let tls = TlsConfig::from_client_config(Arc::new(config));
        let shown = format!("{tls:?}");
        assert!(shown.contains("client_auth: Some(<redacted>)"), "{shown}");
        assert!(
            !shown.contains(&format!("{:?}", &key_der[..8])),
            "raw key bytes in {shown}"
        );
        let key_pem = generated.signing_key.serialize_pem();
        for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "{shown}");
        }
    }
}
