//! The RPC methods: read parameters, call the backend on the RPC's own pool,
//! encode with tendermint-rpc's own response types (so its client parses
//! them), adjusted where CometBFT's wire format differs.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use tendermint::abci::types::ExecTxResult;
use tendermint::{block, validator, Hash};
use tendermint_rpc::endpoint::{
    abci_info, abci_query, block as block_ep, block_results, broadcast, commit, tx as tx_ep, tx_search, validators,
};
use tokio::sync::{broadcast as bcast, watch, Semaphore};

use crate::backend::{Backend, NodeEvent, TxResponse};
use crate::config::RpcConfig;
use crate::error::RpcError;
use crate::events::tx_hash;
use crate::jsonrpc::Params;
use crate::pool::Pool;
use crate::search::Deadline;

/// Methods served over HTTP and websocket, with their parameter names in
/// CometBFT's order (for positional params and the endpoint list).
pub(crate) const METHODS: &[(&str, &[&str])] = &[
    ("health", &[]),
    ("status", &[]),
    ("abci_info", &[]),
    ("abci_query", &["path", "data", "height", "prove"]),
    ("broadcast_tx_async", &["tx"]),
    ("broadcast_tx_sync", &["tx"]),
    ("broadcast_tx_commit", &["tx"]),
    ("block", &["height"]),
    ("block_results", &["height"]),
    ("commit", &["height"]),
    ("validators", &["height", "page", "per_page"]),
    ("tx", &["hash", "prove"]),
    ("tx_search", &["query", "prove", "page", "per_page", "order_by"]),
];

/// Methods only the websocket serves.
pub(crate) const WS_METHODS: &[(&str, &[&str])] =
    &[("subscribe", &["query"]), ("unsubscribe", &["query"]), ("unsubscribe_all", &[])];

/// Parameter names of a method, if it exists on either transport.
pub(crate) fn arg_names(method: &str) -> Option<&'static [&'static str]> {
    METHODS.iter().chain(WS_METHODS).find(|(name, _)| *name == method).map(|(_, args)| *args)
}

/// CometBFT's page size bounds.
const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;

/// Shared by every connection.
pub(crate) struct Ctx {
    pub backend: Arc<dyn Backend>,
    pub config: RpcConfig,
    /// Websocket connections that currently have an event feed.
    pub subscription_clients: AtomicUsize,
    /// Becomes true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Bounds the `broadcast_tx_async` CheckTx calls running after the answer.
    pub async_broadcasts: Arc<Semaphore>,
    /// Where every backend call runs (see [`crate::pool`]).
    pub pool: Pool,
}

/// Most `broadcast_tx_async` CheckTx calls left running in the background.
pub(crate) const MAX_BACKGROUND_BROADCASTS: usize = 256;

impl Ctx {
    /// Run a backend call on the RPC pool, bounded by the request timeout
    /// (waiting for a free thread included).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Backend) -> Result<T, RpcError> + Send + 'static,
    ) -> Result<T, RpcError> {
        self.run_until(move |b, _| f(b)).await
    }

    /// [`Ctx::run`] for work that checks its deadline. The deadline is
    /// cancelled as soon as the request stops waiting (timed out, or the
    /// client left and the handler was dropped), so such work stops too.
    pub async fn run_until<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Backend, &Deadline) -> Result<T, RpcError> + Send + 'static,
    ) -> Result<T, RpcError> {
        let backend = Arc::clone(&self.backend);
        let deadline = Deadline::after(self.config.request_timeout);
        let _cancel = CancelOnDrop(deadline.clone());
        let work = {
            let deadline = deadline.clone();
            self.pool.run(move || f(backend.as_ref(), &deadline))
        };
        match tokio::time::timeout_at(deadline.instant().into(), work).await {
            Err(_) => {
                Err(RpcError::internal(format!("the node did not answer within {:?}", self.config.request_timeout)))
            }
            Ok(result) => result?,
        }
    }
}

/// Cancels a request's deadline when the request is done with it.
struct CancelOnDrop(Deadline);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Call one HTTP-capable method.
pub(crate) async fn call(ctx: &Arc<Ctx>, method: &str, p: &Params) -> Result<Value, RpcError> {
    match method {
        "health" => Ok(json!({})),
        "status" => status(ctx).await,
        "abci_info" => {
            let response = ctx.run(|b| b.abci_info()).await?;
            encode(&abci_info::Response { response })
        }
        "abci_query" => abci_query(ctx, p).await,
        "broadcast_tx_async" => broadcast_tx_async(ctx, p).await,
        "broadcast_tx_sync" => broadcast_tx_sync(ctx, p).await,
        "broadcast_tx_commit" => broadcast_tx_commit(ctx, p).await,
        "block" => block(ctx, p).await,
        "block_results" => block_results(ctx, p).await,
        "commit" => commit(ctx, p).await,
        "validators" => validators(ctx, p).await,
        "tx" => tx(ctx, p).await,
        "tx_search" => tx_search(ctx, p).await,
        m if WS_METHODS.iter().any(|(name, _)| *name == m) => {
            Err(RpcError::MethodNotFound(format!("{m} is only available over the websocket (/websocket)")))
        }
        m => Err(RpcError::MethodNotFound(format!("unknown method {m:?}"))),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|e| RpcError::internal(format!("error marshaling response: {e}")))
}

