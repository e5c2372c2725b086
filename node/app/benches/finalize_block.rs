//! Throughput of FinalizeBlock + Commit on a real RocksDB store.
//!
//! A genesis with two banks and 2,000 customers (half per bank, opening
//! balances, ed25519 and secp256k1 keys alternating) receives blocks of
//! pre-signed transfers, same-bank and cross-bank mixed. Only
//! `try_finalize_block` + `try_commit` are timed; signing, request building
//! and the checks that every transaction succeeded happen outside.
//!
//! Afterwards the stateless pass (`exec::prepare_block`: decode and
//! signature verification on all cores) is timed alone over the same blocks,
//! to show how much of a block is signature work.
//!
//! `cargo bench -p kawase-app --bench finalize_block` runs the full sizes;
//! under `cargo test` (no `--bench` argument) a small smoke run only checks
//! that the benchmark still works. `KAWASE_BENCH_TXS` and
//! `KAWASE_BENCH_BLOCKS` override the block size and count;
//! `KAWASE_BENCH_SENDERS` (comma-separated `mixed`, `ed25519`, `secp256k1`)
//! chooses the runs.
//!
//! `KAWASE_BENCH_ACCOUNTS=N` adds N funded, idle customer accounts to the
//! genesis, so the same transfers run on a large state. That store is built
//! by a child process (this binary again), so its genesis JSON and the first
//! commit do not count in this process's memory: the measured process opens
//! an existing store of that size, as a restarted node would.
//!
//! Every run also prints one `BENCH_JSON {...}` line (for
//! `scripts/bench-all.sh`): transfers/s, block latency, the accounts in the
//! state, this process's memory (`VmRSS` after the timed blocks and the
//! peak `VmHWM` since the store was opened) and the store's size on disk.
mod world;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kawase_app::exec::{prepare_block, run_tx, BlockInfo};
use kawase_app::tx::DecodedTx;
use kawase_app::tx_cache::TxCache;
use kawase_app::{AppConfig, Params};
use kawase_client::KeyKind;
use kawase_devkit::TestChain;
use kawase_primitives::Delta;
use tendermint_proto::v0_38::abci::ExecTxResult;
use world::{
    dir_bytes, env_usize, grouped, mib, ms, percentile, proc_mem, sign_all, Plan, Planner, Rng, Senders, World, CHAIN,
    CUSTOMERS, OPENING_BALANCE,
};

/// Set (to a store path) in the child process that builds a large store.
const SETUP_ENV: &str = "KAWASE_BENCH_SETUP_STORE";

#[derive(Clone, Copy)]
struct Run {
    senders: Senders,
    txs_per_block: usize,
    blocks: usize,
    /// Funded, idle accounts in the genesis besides the customers.
    extra_accounts: usize,
}

/// Plans `blocks` blocks of transfers (see [`Planner`]).
fn plan_blocks(world: &World, run: &Run, rng: &mut Rng) -> Vec<Vec<Plan>> {
    let mut planner = Planner::new(world, run.senders);
    (0..run.blocks).map(|_| planner.block(run.txs_per_block, rng)).collect()
}

/// Where one block's FinalizeBlock time goes, rebuilt from the app's public
/// pieces on the committed state without committing anything: the
/// stateless pass, the sequential ante + messages, and the Merkle update
/// (`Storage::prepare`). FinalizeBlock additionally writes a JSON tx record
/// and builds the result events per transaction.
struct Stages {
    prepare: Duration,
    execute: Duration,
    merkle: Duration,
    writes: usize,
}

fn stages(chain: &TestChain, txs: &[Vec<u8>]) -> Stages {
    let storage = chain.app.storage();
    let latest = storage.latest();
    let params = Params::standard();
    let registry = kawase_app::modules::standard();
    let block = BlockInfo {
        chain_id: CHAIN.into(),
        zone: kawase_app::Zone::Fz,
        height: chain.height + 1,
        block_time_secs: chain.time_secs,
        block_time_nanos: chain.time_secs as u64 * 1_000_000_000,
    };
    // A fresh cache: nothing decoded or verified yet (a block from a peer).
    let no_cache = std::sync::Mutex::new(TxCache::default());
    let t0 = Instant::now();
    let prepared = prepare_block(&registry, &latest, CHAIN, &params, txs, &no_cache);
    let t1 = Instant::now();
    let mut state = Delta::new(latest.clone());
    for p in prepared {
        let tx = p.decoded.expect("planned transfers decode");
        let out = run_tx(&registry, &mut state, &tx, &block, p.sig).expect("the bench store does not fail");
        assert!(out.result.is_ok(), "planned transfers succeed: {:?}", out.result);
    }
    let changes = state.into_changes();
    let t2 = Instant::now();
    let commit = storage.prepare(block.height, &changes).expect("prepare the Merkle update");
    let t3 = Instant::now();
    drop(commit);
    Stages { prepare: t1 - t0, execute: t2 - t1, merkle: t3 - t2, writes: changes.writes.len() }
}

