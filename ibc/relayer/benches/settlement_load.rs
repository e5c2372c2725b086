//! Cross-zone payment load: an FZ and a BZ (`kawased start`, one validator
//! each) and one `kawase-relayer`, all real processes on loopback. Payers on
//! the BZ submit payments (25 per transaction, `broadcast_tx_sync`, their own
//! sequence numbers); the figures are BZ submit -> FZ settled -> BZ payee
//! credited (the payment's hold released by the FZ's acknowledgement)
//! latency, p50/p99, and payments/s settled. Not a test: it prints figures.
//!
//! `scripts/bench-settlement.sh` builds the release binaries and runs it.
//! Env: `PAYMENTS` (default 2000), `IN_FLIGHT` transactions (default 8),
//! `RELAYERS` (1 or 2; two relayers with keys of their own share the path,
//! `share = { index, of = 2 }` each).
//!
//! Besides the human lines it prints one `BENCH_JSON {...}` line (for
//! `scripts/bench-all.sh`): payments/s, latency, the memory of both nodes
//! and the relayer (`VmRSS` at the end, peak `VmHWM`) and the disk their
//! directories take.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kawase_client::{build_tx, msgs, TxParams};
use kawase_testkit::bench::{child_mem, dir_bytes, emit, mib, phase_delta, phase_line, scrape_phases, Mem, Phases};
use kawase_testkit::zones::*;
use serde_json::Value;

const PER_TX: usize = 25;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn next_send(net: &Net, channel: &str) -> u64 {
    let key = format!("nextSequenceSend/ports/settlement/channels/{channel}");
    let value = net.bz.client().store(key.as_bytes()).await.expect("q");
    u64::from_be_bytes(value.as_slice().try_into().expect("8 bytes"))
}

async fn pending_holds(net: &Net) -> BTreeSet<u64> {
    let v = net.bz.query("/settlement/holds", b"").await.expect("holds");
    v.as_array().expect("list").iter().map(|h| h["sequence"].as_u64().expect("seq")).collect()
}

