//! The listeners' side: TLS 1.3 only, optional mutual TLS, reloadable.
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::error::TlsError;

/// The PEM files a listener's TLS is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, mutual TLS: a client must present a certificate issued by
    /// one of these CAs, or the handshake fails.
    pub client_ca: Option<PathBuf>,
}

/// Who a client certificate names: its subject's common name and the
/// certificate's SHA-256 fingerprint (what the audit trail records).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientId {
    pub common_name: Option<String>,
    pub fingerprint: [u8; 32],
}

impl ClientId {
    pub fn from_der(der: &[u8]) -> ClientId {
        let common_name = x509_parser::parse_x509_certificate(der).ok().and_then(|(_, cert)| {
            cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_owned)
        });
        ClientId { common_name, fingerprint: Sha256::digest(der).into() }
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fp = hex::encode(&self.fingerprint[..8]);
        match &self.common_name {
            Some(cn) => write!(f, "{cn} (sha256:{fp}…)"),
            None => write!(f, "sha256:{fp}…"),
        }
    }
}

/// A listener's TLS: the loaded configuration, swapped whole on reload, so
/// a handshake uses either the old files or the new ones, never a mix.
#[derive(Debug)]
pub struct ServerTls {
    files: ServerTlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl ServerTls {
    /// Load the files; any problem is an error here, at start, rather than a
    /// failed handshake later.
    pub fn load(files: ServerTlsFiles) -> Result<Arc<ServerTls>, TlsError> {
        let config = build(&files)?;
        Ok(Arc::new(ServerTls { files, current: RwLock::new(Arc::new(config)) }))
    }

    /// Read the same paths again (a renewed certificate, a new client CA).
    /// On an error the running configuration stays as it was.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(build(&self.files)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    pub fn files(&self) -> &ServerTlsFiles {
        &self.files
    }

    /// Whether clients must present a certificate.
    pub fn is_mutual(&self) -> bool {
        self.files.client_ca.is_some()
    }

    /// The server's handshake on an accepted connection, bounded by
    /// `within` (a client that opens a socket and says nothing holds it no
    /// longer). Returns the client certificate's identity under mutual TLS.
    pub async fn accept<IO>(&self, io: IO, within: Duration) -> std::io::Result<(TlsStream<IO>, Option<ClientId>)>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let config = Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()));
        let accept = TlsAcceptor::from(config).accept(io);
        let tls = tokio::time::timeout(within, accept)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let id = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| ClientId::from_der(c));
        Ok((tls, id))
    }
}

pub(crate) fn read_certs(what: &'static str, path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::file(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::file(what, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::file(what, path, "no CERTIFICATE block in the file"));
    }
    Ok(certs)
}

fn build(files: &ServerTlsFiles) -> Result<ServerConfig, TlsError> {
    let certs = read_certs("certificate", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::file("private key", &files.key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs("client CA", ca)? {
                roots.add(c).map_err(|e| TlsError::file("client CA", ca, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(format!("certificate and key `{}`: {e}", files.key.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