fn run_one(world: &World, run: &Run, rng: &mut Rng) {
    // One block more than timed: the last one is only taken apart by `stages`.
    let plans = plan_blocks(world, &Run { blocks: run.blocks + 1, ..*run }, rng);
    let sign_start = Instant::now();
    let mut blocks: Vec<Vec<Vec<u8>>> = plans.iter().map(|b| sign_all(world, b)).collect();
    let signing = sign_start.elapsed();
    let spare = blocks.pop().expect("one spare block");

    let dir = tempfile::tempdir().expect("tempdir");
    // A large state is built by a child process; then this one opens it.
    let setup = (run.extra_accounts > 0).then(|| setup_in_child(&dir.path().join("state"), run.extra_accounts));
    // This process's peak memory from here on (Linux: 5 resets VmHWM to VmRSS).
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let config = AppConfig { check_invariants: false, ..AppConfig::new(dir.path().join("state")) };
    let mut chain = TestChain::open(config, CHAIN).expect("open the store");
    if setup.is_none() {
        chain.init(&world.genesis(0)).expect("genesis");
        // Block 1 commits the genesis state: keep that write out of the figures.
        chain.block(Vec::new()).expect("genesis block");
    }

    let mut finalize = Vec::with_capacity(blocks.len());
    let mut commit = Vec::with_capacity(blocks.len());
    let mut results: Vec<ExecTxResult> = Vec::with_capacity(run.blocks * run.txs_per_block);
    for txs in &blocks {
        let mut req = chain.block_request(Vec::new());
        req.txs = txs.iter().map(|t| Bytes::copy_from_slice(t)).collect();
        let t0 = Instant::now();
        let resp = chain.app.try_finalize_block(req).expect("finalize");
        let t1 = Instant::now();
        chain.app.try_commit().expect("commit");
        let t2 = Instant::now();
        chain.height += 1;
        chain.time_secs += 1;
        finalize.push(t1 - t0);
        commit.push(t2 - t1);
        results.extend(resp.tx_results);
    }
    let mem = proc_mem();

    // Outside the timing: every transfer succeeded and no money moved out of existence.
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.code, 0, "tx {i} failed: {}/{} {}", r.codespace, r.code, r.log);
    }
    let split = stages(&chain, &spare);
    let latest = chain.app.storage().latest();
    kawase_token::check_invariants(&latest).expect("money invariants hold after the run");
    let total: u128 = world.customers.iter().map(|w| chain.balance(&w.address())).sum();
    assert_eq!(total, OPENING_BALANCE * CUSTOMERS as u128, "transfers conserve the total");
    let disk = dir_bytes(dir.path());

    // The stateless pass alone (decode + signatures on all cores), over the
    // same blocks: account numbers never change, so it does the same work.
    let params = Params::standard();
    let registry = kawase_app::modules::standard();
    let mut prepare = Vec::with_capacity(blocks.len());
    for txs in &blocks {
        let no_cache = std::sync::Mutex::new(TxCache::default());
        let t0 = Instant::now();
        let prepared = prepare_block(&registry, &latest, CHAIN, &params, txs, &no_cache);
        prepare.push(t0.elapsed());
        assert!(
            prepared.iter().all(|p| matches!(p.sig, kawase_app::exec::SigCheck::Checked { valid: true, .. })),
            "every signature verifies"
        );
    }
    // One core, per transaction: decode, then verification by key type.
    let sample = &blocks[0];
    let t0 = Instant::now();
    let decoded: Vec<DecodedTx> = sample.iter().map(|t| DecodedTx::decode(t, &params).expect("decodes")).collect();
    let decode_per_tx = t0.elapsed() / sample.len() as u32;
    let mut verify = [(Duration::ZERO, 0u32); 2];
    for (tx, plan) in decoded.iter().zip(&plans[0]) {
        let w = &world.customers[plan.from];
        let slot = usize::from(w.key.kind() == KeyKind::Secp256k1);
        let t0 = Instant::now();
        assert!(tx.verify_signature(CHAIN, w.number));
        verify[slot].0 += t0.elapsed();
        verify[slot].1 += 1;
    }

    let total_time: Duration = finalize.iter().chain(&commit).sum();
    let n = (run.blocks * run.txs_per_block) as f64;
    let block_times: Vec<Duration> = {
        let mut v: Vec<Duration> = finalize.iter().zip(&commit).map(|(f, c)| *f + *c).collect();
        v.sort();
        v
    };
    let sorted = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let (fin, com, pre) = (sorted(&finalize), sorted(&commit), sorted(&prepare));
    let fin_sum: Duration = finalize.iter().sum();
    let pre_sum: Duration = prepare.iter().sum();
    println!(
        "finalize+commit: {} signed transfers/block ({}), {} blocks: {} transfers/s (block p50 {:.0} ms, max {:.0} ms)",
        run.txs_per_block,
        run.senders.label(),
        run.blocks,
        grouped(n / total_time.as_secs_f64()),
        ms(percentile(&block_times, 0.5)),
        ms(percentile(&block_times, 1.0)),
    );
    println!(
        "    split p50: finalize {:.0} ms + commit {:.0} ms; finalize alone {} transfers/s",
        ms(percentile(&fin, 0.5)),
        ms(percentile(&com, 0.5)),
        grouped(n / fin_sum.as_secs_f64()),
    );
    let verify_line: Vec<String> = [("ed25519", verify[0]), ("secp256k1", verify[1])]
        .iter()
        .filter(|(_, (_, count))| *count > 0)
        .map(|(name, (d, count))| format!("verify {name} {:.1} us", d.as_secs_f64() * 1e6 / f64::from(*count)))
        .collect();
    println!(
        "    prepare_block (decode + signatures, all cores) p50 {:.0} ms/block = {:.0}% of finalize; one core per tx: decode {:.1} us, {}",
        ms(percentile(&pre, 0.5)),
        100.0 * pre_sum.as_secs_f64() / fin_sum.as_secs_f64(),
        decode_per_tx.as_secs_f64() * 1e6,
        verify_line.join(", "),
    );
    println!(
        "    one more block taken apart: stateless pass {:.0} ms, sequential ante+transfers {:.0} ms, Merkle update of {} keys {:.0} ms",
        ms(split.prepare),
        ms(split.execute),
        split.writes,
        ms(split.merkle),
    );
    println!(
        "    (signing {} txs outside the timing took {:.1} s)",
        plans.iter().map(Vec::len).sum::<usize>(),
        signing.as_secs_f64()
    );
    let accounts = CUSTOMERS + run.extra_accounts;
    println!(
        "    state: {} funded accounts ({} extra); RSS {:.0} MiB, peak {:.0} MiB since {}; store {:.1} MiB on disk{}",
        grouped(accounts as f64),
        grouped(run.extra_accounts as f64),
        mib(mem.map_or(0, |m| m.0)),
        mib(mem.map_or(0, |m| m.1)),
        if hwm_reset { "the store was opened" } else { "the process started" },
        mib(disk),
        match &setup {
            Some(s) => format!(" (built by a child in {:.1} s, peak {:.0} MiB)", s.secs, mib(s.hwm_bytes.unwrap_or(0))),
            None => String::new(),
        },
    );
    let verify_us = |slot: usize| {
        let (d, count) = verify[slot];
        (count > 0).then(|| d.as_secs_f64() * 1e6 / f64::from(count))
    };
    let line = serde_json::json!({
        "bench": "finalize_block",
        "name": run.senders.key(),
        "label": format!("{} signed transfers/block, {}, {} accounts", run.txs_per_block, run.senders.label(), grouped(accounts as f64)),
        "senders": run.senders.key(),
        "txs_per_block": run.txs_per_block,
        "blocks": run.blocks,
        "accounts": accounts,
        "extra_accounts": run.extra_accounts,
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "tx_per_sec": n / total_time.as_secs_f64(),
        "finalize_tx_per_sec": n / fin_sum.as_secs_f64(),
        "p50_ms": ms(percentile(&block_times, 0.5)),
        "p99_ms": ms(percentile(&block_times, 0.99)),
        "max_ms": ms(percentile(&block_times, 1.0)),
        "finalize_p50_ms": ms(percentile(&fin, 0.5)),
        "commit_p50_ms": ms(percentile(&com, 0.5)),
        "prepare_p50_ms": ms(percentile(&pre, 0.5)),
        "prepare_share": pre_sum.as_secs_f64() / fin_sum.as_secs_f64(),
        "verify_ed25519_us": verify_us(0),
        "verify_secp256k1_us": verify_us(1),
        "rss_bytes": mem.map(|m| m.0),
        "hwm_bytes": mem.map(|m| m.1),
        "hwm_since": if hwm_reset { "store open" } else { "process start" },
        "setup_hwm_bytes": setup.as_ref().and_then(|s| s.hwm_bytes),
        "setup_secs": setup.as_ref().map(|s| s.secs),
        "disk_bytes": disk,
    });
    println!("BENCH_JSON {line}");
}

