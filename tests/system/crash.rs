//! Crash-order system test: a real single-validator `kawased start` is
//! aborted (no destructors, no flush: as a SIGKILL) between each pair of
//! persistent writes of a height, through the test-only hook
//! `KAWASE_CRASH_AT=<point>:<height>`, while transactions stream in. It is
//! restarted without the hook and must come back, keep producing blocks,
//! and answer `tx`, `block_results` and the app's `/tx` query consistently
//! for every transaction around the crash, each committed exactly once.
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use kawase_client::{build_tx, msgs, Key, KeyKind, TxParams};

use kawase_testkit::node::{admin_key, testnet};
use kawase_testkit::process::{Launch, Process};
use kawase_testkit::rpc::Rpc;

const CHAIN: &str = "kawase-crash";
/// The height at which the hook fires: a few blocks with transactions first.
const CRASH_HEIGHT: u64 = 4;

/// One node at a time: the machine is small and the test is about order,
/// not load.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn register_bank(admin: &Key, sequence: u64) -> Vec<u8> {
    let p = TxParams { chain_id: CHAIN.into(), account_number: 0, sequence, memo: String::new(), timeout_height: 0 };
    let bank = Key::generate(KeyKind::Ed25519);
    build_tx(admin, &p, vec![msgs::register_bank(admin.address(), bank.address(), &format!("Bank {sequence}"))])
        .expect("tx")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Streams admin transactions into the node until it dies; the hashes
/// sent, in sequence order (the last one may have died with the node), and
/// how it died.
async fn send_until_dead(c: &Rpc, admin: &Key, node: &mut Process) -> (Vec<tendermint::Hash>, ExitStatus) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = Vec::new();
    loop {
        if let Some(status) = node.try_wait() {
            return (sent, status);
        }
        assert!(Instant::now() < deadline, "the node never reached its crash point");
        let tx = register_bank(admin, sent.len() as u64);
        let hash = tendermint::Hash::Sha256(kawase_app::tx::tx_hash(&tx));
        sent.push(hash);
        match c.broadcast_tx_sync(tx).await {
            Ok(r) if r.code.is_ok() => {}
            Ok(r) => panic!("CheckTx refused a well-formed transaction: {}", r.log),
            // The node is going down; this one may or may not have got in.
            Err(_) => loop {
                if let Some(status) = node.try_wait() {
                    return (sent, status);
                }
                assert!(Instant::now() < deadline, "RPC failed but the node did not crash");
                tokio::time::sleep(Duration::from_millis(50)).await;
            },
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// Every block up to `tip` has results; every transaction in it is found by
/// `tx` at that place with the same code as `block_results`, and the app's
/// own `/tx` index agrees. Returns the committed transaction hashes.
async fn check_indexes(c: &Rpc, tip: u64) -> Vec<tendermint::Hash> {
    let mut committed = Vec::new();
    for h in 1..=tip {
        let blk = c.block(h).await.unwrap_or_else(|e| panic!("block {h}: {e}"));
        let res = c.block_results(h).await.unwrap_or_else(|e| panic!("block_results {h}: {e}"));
        let results = res.txs_results.unwrap_or_default();
        assert_eq!(results.len(), blk.block.data.len(), "results for every tx of block {h}");
        for (i, (tx, r)) in blk.block.data.iter().zip(results.iter()).enumerate() {
            assert!(r.code.is_ok(), "tx {i} of block {h} failed: {}", r.log);
            let hash = tendermint::Hash::Sha256(kawase_app::tx::tx_hash(tx));
            let found = c.tx(hash, false).await.unwrap_or_else(|e| panic!("tx {hash} of block {h}: {e}"));
            assert_eq!((found.height.value(), found.index), (h, i as u32), "tx {hash} index entry");
            assert_eq!(found.tx_result.code, r.code, "tx {hash} result");
            let q = c.abci_query("/tx", hash.to_string().as_bytes(), None, false).await.expect("abci_query /tx");
            assert!(q.code.is_ok(), "app /tx {hash}: {}", q.log);
            let v: serde_json::Value = serde_json::from_slice(&q.value).expect("json");
            assert_eq!((v["height"].as_u64(), v["code"].as_u64()), (Some(h), Some(0)), "app /tx {hash}");
            committed.push(hash);
        }
    }
    committed
}

fn crash_and_restart_at(point: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let home = testnet(dir.path(), 1, CHAIN).remove(0);
    let admin = admin_key(&home);
    let spec = format!("{point}:{CRASH_HEIGHT}");
    let mut node = Launch::node(&home).env("KAWASE_CRASH_AT", &spec).start();
    let c = node.client();
    let (sent, status) = rt().block_on(send_until_dead(&c, &admin, &mut node));
    assert_eq!(status.signal(), Some(6), "the node must die by the hook's abort at {point}, not {status}");
    let log = std::fs::read_to_string(node.log()).unwrap_or_default();
    assert!(log.contains(&format!("KAWASE_CRASH_AT={point}:")), "crashed elsewhere than {point}");

    // Restart without the hook: it must come back and go on.
    drop(node);
    let node = Launch::node(&home).start();
    let c = node.client();
    rt().block_on(async {
        let tip = c
            .wait_for_height(CRASH_HEIGHT + 2, Duration::from_secs(60))
            .await
            .unwrap_or_else(|h| panic!("stuck at height {h} after a crash at {point}"));
        let committed = check_indexes(&c, tip).await;
        assert!(!committed.is_empty(), "no transaction was committed before the crash");
        // Each transaction sent is committed once or was lost with the
        // mempool (never twice); sequences leave no gap, so the committed
        // ones are exactly a prefix of what was sent.
        assert!(committed.len() <= sent.len(), "more committed than sent");
        assert_eq!(committed, sent[..committed.len()], "committed transactions are the sent prefix, once each");

        // The chain still takes transactions.
        let r = c.broadcast_tx_commit(register_bank(&admin, committed.len() as u64)).await.expect("commit");
        assert!(r.check_tx.code.is_ok() && r.tx_result.code.is_ok(), "after restart: {}", r.tx_result.log);
        let t = c.tx(r.hash, false).await.expect("new tx indexed");
        assert_eq!(t.height, r.height);
    });
}

macro_rules! crash_point_tests {
    ($($name:ident => $point:literal,)*) => {
        $(
            #[test]
            fn $name() {
                crash_and_restart_at($point);
            }
        )*

        #[test]
        fn every_crash_point_has_a_test() {
            let tested = [$($point),*];
            assert_eq!(tested.as_slice(), kawase_consensus::crash::POINTS);
        }
    };
}

crash_point_tests! {
    a_crash_after_storing_a_proposal_restarts_cleanly => "after-pending",
    a_crash_after_recording_an_own_proposal_restarts_cleanly => "after-own-proposal",
    a_crash_after_signing_a_vote_restarts_cleanly => "after-vote-signed",
    a_crash_after_the_decision_is_stored_restarts_cleanly => "after-decided",
    a_crash_after_finalize_block_restarts_cleanly => "after-finalize",
    a_crash_after_the_app_commit_restarts_cleanly => "after-app-commit",
    a_crash_after_the_results_are_stored_restarts_cleanly => "after-results",
    a_crash_after_the_mempool_recheck_restarts_cleanly => "after-recheck",
}
