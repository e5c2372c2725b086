//! Sustained load: signed transfers into a local zone (real `kawased
//! start` processes) for a fixed time, sampling every validator's memory
//! (`VmRSS`), its home's size on disk and the chain's committed
//! transactions along the way. It answers whether a validator's memory stays
//! bounded under load (issue 14: a 10-minute run), which a short burst
//! cannot show.
//!
//! Senders sign as they go (no pre-signed pile in this process), each
//! submitting in order to one node with `broadcast_tx_sync`; a transaction
//! the mempool refuses (full) is offered again after a pause. At the end
//! every sender's sequence on the chain is read back: committed = sum of
//! sequences, exactly.
//!
//! Environment: `VALIDATORS` (1), `DURATION_SECS` (600), `SAMPLE_SECS`
//! (30), `SENDERS` (200), `IN_FLIGHT` (64), `TIMEOUT_COMMIT` ("100ms").
//! Prints a line per sample and one `BENCH_JSON {...}` line.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kawase_client::msgs;
use kawase_testkit::bench::{child_mem, dir_bytes, emit, mib};
use kawase_testkit::customers::{account, fund, signed, Customer};
use kawase_testkit::node::{admin_key, start_bench_zone};
use kawase_testkit::process::Process;
use kawase_testkit::rpc::Rpc;

const CHAIN: &str = "kawase-soak";
/// Refused offers of one transaction before the bench gives up on it.
const MAX_RETRIES: u32 = 600;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One sample: seconds into the load, height, committed transactions
/// (node 0's `kawase_txs_total`), RSS per validator, disk per home.
struct Sample {
    secs: f64,
    height: u64,
    txs: Option<u64>,
    rss: Vec<u64>,
    disk: Vec<u64>,
}