/// How the child built a large store.
struct Setup {
    secs: f64,
    /// The child's peak memory (genesis JSON, the first commit).
    hwm_bytes: Option<u64>,
}

/// Runs this binary again to write the genesis with `extra` accounts and
/// commit block 1 into `store`.
fn setup_in_child(store: &Path, extra: usize) -> Setup {
    let t0 = Instant::now();
    let out = Command::new(std::env::current_exe().expect("the bench's own path"))
        .env(SETUP_ENV, store)
        .env("KAWASE_BENCH_ACCOUNTS", extra.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("start the store setup");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "store setup failed ({}): {stdout}", out.status);
    let hwm_bytes = stdout.lines().find_map(|l| l.strip_prefix("SETUP_HWM ")).and_then(|v| v.trim().parse().ok());
    Setup { secs: t0.elapsed().as_secs_f64(), hwm_bytes }
}

/// The child's side of [`setup_in_child`].
fn setup_store(store: &Path, extra: usize) {
    let world = World::new();
    let config = AppConfig { check_invariants: false, ..AppConfig::new(store.to_path_buf()) };
    let mut chain = TestChain::open(config, CHAIN).expect("open the store");
    chain.init(&world.genesis(extra)).expect("genesis");
    chain.block(Vec::new()).expect("genesis block");
    drop(chain);
    println!("SETUP_HWM {}", proc_mem().map_or(0, |m| m.1));
}

