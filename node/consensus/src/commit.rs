//! Executing a decided block and recovering after a crash.
//!
//! # Crash order
//! Every persistent write of a height, in order. A SIGKILL (or power loss)
//! between any two leaves a state that `recover` brings back; the test-only
//! crash points (`crate::crash`, `tests/system/crash.rs`) kill the node at each.
//!
//! 1. Proposer only: the block under `p/{h}{hash}` (`put_pending`), then the
//!    own-proposal record `o/{h}{round}` (fsync). Crash before the record:
//!    nothing was signed, a new block is built. After it: the same block is
//!    re-proposed (a second one would be a double sign).
//! 2. Every vote: the privval state file (tmp + fsync + rename + dir fsync)
//!    before the signature leaves the signer; the same request replayed
//!    after a restart gets the same signature, a conflicting one halts.
//! 3. `put_decided` (fsync): block, value id, certificate, latest height,
//!    and the pending/own records at or below it dropped, in one batch.
//!    Crash after it: the block store is one ahead of the app, `recover`
//!    replays the block.
//! 4. FinalizeBlock runs in memory only; Commit writes the state, the app's
//!    tx index and the block's FinalizeBlock response in one atomic batch
//!    (`kawase_app::App::finalized_results`). Crash before: replay (3).
//! 5. `put_results`: results and the event index in the block store, one
//!    batch, idempotent (the transaction index is the app's, written in 4). Crash
//!    before it: the app is level with the block store but the store has no
//!    results; `recover` writes them from the app's record of (4).
//! 6. Mempool recheck, then subscribers: memory only. The mempool is lost
//!    in a crash (clients resend; a resent committed tx fails its sequence).
use bytes::Bytes;
use tendermint::block::Block;
use tendermint_proto::v0_38::abci::{RequestFinalizeBlock, RequestInitChain, ResponseFinalizeBlock};

use crate::application::Application;
use crate::block::{self, Tip};
use crate::crash;
use crate::mempool::{tx_hash, Mempool};
use crate::metrics::{Phase, Phases};
use crate::node::{NodeError, NodeSettings};
use crate::store::{BlockStore, StoreError};
use crate::types::ValueId;

/// Brings the app level with the block store: InitChain on a fresh chain,
/// the results of a block the app committed but the store did not index
/// yet, then FinalizeBlock+Commit for blocks the store has and the app lost.
pub(crate) fn recover<A: Application>(settings: &NodeSettings, app: &A, store: &BlockStore) -> Result<Tip, NodeError> {
    let stored = store.latest_height()?;
    let mut applied = app.committed_height()?;
    if applied > stored {
        return Err(NodeError::Inconsistent(format!(
            "state is at height {applied} but the block store only has {stored}"
        )));
    }
    let mut genesis_hash = Vec::new();
    if applied == 0 {
        let resp = app.try_init_chain(RequestInitChain {
            time: Some(settings.genesis_time.into()),
            chain_id: settings.chain_id.to_string(),
            consensus_params: Some(settings.consensus_params.clone().into()),
            validators: Vec::new(),
            app_state_bytes: settings.app_state_bytes.clone().into(),
            initial_height: 1,
        })?;
        genesis_hash = resp.app_hash.to_vec();
    } else {
        restore_results(app, store, applied)?;
    }
    while applied < stored {
        let h = applied + 1;
        let bytes = store.block_bytes(h)?.ok_or(StoreError::Corrupt { what: "block", height: h })?;
        let blk = block::decode_block(&bytes).map_err(NodeError::Inconsistent)?;
        let id = store.value_id(h)?.ok_or(StoreError::Corrupt { what: "id", height: h })?;
        tracing::info!(height = h, "replaying stored block into the app");
        execute(app, store, &blk, &id, None, None)?;
        applied = h;
    }
    if stored == 0 {
        return Ok(Tip {
            height: 0,
            block_id: None,
            time: None,
            app_hash: genesis_hash,
            results_hash: block::results_hash(&[]),
            last_commit: None,
        });
    }
    let blk = store.block(stored)?.ok_or(StoreError::Corrupt { what: "block", height: stored })?;
    let id = store.value_id(stored)?.ok_or(StoreError::Corrupt { what: "id", height: stored })?;
    let cert = store.certificate(stored)?.ok_or(StoreError::Corrupt { what: "certificate", height: stored })?;
    let results = store.results(stored)?.ok_or(StoreError::Corrupt { what: "results", height: stored })?;
    Ok(Tip {
        height: stored,
        block_id: Some(id.block_id()),
        time: Some(blk.header.time),
        app_hash: results.app_hash.to_vec(),
        results_hash: block::results_hash(&results.tx_results),
        last_commit: Some(block::commit_from_certificate(&cert, &settings.validators)),
    })
}

