//! Disk growth of the state store per million transactions, with pruning
//! on (`keep_recent` versions kept) and off (archive: every version kept).
//!
//! The bench world of `finalize_block` (2,000 customers at two banks,
//! ed25519 and secp256k1 keys) runs blocks of signed transfers through
//! FinalizeBlock + Commit on RocksDB, one block signed at a time so a
//! million transactions never sit in memory. The store's size on disk
//! (allocated blocks, like `du`) is sampled five times along the run; the
//! growth per million transactions is taken from the second half, after
//! the pruning window has filled, so it is the steady state. What is kept
//! without pruning is the transaction index and results (node-local, never
//! pruned here) and, in archive mode, every state version.
//!
//! `cargo bench -p kawase-app --bench disk_growth` runs a million
//! transfers per setting; under `cargo test` a small smoke run checks the
//! bench still works. `KAWASE_BENCH_GROWTH_TXS` (total),
//! `KAWASE_BENCH_TXS` (per block) and `KAWASE_BENCH_KEEP_RECENT` (the
//! pruning window, in versions) override the sizes. One `BENCH_JSON` line
//! per setting (for `scripts/bench-all.sh`).
mod world;

use std::time::{Duration, Instant};

use bytes::Bytes;
use kawase_app::AppConfig;
use kawase_devkit::TestChain;
use world::{dir_bytes, env_usize, grouped, mib, proc_mem, sign_all, Planner, Rng, Senders, World, CHAIN};

/// One sample along the run: transactions committed so far, store bytes.
#[derive(Clone, Copy)]
struct Sample {
    txs: usize,
    bytes: u64,
}

struct Outcome {
    samples: Vec<Sample>,
    execute: Duration,
    rss: Option<u64>,
    /// Per column family: name, SST bytes, memtable bytes, at the end.
    by_cf: Vec<(&'static str, u64, u64)>,
    /// RocksDB's write-ahead log files at the end.
    wal: u64,
}

fn run(world: &World, keep_recent: Option<u64>, total: usize, per_block: usize) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = AppConfig { check_invariants: false, keep_recent, ..AppConfig::new(dir.path().join("state")) };
    let mut chain = TestChain::open(config, CHAIN).expect("open the store");
    chain.init(&world.genesis(0)).expect("genesis");
    chain.block(Vec::new()).expect("genesis block");
    let mut rng = Rng(0x4449_534B);
    let mut planner = Planner::new(world, Senders::Mixed);
    let blocks = total.div_ceil(per_block);
    let every = blocks.div_ceil(4).max(1);
    let mut samples = vec![Sample { txs: 0, bytes: dir_bytes(dir.path()) }];
    let mut execute = Duration::ZERO;
    for b in 0..blocks {
        let txs = sign_all(world, &planner.block(per_block, &mut rng));
        let mut req = chain.block_request(Vec::new());
        req.txs = txs.iter().map(|t| Bytes::copy_from_slice(t)).collect();
        let t0 = Instant::now();
        let resp = chain.app.try_finalize_block(req).expect("finalize");
        chain.app.try_commit().expect("commit");
        execute += t0.elapsed();
        chain.height += 1;
        chain.time_secs += 1;
        for (i, r) in resp.tx_results.iter().enumerate() {
            assert_eq!(r.code, 0, "block {b} tx {i} failed: {}/{} {}", r.codespace, r.code, r.log);
        }
        if (b + 1) % every == 0 || b + 1 == blocks {
            samples.push(Sample { txs: (b + 1) * per_block, bytes: dir_bytes(dir.path()) });
        }
    }
    kawase_token::check_invariants(&chain.app.storage().latest()).expect("money invariants hold after the run");
    let by_cf = chain.app.storage().disk_usage().expect("column family sizes");
    let wal = wal_bytes(&dir.path().join("state"));
    Outcome { samples, execute, rss: proc_mem().map(|m| m.0), by_cf, wal }
}

/// Bytes of RocksDB's write-ahead log files (`*.log`) in a store directory.
fn wal_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

/// Bytes per million transactions between two samples.
fn per_million(a: Sample, b: Sample) -> f64 {
    let txs = b.txs.saturating_sub(a.txs).max(1) as f64;
    (b.bytes as f64 - a.bytes as f64) / txs * 1e6
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let total = env_usize("KAWASE_BENCH_GROWTH_TXS").unwrap_or(if full { 1_000_000 } else { 1_200 });
    let per_block = env_usize("KAWASE_BENCH_TXS").unwrap_or(if full { 5_000 } else { 200 });
    let keep = env_usize("KAWASE_BENCH_KEEP_RECENT").unwrap_or(if full { 50 } else { 2 }) as u64;
    let world = World::new();
    println!(
        "kawase-app disk_growth: {} signed transfers in blocks of {}, pruning window {keep} versions vs archive, {} cores",
        grouped(total as f64),
        grouped(per_block as f64),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    for (name, keep_recent) in [("pruned", Some(keep)), ("archive", None)] {
        let out = run(&world, keep_recent, total, per_block);
        let first = out.samples[0];
        let last = *out.samples.last().expect("samples");
        let mid = out.samples[out.samples.len() / 2];
        let steady = per_million(mid, last);
        let txs = last.txs as f64;
        let trail: Vec<String> =
            out.samples.iter().map(|s| format!("{} tx: {:.0} MiB", grouped(s.txs as f64), mib(s.bytes))).collect();
        println!(
            "{name:>8} (keep_recent {}): {:.0} MiB per million transactions (second half), {:.0} overall; {} tx/s through FinalizeBlock + Commit; store {}",
            keep_recent.map_or("all".to_owned(), |k| k.to_string()),
            steady / (1024.0 * 1024.0),
            per_million(first, last) / (1024.0 * 1024.0),
            grouped(txs / out.execute.as_secs_f64()),
            trail.join(", "),
        );
        let cfs: Vec<String> =
            out.by_cf.iter().map(|(name, sst, mem)| format!("{name} {:.0}+{:.0}", mib(*sst), mib(*mem))).collect();
        println!(
            "          column families (SST + memtable MiB): {}; write-ahead log {:.0} MiB",
            cfs.join(", "),
            mib(out.wal)
        );
        let line = serde_json::json!({
            "bench": "disk_growth",
            "name": name,
            "label": format!("{} transfers, {}", grouped(txs), keep_recent.map_or("archive".to_owned(), |k| format!("keep_recent {k}"))),
            "keep_recent": keep_recent,
            "txs": last.txs,
            "txs_per_block": per_block,
            "disk_bytes_start": first.bytes,
            "disk_bytes_end": last.bytes,
            "bytes_per_million_tx": steady,
            "bytes_per_million_tx_overall": per_million(first, last),
            "tx_per_sec": txs / out.execute.as_secs_f64(),
            "rss_bytes": out.rss,
            "wal_bytes": out.wal,
            "column_families": out.by_cf.iter().map(|(name, sst, mem)| serde_json::json!({"name": name, "sst_bytes": sst, "memtable_bytes": mem})).collect::<Vec<_>>(),
        });
        println!("BENCH_JSON {line}");
    }
}