fn main() {
    let extra_accounts = env_usize("KAWASE_BENCH_ACCOUNTS").unwrap_or(0);
    if let Some(store) = std::env::var_os(SETUP_ENV) {
        return setup_store(Path::new(&store), extra_accounts);
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let full = std::env::args().any(|a| a == "--bench");
    let (txs, blocks) = if full { (5_000, 8) } else { (200, 2) };
    let txs = env_usize("KAWASE_BENCH_TXS").unwrap_or(txs);
    let blocks = env_usize("KAWASE_BENCH_BLOCKS").unwrap_or(blocks);
    let world = World::new();
    let mut rng = Rng(0x4B41_5741_5345);
    let half = blocks.div_ceil(2);
    // Mixed senders get all the blocks, one key type half of them.
    let run = |senders: Senders| Run {
        senders,
        txs_per_block: txs,
        blocks: if senders == Senders::Mixed { blocks } else { half },
        extra_accounts,
    };
    let runs: Vec<Run> = match std::env::var("KAWASE_BENCH_SENDERS") {
        Ok(list) => list
            .split(',')
            .map(|s| run(Senders::parse(s).unwrap_or_else(|| panic!("KAWASE_BENCH_SENDERS: unknown `{s}`"))))
            .collect(),
        Err(_) if full => {
            vec![run(Senders::Mixed), run(Senders::Only(KeyKind::Ed25519)), run(Senders::Only(KeyKind::Secp256k1))]
        }
        Err(_) => vec![run(Senders::Mixed)],
    };
    println!(
        "kawase-app finalize_block: {CUSTOMERS} customers at 2 banks, {} extra accounts, {} cores, RocksDB in a temp dir, invariants off",
        grouped(extra_accounts as f64),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    for run in &runs {
        run_one(&world, run, &mut rng);
    }
}
