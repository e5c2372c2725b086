//! Malachite's context for a Kawase zone.
//!
//! Consensus runs on small values: a [`ValueId`] is a CometBFT block id plus
//! the header time. The block itself travels as proposal parts and is kept by
//! the node, so votes, proposals and the WAL stay a few hundred bytes however
//! large the block is. Every signature is over CometBFT canonical sign bytes,
//! so a decided certificate is a `tendermint::block::Commit` in another shape.
use std::fmt;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_core_types::{
    self as mc, NilOrVal, Round, SignedExtension, SignedMessage, SigningProvider, VoteType, VotingPower,
};
use tendermint::block::{self, parts};
use tendermint::chain;

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

/// Ed25519, with CometBFT's key and signature encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 32]);
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode_upper(self.0))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);
impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode_upper(&self.0[..8]))
    }
}

/// The validator's signing key (from `priv_validator_key.json`).
#[derive(Clone)]
pub struct PrivateKey(pub ed25519_consensus::SigningKey);
impl PrivateKey {
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verification_key().to_bytes())
    }
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

impl PublicKey {
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        match ed25519_consensus::VerificationKey::try_from(self.0) {
            Ok(vk) => vk.verify(&ed25519_consensus::Signature::from(sig.0), msg).is_ok(),
            Err(_) => false,
        }
    }
    pub fn to_tendermint(self) -> Option<tendermint::PublicKey> {
        tendermint::PublicKey::from_raw_ed25519(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("an ed25519 signature is 64 bytes, got {0}")]
pub struct SignatureLength(usize);

impl mc::SigningScheme for Ed25519 {
    type DecodingError = SignatureLength;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = PrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, SignatureLength> {
        <[u8; 64]>::try_from(bytes).map(Signature).map_err(|_| SignatureLength(bytes.len()))
    }
    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }
}

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

/// What consensus agrees on: a CometBFT block id and the header time, which
/// every precommit's canonical sign bytes use as their timestamp, so the
/// decided certificate alone rebuilds a verifiable `Commit`.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ValueId {
    pub block_hash: [u8; 32],
    pub parts_hash: [u8; 32],
    pub parts_total: u32,
    /// Header time as Unix nanoseconds.
    pub time_nanos: i128,
}

impl ValueId {
    pub fn block_id(&self) -> block::Id {
        block::Id {
            hash: tendermint::Hash::Sha256(self.block_hash),
            part_set_header: parts::Header::new(self.parts_total, tendermint::Hash::Sha256(self.parts_hash))
                .unwrap_or_default(),
        }
    }

    pub fn time(&self) -> tendermint::Time {
        time_from_nanos(self.time_nanos)
    }
}

pub fn time_from_nanos(nanos: i128) -> tendermint::Time {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000);
    i64::try_from(secs)
        .ok()
        .and_then(|s| tendermint::Time::from_unix_timestamp(s, sub as u32).ok())
        .unwrap_or_else(tendermint::Time::unix_epoch)
}

pub fn time_to_nanos(t: tendermint::Time) -> i128 {
    t.unix_timestamp_nanos()
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.block_hash[..6]))
    }
}
impl fmt::Debug for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueId({})", hex::encode_upper(self.block_hash))
    }
}

/// The consensus value is its own id; the block lives in the node's stores.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Value(pub ValueId);

impl mc::Value for Value {
    type Id = ValueId;
    fn id(&self) -> ValueId {
        self.0
    }
}

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

/// Verifies everything with CometBFT sign bytes; signs through the
/// double-sign guard.
pub struct Signer {
    pub chain_id: chain::Id,
    pub privval: std::sync::Arc<crate::privval::PrivValidator>,
}

impl Signer {
    fn part_sign_bytes(part: &ProposalPart) -> Vec<u8> {
        borsh::to_vec(part).unwrap_or_default()
    }
}

impl SigningProvider<ZoneContext> for Signer {
    fn sign_vote(&self, vote: Vote) -> SignedMessage<ZoneContext, Vote> {
        let bytes = vote.sign_bytes(&self.chain_id);
        let step = match vote.typ {
            VoteType::Prevote => crate::privval::Step::Prevote,
            VoteType::Precommit => crate::privval::Step::Precommit,
        };
        let signature = self.privval.sign_or_halt(vote.height.0, vote.round, step, &bytes);
        crate::crash::point("after-vote-signed", vote.height.0);
        SignedMessage::new(vote, signature)
    }

    fn verify_signed_vote(&self, vote: &Vote, signature: &Signature, public_key: &PublicKey) -> bool {
        public_key.verify(&vote.sign_bytes(&self.chain_id), signature)
    }

    fn sign_proposal(&self, proposal: Proposal) -> SignedMessage<ZoneContext, Proposal> {
        let bytes = proposal.sign_bytes(&self.chain_id);
        let signature =
            self.privval.sign_or_halt(proposal.height.0, proposal.round, crate::privval::Step::Propose, &bytes);
        SignedMessage::new(proposal, signature)
    }

    fn verify_signed_proposal(&self, proposal: &Proposal, signature: &Signature, public_key: &PublicKey) -> bool {
        public_key.verify(&proposal.sign_bytes(&self.chain_id), signature)
    }

    fn sign_proposal_part(&self, part: ProposalPart) -> SignedMessage<ZoneContext, ProposalPart> {
        let signature = self.privval.key().sign(&Self::part_sign_bytes(&part));
        SignedMessage::new(part, signature)
    }

    fn verify_signed_proposal_part(&self, part: &ProposalPart, signature: &Signature, public_key: &PublicKey) -> bool {
        public_key.verify(&Self::part_sign_bytes(part), signature)
    }

    fn sign_vote_extension(&self, extension: Vec<u8>) -> SignedMessage<ZoneContext, Vec<u8>> {
        let signature = self.privval.key().sign(&extension);
        SignedMessage::new(extension, signature)
    }

    fn verify_signed_vote_extension(&self, extension: &Vec<u8>, signature: &Signature, public_key: &PublicKey) -> bool {
        public_key.verify(extension, signature)
    }
}

/// One codec for the network, sync and the WAL: borsh, which every
/// Malachite message type implements with its `borsh` feature.
#[derive(Clone, Copy, Debug, Default)]
pub struct BorshCodec;

#[derive(Debug, thiserror::Error)]
#[error("codec: {0}")]
pub struct CodecError(String);

impl<T> malachitebft_codec::Codec<T> for BorshCodec
where
    T: BorshSerialize + BorshDeserialize,
{
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<T, CodecError> {
        borsh::from_slice(&bytes).map_err(|e| CodecError(e.to_string()))
    }

    fn encode(&self, msg: &T) -> Result<Bytes, CodecError> {
        borsh::to_vec(msg).map(Bytes::from).map_err(|e| CodecError(e.to_string()))
    }
}
