//! The `tendermint_abci::Application` face of the app (a CometBFT socket),
//! and the conversion of results to ABCI types.
use bytes::Bytes;
use kawase_primitives::Event;
use tendermint_proto::v0_38::abci::{
    self as pb, response_process_proposal::ProposalStatus, RequestCheckTx, RequestFinalizeBlock, RequestInfo,
    RequestInitChain, RequestPrepareProposal, RequestProcessProposal, RequestQuery, ResponseCheckTx, ResponseCommit,
    ResponseFinalizeBlock, ResponseInfo, ResponseInitChain, ResponsePrepareProposal, ResponseProcessProposal,
    ResponseQuery,
};

use super::{App, AppError};
use crate::exec::TxOutcome;

fn abci_events(events: &[Event]) -> Vec<pb::Event> {
    events
        .iter()
        .map(|e| pb::Event {
            r#type: e.kind.clone(),
            attributes: e
                .attributes
                .iter()
                .map(|(k, v)| pb::EventAttribute { key: k.clone(), value: v.clone(), index: true })
                .collect(),
        })
        .collect()
}

pub(super) fn exec_result(o: &TxOutcome) -> pb::ExecTxResult {
    match &o.result {
        Ok(()) => pb::ExecTxResult { events: abci_events(&o.events), ..Default::default() },
        Err(f) => pb::ExecTxResult {
            code: f.code,
            codespace: f.codespace.into(),
            log: f.log.clone(),
            events: abci_events(&o.events),
            ..Default::default()
        },
    }
}

pub(super) fn fatal(what: &str, e: AppError) -> ! {
    // Continuing after a consensus-critical failure could fork the chain;
    // stopping lets the operator restart from the last commit.
    tracing::error!(error = %e, "{what} failed");
    panic!("{what} failed: {e}");
}

impl tendermint_abci::Application for App {
    fn info(&self, _req: RequestInfo) -> ResponseInfo {
        let c = self.committed().unwrap_or_else(|e| fatal("Info", e));
        ResponseInfo {
            data: "kawase".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            app_version: 1,
            last_block_height: c.height as i64,
            last_block_app_hash: if c.height == 0 { Bytes::new() } else { Bytes::copy_from_slice(&c.app_hash) },
        }
    }

    fn init_chain(&self, req: RequestInitChain) -> ResponseInitChain {
        self.try_init_chain(req).unwrap_or_else(|e| fatal("InitChain", e))
    }

    fn query(&self, req: RequestQuery) -> ResponseQuery {
        self.query_request(&req)
    }

    fn check_tx(&self, req: RequestCheckTx) -> ResponseCheckTx {
        match self.check_tx_bytes(&req.tx) {
            Ok(_) => ResponseCheckTx::default(),
            Err(f) => ResponseCheckTx { code: f.code, codespace: f.codespace.into(), log: f.log, ..Default::default() },
        }
    }

    fn commit(&self) -> ResponseCommit {
        self.try_commit().unwrap_or_else(|e| fatal("Commit", e))
    }

    fn prepare_proposal(&self, req: RequestPrepareProposal) -> ResponsePrepareProposal {
        ResponsePrepareProposal { txs: self.select_txs(&req) }
    }

    fn process_proposal(&self, req: RequestProcessProposal) -> ResponseProcessProposal {
        let status = if self.proposal_is_valid(&req.txs) { ProposalStatus::Accept } else { ProposalStatus::Reject };
        ResponseProcessProposal { status: status as i32 }
    }

    fn finalize_block(&self, req: RequestFinalizeBlock) -> ResponseFinalizeBlock {
        self.try_finalize_block(req).unwrap_or_else(|e| fatal("FinalizeBlock", e))
    }
}

/// A protobuf timestamp as nanoseconds since the epoch (0 before it).
pub(super) fn block_time_nanos(t: &tendermint_proto::google::protobuf::Timestamp) -> u64 {
    u64::try_from(t.seconds)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|s| s.checked_add(u64::try_from(t.nanos).ok()?))
        .unwrap_or(0)
}
