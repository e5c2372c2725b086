//! The last committed block's FinalizeBlock response, kept by the app in the
//! same atomic write as the block's state (`state_key::last_block_results`).
//! The node's block store writes its own copy of the results after Commit; if
//! the process dies in between, recovery rebuilds that copy from this record
//! instead of finding a committed block without results.
use prost::Message;
use tendermint_proto::v0_38::abci::{ExecTxResult, ResponseFinalizeBlock};

use kawase_primitives::StateRead;

use crate::{state_key, App, AppError};

/// The record's bytes: height (big-endian) then the response's protobuf.
/// The app hash is left out: it is the state root, which the store keeps.
pub(crate) fn encode(height: u64, tx_results: &[ExecTxResult]) -> Vec<u8> {
    let resp = ResponseFinalizeBlock { tx_results: tx_results.to_vec(), ..Default::default() };
    [height.to_be_bytes().as_slice(), &resp.encode_to_vec()].concat()
}

impl App {
    /// The FinalizeBlock response of block `height`, if it is the last
    /// committed block (the only one the app keeps a response for).
    pub fn finalized_results(&self, height: u64) -> Result<Option<ResponseFinalizeBlock>, AppError> {
        let storage = self.storage();
        let bad = |what: &str| AppError::State(format!("last block results: {what}"));
        let Some(bytes) =
            storage.latest().get_nonverifiable(state_key::last_block_results()).map_err(|e| bad(&e.to_string()))?
        else {
            return Ok(None);
        };
        let (h, body) = bytes.split_at_checked(8).ok_or_else(|| bad("truncated"))?;
        let h = u64::from_be_bytes(h.try_into().map_err(|_| bad("truncated"))?);
        if h != height {
            return Ok(None);
        }
        let mut resp = ResponseFinalizeBlock::decode(body).map_err(|e| bad(&e.to_string()))?;
        resp.app_hash = bytes::Bytes::copy_from_slice(&storage.app_hash(height)?);
        Ok(Some(resp))
    }
}
