//! Malachite's context for a zone: heights, validator addresses, and the
//! [`ZoneContext`] that ties every consensus type together and picks the
//! proposer.
use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types::{self as mc, NilOrVal, Round, VoteType};
use tendermint::chain;

use super::{Ed25519, Proposal, ProposalPart, PublicKey, Validator, ValidatorSet, Value, ValueId, Vote};

/// Block height (CometBFT heights start at 1).
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Debug for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "H{}", self.0)
    }
}
impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);
    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }
    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }
    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// Validator address: the first 20 bytes of SHA-256 of the ed25519 key,
/// as in CometBFT.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 20]);

impl Address {
    pub fn from_public_key(pk: &PublicKey) -> Address {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(pk.0);
        let mut a = [0u8; 20];
        a.copy_from_slice(&digest[..20]);
        Address(a)
    }
    pub fn to_tendermint(self) -> tendermint::account::Id {
        tendermint::account::Id::new(self.0)
    }
}
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}
impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}
impl mc::Address for Address {}

/// The zone's context: its chain id (part of every sign bytes) and
/// round-robin proposer selection.
#[derive(Clone, Debug)]
pub struct ZoneContext {
    pub chain_id: chain::Id,
}

impl ZoneContext {
    pub fn new(chain_id: chain::Id) -> ZoneContext {
        ZoneContext { chain_id }
    }

    pub fn proposer_index(count: usize, height: Height, round: Round) -> usize {
        let r = round.as_i64().max(0) as u64;
        let h = height.0.saturating_sub(1);
        (h.wrapping_add(r) % count.max(1) as u64) as usize
    }
}

impl mc::Context for ZoneContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Value = Value;
    type Vote = Vote;
    type Extension = Vec<u8>;
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(&self, set: &'a ValidatorSet, height: Height, round: Round) -> &'a Validator {
        let i = Self::proposer_index(set.validators.len(), height, round);
        set.validators.get(i).expect("malachite never runs with an empty validator set")
    }

    fn new_proposal(&self, height: Height, round: Round, value: Value, pol_round: Round, address: Address) -> Proposal {
        Proposal { height, round, value, pol_round, validator_address: address }
    }

    fn new_prevote(&self, height: Height, round: Round, value: NilOrVal<ValueId>, address: Address) -> Vote {
        Vote { typ: VoteType::Prevote, height, round, value, validator_address: address, extension: None }
    }

    fn new_precommit(&self, height: Height, round: Round, value: NilOrVal<ValueId>, address: Address) -> Vote {
        Vote { typ: VoteType::Precommit, height, round, value, validator_address: address, extension: None }
    }
}
