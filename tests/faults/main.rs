//! The fault suite (after CometBFT's e2e tests and Jepsen): a network
//! described by a manifest (tests/faults/*.toml) of real `kawased` and
//! `kawase-relayer` processes on loopback, load from many accounts sent to
//! every node in turn, perturbations while it runs (SIGKILL, SIGSTOP,
//! graceful restart, partitions through harness proxies, relayer faults,
//! two relayers at once, a relayer killed mid-handshake), then checks:
//! no fork, equal app hashes, every transaction as its client was told
//! exactly once, exact money invariants on both zones and across them,
//! nothing pending, every node caught up.
//!
//! `KAWASE_FAULTS_PROFILE=ci|soak|path.toml` picks the manifest (ci by
//! default); `KAWASE_SOAK_SECS` bounds a soak; scripts/soak.sh runs one.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kawase_testkit::checks::{self, Verdict};
use kawase_testkit::manifest::{Manifest, Rng, ZoneName};
use kawase_testkit::{faultnet, money, perturb, workload};

/// What all runs found, printed at the end.
#[derive(Default)]
struct Summary {
    runs: u32,
    perturbations: BTreeMap<String, u32>,
    handshake_kills: usize,
    blocks_compared: u64,
    txs_checked: u64,
    committed: u64,
    refused: u64,
    refused_by: BTreeMap<String, u64>,
    unknown_committed: u64,
    unknown_absent: u64,
    forks: u64,
    app_hash_mismatches: u64,
    lost: u64,
    duplicated: u64,
    wrong_result: u64,
    invariants: BTreeMap<String, (u64, u64)>,
    failures: Vec<String>,
}

impl Summary {
    fn add(&mut self, v: &Verdict, applied: &perturb::Applied, handshake_kills: usize) {
        self.runs += 1;
        for (k, n) in &applied.by_kind {
            *self.perturbations.entry(k.clone()).or_default() += n;
        }
        self.handshake_kills += handshake_kills;
        self.blocks_compared += v.blocks_compared;
        self.txs_checked += v.txs_checked;
        self.committed += v.committed;
        self.refused += v.refused;
        for (k, n) in &v.refused_by {
            *self.refused_by.entry(k.clone()).or_default() += n;
        }
        self.unknown_committed += v.unknown_committed;
        self.unknown_absent += v.unknown_absent;
        self.forks += v.forks;
        self.app_hash_mismatches += v.app_hash_mismatches;
        self.lost += v.lost;
        self.duplicated += v.duplicated;
        self.wrong_result += v.wrong_result;
        for (name, ok) in &v.invariants {
            let e = self.invariants.entry(name.clone()).or_default();
            if *ok {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        self.failures.extend(applied.findings.iter().map(|f| format!("run {}: {f}", self.runs)));
        self.failures.extend(v.violations.iter().map(|f| format!("run {}: {f}", self.runs)));
    }

    fn print(&self, name: &str, elapsed: Duration) {
        let total: u32 = self.perturbations.values().sum();
        eprintln!("==== fault suite summary ({name}, {:.0} s) ====", elapsed.as_secs_f64());
        eprintln!("runs: {}", self.runs);
        eprintln!(
            "perturbations applied: {total} {:?}, create-path kills: {}",
            self.perturbations, self.handshake_kills
        );
        eprintln!("block pairs compared across nodes: {}", self.blocks_compared);
        eprintln!(
            "transactions checked: {} (committed as told: {}, refused by CheckTx: {}, unknown then found: {}, unknown never committed: {})",
            self.txs_checked, self.committed, self.refused, self.unknown_committed, self.unknown_absent
        );
        for (k, n) in &self.refused_by {
            eprintln!("  refused {n}x: {k}");
        }
        eprintln!(
            "forks: {}, app hash mismatches: {}, lost txs: {}, duplicated txs: {}, wrong results: {}",
            self.forks, self.app_hash_mismatches, self.lost, self.duplicated, self.wrong_result
        );
        for (name, (ok, bad)) in &self.invariants {
            eprintln!("invariant {name}: {ok} held, {bad} failed");
        }
        eprintln!("failures: {}", self.failures.len());
        for f in &self.failures {
            eprintln!("  - {f}");
        }
    }
}

async fn one_run(m: &Manifest, run: u32, summary: &mut Summary) {
    let dir = tempfile::tempdir().expect("tmp");
    eprintln!("run {run}: network under {}", dir.path().display());
    let mut rng = Rng::new(m.seed.wrapping_add(run as u64));
    let mut net = faultnet::start(m, dir.path()).await;
    let schedule = m.schedule(&mut rng);
    let (registered, actors) = workload::spawn(m, &net, m.duration_secs, rng.next_u64());
    let mut applied = tokio::task::block_in_place(|| perturb::run(&mut net, &schedule));
    for a in actors {
        a.await.expect("load actor");
    }
    tokio::task::block_in_place(|| perturb::heal(&mut net, &mut applied));
    for l in &applied.log {
        eprintln!("run {run}: {l}");
    }
    let mut v = Verdict::default();
    if let Err(e) = money::quiesce(&net, Duration::from_secs(150)).await {
        v.fail(format!("not quiescent: {e}"));
    }
    let history = net.history.all();
    checks::chains([(&net.fz_ep, ZoneName::Fz), (&net.bz_ep, ZoneName::Bz)], &history, &mut v).await;
    let mut customers = net.customer_addresses();
    customers.extend(registered.0.lock().unwrap_or_else(|p| p.into_inner()).iter().copied());
    money::invariants(&net, &customers, &mut v).await;
    eprintln!(
        "run {run}: heights {:?}, {} txs checked, {} perturbations, {} violations",
        v.heights,
        v.txs_checked,
        applied.total(),
        v.violations.len() + applied.findings.len()
    );
    for e in &m.expect_logs {
        let log = std::fs::read_to_string(net.cluster(e.zone).nodes[e.node].log()).unwrap_or_default();
        if !log.contains(&e.contains) {
            v.fail(format!("{:?} node {}'s log never says {:?}", e.zone, e.node, e.contains));
        }
    }
    let failed = !v.violations.is_empty() || !applied.findings.is_empty();
    summary.add(&v, &applied, m.handshake_kills_ms.len());
    drop(net);
    if failed || std::env::var_os("KAWASE_KEEP_TEST_DIRS").is_some() {
        eprintln!("run {run}: homes and logs kept in {}", dir.keep().display());
    }
}

/// One network at a time: two would share the machine's two cores.
static ONE_NETWORK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_network_keeps_its_promises_under_crashes_pauses_partitions_and_relayer_faults() {
    run_profile(Manifest::from_env());
}

/// The first soak's finding: a validator whose consensus connections all
/// closed never dialled its peers again (tests/faults/partition.toml).
#[test]
fn a_validator_cut_off_from_every_peer_catches_up_once_the_partition_heals() {
    run_profile(Manifest::named("partition"));
}

fn run_profile(m: Manifest) {
    let _one = ONE_NETWORK.lock().unwrap_or_else(|p| p.into_inner());
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut summary = Summary::default();
    rt.block_on(async {
        for run in 0..m.runs {
            if let Some(s) = m.soak_secs {
                if run > 0 && started.elapsed() >= Duration::from_secs(s) {
                    break;
                }
            }
            one_run(&m, run, &mut summary).await;
        }
    });
    summary.print(&m.name, started.elapsed());
    assert!(summary.failures.is_empty(), "{} failures (see the summary above)", summary.failures.len());
    assert_eq!((summary.forks, summary.lost, summary.duplicated), (0, 0, 0));
}
