//! A small in-memory chain behind the `Backend` trait, for testing the RPC
//! layer's encoding: two real `tendermint::Block`s with commits, results,
//! events and three validators. The real node is tested elsewhere.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kawase_rpc::tendermint_rpc::endpoint::status;
use kawase_rpc::tendermint_rpc::{client::CompatMode, HttpClient};
use kawase_rpc::{
    serve, Backend, BlockResults, Deadline, NewBlockEvent, NodeEvent, RpcConfig, RpcError, RpcServer, SearchLimits,
    TxEvent, TxIndex, TxResponse,
};
use sha2::{Digest, Sha256};
use tendermint::abci::{self, types::ExecTxResult, Code, Event, EventAttributeIndexExt};
use tendermint::block::{self, signed_header::SignedHeader, Commit, CommitSig, Header};
use tendermint::merkle::proof::{ProofOp, ProofOps};
use tendermint::{account, validator, AppHash, Block, Hash, PublicKey, Signature, Time};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

pub const CHAIN_ID: &str = "kawase-test";

pub fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn app_hash(height: u64) -> AppHash {
    AppHash::try_from(sha(format!("app{height}").as_bytes()).to_vec()).unwrap()
}

pub fn block_id(height: u64) -> block::Id {
    block::Id {
        hash: Hash::Sha256(sha(format!("block{height}").as_bytes())),
        part_set_header: block::parts::Header::new(1, Hash::Sha256(sha(format!("parts{height}").as_bytes()))).unwrap(),
    }
}

pub fn validators() -> Vec<validator::Info> {
    (1..=3u8)
        .map(|i| validator::Info {
            address: account::Id::new([i; 20]),
            pub_key: PublicKey::from_raw_ed25519(&[i; 32]).unwrap(),
            power: (100 - u64::from(i)).try_into().unwrap(),
            name: None,
            proposer_priority: (i64::from(i) * 10 - 20).into(),
        })
        .collect()
}

pub fn header(height: u64, txs: &[Vec<u8>]) -> Header {
    let h = |tag: &str| Hash::Sha256(sha(format!("{tag}{height}").as_bytes()));
    Header {
        version: block::header::Version { block: 11, app: 1 },
        chain_id: CHAIN_ID.parse().unwrap(),
        height: height.try_into().unwrap(),
        time: Time::from_unix_timestamp(1_700_000_000 + i64::try_from(height).unwrap(), 0).unwrap(),
        last_block_id: (height > 1).then(|| block_id(height - 1)),
        last_commit_hash: Some(h("lastcommit")),
        data_hash: Some(Hash::Sha256(sha(&txs.concat()))),
        validators_hash: h("vals"),
        next_validators_hash: h("vals"),
        consensus_hash: h("params"),
        app_hash: app_hash(height - 1),
        last_results_hash: Some(h("results")),
        evidence_hash: Some(h("evidence")),
        proposer_address: account::Id::new([1; 20]),
    }
}

/// The commit for `height`: two validators signed, one was absent.
pub fn commit_for(height: u64) -> Commit {
    let sig = |i: u8| CommitSig::BlockIdFlagCommit {
        validator_address: account::Id::new([i; 20]),
        timestamp: Time::from_unix_timestamp(1_700_000_000 + i64::try_from(height).unwrap(), 5).unwrap(),
        signature: Signature::new(vec![i; 64]).unwrap(),
    };
    Commit {
        height: height.try_into().unwrap(),
        round: 0u16.into(),
        block_id: block_id(height),
        signatures: vec![sig(1), sig(2), CommitSig::BlockIdFlagAbsent],
    }
}

pub fn event(kind: &str, attrs: &[(&str, &str)]) -> Event {
    Event::new(kind, attrs.iter().map(|(k, v)| (*k, *v).index()).collect::<Vec<_>>())
}

