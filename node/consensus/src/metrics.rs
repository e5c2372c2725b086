//! Node metrics in Prometheus text format: ours (height, block interval,
//! transactions, mempool, round, gossip peers, the time each phase of a
//! height takes) followed by Malachite's own registry (consensus steps,
//! network peers, sync). Wall-clock readings here are for operators only;
//! nothing in a state transition reads them.
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
    /// Shared with the gossip listener: what it refused.
    pub gossip: Arc<crate::gossip::GossipStats>,
    /// Encoded size of the last committed block.
    pub block_bytes: AtomicU64,
    pub phases: Phases,
}

/// The phases of a height, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// PrepareProposal as proposer: reap, build, encode, store the block.
    Propose,
    /// ProcessProposal of a block received from the proposer.
    ProcessProposal,
    /// From the height's first round to the decision: proposal, part
    /// gossip, prevotes and precommits.
    Consensus,
    /// The decided block and its certificate stored (fsync).
    StoreDecided,
    /// FinalizeBlock: every transaction executed, in memory.
    Finalize,
    /// The app's Commit: state, tx index and results in one write.
    Commit,
    /// Results and the event index into the block store.
    Results,
    /// Mempool recheck against the new state.
    Recheck,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Propose,
        Phase::ProcessProposal,
        Phase::Consensus,
        Phase::StoreDecided,
        Phase::Finalize,
        Phase::Commit,
        Phase::Results,
        Phase::Recheck,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Propose => "propose",
            Phase::ProcessProposal => "process_proposal",
            Phase::Consensus => "consensus",
            Phase::StoreDecided => "store_decided",
            Phase::Finalize => "finalize",
            Phase::Commit => "commit",
            Phase::Results => "results",
            Phase::Recheck => "recheck",
        }
    }
}

/// Per phase: how often it ran, the microseconds it took in all, and the
/// last one (a Prometheus summary without quantiles, plus a gauge).
#[derive(Default)]
pub struct Phases([PhaseStat; 8]);

#[derive(Default)]
struct PhaseStat {
    count: AtomicU64,
    sum_micros: AtomicU64,
    last_micros: AtomicU64,
}

impl Phases {
    pub fn record(&self, phase: Phase, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let s = &self.0[phase as usize];
        s.count.fetch_add(1, Ordering::Relaxed);
        s.sum_micros.fetch_add(micros, Ordering::Relaxed);
        s.last_micros.store(micros, Ordering::Relaxed);
    }

    /// (count, total) of `phase` so far.
    pub fn total(&self, phase: Phase) -> (u64, Duration) {
        let s = &self.0[phase as usize];
        (s.count.load(Ordering::Relaxed), Duration::from_micros(s.sum_micros.load(Ordering::Relaxed)))
    }

    fn render(&self, out: &mut String) {
        let secs = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP kawase_phase_seconds Time spent in each phase of a height.\n# TYPE kawase_phase_seconds summary"
        );
        for p in Phase::ALL {
            let s = &self.0[p as usize];
            let _ = writeln!(out, "kawase_phase_seconds_sum{{phase=\"{}\"}} {}", p.name(), secs(&s.sum_micros));
            let _ = writeln!(
                out,
                "kawase_phase_seconds_count{{phase=\"{}\"}} {}",
                p.name(),
                s.count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP kawase_phase_last_seconds The last run of each phase.\n# TYPE kawase_phase_last_seconds gauge"
        );
        for p in Phase::ALL {
            let _ = writeln!(
                out,
                "kawase_phase_last_seconds{{phase=\"{}\"}} {}",
                p.name(),
                secs(&self.0[p as usize].last_micros)
            );
        }
    }
}

impl Metrics {
    pub fn record_block(&self, height: u64, txs: usize, bytes: usize, prev: Option<Time>, time: Time) {
        self.height.store(height, Ordering::Relaxed);
        self.block_bytes.store(bytes as u64, Ordering::Relaxed);
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
        gauge("kawase_block_bytes", "Encoded size of the last block.", "gauge", get(&self.block_bytes));
        gauge("kawase_txs_total", "Transactions committed since start.", "counter", get(&self.txs_total));
        gauge(
            "kawase_block_interval_seconds",
            "Header time between the last two blocks.",
            "gauge",
            get(&self.block_interval_ms) / 1000.0,
        );
        gauge("kawase_mempool_txs", "Transactions waiting in the mempool.", "gauge", mempool_txs as f64);
        gauge("kawase_gossip_peers", "Connected transaction gossip peers.", "gauge", get(&self.gossip_peers));
        let g = &self.gossip;
        gauge(
            "kawase_gossip_refused_peers_total",
            "Gossip handshakes from a node id outside gossip_peers, or a banned one.",
            "counter",
            get(&g.refused_peers),
        );
        gauge(
            "kawase_gossip_failed_handshakes_total",
            "Gossip handshakes that failed (bad proof, wrong chain, timeout).",
            "counter",
            get(&g.failed_handshakes),
        );
        gauge(
            "kawase_gossip_invalid_txs_total",
            "Relayed transactions that cannot be valid (bad signature, undecodable, wrong chain).",
            "counter",
            get(&g.invalid_txs),
        );
        gauge("kawase_gossip_bans_total", "Gossip peers banned for what they relayed.", "counter", get(&g.bans));
        self.phases.render(&mut out);
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

    #[test]
    fn each_phase_is_summed_and_counted_under_its_own_name() {
        let m = super::Metrics::default();
        m.phases.record(super::Phase::Finalize, std::time::Duration::from_millis(250));
        m.phases.record(super::Phase::Finalize, std::time::Duration::from_millis(750));
        m.phases.record(super::Phase::Commit, std::time::Duration::from_millis(20));
        let text = m.render(0);
        assert!(text.contains("kawase_phase_seconds_sum{phase=\"finalize\"} 1\n"), "{text}");
        assert!(text.contains("kawase_phase_seconds_count{phase=\"finalize\"} 2\n"), "{text}");
        assert!(text.contains("kawase_phase_last_seconds{phase=\"commit\"} 0.02\n"), "{text}");
        assert!(text.contains("kawase_phase_seconds_count{phase=\"recheck\"} 0\n"), "{text}");
    }
}