/// Step 5 of the crash order, redone: block `height` is committed in the
/// app; if the block store lacks its results, they come from the app's
/// record of that block (written atomically with its state).
fn restore_results<A: Application>(app: &A, store: &BlockStore, height: u64) -> Result<(), NodeError> {
    if store.results(height)?.is_some() {
        return Ok(());
    }
    let resp = app.finalized_results(height)?.ok_or(StoreError::Corrupt { what: "results", height })?;
    let blk = store.block(height)?.ok_or(StoreError::Corrupt { what: "block", height })?;
    if resp.tx_results.len() != blk.data.len() {
        return Err(NodeError::Inconsistent(format!(
            "the app recorded {} results for block {height} of {} transactions",
            resp.tx_results.len(),
            blk.data.len()
        )));
    }
    let hashes: Vec<[u8; 32]> = blk.data.iter().map(|t| tx_hash(t)).collect();
    tracing::warn!(height, "block results missing after a crash; restored from the app's record");
    store.put_results(height, &hashes, &resp)?;
    Ok(())
}

/// FinalizeBlock + Commit of one decided block, then its results and
/// indexes into the block store (steps 4-6 of the crash order). `mempool`,
/// when given, is held from Commit until its recheck ends: Commit resets
/// the app's mempool view, and a CheckTx in between would judge a sender's
/// next transaction against a state without its earlier pending ones.
/// `phases`, when given, gets the time each step took.
pub(crate) fn execute<A: Application>(
    app: &A,
    store: &BlockStore,
    blk: &Block,
    id: &ValueId,
    mempool: Option<&Mempool<A>>,
    phases: Option<&Phases>,
) -> Result<ResponseFinalizeBlock, NodeError> {
    let mut clock = std::time::Instant::now();
    let mut lap = |phase: Phase| {
        let now = std::time::Instant::now();
        if let Some(p) = phases {
            p.record(phase, now - clock);
        }
        clock = now;
    };
    let h = &blk.header;
    let req = RequestFinalizeBlock {
        txs: blk.data.iter().map(|t| Bytes::from(t.clone())).collect(),
        decided_last_commit: None,
        misbehavior: Vec::new(),
        hash: Bytes::copy_from_slice(&id.block_hash),
        height: h.height.value() as i64,
        time: Some(h.time.into()),
        next_validators_hash: Bytes::copy_from_slice(h.next_validators_hash.as_bytes()),
        proposer_address: Bytes::copy_from_slice(h.proposer_address.as_bytes()),
    };
    let resp = app.try_finalize_block(req)?;
    lap(Phase::Finalize);
    let hashes: Vec<[u8; 32]> = blk.data.iter().map(|t| tx_hash(t)).collect();
    let height = h.height.value();
    crash::point("after-finalize", height);
    let guard = mempool.map(Mempool::begin_commit);
    app.try_commit()?;
    lap(Phase::Commit);
    crash::point("after-app-commit", height);
    // Results before the recheck: `tx` answers as soon as the block is
    // committed, and the recheck (which may be long) is memory only.
    store.put_results(height, &hashes, &resp)?;
    lap(Phase::Results);
    crash::point("after-results", height);
    if let Some(guard) = guard {
        guard.recheck(&hashes);
        lap(Phase::Recheck);
        crash::point("after-recheck", height);
    }
    Ok(resp)
}