pub fn exec_result(tx: &[u8]) -> ExecTxResult {
    ExecTxResult {
        code: Code::Ok,
        data: bytes::Bytes::from(vec![0xde, 0xad]),
        log: format!("ok {}", String::from_utf8_lossy(tx)),
        info: "info".into(),
        gas_wanted: 200,
        gas_used: 150,
        events: vec![event("transfer", &[("sender", "kw1alice"), ("amount", &tx.len().to_string())])],
        codespace: String::new(),
    }
}

/// Transactions of each block: height 1 has one, height 2 has two.
pub fn block_txs(height: u64) -> Vec<Vec<u8>> {
    match height {
        1 => vec![b"pay alice 5".to_vec()],
        2 => vec![b"pay bob 7".to_vec(), b"issue 100".to_vec()],
        _ => vec![],
    }
}

pub fn make_block(height: u64) -> Block {
    let txs = block_txs(height);
    let last_commit = (height > 1).then(|| commit_for(height - 1));
    Block::new(header(height, &txs), txs, Default::default(), last_commit)
}

pub fn tx_proof(height: u64, index: u32, tx: &[u8]) -> tendermint::tx::Proof {
    tendermint::tx::Proof {
        root_hash: Hash::Sha256(sha(&block_txs(height).concat())),
        data: tx.to_vec(),
        proof: tendermint::merkle::Proof {
            total: block_txs(height).len() as u64,
            index: u64::from(index),
            leaf_hash: Hash::Sha256(sha(tx)),
            aunts: vec![Hash::Sha256(sha(b"aunt"))],
        },
    }
}

pub fn all_txs() -> Vec<TxResponse> {
    (1..=2)
        .flat_map(|h| {
            block_txs(h).into_iter().enumerate().map(move |(i, tx)| TxResponse {
                hash: sha(&tx),
                height: h,
                index: i as u32,
                tx_result: exec_result(&tx),
                proof: None,
                tx,
            })
        })
        .collect()
}

pub fn block_results(height: u64) -> BlockResults {
    BlockResults {
        height,
        txs_results: block_txs(height).iter().map(|t| exec_result(t)).collect(),
        finalize_block_events: vec![event("mint", &[("height", &height.to_string())])],
        validator_updates: vec![validator::Update {
            pub_key: PublicKey::from_raw_ed25519(&[9; 32]).unwrap(),
            power: 5u32.into(),
        }],
        consensus_param_updates: None,
        app_hash: app_hash(height),
    }
}

pub fn finalize_block(height: u64, txs: &[Vec<u8>]) -> abci::response::FinalizeBlock {
    abci::response::FinalizeBlock {
        events: vec![event("mint", &[("height", &height.to_string())])],
        tx_results: txs.iter().map(|t| exec_result(t)).collect(),
        validator_updates: vec![],
        consensus_param_updates: None,
        app_hash: app_hash(height),
    }
}

pub fn new_block_event(height: u64, txs: Vec<Vec<u8>>) -> NodeEvent {
    let block = Block::new(header(height, &txs), txs.clone(), Default::default(), None);
    NodeEvent::NewBlock(Arc::new(NewBlockEvent {
        block,
        block_id: block_id(height),
        result_finalize_block: finalize_block(height, &txs),
    }))
}

pub fn tx_event(height: u64, index: u32, tx: &[u8]) -> NodeEvent {
    NodeEvent::Tx(Arc::new(TxEvent { height, index, tx: tx.to_vec(), result: exec_result(tx) }))
}

pub struct TestBackend {
    pub events: broadcast::Sender<NodeEvent>,
    /// When set, `tx_search` walks this index with the real search code.
    pub index: Option<Arc<dyn TxIndex + Send + Sync>>,
    pub limits: SearchLimits,
    /// Calls of `abci_query` path `/slow` running now, the most ever seen at
    /// once, and the threads they ran on.
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub threads: Mutex<Vec<String>>,
}

impl TestBackend {
    fn latest(height: Option<u64>) -> u64 {
        height.unwrap_or(2)
    }
}

