//! Where `kawased` writes its audit trail (`kawase-audit`), what it records,
//! and `kawased audit verify`.
//!
//! - A node: `<home>/audit.log` (`[audit] file`): start and stop, TLS
//!   reloads and failed reloads, failed TLS handshakes (the latest
//!   [`kawase_rpc::RECENT_FAILURES`] per listener, gathered every
//!   [`FAILURE_SWEEP`], so a flood writes a bounded number of records).
//! - The CLI's keystore: `<keyring dir>/audit.log`: keys added, imported,
//!   exported and deleted, and attempts that failed (a wrong passphrase).
//!
//! A node whose audit log cannot be opened does not start: a bank must not
//! run a node that acts without a record.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use kawase_audit::{kind, verify, verify_against, Event, SharedAudit, Verified};
use kawase_rpc::ListenerStats;
use serde::{Deserialize, Serialize};

use crate::output::{print_value, Output};

/// How often the failed handshakes are written to the audit log.
pub const FAILURE_SWEEP: Duration = Duration::from_secs(5);

/// `[audit]` of config.toml.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// The node's audit log, relative to the home.
    pub file: String,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection { file: "audit.log".into() }
    }
}

/// Opens `path` (0600) for appending; a log that is damaged at its end
/// stops the caller, since appending would hide the damage.
pub fn open(path: &Path) -> Result<SharedAudit> {
    let audit = SharedAudit::open(path).map_err(|e| anyhow::anyhow!("audit log {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 600 {}", path.display()))?;
    Ok(audit)
}

/// How often a running node re-verifies its whole audit log.
pub const CHAIN_CHECK: Duration = Duration::from_secs(600);

/// The node's audit log and what its metrics say of it.
#[derive(Clone)]
pub struct Audit {
    log: SharedAudit,
    path: PathBuf,
    pub health: Arc<AuditHealth>,
}

/// `kawase_audit_*` metrics: records, failed writes, and whether the
/// chain verified at the last check (alert on 0).
#[derive(Debug)]
pub struct AuditHealth {
    pub records: AtomicU64,
    pub write_failures: AtomicU64,
    /// 1 when the last full check found the chain intact, 0 when broken.
    pub chain_ok: AtomicU64,
}

impl Audit {
    /// Appends `event`; a failed write is logged and counted (the node
    /// goes on: losing a record must not halt a zone).
    pub fn record(&self, event: Event) {
        match self.log.record(event) {
            Some(r) => self.health.records.store(r.seq + 1, Ordering::Relaxed),
            None => {
                self.health.write_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Verifies the whole chain now and every [`CHAIN_CHECK`], off the
    /// runtime's threads; a break is logged at error level and shown as
    /// `kawase_audit_chain_ok 0`.
    pub fn watch_chain(&self) {
        let (path, health) = (self.path.clone(), self.health.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHAIN_CHECK);
            loop {
                tick.tick().await;
                let p = path.clone();
                let checked = tokio::task::spawn_blocking(move || check_settled(&p)).await;
                let ok = match checked {
                    Ok(Ok(_)) => true,
                    Ok(Err(e)) => {
                        tracing::error!(code = e.code(), file = %path.display(), "audit log check failed: {e}");
                        false
                    }
                    Err(_) => false,
                };
                health.chain_ok.store(u64::from(ok), Ordering::Relaxed);
            }
        });
    }
}

/// [`verify`], asked again once if the only fault is a record being
/// written at the end this very moment.
fn check_settled(path: &Path) -> Result<Verified, kawase_audit::AuditError> {
    match verify(path) {
        Err(kawase_audit::AuditError::Torn { .. }) => {
            std::thread::sleep(Duration::from_millis(200));
            verify(path)
        }
        other => other,
    }
}

/// The node's audit log.
pub fn open_node(home: &Path, section: &AuditSection) -> Result<Audit> {
    let path = home.join(section.file.trim());
    let log = open(&path)?;
    let health = Arc::new(AuditHealth {
        records: AtomicU64::new(0),
        write_failures: AtomicU64::new(0),
        chain_ok: AtomicU64::new(1),
    });
    Ok(Audit { log, path, health })
}

/// The audit metrics in Prometheus text.
pub fn render_health(out: &mut String, h: &AuditHealth) {
    use std::fmt::Write;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP kawase_audit_records Records in the node's audit log (as of the last write).\n\
         # TYPE kawase_audit_records gauge\nkawase_audit_records {}\n\
         # HELP kawase_audit_write_failures_total Audit records that could not be written.\n\
         # TYPE kawase_audit_write_failures_total counter\nkawase_audit_write_failures_total {}\n\
         # HELP kawase_audit_chain_ok 1 if the audit log's hash chain verified at the last check, 0 if broken.\n\
         # TYPE kawase_audit_chain_ok gauge\nkawase_audit_chain_ok {}",
        get(&h.records),
        get(&h.write_failures),
        get(&h.chain_ok)
    );
}

/// Writes the listeners' failed TLS handshakes to `audit` every
/// [`FAILURE_SWEEP`]: one record per listener and sweep, with the total
/// since the last sweep and the latest peers and reasons.
pub fn sweep_tls_failures(audit: Audit, listeners: Vec<(&'static str, Arc<ListenerStats>)>) {
    tokio::spawn(async move {
        let mut seen: Vec<u64> = vec![0; listeners.len()];
        let mut tick = tokio::time::interval(FAILURE_SWEEP);
        loop {
            tick.tick().await;
            for ((name, stats), seen) in listeners.iter().zip(seen.iter_mut()) {
                let total = stats.tls_failures.load(std::sync::atomic::Ordering::Relaxed);
                if total == *seen {
                    continue;
                }
                let latest: Vec<serde_json::Value> = stats
                    .take_recent_failures()
                    .into_iter()
                    .map(|f| serde_json::json!({ "peer": f.peer.to_string(), "reason": f.reason }))
                    .collect();
                let peer = latest.last().and_then(|l| l["peer"].as_str()).unwrap_or("?").to_owned();
                audit.record(
                    Event::new(kind::TLS_HANDSHAKE_FAILED, peer)
                        .failed()
                        .detail("listener", *name)
                        .detail("count", total - *seen)
                        .detail("latest", latest),
                );
                *seen = total;
            }
        }
    });
}

/// The person or service behind a CLI command, as the OS names it.
pub fn local_actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("local:{user}")
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check an audit log's hash chain; names the first record that was
    /// edited, removed or reordered (exit 1).
    Verify {
        /// The log (a node's `<home>/audit.log`, a keystore's `audit.log`).
        file: PathBuf,
        /// An earlier `verify` answer's record count (with --anchor-hash):
        /// also proves no record up to it was cut or rewritten.
        #[arg(long, requires = "anchor_hash")]
        anchor_records: Option<u64>,
        /// That answer's last hash.
        #[arg(long, requires = "anchor_records")]
        anchor_hash: Option<String>,
    },
}

pub fn run(cmd: AuditCmd, output: Output) -> Result<()> {
    match cmd {
        AuditCmd::Verify { file, anchor_records, anchor_hash } => {
            let checked = match anchor_records.zip(anchor_hash) {
                Some((records, last_hash)) => verify_against(&file, &Verified { records, last_hash }),
                None => verify(&file),
            };
            let v = checked.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            match output {
                Output::Json => print_value(&serde_json::to_value(&v)?, output),
                Output::Text => {
                    println!("ok: {} records, chain intact; last hash {}", v.records, v.last_hash);
                    Ok(())
                }
            }
        }
    }
}
