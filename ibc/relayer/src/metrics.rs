//! Prometheus text metrics of the relayer.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Inner {
    /// (chain, kind) -> packets relayed.
    relayed: BTreeMap<(String, String), u64>,
    /// (chain, kind) -> seconds spent submitting, summed.
    seconds: BTreeMap<(String, String), f64>,
    /// (chain, kind) -> messages that were no-ops: another relayer had
    /// delivered the packet first.
    redundant: BTreeMap<(String, String), u64>,
    /// chain -> packets it sent that are not yet acknowledged.
    pending: BTreeMap<String, u64>,
    errors: u64,
    passes: u64,
}

#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Inner>>);

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn relayed(&self, chain: &str, kind: &str, n: usize, took: Duration) {
        self.with(|m| {
            *m.relayed.entry((chain.into(), kind.into())).or_default() += n as u64;
            *m.seconds.entry((chain.into(), kind.into())).or_default() += took.as_secs_f64();
        })
    }

    pub fn redundant(&self, chain: &str, kind: &str, n: usize) {
        self.with(|m| *m.redundant.entry((chain.into(), kind.into())).or_default() += n as u64)
    }

    pub fn set_pending(&self, chain: &str, n: usize) {
        self.with(|m| {
            m.pending.insert(chain.into(), n as u64);
        })
    }

    pub fn error(&self) {
        self.with(|m| m.errors += 1)
    }

    pub fn pass(&self) {
        self.with(|m| m.passes += 1)
    }

    pub fn render(&self) -> String {
        self.with(|m| {
            let mut s = String::new();
            let _ = writeln!(s, "# TYPE kawase_relayer_packets_total counter");
            for ((c, k), v) in &m.relayed {
                let _ = writeln!(s, "kawase_relayer_packets_total{{chain=\"{c}\",kind=\"{k}\"}} {v}");
            }
            let _ = writeln!(s, "# TYPE kawase_relayer_submit_seconds_total counter");
            for ((c, k), v) in &m.seconds {
                let _ = writeln!(s, "kawase_relayer_submit_seconds_total{{chain=\"{c}\",kind=\"{k}\"}} {v}");
            }
            let _ = writeln!(s, "# TYPE kawase_relayer_redundant_total counter");
            for ((c, k), v) in &m.redundant {
                let _ = writeln!(s, "kawase_relayer_redundant_total{{chain=\"{c}\",kind=\"{k}\"}} {v}");
            }
            let _ = writeln!(s, "# TYPE kawase_relayer_pending_packets gauge");
            for (c, v) in &m.pending {
                let _ = writeln!(s, "kawase_relayer_pending_packets{{source=\"{c}\"}} {v}");
            }
            let _ = writeln!(s, "# TYPE kawase_relayer_errors_total counter");
            let _ = writeln!(s, "kawase_relayer_errors_total {}", m.errors);
            let _ = writeln!(s, "# TYPE kawase_relayer_passes_total counter");
            let _ = writeln!(s, "kawase_relayer_passes_total {}", m.passes);
            s
        })
    }
}

/// Serves `/metrics` on `addr` until the process ends, on the node's
/// bounded listener: TLS 1.3 when `tls` is given, and plain text only on a
/// loopback address.
pub async fn serve(
    addr: std::net::SocketAddr,
    tls: Option<std::sync::Arc<kawase_tls::ServerTls>>,
    metrics: Metrics,
) -> anyhow::Result<kawase_rpc::RpcServer> {
    if tls.is_none() && !addr.ip().is_loopback() {
        anyhow::bail!(
            "metrics_laddr {addr} would serve plain text beyond this host: set metrics_cert_file and \
             metrics_key_file, or bind it to 127.0.0.1"
        );
    }
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move { m.render() }
        }),
    );
    let limits = kawase_rpc::ListenerLimits {
        max_open_connections: 16,
        request_timeout: std::time::Duration::from_secs(10),
        max_header_bytes: 16 << 10,
        rate: None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = kawase_rpc::serve_http(addr, limits, tls, app).await?;
    println!("metrics listening on {scheme}://{}/metrics", server.local_addr());
    Ok(server)
}
