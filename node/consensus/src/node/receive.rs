//! Proposals from others: reassembling part streams, ProcessProposal for
//! a complete block, the proposals a starting round already has, and
//! blocks that arrive through sync with their certificate.
use bytes::Bytes;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::core::{Round, Validity};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue};
use tendermint::Time;

use super::driver::Driver;
use super::NodeError;
use crate::application::Application;
use crate::block;
use crate::streams::Assembled;
use crate::types::{Address, Height, ProposalPart, Value, ZoneContext};

impl<A: Application> Driver<A> {
    /// The proposals a round starts with: those seen for it already, and
    /// those that arrived before we reached its height.
    pub(super) fn round_proposals(&mut self, height: Height, round: Round) -> Vec<ProposedValue<ZoneContext>> {
        let mut values = self.undecided.get(&(height.0, round.as_i64())).cloned().unwrap_or_default();
        for a in self.streams.take_ready(height, round) {
            if let Some(pv) = self.accept_assembled(a) {
                values.push(pv);
            }
        }
        values
    }

    /// Reassembles parts (bounded per peer, see `streams.rs`); a complete,
    /// correctly signed proposal for the next height is checked and handed
    /// to consensus.
    pub(super) fn received_part(
        &mut self,
        from: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<ProposedValue<ZoneContext>> {
        let a = self.streams.receive(from, msg)?;
        self.accept_assembled(a)
    }

    /// ProcessProposal for a block at the next height.
    pub(super) fn accept_assembled(&mut self, a: Assembled) -> Option<ProposedValue<ZoneContext>> {
        let Assembled { init, encoded, parts_hash } = a;
        let started = std::time::Instant::now();
        let blk = match block::decode_block(&encoded) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(proposer = %init.proposer, error = %e, "undecodable proposal");
                return None;
            }
        };
        let id = block::value_id_with_parts(&blk, parts_hash);
        let max_time = (Time::now() + self.max_clock_drift).ok();
        let expected = self.expected_proposer(init.height, init.round);
        // A re-proposal (pol_round set) carries the block of an earlier round,
        // built by that round's proposer.
        let proposer = if init.pol_round == Round::Nil { Some(expected) } else { None };
        let checked = block::validate_block(&self.block_ctx(), &self.tip, &blk, proposer, max_time).and_then(|()| {
            let txs: Vec<Bytes> = blk.data.iter().map(|t| Bytes::from(t.clone())).collect();
            if self.shared.app.proposal_is_valid(&txs) {
                Ok(())
            } else {
                Err("transactions exceed block limits or do not decode".into())
            }
        });
        if let Err(e) = &checked {
            tracing::warn!(height = %init.height, round = %init.round, proposer = %init.proposer, error = %e, "rejecting proposal");
        }
        if let Err(e) = self.shared.store.put_pending(init.height.0, &id, &encoded) {
            tracing::error!(error = %e, "storing proposal");
            return None;
        }
        let pv = ProposedValue {
            height: init.height,
            round: init.round,
            valid_round: init.pol_round,
            proposer: init.proposer,
            value: Value(id),
            validity: Validity::from_bool(checked.is_ok()),
        };
        self.undecided.entry((init.height.0, init.round.as_i64())).or_default().push(pv.clone());
        self.shared.metrics.phases.record(crate::metrics::Phase::ProcessProposal, started.elapsed());
        Some(pv)
    }

    /// A block from sync. It comes with a quorum certificate the engine
    /// checks: it is decided whatever we think of it, so a disagreement
    /// here means our own state is off (logged, not refused).
    pub(super) fn synced_value(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
        value_bytes: &[u8],
    ) -> Result<Option<ProposedValue<ZoneContext>>, NodeError> {
        self.shared.update_status(|s| s.catching_up = true);
        let pv = match block::decode_block(value_bytes) {
            Ok(blk) if blk.header.height.value() == height.0 => {
                let id = block::value_id(&blk, value_bytes);
                self.shared.store.put_pending(height.0, &id, value_bytes)?;
                if height.0 == self.tip.height + 1 {
                    if let Err(e) = block::validate_block(&self.block_ctx(), &self.tip, &blk, None, None) {
                        tracing::error!(%height, error = %e, "synced block disagrees with local state");
                    }
                }
                Some(ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    value: Value(id),
                    validity: Validity::Valid,
                })
            }
            _ => None,
        };
        Ok(pv)
    }
}
