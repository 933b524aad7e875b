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

/// A client certificate rustls cannot present: X.509 v1 (no version field, or version 0),
/// which rustls' certificate parser (webpki) refuses. Returned inside an
/// [`io::Error`] of kind [`io::ErrorKind::InvalidInput`] by
/// [`TlsConfig::client_cert_pem`] / [`TlsConfig::client_cert_files`], at configuration time
/// rather than as an obscure handshake failure; `io::Error::get_ref` and `downcast_ref`
/// give this type back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedCertificateVersion {
    /// The X.509 version the certificate declares (1 for v1).
    pub version: u8,
}

impl fmt::Display for UnsupportedCertificateVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the client certificate is X.509 v{}, which rustls cannot use: issue it again as \
             X.509 v3 (for example `openssl x509 -req ... -extfile v3.ext`, where v3.ext holds \
             `basicConstraints=CA:FALSE`, or `openssl req -x509`)",
            self.version
        )
    }
}

impl std::error::Error for UnsupportedCertificateVersion {}

/// One DER element: its tag, its content and what follows it; `None` on anything malformed
/// (the bytes come from a file, so nothing here may panic).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let bytes = rest.get(..count)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest.get(count..)?)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The X.509 version (1, 2 or 3) of a DER certificate, from the optional `[0] EXPLICIT
/// Version` at the start of `tbsCertificate` (RFC 5280 4.1: absent means v1); `None` when the
/// bytes are not a certificate this can read (rustls then reports its own error).
fn x509_version(der: &[u8]) -> Option<u8> {
    const SEQUENCE: u8 = 0x30;
    const VERSION_TAG: u8 = 0xa0;
    const INTEGER: u8 = 0x02;
    let (tag, certificate, _) = der_element(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = der_element(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, version, _) = der_element(tbs)?;
    if tag != VERSION_TAG {
        return Some(1);
    }
    match der_element(version)? {
        (INTEGER, [v @ 0..=2], _) => Some(v + 1),
        _ => None,
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
        // rustls accepts a v1 certificate here and only fails in the handshake (or the
        // broker refuses it) with no word about why: say it now, with what to do.
        // Only the end-entity certificate (the first) is parsed by rustls itself.
        if let Some(cert) = chain.first() {
            if let Some(version @ 1) = x509_version(cert.as_ref()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    UnsupportedCertificateVersion { version },
                ));
            }
        }
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
                // The provider is passed explicitly, never taken from the process-wide
                // default: with none installed, or with two rustls backends linked in one
                // program, `ClientConfig::builder()` panics (issue 16).
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

    /// DER length octets for `len`.
    fn der_len(len: usize) -> Vec<u8> {
        match len {
            0..=0x7f => vec![len as u8],
            0x80..=0xff => vec![0x81, len as u8],
            _ => vec![0x82, (len >> 8) as u8, len as u8],
        }
    }

    fn der_wrap(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(der_len(content.len()));
        out.extend_from_slice(content);
        out
    }

    /// The same certificate as X.509 v1: its `[0] Version` removed from `tbsCertificate`
    /// (rcgen only writes v3; the signature no longer matches, which the configuration-time
    /// check does not look at).
    fn as_v1(der: &[u8]) -> Vec<u8> {
        let (_, certificate, _) = der_element(der).expect("certificate");
        let (_, tbs, after_tbs) = der_element(certificate).expect("tbsCertificate");
        let (tag, _, tbs_rest) = der_element(tbs).expect("version");
        assert_eq!(tag, 0xa0, "rcgen writes an explicit version");
        let mut body = der_wrap(0x30, tbs_rest);
        body.extend_from_slice(after_tbs);
        der_wrap(0x30, &body)
    }

    fn pem(der: &[u8]) -> String {
        let b64 = base64_encode(der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).expect("ascii"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    fn base64_encode(data: &[u8]) -> String {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn reads_the_x509_version_and_never_panics_on_garbage() {
        let generated = rcgen::generate_simple_self_signed(vec!["client".to_owned()])
            .expect("generate a client certificate");
        let der = generated.cert.der().to_vec();
        assert_eq!(x509_version(&der), Some(3));
        assert_eq!(x509_version(&as_v1(&der)), Some(1));
        // Every truncation and a few corruptions: an answer or None, no panic.
        for end in 0..der.len() {
            let _ = x509_version(&der[..end]);
        }
        assert_eq!(x509_version(&[]), None);
        assert_eq!(x509_version(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(x509_version(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
    }

    #[test]
    fn a_v1_client_certificate_is_refused_at_configuration_with_a_hint() {
        let generated = rcgen::generate_simple_self_signed(vec!["client".to_owned()])
            .expect("generate a client certificate");
        let key_pem = generated.signing_key.serialize_pem();
        let v1 = pem(&as_v1(generated.cert.der()));
        let err = TlsConfig::with_roots(RootCertStore::empty())
            .client_cert_pem(v1.as_bytes(), key_pem.as_bytes())
            .expect_err("a v1 certificate must be refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let typed = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<UnsupportedCertificateVersion>())
            .expect("typed error");
        assert_eq!(typed.version, 1);
        let message = err.to_string();
        assert!(message.contains("X.509 v1"), "{message}");
        assert!(message.contains("v3"), "{message}");
        // The v3 original is accepted (the check is the version, not the edit).
        TlsConfig::with_roots(RootCertStore::empty())
            .client_cert_pem(generated.cert.pem().as_bytes(), key_pem.as_bytes())
            .expect("a v3 certificate is accepted");
    }
}
