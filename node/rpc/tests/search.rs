//! `tx_search` over an index: newest-first ordering, paging, the work bound
//! per call, a timed-out search that stops, and backend calls on the RPC's
//! own bounded pool.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kawase_rpc::search::search;
use kawase_rpc::{Deadline, RpcError, SearchLimits, TxIndex, TxLocation};
use tendermint::abci::types::ExecTxResult;

/// `transfer.sender = kw1alice` at index 0 of every height 1..=n; the
/// transfer goes to kw1bob at even heights, kw1carol at odd ones.
struct MemIndex {
    n: u64,
    delay: Option<Duration>,
    scanned: AtomicUsize,
    decoded: AtomicUsize,
    finished: AtomicBool,
}

impl MemIndex {
    fn new(n: u64, delay: Option<Duration>) -> MemIndex {
        MemIndex {
            n,
            delay,
            scanned: AtomicUsize::new(0),
            decoded: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
        }
    }
}

impl TxIndex for MemIndex {
    fn scan(
        &self,
        composite: &str,
        value: &str,
        desc: bool,
        visit: &mut dyn FnMut(TxLocation) -> bool,
    ) -> Result<(), RpcError> {
        if (composite, value) == ("transfer.sender", "kw1alice") {
            let heights: Box<dyn Iterator<Item = u64>> =
                if desc { Box::new((1..=self.n).rev()) } else { Box::new(1..=self.n) };
            for height in heights {
                self.scanned.fetch_add(1, Ordering::SeqCst);
                if let Some(d) = self.delay {
                    std::thread::sleep(d);
                }
                if !visit(TxLocation { height, index: 0 }) {
                    break;
                }
            }
        }
        self.finished.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn by_hash(&self, _: &[u8; 32]) -> Result<Option<TxLocation>, RpcError> {
        Ok(None)
    }

    fn tx_results(&self, height: u64) -> Result<Option<Vec<ExecTxResult>>, RpcError> {
        self.decoded.fetch_add(1, Ordering::SeqCst);
        let to = if height.is_multiple_of(2) { "kw1bob" } else { "kw1carol" };
        Ok(Some(vec![ExecTxResult {
            events: vec![event("transfer", &[("sender", "kw1alice"), ("to", to)])],
            ..Default::default()
        }]))
    }
}

fn heights(found: &(Vec<TxLocation>, u32)) -> Vec<u64> {
    found.0.iter().map(|l| l.height).collect()
}

fn roomy() -> SearchLimits {
    SearchLimits { max_scanned: 1_000_000, max_decoded_blocks: 1_000_000 }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(600))
}

#[test]
fn desc_order_returns_the_newest_matches_first_and_pages_stay_correct() {
    let index = MemIndex::new(25_000, None);
    let alice = "transfer.sender='kw1alice'";
    let found = search(&index, alice, 1, 5, true, &roomy(), &deadline()).unwrap();
    assert_eq!(heights(&found), vec![25_000, 24_999, 24_998, 24_997, 24_996]);
    assert_eq!(found.1, 25_000, "total_count counts every match");
    let found = search(&index, alice, 2, 5, true, &roomy(), &deadline()).unwrap();
    assert_eq!(heights(&found), vec![24_995, 24_994, 24_993, 24_992, 24_991]);
    let found = search(&index, alice, 1, 3, false, &roomy(), &deadline()).unwrap();
    assert_eq!(heights(&found), vec![1, 2, 3]);
    let last = search(&index, alice, 5_000, 5, false, &roomy(), &deadline()).unwrap();
    assert_eq!(heights(&last), vec![24_996, 24_997, 24_998, 24_999, 25_000]);

    let to_bob = "transfer.sender='kw1alice' AND transfer.to='kw1bob'";
    let found = search(&index, to_bob, 1, 3, true, &roomy(), &deadline()).unwrap();
    assert_eq!(heights(&found), vec![25_000, 24_998, 24_996]);
    assert_eq!(found.1, 12_500);
    let found = search(&index, to_bob, 2, 3, true, &roomy(), &deadline()).unwrap();
    assert_eq!(heights(&found), vec![24_994, 24_992, 24_990]);
}

#[test]
fn a_search_stops_at_its_work_bound() {
    let index = MemIndex::new(50_000, None);
    let limits = SearchLimits { max_scanned: 1_000, max_decoded_blocks: 1_000_000 };
    let r = search(&index, "transfer.sender='kw1alice'", 1, 10, false, &limits, &deadline());
    assert!(r.is_err(), "a search past its scan bound answered {:?}", r.map(|r| r.1));
    assert!(index.scanned.load(Ordering::SeqCst) <= 1_001, "scanned {}", index.scanned.load(Ordering::SeqCst));

    let index = MemIndex::new(50_000, None);
    let limits = SearchLimits { max_scanned: 1_000_000, max_decoded_blocks: 100 };
    let q = "transfer.sender='kw1alice' AND transfer.to='nobody'";
    let r = search(&index, q, 1, 10, false, &limits, &deadline());
    assert!(r.is_err(), "a search past its decode bound answered {:?}", r.map(|r| r.1));
    assert!(index.decoded.load(Ordering::SeqCst) <= 101, "decoded {} blocks", index.decoded.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_timed_out_search_stops_working() {
    // 100,000 entries at a millisecond each: far longer than the test waits.
    let index = Arc::new(MemIndex::new(100_000, Some(Duration::from_millis(1))));
    let mut config = test_config();
    config.request_timeout = Duration::from_millis(300);
    let (server, _) = start_with_index(config, Some(index.clone())).await;
    let (_, body) = post(
        server.local_addr(),
        br#"{"jsonrpc":"2.0","id":1,"method":"tx_search","params":{"query":"transfer.sender='kw1alice' AND transfer.to='kw1bob'"}}"#,
    )
    .await;
    assert_eq!(json(&body)["error"]["code"], -32603, "{body}");
    let mut stopped = false;
    for _ in 0..100 {
        if index.finished.load(Ordering::SeqCst) {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped, "the search kept running after its request timed out");
    assert!(index.scanned.load(Ordering::SeqCst) < 100_000);
    server.shutdown().await;
}

#[tokio::test]
async fn backend_calls_run_on_the_rpc_pool_and_no_more_than_its_limit_at_once() {
    let mut config = test_config();
    config.max_concurrent_calls = 2;
    let (server, backend) = start(config).await;
    let addr = server.local_addr();
    let calls = (0..12).map(|i| async move {
        let req = format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"abci_query","params":{{"path":"/slow"}}}}"#);
        post(addr, req.as_bytes()).await
    });
    for (status, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
        assert!(json(&body)["result"].is_object(), "{body}");
    }
    let most = backend.max_in_flight.load(Ordering::SeqCst);
    assert!(most <= 2, "{most} backend calls ran at once with max_concurrent_calls = 2");
    let threads = backend.threads.lock().unwrap().clone();
    assert_eq!(threads.len(), 12);
    assert!(threads.iter().all(|t| t.starts_with("kawase-rpc")), "calls ran on {threads:?}");
    server.shutdown().await;
}
