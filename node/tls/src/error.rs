//! Why TLS could not be set up, each with a stable code.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file cannot be read or holds nothing of the expected kind.
    #[error("tls: {what} `{}`: {detail}", path.display())]
    File { what: &'static str, path: PathBuf, detail: String },
    /// rustls refused the certificates or key (e.g. a key that does not
    /// match the certificate).
    #[error("tls: {0}")]
    Config(String),
    /// Making a certificate failed.
    #[error("tls: issuing a certificate: {0}")]
    Issue(String),
    /// The client side (reqwest) refused the CA or identity.
    #[error("tls: client: {0}")]
    Client(String),
}

impl TlsError {
    /// Stable code for logs, the audit trail and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            TlsError::File { .. } => "tls/file",
            TlsError::Config(_) => "tls/config",
            TlsError::Issue(_) => "tls/issue",
            TlsError::Client(_) => "tls/client",
        }
    }

    pub(crate) fn file(what: &'static str, path: &std::path::Path, detail: impl std::fmt::Display) -> Self {
        TlsError::File { what, path: path.to_path_buf(), detail: detail.to_string() }
    }
}
