//! The node side of JSON-RPC: answers from the block store, the app and the
//! mempool; block events fanned out to subscribers. Also the metrics
//! endpoint.
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use kawase_consensus::block::commit_from_certificate;
use kawase_consensus::mempool::MempoolError;
use kawase_consensus::Shared;
use kawase_rpc::tendermint_rpc::endpoint::status;
use kawase_rpc::{
    Backend, BlockResults, Deadline, ListenerLimits, ListenerStats, NewBlockEvent, NodeEvent, RpcConfig, RpcError,
    RpcServer, SearchLimits, TxEvent, TxIndex, TxLocation, TxResponse,
};
use kawase_tls::ServerTls;
use sha2::{Digest, Sha256};
use tendermint::abci::{self, types::ExecTxResult};
use tendermint::block::{self, signed_header::SignedHeader};
use tendermint::{validator, Block};
use tendermint_proto::v0_38::abci as pb;
use tokio::sync::broadcast;

use crate::config::{parse_duration, parse_laddr, NodeConfig};

pub struct NodeBackend {
    shared: Arc<Shared>,
    events: broadcast::Sender<NodeEvent>,
    moniker: String,
    node_id: String,
    p2p_laddr: String,
    rpc_laddr: String,
    earliest: std::sync::OnceLock<tendermint::block::Header>,
    search_limits: SearchLimits,
}

fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::internal(e)
}

impl NodeBackend {
    fn latest(&self) -> u64 {
        self.shared.status().height
    }

    fn height_or_latest(&self, h: Option<u64>) -> Result<u64, RpcError> {
        let latest = self.latest();
        match h {
            None | Some(0) => Ok(latest),
            Some(h) if h > latest => Err(internal(format!(
                "height {h} must be less than or equal to the current blockchain height {latest}"
            ))),
            Some(h) => Ok(h),
        }
    }

    fn exec_results(&self, h: u64) -> Result<Option<pb::ResponseFinalizeBlock>, RpcError> {
        self.shared.store.results(h).map_err(internal)
    }

    fn tx_at(&self, height: u64, index: u32, prove: bool) -> Result<Option<TxResponse>, RpcError> {
        self.tx_in(&mut BlockMemo::default(), height, index, prove)
    }

    /// One transaction of a stored block; `memo` keeps the last decoded
    /// block, so a page with many hits in one block decodes it once while
    /// never holding more than one block.
    fn tx_in(
        &self,
        memo: &mut BlockMemo,
        height: u64,
        index: u32,
        prove: bool,
    ) -> Result<Option<TxResponse>, RpcError> {
        if memo.0.as_ref().map(|(h, _)| *h) != Some(height) {
            let blk = self.shared.store.block(height).map_err(internal)?;
            let results = self.exec_results(height)?;
            memo.0 = Some((height, blk.zip(results)));
        }
        let Some((_, entry)) = memo.0.as_ref() else { return Ok(None) };
        let Some((blk, results)) = entry.as_ref() else { return Ok(None) };
        let Some(tx) = blk.data.get(index as usize).cloned() else { return Ok(None) };
        let Some(r) = results.tx_results.get(index as usize).cloned() else { return Ok(None) };
        let proof = if prove { Some(kawase_consensus::block::tx_proof(&blk.data, index as usize)) } else { None };
        Ok(Some(TxResponse {
            hash: Sha256::digest(&tx).into(),
            height,
            index,
            tx,
            tx_result: ExecTxResult::try_from(r).map_err(internal)?,
            proof,
        }))
    }
}

/// The last decoded block and its results, for one RPC call.
#[derive(Default)]
struct BlockMemo(Option<(u64, Option<(Block, pb::ResponseFinalizeBlock)>)>);

/// The block store's event index, as `tx_search` walks it, and the app's
/// transaction index for lookups by hash.
struct StoreIndex<'a>(&'a kawase_consensus::store::BlockStore, &'a kawase_app::App);

