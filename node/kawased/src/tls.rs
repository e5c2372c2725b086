//! `[tls]` of config.toml, the CLI's TLS flags, and the certificates a
//! devnet or testnet is given.
//!
//! The rule the node enforces: a listener that can be reached from beyond
//! the host (RPC, metrics) speaks TLS 1.3. Plain text is allowed only on a
//! loopback address, where nothing off the machine can reach it.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use kawase_tls::{ClientTls, DevCa, ServerTls, ServerTlsFiles};
use serde::{Deserialize, Serialize};

use crate::home::Home;

/// `[tls]`: the RPC's and metrics endpoint's certificate. Paths are
/// relative to the node's home. Empty `cert_file`: plain text (loopback only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// PEM certificate chain, leaf first.
    pub cert_file: String,
    /// PEM private key of the certificate.
    pub key_file: String,
    /// Mutual TLS when set: clients must present a certificate issued by
    /// this CA (the consortium's).
    pub client_ca_file: String,
}

/// Where a devnet or testnet keeps its certificates inside a node home.
const HOME_TLS: &str = "config/tls";

impl TlsSection {
    pub fn enabled(&self) -> bool {
        !self.cert_file.trim().is_empty()
    }

    /// The listeners' TLS, loaded now so a bad file stops the start.
    pub fn server(&self, home: &Path) -> Result<Option<Arc<ServerTls>>> {
        if !self.enabled() {
            if !self.key_file.is_empty() || !self.client_ca_file.is_empty() {
                bail!("[tls] key_file or client_ca_file is set but cert_file is empty");
            }
            return Ok(None);
        }
        if self.key_file.trim().is_empty() {
            bail!("[tls] cert_file is set but key_file is empty");
        }
        let at = |p: &str| home.join(p.trim());
        let files = ServerTlsFiles {
            cert: at(&self.cert_file),
            key: at(&self.key_file),
            client_ca: (!self.client_ca_file.trim().is_empty()).then(|| at(&self.client_ca_file)),
        };
        let tls = ServerTls::load(files).context("[tls] of config.toml")?;
        Ok(Some(tls))
    }
}

/// Refuses a plain-text listener on an address other hosts can reach.
pub fn check_plaintext(what: &str, addr: SocketAddr, tls: bool) -> Result<()> {
    if !tls && !addr.ip().is_loopback() {
        bail!(
            "{what} would listen on {addr} in plain text: set [tls] cert_file and key_file in config.toml \
             (`kawased testnet --tls` makes them), or bind it to 127.0.0.1"
        );
    }
    Ok(())
}

/// A testnet host that only this machine can reach (so plain text is
/// allowed on it): a loopback IP address or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The CLI's view of a node's TLS.
#[derive(Args, Clone, Debug, Default)]
pub struct ClientTlsOpts {
    /// CA certificate (PEM) that issued the node's TLS certificate; needed
    /// for an https:// --node. A devnet prints its path.
    #[arg(long, env = "KAWASE_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for a node that requires mutual TLS.
    #[arg(long, env = "KAWASE_CLIENT_CERT", requires = "client_key", global = true)]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, env = "KAWASE_CLIENT_KEY", requires = "client_cert", global = true)]
    pub client_key: Option<PathBuf>,
}

impl ClientTlsOpts {
    pub fn client(&self) -> ClientTls {
        ClientTls { ca: self.ca_file.clone(), identity: self.client_cert.clone().zip(self.client_key.clone()) }
    }
}

/// Certificates for a testnet or devnet: the CA in `ca_dir` (made if it is
/// not there), and for each home a server certificate for its host (plus
/// 127.0.0.1 and localhost), with `[tls]` pointing at them. With `mutual`,
/// nodes require client certificates of the CA, and `ca_dir/clients/`
/// gets one each for `clients`.
pub fn provision(ca_dir: &Path, homes: &[(&Home, &str)], mutual: bool, clients: &[&str]) -> Result<()> {
    let ca = if ca_dir.join("ca.crt").exists() {
        DevCa::load(ca_dir)?
    } else {
        let ca = DevCa::create("kawase testnet CA")?;
        ca.write(ca_dir)?;
        ca
    };
    for (home, host) in homes {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let mut names = vec![host, "127.0.0.1".to_owned(), "localhost".to_owned()];
        names.dedup();
        let dir = home.root.join(HOME_TLS);
        ca.issue_server(&names)?.write(&dir, "node")?;
        std::fs::write(dir.join("ca.crt"), ca.cert_pem()).context("writing the CA certificate")?;
        let mut config = home.load_config()?;
        config.tls = TlsSection {
            cert_file: format!("{HOME_TLS}/node.crt"),
            key_file: format!("{HOME_TLS}/node.key"),
            client_ca_file: if mutual { format!("{HOME_TLS}/ca.crt") } else { String::new() },
        };
        home.write_config(&config)?;
    }
    for name in clients {
        ca.issue_client(name)?.write(&ca_dir.join("clients"), name)?;
    }
    Ok(())
}

/// Reload the listeners' certificates on SIGHUP (a renewed certificate, a
/// new client CA) without a restart; a reload that fails keeps the old.
/// Either way the audit log says so.
pub fn reload_on_hangup(tls: Arc<ServerTls>, audit: crate::audit::Audit) -> Result<()> {
    use kawase_audit::{kind, Event};
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let cert = tls.files().cert.display().to_string();
            match tls.reload() {
                Ok(()) => {
                    tracing::info!(%cert, "TLS certificates reloaded");
                    audit.record(Event::new(kind::TLS_RELOAD, "signal:SIGHUP").detail("cert_file", cert));
                }
                Err(e) => {
                    tracing::error!(code = e.code(), error = %e, "TLS reload failed; serving the old certificates");
                    audit.record(
                        Event::new(kind::TLS_RELOAD_FAILED, "signal:SIGHUP")
                            .failed()
                            .detail("cert_file", cert)
                            .detail("code", e.code())
                            .detail("error", e.to_string()),
                    );
                }
            }
        }
    });
    Ok(())
}
