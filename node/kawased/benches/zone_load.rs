//! Load generator: signed transfers through JSON-RPC into a local
//! multi-validator zone (real `kawased start` processes), measuring
//! committed transfers per second, block interval and submit-to-commit
//! latency. Run with `scripts/bench-zone.sh` (release build).
//!
//! Environment: `VALIDATORS` (4), `SENDERS` (400), `TXS_PER_SENDER` (50),
//! `IN_FLIGHT` (concurrent RPC submissions, 64), `TIMEOUT_COMMIT` ("100ms").
//! With `LOCALNET_DIR` set it starts nothing and loads the FZ of a running
//! `scripts/localnet.sh` instead (`scripts/bench-zone.sh --localnet`).
//!
//! Besides the human lines it prints one `BENCH_JSON {...}` line (for
//! `scripts/bench-all.sh`): committed tx/s, latency, and the validators'
//! memory (`VmRSS` at the end, peak `VmHWM`) and data directories on disk.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kawase_client::{msgs, Key};
use sha2::{Digest, Sha256};

use kawase_testkit::bench::{child_mem, dir_bytes, emit, mib, phase_delta, phase_line, scrape_phases};
use kawase_testkit::customers::{fund, signed, Customer};
use kawase_testkit::node::{admin_key, start_bench_zone};
use kawase_testkit::process::Process;
use kawase_testkit::rpc::Rpc;
const CHAIN: &str = "kawase-bench";
/// The chain the load is signed for: CHAIN, or the localnet's FZ.
static CHAIN_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A signed transaction and its hash.
type SignedTx = (Vec<u8>, [u8; 32]);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn chain_id() -> &'static str {
    CHAIN_ID.get().map(String::as_str).unwrap_or(CHAIN)
}

/// A running localnet's FZ: node URLs and its admin key (from the
/// localnet's encrypted keystore).
fn attach(dir: &Path) -> (u16, Vec<String>, Key) {
    let net = dir.join("net");
    let layout: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(net.join("devnet.json")).expect("devnet.json")).expect("json");
    let n = layout["validators"].as_u64().expect("validators") as u16;
    let port = layout["fz_port"].as_u64().expect("fz_port") as u16;
    let pass = std::fs::read_to_string(net.join("passphrase")).expect("passphrase");
    let admin = kawase_client::Keystore::open(net.join("keys"))
        .expect("keystore")
        .load("admin", pass.trim_end())
        .expect("admin key");
    CHAIN_ID.set("kawase-fz".into()).expect("set once");
    (n, (0..n).map(|i| format!("http://127.0.0.1:{}", port + 10 * i)).collect(), admin)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    if let Some(dir) = std::env::var_os("LOCALNET_DIR") {
        let (n, urls, admin) = attach(Path::new(&dir));
        return run(n, Vec::new(), urls, admin, "devnet's 200ms".into());
    }
    let n = env_or("VALIDATORS", 4) as u16;
    let timeout_commit = std::env::var("TIMEOUT_COMMIT").unwrap_or_else(|_| "100ms".into());

    let dir = tempfile::tempdir().expect("tempdir");
    let (homes, nodes) = start_bench_zone(dir.path(), n, CHAIN, &timeout_commit);
    let urls: Vec<String> = nodes.iter().map(Process::rpc).collect();
    let admin = admin_key(&homes[0]);
    run(n, nodes, urls, admin, timeout_commit);
}