impl TxIndex for StoreIndex<'_> {
    fn scan(
        &self,
        composite: &str,
        value: &str,
        desc: bool,
        visit: &mut dyn FnMut(TxLocation) -> bool,
    ) -> Result<(), RpcError> {
        self.0
            .scan_events(composite, value, desc, &mut |l| visit(TxLocation { height: l.height, index: l.index }))
            .map_err(internal)
    }

    fn by_hash(&self, hash: &[u8; 32]) -> Result<Option<TxLocation>, RpcError> {
        Ok(self.1.tx_location(hash).map_err(internal)?.map(|(height, index)| TxLocation { height, index }))
    }

    fn tx_results(&self, height: u64) -> Result<Option<Vec<ExecTxResult>>, RpcError> {
        let Some(r) = self.0.results(height).map_err(internal)? else { return Ok(None) };
        r.tx_results.into_iter().map(ExecTxResult::try_from).collect::<Result<Vec<_>, _>>().map(Some).map_err(internal)
    }
}

impl Backend for NodeBackend {
    fn status(&self) -> Result<status::Response, RpcError> {
        let s = self.shared.status();
        let store = &self.shared.store;
        // Block 1 never changes (blocks are not pruned): decode it once.
        let earliest = match self.earliest.get() {
            Some(h) => Some(h.clone()),
            None => {
                let h = store.block(1).map_err(internal)?.map(|b| b.header);
                if let Some(h) = &h {
                    let _ = self.earliest.set(h.clone());
                }
                h
            }
        };
        let zero = "0000000000000000000000000000000000000000000000000000000000000000".to_string();
        let hash_hex = |h: Option<tendermint::Hash>| h.map(|h| h.to_string()).unwrap_or_default();
        let val = self
            .shared
            .validators
            .to_tendermint()
            .validators()
            .iter()
            .find(|v| v.address.as_bytes() == self.shared.validator_address.0)
            .cloned();
        let (vaddr, vpk, vpower) = match &val {
            Some(v) => (v.address.to_string(), serde_json::to_value(v.pub_key).map_err(internal)?, v.power.value()),
            None => (
                self.shared.validator_address.to_string(),
                serde_json::json!({"type": "tendermint/PubKeyEd25519", "value": ""}),
                0,
            ),
        };
        let time =
            |t: Option<tendermint::Time>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
        let j = serde_json::json!({
            "node_info": {
                "protocol_version": {"p2p": "8", "block": "11", "app": "1"},
                "id": self.node_id,
                "listen_addr": self.p2p_laddr,
                "network": self.shared.chain_id.to_string(),
                "version": concat!("kawase-", env!("CARGO_PKG_VERSION")),
                "channels": "",
                "moniker": self.moniker,
                "other": {"tx_index": "on", "rpc_address": self.rpc_laddr},
            },
            "sync_info": {
                "earliest_block_hash": earliest.as_ref().map(|h| h.hash().to_string()).unwrap_or_else(|| zero.clone()),
                "earliest_app_hash": earliest.as_ref().map(|h| hex::encode_upper(h.app_hash.as_bytes())).unwrap_or_default(),
                "earliest_block_height": if earliest.is_some() { "1" } else { "0" },
                "earliest_block_time": time(earliest.as_ref().map(|h| h.time)),
                "latest_block_hash": if s.block_hash.is_some() { hash_hex(s.block_hash) } else { zero },
                "latest_app_hash": hex::encode_upper(&s.app_hash),
                "latest_block_height": s.height.to_string(),
                "latest_block_time": time(s.block_time),
                "catching_up": s.catching_up,
            },
            "validator_info": {
                "address": vaddr,
                "pub_key": vpk,
                "voting_power": vpower.to_string(),
            },
        });
        serde_json::from_value(j).map_err(internal)
    }

    fn abci_info(&self) -> Result<abci::response::Info, RpcError> {
        let info = tendermint_abci::Application::info(&self.shared.app, pb::RequestInfo::default());
        abci::response::Info::try_from(info).map_err(internal)
    }

    fn abci_query(
        &self,
        path: String,
        data: Vec<u8>,
        height: Option<u64>,
        prove: bool,
    ) -> Result<abci::response::Query, RpcError> {
        let resp = self.shared.app.query_request(&pb::RequestQuery {
            data: data.into(),
            path,
            height: height.unwrap_or(0) as i64,
            prove,
        });
        abci::response::Query::try_from(resp).map_err(internal)
    }

    fn broadcast_tx(&self, tx: Vec<u8>) -> Result<abci::response::CheckTx, RpcError> {
        match self.shared.mempool.add(tx) {
            Ok(_) => Ok(abci::response::CheckTx::default()),
            Err(MempoolError::Rejected(f)) => Ok(abci::response::CheckTx {
                code: f.code.into(),
                log: f.log,
                codespace: f.codespace.into(),
                ..Default::default()
            }),
            Err(e) => Err(internal(format!("{} (code {} in {})", e, e.code(), e.codespace()))),
        }
    }