impl Backend for TestBackend {
    fn status(&self) -> Result<status::Response, RpcError> {
        let node_info = serde_json::from_value(serde_json::json!({
            "protocol_version": {"p2p": "8", "block": "11", "app": "1"},
            "id": "0123456789abcdef0123456789abcdef01234567",
            "listen_addr": "tcp://0.0.0.0:26656",
            "network": CHAIN_ID,
            "version": "0.38.17",
            "channels": "40202122233038606100",
            "moniker": "node0",
            "other": {"tx_index": "on", "rpc_address": "tcp://127.0.0.1:26657"}
        }))
        .map_err(RpcError::internal)?;
        let time = |h: u64| Time::from_unix_timestamp(1_700_000_000 + h as i64, 0).unwrap();
        Ok(status::Response {
            node_info,
            sync_info: status::SyncInfo {
                earliest_block_hash: block_id(1).hash,
                earliest_app_hash: app_hash(0),
                earliest_block_height: 1u32.into(),
                earliest_block_time: time(1),
                latest_block_hash: block_id(2).hash,
                latest_app_hash: app_hash(1),
                latest_block_height: 2u32.into(),
                latest_block_time: time(2),
                catching_up: false,
            },
            validator_info: validators()[0].clone(),
        })
    }

    fn abci_info(&self) -> Result<abci::response::Info, RpcError> {
        Ok(abci::response::Info {
            data: "kawase".into(),
            version: "0.1.0".into(),
            app_version: 1,
            last_block_height: 2u32.into(),
            last_block_app_hash: app_hash(2),
        })
    }

    fn abci_query(
        &self,
        path: String,
        data: Vec<u8>,
        height: Option<u64>,
        prove: bool,
    ) -> Result<abci::response::Query, RpcError> {
        if path == "/fail" {
            return Err(RpcError::internal("the app is unavailable"));
        }
        if path == "/slow" {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            self.threads.lock().unwrap().push(std::thread::current().name().unwrap_or("").to_string());
            std::thread::sleep(Duration::from_millis(100));
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        let mut value = data.clone();
        value.reverse();
        Ok(abci::response::Query {
            code: Code::Ok,
            log: path,
            info: String::new(),
            index: 0,
            key: data.clone().into(),
            value: value.into(),
            proof: prove.then(|| ProofOps {
                ops: vec![ProofOp { field_type: "ics23:jmt".into(), key: data, data: vec![1, 2, 3] }],
            }),
            height: Self::latest(height).try_into().unwrap(),
            codespace: String::new(),
        })
    }

    fn broadcast_tx(&self, tx: Vec<u8>) -> Result<abci::response::CheckTx, RpcError> {
        if tx.starts_with(b"fail") {
            return Err(RpcError::internal("mempool is full"));
        }
        if tx.starts_with(b"bad") {
            return Ok(abci::response::CheckTx {
                code: Code::from(7),
                log: "signature verification failed".into(),
                codespace: "kawase".into(),
                ..Default::default()
            });
        }
        if !tx.starts_with(b"stuck") {
            // "Commit" it shortly, the way the node publishes a block.
            let events = self.events.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                let _ = events.send(new_block_event(3, vec![tx.clone()]));
                let _ = events.send(tx_event(3, 0, &tx));
            });
        }
        Ok(abci::response::CheckTx {
            code: Code::Ok,
            data: bytes::Bytes::from_static(b"\x01\x02"),
            log: "accepted".into(),
            gas_wanted: 300,
            ..Default::default()
        })
    }

    fn block(&self, height: Option<u64>) -> Result<Option<(block::Id, Block)>, RpcError> {
        let h = Self::latest(height);
        Ok((1..=2).contains(&h).then(|| (block_id(h), make_block(h))))
    }

    fn block_results(&self, height: Option<u64>) -> Result<Option<BlockResults>, RpcError> {
        let h = Self::latest(height);
        Ok((1..=2).contains(&h).then(|| block_results(h)))
    }

    fn commit(&self, height: Option<u64>) -> Result<Option<(SignedHeader, bool)>, RpcError> {
        let h = Self::latest(height);
        if !(1..=2).contains(&h) {
            return Ok(None);
        }
        let sh = SignedHeader::new(header(h, &block_txs(h)), commit_for(h)).unwrap();
        // The latest commit is the node's own, not yet in a block.
        Ok(Some((sh, h < 2)))
    }

    fn validators(&self, height: Option<u64>) -> Result<Option<(u64, Vec<validator::Info>)>, RpcError> {
        let h = Self::latest(height);
        Ok((1..=2).contains(&h).then(|| (h, validators())))
    }

    fn tx(&self, hash: [u8; 32], prove: bool) -> Result<Option<TxResponse>, RpcError> {
        Ok(all_txs().into_iter().find(|t| t.hash == hash).map(|mut t| {
            if prove {
                t.proof = Some(tx_proof(t.height, t.index, &t.tx));
            }
            t
        }))
    }

    fn tx_search(
        &self,
        query: &str,
        prove: bool,
        page: u32,
        per_page: u8,
        order_desc: bool,
        deadline: &Deadline,
    ) -> Result<(Vec<TxResponse>, u32), RpcError> {
        if let Some(index) = &self.index {
            let (locs, total) =
                kawase_rpc::search::search(index.as_ref(), query, page, per_page, order_desc, &self.limits, deadline)?;
            let txs = locs
                .into_iter()
                .map(|l| TxResponse {
                    hash: [0; 32],
                    height: l.height,
                    index: l.index,
                    tx: Vec::new(),
                    tx_result: ExecTxResult::default(),
                    proof: None,
                })
                .collect();
            return Ok((txs, total));
        }
        // Enough of the query language for the tests: "tx.height = N" or all.
        let height = query
            .split("tx.height")
            .nth(1)
            .and_then(|rest| rest.trim_start_matches([' ', '=']).split_whitespace().next())
            .map(|n| n.parse::<u64>().map_err(RpcError::internal))
            .transpose()?;
        let mut found: Vec<TxResponse> =
            all_txs().into_iter().filter(|t| height.is_none_or(|h| t.height == h)).collect();
        if order_desc {
            found.reverse();
        }
        let total = found.len() as u32;
        let page = found
            .into_iter()
            .skip((page as usize - 1) * per_page as usize)
            .take(per_page as usize)
            .map(|mut t| {
                if prove {
                    t.proof = Some(tx_proof(t.height, t.index, &t.tx));
                }
                t
            })
            .collect();
        Ok((page, total))
    }

    fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }
}

