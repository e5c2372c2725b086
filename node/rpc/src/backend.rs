//! What the node provides to the RPC server.
//!
//! The trait is synchronous on purpose: the node's stores and application are
//! synchronous, and the server runs every call on its own small pool of
//! threads (not tokio's blocking pool, which consensus uses), so a slow
//! RocksDB read never stalls the network threads or block execution.

use std::sync::Arc;

use tendermint::abci::{self, types::ExecTxResult};
use tendermint::block::{self, signed_header::SignedHeader};
use tendermint::{consensus, tx, validator, AppHash, Block};
use tokio::sync::broadcast;

use crate::error::RpcError;
use crate::search::Deadline;

/// The node side of the RPC server.
///
/// Heights are `None` for "latest". Methods that look something up return
/// `Ok(None)` when it does not exist (the server then answers with the same
/// "not available" error CometBFT gives); `Err` carries a message that is sent
/// to the client as the JSON-RPC error's `data`, so it should be meaningful to
/// a user (e.g. `"height 10 must be less than or equal to the current
/// blockchain height 5"`, as CometBFT says).
pub trait Backend: Send + Sync + 'static {
    /// `/status`: node info, sync info and this node's validator info.
    fn status(&self) -> Result<tendermint_rpc::endpoint::status::Response, RpcError>;

    /// `/abci_info`: the application's Info response.
    fn abci_info(&self) -> Result<abci::response::Info, RpcError>;

    /// `/abci_query`: the application's Query at `height` (`None`: latest).
    fn abci_query(
        &self,
        path: String,
        data: Vec<u8>,
        height: Option<u64>,
        prove: bool,
    ) -> Result<abci::response::Query, RpcError>;

    /// CheckTx + insert into the mempool; returns the CheckTx response
    /// (`code != 0` means rejected and not added). `Err` is for failures of the
    /// node itself (mempool full, tx already known, app unreachable), which
    /// CometBFT reports as a JSON-RPC error rather than a CheckTx code.
    fn broadcast_tx(&self, tx: Vec<u8>) -> Result<abci::response::CheckTx, RpcError>;

    /// `/block`: the block and its id.
    fn block(&self, height: Option<u64>) -> Result<Option<(block::Id, Block)>, RpcError>;

    /// `/block_results`: what FinalizeBlock returned for the block.
    fn block_results(&self, height: Option<u64>) -> Result<Option<BlockResults>, RpcError>;

    /// `/commit`: the signed header; `canonical` is false when the commit is
    /// the node's own last seen commit rather than the one stored in the next
    /// block (CometBFT's distinction for the latest height).
    fn commit(&self, height: Option<u64>) -> Result<Option<(SignedHeader, bool)>, RpcError>;

    /// `/validators`: the height actually used and the *whole* validator set
    /// at that height, in CometBFT's order (by voting power, then address);
    /// the server pages it.
    fn validators(&self, height: Option<u64>) -> Result<Option<(u64, Vec<validator::Info>)>, RpcError>;

    /// `/tx`: a committed transaction by its SHA-256 hash, with its inclusion
    /// proof when `prove`.
    fn tx(&self, hash: [u8; 32], prove: bool) -> Result<Option<TxResponse>, RpcError>;

    /// `/tx_search`: the `query` string is passed as the client sent it
    /// (CometBFT query syntax, e.g. `tx.height=5 AND transfer.sender='kw1..'`).
    /// `page` is 1-based and `per_page` is already clamped to 1..=100 by the
    /// server; returns that page and the total number of matches. The work
    /// must stop (return an error) once `deadline` expires; see
    /// [`crate::search::search`], which does the walk.
    fn tx_search(
        &self,
        query: &str,
        prove: bool,
        page: u32,
        per_page: u8,
        order_desc: bool,
        deadline: &Deadline,
    ) -> Result<(Vec<TxResponse>, u32), RpcError>;

    /// A new receiver of node events, used for websocket subscriptions and
    /// `broadcast_tx_commit`. The node sends a [`NodeEvent::NewBlock`] and one
    /// [`NodeEvent::Tx`] per transaction after each block is committed.
    fn subscribe(&self) -> broadcast::Receiver<NodeEvent>;
}

/// `/block_results` as the node stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockResults {
    /// Height of the block.
    pub height: u64,
    /// One result per transaction, in block order.
    pub txs_results: Vec<ExecTxResult>,
    /// Block-level events from FinalizeBlock.
    pub finalize_block_events: Vec<abci::Event>,
    /// Validator set changes returned by FinalizeBlock.
    pub validator_updates: Vec<validator::Update>,
    /// Consensus parameter changes returned by FinalizeBlock.
    pub consensus_param_updates: Option<consensus::Params>,
    /// App hash after this block.
    pub app_hash: AppHash,
}

/// A committed transaction, as `/tx` and `/tx_search` return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxResponse {
    /// SHA-256 of `tx`.
    pub hash: [u8; 32],
    /// Height of the block that holds it.
    pub height: u64,
    /// Position in that block.
    pub index: u32,
    /// The raw transaction.
    pub tx: Vec<u8>,
    /// Its FinalizeBlock result.
    pub tx_result: ExecTxResult,
    /// Merkle proof of inclusion in the block's data hash, when asked for.
    pub proof: Option<tx::Proof>,
}

/// An event the node publishes after committing a block. Payloads are behind
/// `Arc` because a broadcast channel clones the value for every receiver.
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// CometBFT's `NewBlock` event.
    NewBlock(Arc<NewBlockEvent>),
    /// CometBFT's `Tx` event, one per transaction of the block.
    Tx(Arc<TxEvent>),
}

/// Payload of [`NodeEvent::NewBlock`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBlockEvent {
    /// The committed block.
    pub block: Block,
    /// Its id.
    pub block_id: block::Id,
    /// What FinalizeBlock returned for it.
    pub result_finalize_block: abci::response::FinalizeBlock,
}

/// Payload of [`NodeEvent::Tx`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxEvent {
    /// Height of the block that holds the transaction.
    pub height: u64,
    /// Position in that block.
    pub index: u32,
    /// The raw transaction.
    pub tx: Vec<u8>,
    /// Its FinalizeBlock result.
    pub result: ExecTxResult,
}