    fn block(&self, height: Option<u64>) -> Result<Option<(block::Id, Block)>, RpcError> {
        let h = self.height_or_latest(height)?;
        let store = &self.shared.store;
        let (Some(b), Some(id)) = (store.block(h).map_err(internal)?, store.value_id(h).map_err(internal)?) else {
            return Ok(None);
        };
        Ok(Some((id.block_id(), b)))
    }

    fn block_results(&self, height: Option<u64>) -> Result<Option<BlockResults>, RpcError> {
        let h = self.height_or_latest(height)?;
        let Some(r) = self.exec_results(h)? else { return Ok(None) };
        Ok(Some(BlockResults {
            height: h,
            txs_results: r
                .tx_results
                .into_iter()
                .map(ExecTxResult::try_from)
                .collect::<Result<_, _>>()
                .map_err(internal)?,
            finalize_block_events: r
                .events
                .into_iter()
                .map(abci::Event::try_from)
                .collect::<Result<_, _>>()
                .map_err(internal)?,
            validator_updates: Vec::new(),
            consensus_param_updates: None,
            app_hash: r.app_hash.to_vec().try_into().map_err(internal)?,
        }))
    }

    fn commit(&self, height: Option<u64>) -> Result<Option<(SignedHeader, bool)>, RpcError> {
        let h = self.height_or_latest(height)?;
        let store = &self.shared.store;
        let Some(b) = store.block(h).map_err(internal)? else { return Ok(None) };
        // The canonical commit is the one block h+1 carries.
        let (commit, canonical) = match store.block(h + 1).map_err(internal)?.and_then(|n| n.last_commit) {
            Some(c) => (c, true),
            None => match store.certificate(h).map_err(internal)? {
                Some(cert) => (commit_from_certificate(&cert, &self.shared.validators), false),
                None => return Ok(None),
            },
        };
        let sh = SignedHeader::new(b.header, commit).map_err(internal)?;
        Ok(Some((sh, canonical)))
    }

    fn validators(&self, height: Option<u64>) -> Result<Option<(u64, Vec<validator::Info>)>, RpcError> {
        let h = self.height_or_latest(height)?;
        Ok(Some((h.max(1), self.shared.validators.to_tendermint().validators().clone())))
    }

    fn tx(&self, hash: [u8; 32], prove: bool) -> Result<Option<TxResponse>, RpcError> {
        match self.shared.app.tx_location(&hash).map_err(internal)? {
            Some((height, index)) => self.tx_at(height, index, prove),
            None => Ok(None),
        }
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
        let index = StoreIndex(&self.shared.store, &self.shared.app);
        let (locs, total) =
            kawase_rpc::search::search(&index, query, page, per_page, order_desc, &self.search_limits, deadline)?;
        let mut memo = BlockMemo::default();
        let mut out = Vec::new();
        for loc in locs {
            deadline.check()?;
            if let Some(t) = self.tx_in(&mut memo, loc.height, loc.index, prove)? {
                out.push(t);
            }
        }
        Ok((out, total))
    }

    fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }
}

/// Re-publishes committed blocks as RPC events: NewBlock, then one Tx per
/// transaction.
fn forward_events(shared: &Arc<Shared>, out: broadcast::Sender<NodeEvent>) {
    let mut rx = shared.events.subscribe();
    tokio::spawn(async move {
        loop {
            let b = match rx.recv().await {
                Ok(b) => b,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "rpc event forwarder lagged");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let Ok(result) = abci::response::FinalizeBlock::try_from((*b.results).clone()) else { continue };
            let height = b.block.header.height.value();
            let _ = out.send(NodeEvent::NewBlock(Arc::new(NewBlockEvent {
                block: (*b.block).clone(),
                block_id: b.block_id,
                result_finalize_block: result.clone(),
            })));
            for (i, (tx, r)) in b.block.data.iter().zip(result.tx_results).enumerate() {
                let _ =
                    out.send(NodeEvent::Tx(Arc::new(TxEvent { height, index: i as u32, tx: tx.clone(), result: r })));
            }
        }
    });
}

