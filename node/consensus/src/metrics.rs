//! Node metrics in Prometheus text format: ours (height, block interval,
//! transactions, mempool, round, gossip peers) followed by Malachite's own
//! registry (consensus steps, network peers, sync).
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tendermint::Time;

#[derive(Default)]
pub struct Metrics {
    pub height: AtomicU64,
    pub round: AtomicU64,
    pub block_txs: AtomicU64,
    pub txs_total: AtomicU64,
    /// Milliseconds between the last two block times.
    pub block_interval_ms: AtomicU64,
    /// Shared with the gossip task, which counts its live connections.
    pub gossip_peers: Arc<AtomicU64>,
}

impl Metrics {
    pub fn record_block(&self, height: u64, txs: usize, prev: Option<Time>, time: Time) {
        self.height.store(height, Ordering::Relaxed);
        self.block_txs.store(txs as u64, Ordering::Relaxed);
        self.txs_total.fetch_add(txs as u64, Ordering::Relaxed);
        if let Some(prev) = prev {
            if let Ok(d) = time.duration_since(prev) {
                self.block_interval_ms.store(d.as_millis() as u64, Ordering::Relaxed);
            }
        }
    }

    pub fn render(&self, mempool_txs: usize) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, v: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        gauge("kawase_height", "Height of the last committed block.", "gauge", get(&self.height));
        gauge("kawase_consensus_round", "Round consensus is in.", "gauge", get(&self.round));
        gauge("kawase_block_txs", "Transactions in the last block.", "gauge", get(&self.block_txs));
        gauge("kawase_txs_total", "Transactions committed since start.", "counter", get(&self.txs_total));
        gauge(
            "kawase_block_interval_seconds",
            "Header time between the last two blocks.",
            "gauge",
            get(&self.block_interval_ms) / 1000.0,
        );
        gauge("kawase_mempool_txs", "Transactions waiting in the mempool.", "gauge", mempool_txs as f64);
        gauge("kawase_gossip_peers", "Connected transaction gossip peers.", "gauge", get(&self.gossip_peers));
        malachitebft_app_channel::app::metrics::export(&mut out);
        out
    }
}

/// Peers the consensus engine is connected to now (Malachite's
/// `connected_peers` gauge, read from its registry: the engine offers no
/// other way to ask). `None` if the gauge is not registered (yet).
pub fn engine_peers() -> Option<u64> {
    let mut text = String::new();
    malachitebft_app_channel::app::metrics::export(&mut text);
    connected_peers_in(&text)
}

fn connected_peers_in(text: &str) -> Option<u64> {
    text.lines()
        .filter(|l| l.starts_with("malachitebft_core_consensus_connected_peers"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v.max(0.0) as u64)
        .next()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_engine_peer_count_is_read_from_the_registry_text() {
        let text = "# HELP malachitebft_core_consensus_connected_peers Number of connected peers\n\
            # TYPE malachitebft_core_consensus_connected_peers gauge\n\
            malachitebft_core_consensus_connected_peers{moniker=\"node1\"} 3\n\
            malachitebft_core_consensus_height{moniker=\"node1\"} 7\n";
        assert_eq!(super::connected_peers_in(text), Some(3));
        assert_eq!(super::connected_peers_in("malachitebft_core_consensus_height 7"), None);
    }
}