fn main() {
    let payments = env("PAYMENTS", 2000).div_ceil(PER_TX) * PER_TX;
    let in_flight = env("IN_FLIGHT", 8);
    let relayers = env("RELAYERS", 1).clamp(1, 2);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    rt.block_on(async move {
        let mut net = network().await;
        let mut second = None;
        if relayers == 2 {
            let mut r = net.second_relayer().await;
            set_share(&net.relayer, 0, 2);
            set_share(&r, 1, 2);
            r.start();
            second = Some(r);
        }
        net.relayer.start();
        net.link_both().await;
        let ch = net.channel.clone();
        let total = payments as u128;
        net.fz.ok(&net.bank1, vec![msgs::issue(net.bank1.address(), net.alice.address(), total, "bench")]).await;
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, total, 0)]).await;
        eventually(60, "charge", || async { (net.bz.bz(&net.alice_bz).await == Some((total, 0))).then_some(()) }).await;
        let bz_channel = "channel-0";
        let first_seq = next_send(&net, bz_channel).await;

        // Signed up front, so signing is not measured.
        let acct = net.bz.query("/accounts/account", net.alice_bz.address().to_string().as_bytes()).await.expect("a");
        let (number, mut sequence) = (acct["number"].as_u64().expect("n"), acct["sequence"].as_u64().expect("s"));
        let txs: Vec<Vec<u8>> = (0..payments / PER_TX)
            .map(|_| {
                let p = TxParams {
                    chain_id: net.bz.chain_id.clone(),
                    account_number: number,
                    sequence,
                    memo: String::new(),
                    timeout_height: 0,
                };
                sequence += 1;
                let batch =
                    (0..PER_TX).map(|_| msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 1, "", 0)).collect();
                build_tx(&net.alice_bz, &p, batch).expect("tx")
            })
            .collect();

        // Both nodes' phase timings (their /metrics), before and after.
        let scrape = |p: &kawase_testkit::process::Process| -> Phases {
            p.addr("metrics").map(scrape_phases).unwrap_or_default()
        };
        let phases_before = (scrape(&net.fz.node), scrape(&net.bz.node));
        let client = net.bz.client();
        let start = Instant::now();
        let mut submitted: BTreeMap<u64, Instant> = BTreeMap::new();
        let mut done: BTreeMap<u64, Instant> = BTreeMap::new();
        let last_seq = first_seq + payments as u64 - 1;
        let mut next_tx = 0usize;
        let deadline = start + Duration::from_secs(600);
        // When the BZ had executed (held) every payment: the offered rate.
        let mut all_created: Option<Duration> = None;
        while done.len() < payments && Instant::now() < deadline {
            // Keep up to `in_flight` transactions of payments not yet held.
            let created = next_send(&net, bz_channel).await;
            let created_payments = (created - first_seq) as usize;
            if created_payments >= payments && all_created.is_none() {
                all_created = Some(start.elapsed());
            }
            while next_tx < txs.len()
                && (next_tx * PER_TX).saturating_sub(created_payments).div_ceil(PER_TX) < in_flight
            {
                let r = client.broadcast_tx_sync(txs[next_tx].clone()).await.expect("broadcast");
                assert!(r.code.is_ok(), "payment tx refused: {}", r.log);
                let now = Instant::now();
                for k in 0..PER_TX as u64 {
                    submitted.insert(first_seq + (next_tx * PER_TX) as u64 + k, now);
                }
                next_tx += 1;
            }
            let holds = pending_holds(&net).await;
            let now = Instant::now();
            for seq in first_seq..created {
                if seq <= last_seq && !holds.contains(&seq) {
                    done.entry(seq).or_insert(now);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let elapsed = done.values().max().map(|t| t.duration_since(start)).unwrap_or_default();
        let phases = serde_json::json!({
            "fz": phase_delta(&phases_before.0, &scrape(&net.fz.node)),
            "bz": phase_delta(&phases_before.1, &scrape(&net.bz.node)),
        });
        let mut lat: Vec<Duration> = done.iter().map(|(s, t)| t.duration_since(submitted[s])).collect();
        lat.sort();
        let bob: Value =
            net.bz.query("/settlement/bz_account", net.bob_bz.address().to_string().as_bytes()).await.expect("b");
        println!("settlement_load: {payments} payments ({PER_TX} per tx, {in_flight} txs in flight), {relayers} relayer(s)");
        println!("  settled:            {} of {}", done.len(), payments);
        println!("  payee credited:     {}", bob["balance"]);
        let offered = all_created.map(|d| payments as f64 / d.as_secs_f64().max(1e-9));
        println!("  offered:            {:.0} payments/s (all held on the BZ)", offered.unwrap_or(0.0));
        println!("  throughput:         {:.0} payments/s", done.len() as f64 / elapsed.as_secs_f64().max(1e-9));
        println!(
            "  submit->credited:   p50 {:?}  p99 {:?}  max {:?}",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or_default()
        );
        for zone in ["fz", "bz"] {
            if let Some(line) = phase_line(&phases[zone]) {
                println!("  {zone} phases (mean):   {line}");
            }
        }
        // Still running: both nodes and the relayer, now and at their peak.
        let fz_mem = child_mem(net.fz.node.pid());
        let bz_mem = child_mem(net.bz.node.pid());
        let relayer_mem = child_mem(net.relayer.proc.pid());
        let second_mem = second.as_ref().and_then(|r| child_mem(r.proc.pid()));
        let disk = dir_bytes(&net.dir());
        let sum = |f: fn(&Mem) -> u64| -> Option<u64> {
            Some(
                f(fz_mem.as_ref()?)
                    + f(bz_mem.as_ref()?)
                    + f(relayer_mem.as_ref()?)
                    + second_mem.as_ref().map(f).unwrap_or(0),
            )
        };
        println!(
            "  memory:             FZ node {:.0} MiB, BZ node {:.0} MiB, relayer {:.0} MiB (peaks {:.0} / {:.0} / {:.0} MiB); {:.1} MiB on disk",
            mib(fz_mem.unwrap_or_default().rss),
            mib(bz_mem.unwrap_or_default().rss),
            mib(relayer_mem.unwrap_or_default().rss),
            mib(fz_mem.unwrap_or_default().hwm),
            mib(bz_mem.unwrap_or_default().hwm),
            mib(relayer_mem.unwrap_or_default().hwm),
            mib(disk),
        );
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let line = serde_json::json!({
            "bench": "settlement_load",
            "name": if relayers == 1 {
                format!("payments={payments},in_flight={in_flight}")
            } else {
                format!("payments={payments},in_flight={in_flight},relayers={relayers}")
            },
            // A run too small to load the path measures latency alone.
            "light": in_flight == 1 && payments <= PER_TX * 10,
            "label": format!("{payments} payments, {PER_TX} per tx, {in_flight} txs in flight, {relayers} relayer(s)"),
            "relayers": relayers,
            "payments": payments,
            "per_tx": PER_TX,
            "in_flight": in_flight,
            "settled": done.len(),
            "payments_per_sec": done.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            "offered_per_sec": offered,
            "p50_ms": ms(percentile(&lat, 0.5)),
            "p99_ms": ms(percentile(&lat, 0.99)),
            "max_ms": ms(lat.last().copied().unwrap_or_default()),
            "validators": 1,
            // FZ node + BZ node + relayer (VmRSS at the end, peak VmHWM each).
            "rss_bytes": sum(|m| m.rss),
            "hwm_bytes": sum(|m| m.hwm),
            "fz_rss_bytes": fz_mem.map(|m| m.rss),
            "fz_hwm_bytes": fz_mem.map(|m| m.hwm),
            "bz_rss_bytes": bz_mem.map(|m| m.rss),
            "bz_hwm_bytes": bz_mem.map(|m| m.hwm),
            "relayer_rss_bytes": relayer_mem.map(|m| m.rss),
            "relayer_hwm_bytes": relayer_mem.map(|m| m.hwm),
            "disk_bytes": disk,
            "phases": phases,
        });
        let alice = net.bz.bz(&net.alice_bz).await.expect("alice");
        assert_eq!(net.fz.reserved(&net.alice).await, alice.0 + alice.1, "FZ reserved = BZ balance + holds (payer)");
        assert_eq!(
            net.fz.reserved(&net.bob).await,
            net.bz.bz(&net.bob_bz).await.expect("bob").0,
            "FZ reserved = BZ (payee)"
        );
        // Only figures of a run whose money checks held.
        emit(&line);
    });
}
