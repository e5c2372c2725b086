//! Our own proposals: PrepareProposal (a block from the mempool on top of
//! the tip, recorded before the engine signs it) and streaming a block to
//! peers as signed proposal parts.
use std::time::Duration;

use bytes::Bytes;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{Round, Validity};
use malachitebft_app_channel::app::types::ProposedValue;
use malachitebft_app_channel::{Channels, NetworkMsg};
use tendermint::Time;

use super::driver::Driver;
use super::NodeError;
use crate::application::Application;
use crate::block;
use crate::streams::fin_digest;
use crate::types::{Height, ProposalInit, ProposalPart, Value, ZoneContext};

/// Proposal data is streamed in chunks of this size.
const CHUNK: usize = 1 << 20;

impl<A: Application> Driver<A> {
    /// The value to propose at (height, round). A proposer asked again
    /// (e.g. after a restart) proposes the same block: a second one would
    /// be a double sign.
    pub(super) fn propose(&mut self, height: Height, round: Round) -> Result<(Value, Vec<u8>), NodeError> {
        let built = match self.shared.store.own_proposal(height.0, round.as_i64())? {
            Some(id) => self.shared.store.pending(height.0, &id)?.map(|b| (Value(id), b)),
            None => None,
        };
        match built {
            Some(v) => Ok(v),
            None => self.build_proposal(height, round),
        }
    }

    /// PrepareProposal: mempool transactions within the block limits, on
    /// top of our tip, stamped with our clock (strictly after the tip).
    fn build_proposal(&mut self, height: Height, round: Round) -> Result<(Value, Vec<u8>), NodeError> {
        let started = std::time::Instant::now();
        let params = self.shared.app.params().unwrap_or_else(kawase_app::Params::standard);
        let txs = self.shared.mempool.reap(params.max_block_txs as usize, params.max_block_bytes as usize);
        let mut time = Time::now();
        if let Some(prev) = self.tip.time {
            if time <= prev {
                time = (prev + Duration::from_millis(1)).unwrap_or(prev);
            }
        }
        let blk = block::build_block(&self.block_ctx(), &self.tip, self.address, time, txs);
        let encoded = block::encode_block(&blk);
        let id = block::value_id(&blk, &encoded);
        // Crash order (commit.rs, step 1): pending block, then the fsynced
        // own-proposal record, both before the engine signs the proposal.
        self.shared.store.put_pending(height.0, &id, &encoded)?;
        crate::crash::point("after-pending", height.0);
        self.shared.store.put_own_proposal(height.0, round.as_i64(), &id)?;
        crate::crash::point("after-own-proposal", height.0);
        let pv = ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer: self.address,
            value: Value(id),
            validity: Validity::Valid,
        };
        self.undecided.entry((height.0, round.as_i64())).or_default().push(pv);
        self.shared.metrics.phases.record(crate::metrics::Phase::Propose, started.elapsed());
        tracing::info!(%height, %round, txs = blk.data.len(), bytes = encoded.len(), "proposing");
        Ok((Value(id), encoded))
    }

    pub(super) async fn stream(
        &mut self,
        channels: &Channels<ZoneContext>,
        height: Height,
        round: Round,
        pol_round: Round,
        encoded: Vec<u8>,
        parts_hash: [u8; 32],
    ) {
        let init = ProposalInit { height, round, pol_round, proposer: self.address };
        let signature = self.key.sign(&fin_digest(&init, &parts_hash));
        self.stream_nonce += 1;
        let mut id = Vec::with_capacity(24);
        id.extend_from_slice(&height.0.to_be_bytes());
        id.extend_from_slice(&round.as_i64().to_be_bytes());
        id.extend_from_slice(&self.stream_nonce.to_be_bytes());
        let stream_id = StreamId::new(Bytes::from(id));
        let mut parts = vec![ProposalPart::Init(init)];
        parts.extend(encoded.chunks(CHUNK).map(|c| ProposalPart::Data(c.to_vec())));
        parts.push(ProposalPart::Fin(signature));
        let n = parts.len() as u64;
        for (seq, part) in parts.into_iter().enumerate() {
            let msg = StreamMessage::new(stream_id.clone(), seq as u64, StreamContent::Data(part));
            if channels.network.send(NetworkMsg::PublishProposalPart(msg)).await.is_err() {
                return;
            }
        }
        let _ = channels
            .network
            .send(NetworkMsg::PublishProposalPart(StreamMessage::new(stream_id, n, StreamContent::Fin)))
            .await;
    }
}