/// `height` as CometBFT validates it: absent means latest, else it must be
/// positive.
fn height_param(p: &Params) -> Result<Option<u64>, RpcError> {
    match p.int("height")? {
        None => Ok(None),
        Some(h) => u64::try_from(h)
            .ok()
            .filter(|h| *h > 0)
            .map(Some)
            .ok_or_else(|| RpcError::internal(format!("height must be greater than 0, but got {h}"))),
    }
}

fn to_height(h: u64) -> Result<block::Height, RpcError> {
    block::Height::try_from(h).map_err(|e| RpcError::internal(format!("bad height {h}: {e}")))
}

fn not_available(what: &str, height: Option<u64>) -> RpcError {
    match height {
        Some(h) => RpcError::internal(format!("{what} at height {h} is not available")),
        None => RpcError::internal(format!("no {what} available yet")),
    }
}

/// `per_page` clamped as CometBFT does: < 1 gives the default, > 100 gives 100.
fn per_page_param(p: &Params) -> Result<usize, RpcError> {
    Ok(match p.int("per_page")? {
        None => DEFAULT_PER_PAGE,
        Some(n) if n < 1 => DEFAULT_PER_PAGE,
        Some(n) => usize::try_from(n).map_or(MAX_PER_PAGE, |n| n.min(MAX_PER_PAGE)),
    })
}

/// CometBFT's page check: an absent page is 1; a given one must be within
/// the pages that `total` fills (at least one, possibly empty).
fn validate_page(page: Option<i64>, per_page: usize, total: usize) -> Result<usize, RpcError> {
    let Some(page) = page else {
        return Ok(1);
    };
    let pages = total.saturating_sub(1) / per_page + 1;
    usize::try_from(page)
        .ok()
        .filter(|p| (1..=pages).contains(p))
        .ok_or_else(|| RpcError::internal(format!("page should be within [1, {pages}] range, given {page}")))
}

/// A validator as CometBFT writes it: `voting_power` and `proposer_priority`
/// as strings (tendermint's serde says `power` and drops the priority; its
/// deserializer accepts `voting_power` too).
fn fix_validator(value: &mut Value, info: &validator::Info, with_priority: bool) {
    if let Value::Object(obj) = value {
        obj.remove("power");
        obj.remove("name");
        obj.insert("voting_power".into(), info.power.value().to_string().into());
        if with_priority {
            obj.insert("proposer_priority".into(), info.proposer_priority.value().to_string().into());
        }
    }
}

async fn status(ctx: &Arc<Ctx>) -> Result<Value, RpcError> {
    let status = ctx.run(|b| b.status()).await?;
    let mut value = encode(&status)?;
    if let Some(v) = value.get_mut("validator_info") {
        fix_validator(v, &status.validator_info, false);
    }
    Ok(value)
}

async fn abci_query(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let path = p.string("path")?.unwrap_or_default();
    let data = p.bytes_hex("data")?.unwrap_or_default();
    let height = match p.int("height")? {
        None | Some(0) => None,
        Some(h) => Some(
            u64::try_from(h).map_err(|_| RpcError::internal(format!("height must be non-negative, but got {h}")))?,
        ),
    };
    let prove = p.bool("prove")?;
    let q = ctx.run(move |b| b.abci_query(path, data, height, prove)).await?;
    let response = abci_query::Response {
        response: abci_query::AbciQuery {
            code: q.code,
            log: q.log,
            info: q.info,
            index: q.index,
            key: q.key.to_vec(),
            value: q.value.to_vec(),
            proof: q.proof,
            height: q.height,
            codespace: q.codespace,
        },
    };
    let mut value = encode(&response)?;
    // CometBFT names the field `proof_ops` and each op's kind `type`;
    // tendermint-rpc reads `proof` (and accepts `type`). Send both fields so
    // either kind of client finds the proof.
    if let Some(resp) = value.get_mut("response").and_then(Value::as_object_mut) {
        if let Some(proof) = resp.get_mut("proof").filter(|p| !p.is_null()) {
            if let Some(ops) = proof.get_mut("ops").and_then(Value::as_array_mut) {
                for op in ops.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(kind) = op.remove("field_type") {
                        op.insert("type".into(), kind);
                    }
                }
            }
            let proof = proof.clone();
            resp.insert("proof_ops".into(), proof);
        }
    }
    Ok(value)
}