fn run(n: u16, nodes: Vec<Process>, urls: Vec<String>, admin: Key, timeout_commit: String) {
    let senders = env_or("SENDERS", 400);
    let per_sender = env_or("TXS_PER_SENDER", 50);
    let in_flight = env_or("IN_FLIGHT", 64);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("rt");
    let scenario = format!("{n} validators, timeout_commit {timeout_commit}, {in_flight} in flight");
    // Node 0's phase timings (its /metrics), before and after the load.
    let metrics_addr = nodes.first().and_then(|p| p.addr("metrics")).map(str::to_owned);
    let scrape = |addr: &Option<String>| addr.as_deref().map(scrape_phases).unwrap_or_default();

    let mut figures = rt.block_on(async move {
        let c0 = Rpc::new(&urls[0]);
        // Wait for the chain to run.
        while c0.wait_for_height(1, Duration::from_secs(3600)).await.is_err() {}
        println!("zone: {n} validators, {senders} senders x {per_sender} transfers, {in_flight} in flight, timeout_commit {timeout_commit}");

        // Setup: a bank, its customers, and deposits for each.
        let customers = fund(&c0, chain_id(), &admin, senders, 1_000_000).await;

        // Pre-sign every transfer; sender i always submits to node i % n so
        // its sequence numbers arrive in order.
        let mut streams: Vec<(usize, Vec<SignedTx>)> = Vec::new();
        for (i, Customer { key: k, number }) in customers.iter().enumerate() {
            let to = customers[(i + 1) % senders].key.address();
            let txs = (0..per_sender as u64)
                .map(|s| {
                    let t = signed(chain_id(), k, *number, s, vec![msgs::transfer(k.address(), to, 1)]);
                    let h: [u8; 32] = Sha256::digest(&t).into();
                    (t, h)
                })
                .collect();
            streams.push((i % n as usize, txs));
        }
        let total = senders * per_sender;
        let start_height = c0.height().await.expect("status");

        // Watcher: records when each transaction is seen committed.
        let submitted: Arc<std::sync::Mutex<HashMap<[u8; 32], Instant>>> = Default::default();
        let watcher = {
            let c = Rpc::new(&urls[0]);
            tokio::spawn(async move {
                let mut seen: HashMap<[u8; 32], Instant> = HashMap::new();
                let mut times = Vec::new();
                let mut h = start_height;
                while seen.len() < total {
                    let latest = match c.height().await {
                        Ok(h) => h,
                        Err(_) => continue,
                    };
                    while h < latest {
                        h += 1;
                        let b = c.block(h).await.expect("block");
                        let now = Instant::now();
                        times.push((h, b.block.header.time, b.block.data.len()));
                        for t in &b.block.data {
                            seen.insert(Sha256::digest(t).into(), now);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                (seen, times)
            })
        };

        let phases_before = scrape(&metrics_addr);
        let began = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let mut tasks = Vec::new();
        for (node, txs) in streams {
            let c = Rpc::new(&urls[node]);
            let sem = sem.clone();
            let submitted = submitted.clone();
            tasks.push(tokio::spawn(async move {
                let mut rejected = 0usize;
                for (t, h) in txs {
                    let _permit = sem.acquire().await.expect("semaphore");
                    submitted.lock().expect("lock").insert(h, Instant::now());
                    match c.broadcast_tx_sync(t).await {
                        Ok(r) if r.code.is_ok() => {}
                        Ok(r) => {
                            rejected += 1;
                            if rejected < 3 {
                                eprintln!("rejected: {}", r.log);
                            }
                        }
                        Err(e) => {
                            rejected += 1;
                            if rejected < 3 {
                                eprintln!("rpc error: {e}");
                            }
                        }
                    }
                }
                rejected
            }));
        }
        let mut rejected = 0;
        for t in tasks {
            rejected += t.await.expect("task");
        }
        let submit_secs = began.elapsed().as_secs_f64();
        assert_eq!(rejected, 0, "transactions were rejected");
        let (seen, times) = tokio::time::timeout(Duration::from_secs(300), watcher).await.expect("all committed").expect("watcher");
        let phases = phase_delta(&phases_before, &scrape(&metrics_addr));
        let elapsed = seen.values().max().map(|t| t.duration_since(began)).unwrap_or_default().as_secs_f64();

        let submitted = submitted.lock().expect("lock");
        let mut lat: Vec<Duration> = seen.iter().filter_map(|(h, t)| submitted.get(h).map(|s| t.duration_since(*s))).collect();
        lat.sort();
        let blocks: Vec<_> = times.iter().filter(|(_, _, n)| *n > 0).collect();
        let intervals: Vec<f64> = times
            .windows(2)
            .filter_map(|w| w[1].1.duration_since(w[0].1).ok())
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        let avg_interval = intervals.iter().sum::<f64>() / intervals.len().max(1) as f64;
        let max_block = times.iter().map(|(_, _, n)| *n).max().unwrap_or(0);
        println!("submitted {total} transfers in {submit_secs:.2} s ({:.0} tx/s offered)", total as f64 / submit_secs);
        println!("committed {} transfers in {elapsed:.2} s: {:.0} tx/s", seen.len(), seen.len() as f64 / elapsed);
        println!(
            "blocks: {} ({} with txs), interval avg {avg_interval:.0} ms, largest {max_block} txs",
            times.len(),
            blocks.len()
        );
        println!(
            "submit-to-commit latency: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            percentile(&lat, 0.5).as_secs_f64() * 1000.0,
            percentile(&lat, 0.99).as_secs_f64() * 1000.0,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
        );
        if let Some(line) = phase_line(&phases) {
            println!("node 0 phases (mean per run during the load): {line}");
        }
        serde_json::json!({
            "transfers": total,
            "committed": seen.len(),
            "senders": senders,
            "txs_per_sender": per_sender,
            "in_flight": in_flight,
            "timeout_commit": timeout_commit,
            "offered_tx_per_sec": total as f64 / submit_secs,
            "tx_per_sec": seen.len() as f64 / elapsed,
            "p50_ms": percentile(&lat, 0.5).as_secs_f64() * 1000.0,
            "p99_ms": percentile(&lat, 0.99).as_secs_f64() * 1000.0,
            "max_ms": lat.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
            "blocks": times.len(),
            "block_interval_ms": avg_interval,
            "largest_block_txs": max_block,
            "phases": phases,
        })
    });
    // The validators are still running: their memory now and at its peak,
    // and what their homes (RocksDB, WAL, logs) take on disk.
    let mems: Vec<_> = nodes.iter().filter_map(|p| child_mem(p.pid())).collect();
    let disk: Vec<u64> = nodes.iter().map(|p| dir_bytes(p.home())).collect();
    let measured = !nodes.is_empty() && mems.len() == nodes.len();
    let max_rss = mems.iter().map(|m| m.rss).max();
    let max_hwm = mems.iter().map(|m| m.hwm).max();
    if measured {
        println!(
            "validators: RSS {:.0} MiB (largest; peak {:.0} MiB), {:.1} MiB on disk per home (largest)",
            mib(max_rss.unwrap_or(0)),
            mib(max_hwm.unwrap_or(0)),
            mib(disk.iter().copied().max().unwrap_or(0)),
        );
    }
    let mut line = serde_json::json!({
        "bench": "zone_load",
        "name": format!("validators={n}"),
        "label": scenario,
        "validators": n,
        // Largest single validator (VmRSS at the end, peak VmHWM), and all of them.
        "rss_bytes": max_rss.filter(|_| measured),
        "hwm_bytes": max_hwm.filter(|_| measured),
        "rss_total_bytes": measured.then(|| mems.iter().map(|m| m.rss).sum::<u64>()),
        "disk_bytes": (!nodes.is_empty()).then(|| disk.iter().sum::<u64>()),
        "disk_per_validator_bytes": disk.iter().copied().max(),
    });
    if let (Some(line), Some(figures)) = (line.as_object_mut(), figures.as_object_mut()) {
        line.append(figures);
    }
    emit(&line);
    drop(nodes);
}
