//! The clients' side: trust only the consortium CA, present a client
//! certificate when the server asks for one.
use std::path::PathBuf;
use std::time::Duration;

use tendermint_rpc::client::CompatMode;
use tendermint_rpc::{HttpClient, HttpClientUrl};

use crate::error::TlsError;

/// What a client trusts and presents. With no CA, only plain `http://`
/// URLs work (a loopback node started with `--plaintext`): an `https://`
/// server is then refused, since the system roots are never trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM certificates of the CA(s) that issue the nodes' certificates.
    pub ca: Option<PathBuf>,
    /// The client's certificate and key (PEM), for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    /// A reqwest client (the one tendermint-rpc's HTTP client is built on)
    /// speaking TLS 1.3 to servers whose certificates this CA issued.
    pub fn reqwest(&self, timeout: Duration) -> Result<reqwest::Client, TlsError> {
        let read = |what: &'static str, p: &PathBuf| std::fs::read(p).map_err(|e| TlsError::file(what, p, e));
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .min_tls_version(reqwest::tls::Version::TLS_1_3)
            .user_agent(concat!("kawase/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout);
        if let Some(ca) = &self.ca {
            // reqwest takes one certificate per call: hand it each block.
            for der in crate::server::read_certs("CA", ca)? {
                let cert = reqwest::Certificate::from_der(&der).map_err(|e| TlsError::file("CA", ca, e))?;
                b = b.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &self.identity {
            let mut pem = read("client key", key)?;
            pem.push(b'\n');
            pem.extend(read("client certificate", cert)?);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| TlsError::file("client certificate", cert, e))?;
            b = b.identity(id);
        }
        b.build().map_err(|e| TlsError::Client(e.to_string()))
    }
}

/// A tendermint-rpc HTTP client of `url` over [`ClientTls`].
pub fn rpc_client(
    url: HttpClientUrl,
    tls: &ClientTls,
    timeout: Duration,
    compat: CompatMode,
) -> Result<HttpClient, TlsError> {
    HttpClient::builder(url)
        .client(tls.reqwest(timeout)?)
        .compat_mode(compat)
        .build()
        .map_err(|e| TlsError::Client(e.to_string()))
}