pub fn test_config() -> RpcConfig {
    RpcConfig {
        laddr: "127.0.0.1:0".parse().unwrap(),
        timeout_broadcast_tx_commit: Duration::from_secs(5),
        ..RpcConfig::default()
    }
}

/// Start a server on a free port over the test chain.
pub async fn start(config: RpcConfig) -> (RpcServer, Arc<TestBackend>) {
    start_with_index(config, None).await
}

/// [`start`] with `tx_search` answered by the real search over `index`.
pub async fn start_with_index(
    config: RpcConfig,
    index: Option<Arc<dyn TxIndex + Send + Sync>>,
) -> (RpcServer, Arc<TestBackend>) {
    let (events, _) = broadcast::channel(64);
    let backend = Arc::new(TestBackend {
        events,
        index,
        limits: SearchLimits::default(),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        threads: Mutex::new(Vec::new()),
    });
    let server = serve(config, backend.clone()).await.unwrap();
    (server, backend)
}

pub fn http_client(addr: SocketAddr) -> HttpClient {
    HttpClient::builder(format!("http://{addr}").parse().unwrap()).compat_mode(CompatMode::V0_38).build().unwrap()
}

/// Send raw bytes, read until the server closes; returns status and body.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("server answered in time")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

pub async fn post(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let mut req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw_http(addr, &req).await
}

pub async fn get(addr: SocketAddr, path_and_query: &str) -> (u16, String) {
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw_http(addr, req.as_bytes()).await
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}
