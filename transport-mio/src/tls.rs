//! TLS settings (the seed's `ssl_ctx`): trusted roots, client certificate, ALPN.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use mqtt_proto::Redacted;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// How to verify the broker and what to present to it.
///
/// Certificates and host names are always verified: the broker's certificate must chain to a
/// trusted root and name the host that was dialled (or [`TlsConfig::server_name`]).
///
/// ```no_run
/// use transport_mio::TlsConfig;
/// let tls = TlsConfig::with_ca_file("ca.pem")?.alpn(["mqtt"]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    roots: RootCertStore,
    client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    alpn: Vec<Vec<u8>>,
    server_name: Option<String>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            // The client certificate is public, its private key is not: never print it.
            .field(
                "client_auth",
                &self.client_auth.as_ref().map(|(chain, _key)| ClientAuth {
                    certificates: chain.len(),
                }),
            )
            .field("alpn", &self.alpn)
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// What `Debug` shows of the client certificate and its key.
struct ClientAuth {
    certificates: usize,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("certificates", &self.certificates)
            .field("private_key", &Redacted)
            .finish()
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.into())
}

impl TlsConfig {
    /// Trusts the operating system's root certificates.
    pub fn with_platform_roots() -> io::Result<Self> {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            return Err(invalid("no usable root certificates found on this system"));
        }
        Ok(Self::with_roots(roots))
    }

    /// Trusts the CA certificates in a PEM file.
    pub fn with_ca_file(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::with_ca_pem(&fs::read(path)?)
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
        Ok(Self::with_roots(roots))
    }

    /// Trusts exactly these roots.
    pub fn with_roots(roots: RootCertStore) -> Self {
        Self {
            roots,
            client_auth: None,
            alpn: Vec::new(),
            server_name: None,
        }
    }

    /// Presents a client certificate chain and key, from PEM files.
    pub fn client_cert_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<Self> {
        self.client_cert_pem(&fs::read(cert)?, &fs::read(key)?)
    }

    /// Presents a client certificate chain and key, from PEM text.
    pub fn client_cert_pem(mut self, cert: &[u8], key: &[u8]) -> io::Result<Self> {
        let chain = rustls_pemfile::certs(&mut &cert[..]).collect::<Result<Vec<_>, _>>()?;
        let key = rustls_pemfile::private_key(&mut &key[..])?
            .ok_or_else(|| invalid("no private key in PEM data"))?;
        self.client_auth = Some((chain, Arc::new(key)));
        Ok(self)
    }

    /// Offers these ALPN protocols (for example `"mqtt"` for brokers sharing port 443).
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Verifies the certificate against this name instead of the host dialled.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The rustls configuration and the name to verify, for a connection to `host`.
    pub(crate) fn build(&self, host: &str) -> io::Result<(Arc<ClientConfig>, ServerName<'static>)> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_root_certificates(self.roots.clone());
        let mut config = match &self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| invalid(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_string())
            .map_err(|e| invalid(format!("server name {name:?}: {e}")))?;
        Ok((Arc::new(config), name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_a_redaction_marker_instead_of_the_client_key() {
        let generated = rcgen::generate_simple_self_signed(vec!["client".to_owned()])
            .expect("generate a client certificate");
        let key_pem = generated.signing_key.serialize_pem();
        let tls = TlsConfig::with_roots(RootCertStore::empty())
            .client_cert_pem(generated.cert.pem().as_bytes(), key_pem.as_bytes())
            .expect("load the client certificate");
        let shown = format!("{tls:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        // No line of the key's base64 text, and no run of its DER bytes, appears.
        for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "{shown}");
        }
        let der = generated.signing_key.serialize_der();
        assert!(
            !shown.contains(&format!("{:?}", &der[..8])),
            "raw key bytes in {shown}"
        );
    }
}