fn txs_total(metrics: Option<&str>) -> Option<u64> {
    let text = kawase_testkit::http::get(metrics?, "/metrics").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("kawase_txs_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

fn main() {
    let n = env_or("VALIDATORS", 1) as u16;
    let duration = Duration::from_secs(env_or("DURATION_SECS", 600) as u64);
    let every = Duration::from_secs(env_or("SAMPLE_SECS", 30).max(1) as u64);
    let senders = env_or("SENDERS", 200);
    let in_flight = env_or("IN_FLIGHT", 64);
    let timeout_commit = std::env::var("TIMEOUT_COMMIT").unwrap_or_else(|_| "100ms".into());

    let dir = tempfile::tempdir().expect("tempdir");
    let (homes, nodes) = start_bench_zone(dir.path(), n, CHAIN, &timeout_commit);
    let urls: Vec<String> = nodes.iter().map(Process::rpc).collect();
    let metrics = nodes[0].addr("metrics").map(str::to_owned);
    let admin = admin_key(&homes[0]);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("rt");

    let (samples, committed, refused, load_secs) = rt.block_on(async {
        let c0 = Rpc::new(&urls[0]);
        while c0.wait_for_height(1, Duration::from_secs(3600)).await.is_err() {}
        println!(
            "soak: {n} validators, {senders} senders, {in_flight} in flight, timeout_commit {timeout_commit}, {} s, a sample every {} s",
            duration.as_secs(),
            every.as_secs()
        );
        let customers = Arc::new(fund(&c0, CHAIN, &admin, senders, 1_000_000_000).await);
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let began = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..senders {
            let (c, customers, stop, refused, sem) =
                (Rpc::new(&urls[i % urls.len()]), customers.clone(), stop.clone(), refused.clone(), sem.clone());
            tasks.push(tokio::spawn(async move {
                let Customer { key, number } = &customers[i];
                let to = customers[(i + 1) % customers.len()].key.address();
                let mut sequence = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = signed(CHAIN, key, *number, sequence, vec![msgs::transfer(key.address(), to, 1)]);
                    let mut tries = 0;
                    loop {
                        let answer = {
                            let _permit = sem.acquire().await.expect("semaphore");
                            c.broadcast_tx_sync(t.clone()).await
                        };
                        match answer {
                            Ok(r) if r.code.is_ok() => break,
                            other => {
                                tries += 1;
                                refused.fetch_add(1, Ordering::Relaxed);
                                assert!(tries < MAX_RETRIES, "sender {i} seq {sequence} refused {tries} times: {other:?}");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                    sequence += 1;
                }
            }));
        }
        let mut samples = Vec::new();
        let mut next = began;
        loop {
            let secs = began.elapsed().as_secs_f64();
            let s = Sample {
                secs,
                height: c0.height().await.unwrap_or(0),
                txs: txs_total(metrics.as_deref()),
                rss: nodes.iter().map(|p| child_mem(p.pid()).map_or(0, |m| m.rss)).collect(),
                disk: nodes.iter().map(|p| dir_bytes(p.home())).collect(),
            };
            println!(
                "  {:>5.0} s  height {:>6}  committed {:>9}  RSS {} MiB  disk {} MiB",
                s.secs,
                s.height,
                s.txs.map_or("-".into(), |t| t.to_string()),
                s.rss.iter().map(|b| format!("{:.0}", mib(*b))).collect::<Vec<_>>().join("/"),
                s.disk.iter().map(|b| format!("{:.0}", mib(*b))).collect::<Vec<_>>().join("/"),
            );
            samples.push(s);
            if began.elapsed() >= duration {
                break;
            }
            next += every;
            tokio::time::sleep_until(tokio::time::Instant::from_std(next.min(began + duration))).await;
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("sender task");
        }
        let load_secs = began.elapsed().as_secs_f64();
        // Let the mempool drain (the count stops moving over two heights),
        // then count what committed, exactly.
        let mut committed = 0u64;
        loop {
            let h = c0.height().await.expect("height");
            c0.wait_for_height(h + 2, Duration::from_secs(120)).await.expect("the zone keeps committing");
            let mut now = 0u64;
            for c in customers.iter() {
                now += account(&c0, &c.key).await.1;
            }
            if now == committed {
                break;
            }
            committed = now;
        }
        (samples, committed, refused.load(Ordering::Relaxed), load_secs)
    });

    let max_rss = |s: &Sample| s.rss.iter().copied().max().unwrap_or(0);
    // After the first minute (warm-up: caches and memtables filling).
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.secs >= 60.0).collect();
    let peak = samples.iter().map(max_rss).max().unwrap_or(0);
    let (first_warm, last) = (warm.first().map(|s| max_rss(s)), samples.last().map(max_rss));
    let hwm = nodes.iter().filter_map(|p| child_mem(p.pid())).map(|m| m.hwm).max();
    // The rate while loaded: node 0's committed count between the first
    // and the last sample.
    let rate = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) if b.secs > a.secs => {
            b.txs.zip(a.txs).map(|(b_txs, a_txs)| b_txs.saturating_sub(a_txs) as f64 / (b.secs - a.secs))
        }
        _ => None,
    };
    println!(
        "committed {committed} transfers (every sender's sequence, after the mempool drained); {:.0} tx/s while loaded; {refused} refused offers retried",
        rate.unwrap_or(0.0)
    );
    println!(
        "validator RSS (largest): {:.0} MiB after the first minute, {:.0} MiB at the end, {:.0} MiB at most in a sample, peak {:.0} MiB",
        mib(first_warm.unwrap_or(0)),
        mib(last.unwrap_or(0)),
        mib(peak),
        mib(hwm.unwrap_or(0))
    );
    let series: Vec<serde_json::Value> = samples
        .iter()
        .map(|s| serde_json::json!({"secs": s.secs, "height": s.height, "txs": s.txs, "rss_bytes": s.rss, "disk_bytes": s.disk}))
        .collect();
    emit(&serde_json::json!({
        "bench": "zone_soak",
        "name": format!("validators={n}"),
        "label": format!("{n} validators, {} s sustained, {senders} senders, {in_flight} in flight", duration.as_secs()),
        "validators": n,
        "duration_secs": load_secs,
        "committed": committed,
        "tx_per_sec": rate,
        "refused_offers": refused,
        "rss_after_first_minute_bytes": first_warm,
        "rss_end_bytes": last,
        "rss_max_sample_bytes": peak,
        "hwm_bytes": hwm,
        "disk_end_bytes": samples.last().map(|s| s.disk.iter().sum::<u64>()),
        "samples": series,
    }));
    drop(nodes);
}
