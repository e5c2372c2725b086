//! What consensus asks of the ABCI application, as a trait.
//!
//! The driver (`node`), block execution (`commit`) and the mempool are
//! written against [`Application`] rather than `kawase_app::App`, so their
//! logic can be exercised with a small in-memory application in tests. The
//! node itself always runs `App`, through the delegating impl below.
use bytes::Bytes;
use kawase_app::{App, AppError, Failure, Params, PrecheckedTx};
use tendermint_proto::v0_38::abci::{
    RequestFinalizeBlock, RequestInitChain, ResponseCommit, ResponseFinalizeBlock, ResponseInitChain,
};

/// The application calls consensus makes. Clones share one state.
pub trait Application: Clone + Send + Sync + 'static {
    /// A transaction past the stateless (lock-free) half of CheckTx.
    type Prechecked;

    /// Height of the last committed block (0 before the first).
    fn committed_height(&self) -> Result<u64, AppError>;
    /// InitChain on a fresh chain.
    fn try_init_chain(&self, req: RequestInitChain) -> Result<ResponseInitChain, AppError>;
    /// FinalizeBlock: executes a decided block in memory.
    fn try_finalize_block(&self, req: RequestFinalizeBlock) -> Result<ResponseFinalizeBlock, AppError>;
    /// Commit: makes the finalized block's state durable.
    fn try_commit(&self) -> Result<ResponseCommit, AppError>;
    /// The FinalizeBlock response the app recorded with block `height`.
    fn finalized_results(&self, height: u64) -> Result<Option<ResponseFinalizeBlock>, AppError>;

    /// The chain's block limits, once InitChain has run.
    fn params(&self) -> Option<Params>;
    /// ProcessProposal's application half: the transactions decode and fit
    /// the block limits.
    fn proposal_is_valid(&self, txs: &[Bytes]) -> bool;

    /// CheckTx, stateless half (decode, signature).
    fn precheck_tx(&self, tx: &[u8]) -> Result<Self::Prechecked, Failure>;
    /// The stateless half for many transactions at once (the app verifies
    /// their signatures in batches, on all cores); one result per input.
    fn precheck_txs(&self, txs: &[Vec<u8>]) -> Vec<Result<Self::Prechecked, Failure>> {
        txs.iter().map(|t| self.precheck_tx(t)).collect()
    }
    /// CheckTx, stateful half, against the mempool view.
    fn check_prechecked_tx(&self, pre: Self::Prechecked) -> Result<[u8; 32], Failure>;
    /// CheckTx again after a commit (the recheck).
    fn recheck_tx_bytes(&self, tx: &[u8]) -> Result<[u8; 32], Failure>;
}

impl Application for App {
    type Prechecked = PrecheckedTx;

    fn committed_height(&self) -> Result<u64, AppError> {
        Ok(App::committed(self)?.height)
    }
    fn try_init_chain(&self, req: RequestInitChain) -> Result<ResponseInitChain, AppError> {
        App::try_init_chain(self, req)
    }
    fn try_finalize_block(&self, req: RequestFinalizeBlock) -> Result<ResponseFinalizeBlock, AppError> {
        App::try_finalize_block(self, req)
    }
    fn try_commit(&self) -> Result<ResponseCommit, AppError> {
        App::try_commit(self)
    }
    fn finalized_results(&self, height: u64) -> Result<Option<ResponseFinalizeBlock>, AppError> {
        App::finalized_results(self, height)
    }
    fn params(&self) -> Option<Params> {
        App::params(self)
    }
    fn proposal_is_valid(&self, txs: &[Bytes]) -> bool {
        App::proposal_is_valid(self, txs)
    }
    fn precheck_tx(&self, tx: &[u8]) -> Result<PrecheckedTx, Failure> {
        App::precheck_tx(self, tx)
    }
    fn precheck_txs(&self, txs: &[Vec<u8>]) -> Vec<Result<PrecheckedTx, Failure>> {
        App::precheck_txs(self, txs)
    }
    fn check_prechecked_tx(&self, pre: PrecheckedTx) -> Result<[u8; 32], Failure> {
        App::check_prechecked_tx(self, pre)
    }
    fn recheck_tx_bytes(&self, tx: &[u8]) -> Result<[u8; 32], Failure> {
        App::recheck_tx_bytes(self, tx)
    }
}