fn tx_param(p: &Params) -> Result<Vec<u8>, RpcError> {
    p.bytes_base64("tx")?.ok_or_else(|| RpcError::invalid_params("missing parameter tx"))
}

async fn broadcast_tx_async(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let tx = tx_param(p)?;
    let hash = Hash::Sha256(tx_hash(&tx));
    // Like CometBFT: hand the tx to the mempool and answer without waiting
    // for CheckTx. The CheckTx calls left running are bounded; beyond that
    // the client waits, so a flood cannot pile up blocking tasks.
    let check = {
        let ctx = Arc::clone(ctx);
        async move {
            match ctx.run(move |b| b.broadcast_tx(tx)).await {
                Ok(check) if check.code.is_err() => {
                    tracing::debug!(%hash, code = check.code.value(), log = %check.log, "async tx rejected by CheckTx");
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(%hash, error = %e, "async tx not accepted"),
            }
        }
    };
    match Arc::clone(&ctx.async_broadcasts).try_acquire_owned() {
        Ok(permit) => {
            tokio::spawn(async move {
                check.await;
                drop(permit);
            });
        }
        Err(_) => check.await,
    }
    encode(&broadcast::tx_async::Response {
        codespace: String::new(),
        code: Default::default(),
        data: Default::default(),
        log: String::new(),
        hash,
    })
}

async fn broadcast_tx_sync(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let tx = tx_param(p)?;
    let hash = Hash::Sha256(tx_hash(&tx));
    let check = ctx.run(move |b| b.broadcast_tx(tx)).await?;
    encode(&broadcast::tx_sync::Response {
        codespace: check.codespace,
        code: check.code,
        data: check.data,
        log: check.log,
        hash,
    })
}

async fn broadcast_tx_commit(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let tx = tx_param(p)?;
    let raw_hash = tx_hash(&tx);
    let hash = Hash::Sha256(raw_hash);
    // Subscribe before CheckTx so a block committed in between is not missed.
    let (mut events, check_tx) = ctx
        .run(move |b| {
            let events = b.subscribe();
            b.broadcast_tx(tx).map(|check| (events, check))
        })
        .await?;
    if check_tx.code.is_err() {
        return encode(&broadcast::tx_commit::Response {
            check_tx,
            tx_result: ExecTxResult::default(),
            hash,
            // CometBFT answers height 0 (tendermint's Height defaults to 1).
            height: block::Height::from(0u32),
        });
    }
    let wait = async {
        loop {
            match events.recv().await {
                Ok(NodeEvent::Tx(t)) if tx_hash(&t.tx) == raw_hash => {
                    return Ok((t.height, t.result.clone()));
                }
                Ok(_) => {}
                Err(bcast::error::RecvError::Lagged(_)) => {
                    // Our event may be among the dropped ones: look it up.
                    let found = ctx.run(move |b| b.tx(raw_hash, false)).await?;
                    if let Some(t) = found {
                        return Ok((t.height, t.tx_result));
                    }
                }
                Err(bcast::error::RecvError::Closed) => {
                    return Err(RpcError::internal("the node stopped before the tx was included in a block"));
                }
            }
        }
    };
    match tokio::time::timeout(ctx.config.timeout_broadcast_tx_commit, wait).await {
        Err(_) => Err(RpcError::internal("timed out waiting for tx to be included in a block")),
        Ok(Err(e)) => Err(e),
        Ok(Ok((height, tx_result))) => {
            encode(&broadcast::tx_commit::Response { check_tx, tx_result, hash, height: to_height(height)? })
        }
    }
}

async fn block(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let height = height_param(p)?;
    let (block_id, block) = ctx.run(move |b| b.block(height)).await?.ok_or_else(|| not_available("block", height))?;
    encode(&block_ep::Response { block_id, block })
}

async fn block_results(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let height = height_param(p)?;
    let r = ctx.run(move |b| b.block_results(height)).await?.ok_or_else(|| not_available("block results", height))?;
    let response = block_results::Response {
        height: to_height(r.height)?,
        txs_results: Some(r.txs_results),
        finalize_block_events: r.finalize_block_events,
        begin_block_events: None,
        end_block_events: None,
        validator_updates: r.validator_updates,
        consensus_param_updates: r.consensus_param_updates,
        app_hash: r.app_hash,
    };
    let mut value = encode(&response)?;
    // CometBFT 0.38 has no begin/end block events and always writes
    // `finalize_block_events`.
    if let Some(obj) = value.as_object_mut() {
        obj.remove("begin_block_events");
        obj.remove("end_block_events");
        obj.entry("finalize_block_events").or_insert_with(|| json!([]));
    }
    Ok(value)
}

async fn commit(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let height = height_param(p)?;
    let (signed_header, canonical) =
        ctx.run(move |b| b.commit(height)).await?.ok_or_else(|| not_available("commit", height))?;
    encode(&commit::Response { signed_header, canonical })
}

async fn validators(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let height = height_param(p)?;
    let page = p.int("page")?;
    let per_page = per_page_param(p)?;
    let (at, all) =
        ctx.run(move |b| b.validators(height)).await?.ok_or_else(|| not_available("validator set", height))?;
    let total = all.len();
    let page = validate_page(page, per_page, total)?;
    let shown: Vec<validator::Info> =
        all.into_iter().skip((page - 1).saturating_mul(per_page)).take(per_page).collect();
    let count = shown.len();
    let total = i32::try_from(total).map_err(|_| RpcError::internal("validator set too large to report"))?;
    let response = validators::Response::new(to_height(at)?, shown.clone(), total);
    let mut value = encode(&response)?;
    if let Some(list) = value.get_mut("validators").and_then(Value::as_array_mut) {
        for (v, info) in list.iter_mut().zip(&shown) {
            fix_validator(v, info, true);
        }
    }
    if let Some(obj) = value.as_object_mut() {
        obj.insert("count".into(), count.to_string().into());
    }
    Ok(value)
}

fn tx_json(t: TxResponse) -> Result<tx_ep::Response, RpcError> {
    Ok(tx_ep::Response {
        hash: Hash::Sha256(t.hash),
        height: to_height(t.height)?,
        index: t.index,
        tx_result: t.tx_result,
        tx: t.tx,
        proof: t.proof,
    })
}

async fn tx(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let raw = p.bytes_base64("hash")?.ok_or_else(|| RpcError::invalid_params("missing parameter hash"))?;
    let hash: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
        RpcError::invalid_params(format!("invalid parameter hash: expected 32 bytes, got {}", raw.len()))
    })?;
    let prove = p.bool("prove")?;
    let found = ctx.run(move |b| b.tx(hash, prove)).await?;
    let t = found.ok_or_else(|| RpcError::internal(format!("tx ({}) not found", hex::encode_upper(hash))))?;
    encode(&tx_json(t)?)
}

