//! The validator set in CometBFT's order and hashing, as Malachite's
//! `Validator`/`ValidatorSet`.
use std::sync::Arc;

use malachitebft_core_types::{self as mc, VotingPower};

use super::{Address, PublicKey, ZoneContext};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: Address,
    pub public_key: PublicKey,
    pub voting_power: VotingPower,
}

impl Validator {
    pub fn new(public_key: PublicKey, voting_power: VotingPower) -> Validator {
        Validator { address: Address::from_public_key(&public_key), public_key, voting_power }
    }
}

impl mc::Validator<ZoneContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// Validators in CometBFT order (power descending, then address), so that
/// commit signature `i` belongs to validator `i` and the set hashes as
/// CometBFT's does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    pub validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    pub fn new(mut validators: Vec<Validator>) -> ValidatorSet {
        validators.sort_by(|a, b| b.voting_power.cmp(&a.voting_power).then(a.address.cmp(&b.address)));
        validators.dedup_by(|a, b| a.address == b.address);
        ValidatorSet { validators: Arc::new(validators) }
    }

    pub fn index_of(&self, address: &Address) -> Option<usize> {
        self.validators.iter().position(|v| &v.address == address)
    }

    /// The same set as tendermint-rs sees it (for hashes and RPC).
    pub fn to_tendermint(&self) -> tendermint::validator::Set {
        let infos = self
            .validators
            .iter()
            .filter_map(|v| {
                let pk = v.public_key.to_tendermint()?;
                Some(tendermint::validator::Info {
                    address: v.address.to_tendermint(),
                    pub_key: pk,
                    power: tendermint::vote::Power::try_from(v.voting_power).ok()?,
                    name: None,
                    proposer_priority: tendermint::validator::ProposerPriority::default(),
                })
            })
            .collect();
        tendermint::validator::Set::without_proposer(infos)
    }

    pub fn hash(&self) -> tendermint::Hash {
        self.to_tendermint().hash()
    }
}

impl mc::ValidatorSet<ZoneContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().map(|v| v.voting_power).sum()
    }
    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}
