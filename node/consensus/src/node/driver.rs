//! The driver: the one task that owns consensus-side state (the tip, the
//! proposals seen, the part streams) and answers Malachite's `AppMsg`s in
//! order. This file is the dispatch; the work behind each message is in
//! `propose.rs`, `receive.rs` and `decide.rs`.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use malachitebft_app_channel::app::types::core::Round;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels};
use tendermint::chain;

use super::{NodeError, NodeSettings, Shared};
use crate::application::Application;
use crate::block::{self, BlockContext, Tip};
use crate::streams::{Limits, ProposalStreams};
use crate::types::{Address, Height, PrivateKey, ZoneContext};

pub(super) struct Driver<A> {
    pub(super) shared: Arc<Shared<A>>,
    pub(super) chain_id: chain::Id,
    pub(super) consensus_hash: tendermint::Hash,
    /// Hash of the (fixed) validator set, computed once.
    pub(super) validators_hash: tendermint::Hash,
    pub(super) key: PrivateKey,
    pub(super) address: Address,
    pub(super) tip: Tip,
    pub(super) timeout_commit: Duration,
    pub(super) max_clock_drift: Duration,
    /// Proposals seen (built or received) by height and round.
    pub(super) undecided: BTreeMap<(u64, i64), Vec<ProposedValue<ZoneContext>>>,
    /// Part streams being reassembled, and proposals for later heights.
    pub(super) streams: ProposalStreams<PeerId>,
    pub(super) stream_nonce: u64,
    /// When the height being decided had its first round (metrics only).
    pub(super) height_started: Option<(u64, std::time::Instant)>,
}

impl<A: Application> Driver<A> {
    /// A driver on top of `tip` (what recovery left), for the node whose
    /// settings these are.
    pub(super) fn new(shared: Arc<Shared<A>>, settings: &NodeSettings, tip: Tip) -> Driver<A> {
        let max_block = usize::try_from(settings.consensus_params.block.max_bytes).unwrap_or(usize::MAX);
        let tip_height = tip.height;
        Driver {
            address: shared.validator_address,
            shared,
            chain_id: settings.chain_id.clone(),
            consensus_hash: block::consensus_hash(&settings.consensus_params),
            validators_hash: settings.validators.hash(),
            key: settings.validator_key.clone(),
            tip,
            timeout_commit: settings.timeout_commit,
            max_clock_drift: settings.max_clock_drift,
            undecided: BTreeMap::new(),
            streams: ProposalStreams::new(settings.validators.clone(), Limits::for_block_size(max_block), tip_height),
            stream_nonce: 0,
            height_started: None,
        }
    }

    pub(super) fn block_ctx(&self) -> BlockContext<'_> {
        BlockContext {
            chain_id: &self.chain_id,
            validators: &self.shared.validators,
            consensus_hash: self.consensus_hash,
            validators_hash: self.validators_hash,
        }
    }

    pub(super) fn expected_proposer(&self, height: Height, round: Round) -> Address {
        let set = &self.shared.validators.validators;
        set[ZoneContext::proposer_index(set.len(), height, round)].address
    }

    pub(super) async fn run(&mut self, mut channels: Channels<ZoneContext>) -> Result<(), NodeError> {
        while let Some(msg) = channels.consensus.recv().await {
            match msg {
                AppMsg::ConsensusReady { reply } => {
                    let _ = reply.send((Height(self.tip.height + 1), self.shared.validators.clone()));
                }
                AppMsg::StartedRound { height, round, proposer, role: _, reply_value } => {
                    tracing::debug!(%height, %round, %proposer, "round started");
                    if self.height_started.is_none_or(|(h, _)| h != height.0) {
                        self.height_started = Some((height.0, std::time::Instant::now()));
                    }
                    self.shared.update_status(|s| {
                        s.working_height = height.0;
                        s.round = round.as_i64();
                    });
                    self.shared.metrics.round.store(round.as_i64().max(0) as u64, std::sync::atomic::Ordering::Relaxed);
                    let _ = reply_value.send(self.round_proposals(height, round));
                }
                AppMsg::GetValue { height, round, timeout: _, reply } => {
                    let (value, encoded) = self.propose(height, round)?;
                    let _ = reply.send(LocallyProposedValue::new(height, round, value));
                    self.stream(&channels, height, round, Round::Nil, encoded, value.0.parts_hash).await;
                }
                AppMsg::ExtendVote { reply, .. } => {
                    let _ = reply.send(None);
                }
                AppMsg::VerifyVoteExtension { reply, .. } => {
                    let _ = reply.send(Ok(()));
                }
                AppMsg::RestreamProposal { height, round, valid_round, address: _, value_id } => {
                    if let Some(bytes) = self.shared.store.pending(height.0, &value_id)? {
                        self.stream(&channels, height, round, valid_round, bytes, value_id.parts_hash).await;
                    }
                }
                AppMsg::GetHistoryMinHeight { reply } => {
                    let _ = reply.send(Height(1));
                }
                AppMsg::ReceivedProposalPart { from, part, reply } => {
                    let pv = self.received_part(from, part);
                    let _ = reply.send(pv);
                }
                AppMsg::GetValidatorSet { height: _, reply } => {
                    let _ = reply.send(Some(self.shared.validators.clone()));
                }
                AppMsg::Decided { certificate, extensions: _, reply } => {
                    let next = self.finish_height(certificate).await?;
                    let _ = reply.send(next);
                }
                AppMsg::GetDecidedValue { height, reply } => {
                    let _ = reply.send(self.decided_value(height)?);
                }
                AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                    let pv = self.synced_value(height, round, proposer, &value_bytes)?;
                    let _ = reply.send(pv);
                }
            }
        }
        Err(NodeError::Engine("consensus channel closed".into()))
    }
}