pub async fn serve(
    config: &NodeConfig,
    shared: Arc<Shared>,
    node_id: String,
    tls: Option<Arc<ServerTls>>,
) -> Result<RpcServer> {
    let (events, _) = broadcast::channel(16_384);
    forward_events(&shared, events.clone());
    let backend = NodeBackend {
        shared,
        events,
        moniker: config.moniker.clone(),
        node_id,
        p2p_laddr: config.p2p.laddr.clone(),
        rpc_laddr: config.rpc.laddr.clone(),
        earliest: std::sync::OnceLock::new(),
        search_limits: SearchLimits::default(),
    };
    let rpc = RpcConfig {
        laddr: parse_laddr(&config.rpc.laddr)?,
        max_body_bytes: config.rpc.max_body_bytes,
        max_open_connections: config.rpc.max_open_connections,
        timeout_broadcast_tx_commit: parse_duration(&config.rpc.timeout_broadcast_tx_commit)?,
        rate_limits: kawase_rpc::RateLimits {
            per_second: config.rpc.rate_limit_per_second,
            burst: config.rpc.rate_limit_burst,
            max_in_flight: config.rpc.max_in_flight_per_caller,
            exempt_loopback: !config.rpc.rate_limit_loopback,
        },
        ..RpcConfig::default()
    };
    crate::tls::check_plaintext("[rpc] laddr", rpc.laddr, tls.is_some())?;
    kawase_rpc::serve_with_tls(rpc, tls, Arc::new(backend)).await.context("starting JSON-RPC")
}

/// Prometheus text at `/metrics`, on the same bounded (and, when
/// configured, TLS) listener as the RPC.
pub async fn serve_metrics(
    addr: SocketAddr,
    shared: Arc<Shared>,
    tls: Option<Arc<ServerTls>>,
    listeners: ListenerStatsCell,
    audit: Arc<crate::audit::AuditHealth>,
) -> Result<RpcServer> {
    use axum::routing::get;
    crate::tls::check_plaintext("[instrumentation] prometheus_listen_addr", addr, tls.is_some())?;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let (shared, listeners, audit) = (shared.clone(), listeners.clone(), audit.clone());
            async move {
                let mut body = shared.metrics.render(shared.mempool.size().0);
                if let Some(l) = listeners.get() {
                    render_listener_stats(&mut body, l);
                }
                crate::audit::render_health(&mut body, &audit);
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
            }
        }),
    );
    let limits = ListenerLimits {
        max_open_connections: 64,
        request_timeout: std::time::Duration::from_secs(10),
        max_header_bytes: 16 << 10,
        rate: None,
    };
    kawase_rpc::serve_http(addr, limits, tls, app).await.with_context(|| format!("binding metrics on {addr}"))
}

/// The node's listeners' counts, filled in once they all run.
pub type ListenerStatsCell = Arc<std::sync::OnceLock<Vec<(&'static str, Arc<ListenerStats>)>>>;

/// Refused connections and failed TLS handshakes per listener: the
/// intrusion-detection signals of the transport.
fn render_listener_stats(out: &mut String, listeners: &[(&'static str, Arc<ListenerStats>)]) {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let _ = writeln!(out, "# HELP kawase_listener_refused_total Connections refused at the connection limit.\n# TYPE kawase_listener_refused_total counter");
    for (name, s) in listeners {
        let _ = writeln!(out, "kawase_listener_refused_total{{listener=\"{name}\"}} {}", s.refused.load(Relaxed));
    }
    let _ = writeln!(out, "# HELP kawase_tls_handshake_failures_total TLS handshakes that failed (plain text, an untrusted or missing client certificate, a silent client).\n# TYPE kawase_tls_handshake_failures_total counter");
    for (name, s) in listeners {
        let _ = writeln!(
            out,
            "kawase_tls_handshake_failures_total{{listener=\"{name}\"}} {}",
            s.tls_failures.load(Relaxed)
        );
    }
    let _ = writeln!(out, "# HELP kawase_rate_limited_total Requests answered 429 by the per-caller rate limits and in-flight quotas.\n# TYPE kawase_rate_limited_total counter");
    for (name, s) in listeners {
        let _ = writeln!(out, "kawase_rate_limited_total{{listener=\"{name}\"}} {}", s.rate_limited.load(Relaxed));
    }
}
