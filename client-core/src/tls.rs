//! [`TlsConfig`]: how to verify the broker and what to present to it (the seed's `ssl_ctx`),
//! one type for both clients.

use std::fmt;
use std::format;
use std::fs;
use std::io;
use std::path::Path;
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

use mqtt_sansio_proto::Redacted;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

type ClientAuthPair = (Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>);

#[derive(Clone)]
enum Source {
    /// Built per connection from roots, an optional client certificate and ALPN.
    Roots {
        roots: RootCertStore,
        client_auth: Option<ClientAuthPair>,
        alpn: Vec<Vec<u8>>,
    },
    /// The caller's own rustls configuration, used as is.
    Custom(Arc<ClientConfig>),
}

/// How to verify the broker and what to present to it.
///
/// Certificates and host names are always verified: the broker's certificate must chain to a
/// trusted root and name the host that was dialled (or [`TlsConfig::server_name`]).
///
/// ```no_run
/// use mqtt_sansio_client::TlsConfig;
/// let tls = TlsConfig::with_ca_file("ca.pem")?.alpn(["mqtt"]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    source: Source,
    server_name: Option<String>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsConfig");
        match &self.source {
            Source::Roots {
                roots,
                client_auth,
                alpn,
            } => {
                d.field("roots", &roots.len())
                    // The client certificate is public, its private key is not.
                    .field(
                        "client_auth",
                        &client_auth.as_ref().map(|(chain, _key)| ClientAuth {
                            certificates: chain.len(),
                        }),
                    )
                    .field("alpn", alpn);
            }
            Source::Custom(config) => {
                d.field("alpn", &config.alpn_protocols).field(
                    "client_auth",
                    &config
                        .client_auth_cert_resolver
                        .has_certs()
                        .then_some(Redacted),
                );
            }
        }
        d.field("server_name", &self.server_name).finish()
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
    /// Uses the caller's rustls configuration as is (roots, client certificates, ALPN,
    /// resumption, crypto provider). [`client_cert_pem`](Self::client_cert_pem) and
    /// [`alpn`](Self::alpn) are refused or ignored on such a configuration.
    pub fn from_client_config(config: Arc<ClientConfig>) -> Self {
        Self {
            source: Source::Custom(config),
            server_name: None,
        }
    }

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
            source: Source::Roots {
                roots,
                client_auth: None,
                alpn: Vec::new(),
            },
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

    /// Presents a client certificate chain and key, from PEM text. Refused on a
    /// configuration from [`from_client_config`](Self::from_client_config), which carries
    /// its own.
    pub fn client_cert_pem(mut self, cert: &[u8], key: &[u8]) -> io::Result<Self> {
        let chain = rustls_pemfile::certs(&mut &cert[..]).collect::<Result<Vec<_>, _>>()?;
        let key = rustls_pemfile::private_key(&mut &key[..])?
            .ok_or_else(|| invalid("no private key in PEM data"))?;
        match &mut self.source {
            Source::Roots { client_auth, .. } => *client_auth = Some((chain, Arc::new(key))),
            Source::Custom(_) => {
                return Err(invalid(
                    "a caller-supplied rustls ClientConfig carries its own client certificate",
                ))
            }
        }
        Ok(self)
    }

    /// Offers these ALPN protocols (for example `"mqtt"` for brokers sharing port 443). A
    /// caller-supplied configuration keeps its own.
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        if let Source::Roots { alpn, .. } = &mut self.source {
            *alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        }
        self
    }

    /// Verifies the certificate against this name instead of the host dialled.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The rustls configuration and the name to verify, for a connection to `host` (for the
    /// transports).
    #[doc(hidden)]
    pub fn build(&self, host: &str) -> io::Result<(Arc<ClientConfig>, ServerName<'static>)> {
        let config = match &self.source {
            Source::Custom(config) => config.clone(),
            Source::Roots {
                roots,
                client_auth,
                alpn,
            } => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let builder = ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| invalid(e.to_string()))?
                    .with_root_certificates(roots.clone());
                let mut config = match client_auth {
                    Some((chain, key)) => builder
                        .with_client_auth_cert(chain.clone(), key.clone_key())
                        .map_err(|e| invalid(format!("client certificate: {e}")))?,
                    None => builder.with_no_client_auth(),
                };
                config.alpn_protocols = alpn.clone();
                Arc::new(config)
            }
        };
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_string())
            .map_err(|e| invalid(format!("server name {name:?}: {e}")))?;
        Ok((config, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::ToOwned;
    use std::vec;

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
        for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "{shown}");
        }
        // The same for a caller-supplied configuration.
        let (config, _) = tls.build("client").expect("build");
        let custom = TlsConfig::from_client_config(config);
        let shown = format!("{custom:?}");
        assert!(shown.contains("client_auth: Some(<redacted>)"), "{shown}");
        for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "{shown}");
        }
    }
}
