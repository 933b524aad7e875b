//! TLS options: which CAs to trust, a client certificate, and `--insecure` (no host name
//! check, the chain still verified).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use mqtt_sansio_mio::mqtt_sansio_client::rustls;
use mqtt_sansio_mio::TlsConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::CliError;

/// How to secure the connection. Any of them turns TLS on (as an `mqtts://` URL does).
#[derive(Clone, Debug, Args)]
pub(crate) struct TlsArgs {
    /// Trust the CA certificates in this PEM file (turns TLS on).
    #[arg(long = "cafile", value_name = "FILE")]
    pub(crate) cafile: Option<PathBuf>,

    /// Trust the operating system's CA certificates (turns TLS on).
    #[arg(long = "tls-use-os-certs", conflicts_with = "cafile")]
    pub(crate) os_certs: bool,

    /// Client certificate (PEM) for brokers that require one; needs --key.
    #[arg(long = "cert", value_name = "FILE", requires = "key")]
    pub(crate) cert: Option<PathBuf>,

    /// Private key (PEM) of the client certificate.
    #[arg(long = "key", value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,

    /// Check the broker's certificate against this name instead of the host dialled.
    #[arg(long = "tls-server-name", value_name = "NAME")]
    pub(crate) server_name: Option<String>,

    /// Do not check that the broker's certificate names the host (the certificate chain is
    /// still verified against the CA file). Anyone holding a certificate from that CA can
    /// then pose as the broker: for tests only. Needs --cafile.
    #[arg(long = "insecure", requires = "cafile")]
    pub(crate) insecure: bool,
}

impl TlsArgs {
    /// Whether any TLS option was given.
    pub(crate) fn wanted(&self) -> bool {
        self.cafile.is_some() || self.os_certs || self.cert.is_some()
    }

    /// The TLS configuration: verified certificates and host names unless `--insecure`.
    pub(crate) fn config(&self) -> Result<TlsConfig, CliError> {
        let tls = if self.insecure {
            let cafile = self.cafile.as_deref().ok_or_else(|| {
                CliError::Usage(
                    "--insecure needs --cafile (the CA the chain is checked against)".into(),
                )
            })?;
            TlsConfig::from_client_config(Arc::new(self.without_host_check(cafile)?))
        } else {
            let tls = match &self.cafile {
                Some(path) => TlsConfig::with_ca_file(path).map_err(|e| tls_error(path, e))?,
                None => TlsConfig::with_platform_roots()
                    .map_err(|e| CliError::Usage(format!("TLS: {e}")))?,
            };
            match (&self.cert, &self.key) {
                (Some(cert), Some(key)) => tls
                    .client_cert_files(cert, key)
                    .map_err(|e| CliError::Usage(format!("TLS client certificate: {e}")))?,
                _ => tls,
            }
        };
        Ok(match &self.server_name {
            Some(name) => tls.server_name(name.clone()),
            None => tls,
        })
    }

    fn without_host_check(&self, cafile: &Path) -> Result<ClientConfig, CliError> {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(cafile)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", cafile.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| CliError::Usage(format!("{}: {e}", cafile.display())))?;
            roots
                .add(cert)
                .map_err(|e| CliError::Usage(format!("{}: {e}", cafile.display())))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain_check =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| CliError::Usage(format!("{}: {e}", cafile.display())))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CliError::Usage(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(chain_check)));
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| CliError::Usage(format!("{}: {e}", cert.display())))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| CliError::Usage(format!("TLS client certificate: {e}")))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

fn tls_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::Usage(format!("TLS CA file {}: {e}", path.display()))
}

/// Verifies the chain, the validity dates and the handshake signatures as usual, and accepts
/// a certificate whose names do not include the host (`--insecure`). webpki checks the name
/// only after the chain, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