async fn tx_search(ctx: &Arc<Ctx>, p: &Params) -> Result<Value, RpcError> {
    let query = p.string("query")?.unwrap_or_default();
    if query.trim().is_empty() {
        return Err(RpcError::internal("failed to parse query: empty query"));
    }
    let prove = p.bool("prove")?;
    let page = p.int("page")?;
    let per_page = per_page_param(p)?;
    let order_desc = match p.string("order_by")?.as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(RpcError::internal("expected order_by to be either `asc` or `desc` or empty")),
    };
    // Reject pages below 1 before asking; the upper bound needs the total.
    if page.is_some_and(|p| p < 1) {
        validate_page(page, per_page, 0)?;
    }
    let asked = u32::try_from(page.unwrap_or(1))
        .map_err(|_| RpcError::internal(format!("page {} is too large", page.unwrap_or(1))))?;
    let per_page_u8 = u8::try_from(per_page).unwrap_or(u8::MAX);
    let (txs, total) = ctx.run_until(move |b, d| b.tx_search(&query, prove, asked, per_page_u8, order_desc, d)).await?;
    validate_page(page, per_page, usize::try_from(total).unwrap_or(usize::MAX))?;
    let txs = txs.into_iter().map(tx_json).collect::<Result<Vec<_>, _>>()?;
    encode(&tx_search::Response { txs, total_count: total })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pages_are_checked_like_cometbft() {
        assert_eq!(validate_page(None, 30, 0).unwrap(), 1);
        assert_eq!(validate_page(Some(1), 30, 0).unwrap(), 1);
        assert_eq!(validate_page(Some(2), 30, 31).unwrap(), 2);
        assert!(validate_page(Some(3), 30, 31).is_err());
        assert!(validate_page(Some(0), 30, 31).is_err());
        assert!(validate_page(Some(-1), 30, 31).is_err());
    }

    #[test]
    fn every_method_has_a_parameter_list() {
        for (m, _) in METHODS.iter().chain(WS_METHODS) {
            assert!(arg_names(m).is_some());
        }
        assert!(arg_names("nope").is_none());
    }
}
