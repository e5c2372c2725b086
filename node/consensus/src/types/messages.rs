//! What validators sign and send: proposals, the parts a proposed block
//! travels in, and votes, each with its CometBFT canonical sign bytes.
use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types::{self as mc, NilOrVal, Round, SignedExtension, VoteType};
use tendermint::block;
use tendermint::chain;

use super::{Address, Height, Signature, Value, ValueId, ZoneContext};

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: Value,
    pub pol_round: Round,
    pub validator_address: Address,
}

impl Proposal {
    /// CometBFT `CanonicalProposal` bytes.
    pub fn sign_bytes(&self, chain_id: &chain::Id) -> Vec<u8> {
        let p = tendermint::proposal::Proposal {
            msg_type: tendermint::proposal::Type::Proposal,
            height: height_to_tm(self.height),
            round: round_to_tm(self.round),
            pol_round: self.pol_round.as_u32().and_then(|r| block::Round::try_from(r).ok()),
            block_id: Some(self.value.0.block_id()),
            timestamp: Some(self.value.0.time()),
            signature: None,
        };
        p.into_signable_vec(chain_id.clone())
    }
}

impl mc::Proposal<ZoneContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &Value {
        &self.value
    }
    fn take_value(self) -> Value {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &Address {
        &self.validator_address
    }
}

/// A block travels as `Init`, then chunks of its protobuf encoding, then
/// `Fin` with the proposer's signature over all of it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    Init(ProposalInit),
    Data(Vec<u8>),
    Fin(Signature),
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProposalInit {
    pub height: Height,
    pub round: Round,
    pub pol_round: Round,
    pub proposer: Address,
}

impl mc::ProposalPart<ZoneContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init(_))
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    pub typ: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<ValueId>,
    pub validator_address: Address,
    pub extension: Option<SignedExtension<ZoneContext>>,
}

impl Vote {
    /// CometBFT `CanonicalVote` bytes. A vote for a block is stamped with
    /// the block's header time; a nil vote with the Unix epoch.
    pub fn sign_bytes(&self, chain_id: &chain::Id) -> Vec<u8> {
        let (block_id, timestamp) = match &self.value {
            NilOrVal::Val(id) => (Some(id.block_id()), id.time()),
            NilOrVal::Nil => (None, tendermint::Time::unix_epoch()),
        };
        let vote = tendermint::vote::Vote {
            vote_type: match self.typ {
                VoteType::Prevote => tendermint::vote::Type::Prevote,
                VoteType::Precommit => tendermint::vote::Type::Precommit,
            },
            height: height_to_tm(self.height),
            round: round_to_tm(self.round),
            block_id,
            timestamp: Some(timestamp),
            validator_address: self.validator_address.to_tendermint(),
            validator_index: tendermint::vote::ValidatorIndex::try_from(0u32).expect("0 is a valid index"),
            signature: None,
            extension: Vec::new(),
            extension_signature: None,
        };
        vote.into_signable_vec(chain_id.clone())
    }
}

impl mc::Vote<ZoneContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<ValueId> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<ValueId> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.typ
    }
    fn validator_address(&self) -> &Address {
        &self.validator_address
    }
    fn extension(&self) -> Option<&SignedExtension<ZoneContext>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<ZoneContext>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<ZoneContext>) -> Self {
        Vote { extension: Some(extension), ..self }
    }
}

pub fn height_to_tm(h: Height) -> block::Height {
    block::Height::try_from(h.0).unwrap_or_default()
}

pub fn round_to_tm(r: Round) -> block::Round {
    r.as_u32().and_then(|r| block::Round::try_from(r).ok()).unwrap_or_default()
}
