//! CometBFT-shaped blocks: building a proposal's header, checking a
//! received one, and turning a decided certificate into a `Commit` that a
//! tendermint-rs light client verifies unchanged.
use malachitebft_core_types::CommitCertificate;
use prost::Message;
use sha2::{Digest, Sha256};
use tendermint::block::{self, Block, Commit, CommitSig, Header};
use tendermint::crypto::default::Sha256 as TmSha256;
use tendermint::merkle::simple_hash_from_byte_vectors;
use tendermint::{chain, AppHash, Hash, Time};
use tendermint_proto::v0_38 as pb;
use tendermint_proto::Protobuf;

use crate::types::{time_to_nanos, Address, ValidatorSet, ValueId, ZoneContext};

/// CometBFT's block protocol version.
pub const BLOCK_PROTOCOL: u64 = 11;

/// What the next block builds on: the last decided block and the app's
/// results for it.
#[derive(Clone, Debug)]
pub struct Tip {
    pub height: u64,
    pub block_id: Option<block::Id>,
    pub time: Option<Time>,
    /// App hash after executing block `height` (the genesis hash at 0).
    pub app_hash: Vec<u8>,
    /// Results hash of block `height`.
    pub results_hash: Hash,
    /// The commit for block `height`, to go into the next block.
    pub last_commit: Option<Commit>,
}

pub fn encode_block(block: &Block) -> Vec<u8> {
    Protobuf::<pb::types::Block>::encode_vec(block.clone())
}

pub fn decode_block(bytes: &[u8]) -> Result<Block, String> {
    <Block as Protobuf<pb::types::Block>>::decode_vec(bytes).map_err(|e| format!("undecodable block: {e}"))
}

/// The id consensus votes on: the header hash, and one "part" that is the
/// whole protobuf encoding (we stream our own chunks, not CometBFT parts).
pub fn value_id(block: &Block, encoded: &[u8]) -> ValueId {
    let hash = match block.header.hash() {
        Hash::Sha256(h) => h,
        Hash::None => [0; 32],
    };
    ValueId {
        block_hash: hash,
        parts_hash: Sha256::digest(encoded).into(),
        parts_total: 1,
        time_nanos: time_to_nanos(block.header.time),
    }
}

pub fn empty_hash() -> Hash {
    Hash::Sha256(simple_hash_from_byte_vectors::<TmSha256>(&[] as &[Vec<u8>]))
}

/// `Txs.Hash()`: Merkle root of the transactions' SHA-256 hashes.
pub fn data_hash(txs: &[Vec<u8>]) -> Hash {
    let leaves: Vec<[u8; 32]> = txs.iter().map(|t| Sha256::digest(t).into()).collect();
    Hash::Sha256(simple_hash_from_byte_vectors::<TmSha256>(&leaves))
}

/// `Commit.Hash()`: Merkle root of the protobuf `CommitSig`s.
pub fn commit_hash(commit: Option<&Commit>) -> Hash {
    let leaves: Vec<Vec<u8>> = commit
        .map(|c| {
            c.signatures.iter().map(|s| pb::types::CommitSig::from(s.clone()).encode_to_vec()).collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Hash::Sha256(simple_hash_from_byte_vectors::<TmSha256>(&leaves))
}

/// `ABCIResults.Hash()`: Merkle root of the deterministic result fields.
pub fn results_hash(results: &[pb::abci::ExecTxResult]) -> Hash {
    let leaves: Vec<Vec<u8>> = results
        .iter()
        .map(|r| {
            pb::abci::ExecTxResult {
                code: r.code,
                data: r.data.clone(),
                gas_wanted: r.gas_wanted,
                gas_used: r.gas_used,
                ..Default::default()
            }
            .encode_to_vec()
        })
        .collect();
    Hash::Sha256(simple_hash_from_byte_vectors::<TmSha256>(&leaves))
}

/// `HashedParams` hash of the consensus parameters blocks are built under.
pub fn consensus_hash(params: &tendermint::consensus::Params) -> Hash {
    let hashed = pb::types::HashedParams {
        block_max_bytes: i64::try_from(params.block.max_bytes).unwrap_or(i64::MAX),
        block_max_gas: params.block.max_gas,
    };
    Hash::Sha256(Sha256::digest(hashed.encode_to_vec()).into())
}

/// Everything a header commits to besides the transactions.
pub struct BlockContext<'a> {
    pub chain_id: &'a chain::Id,
    pub validators: &'a ValidatorSet,
    pub consensus_hash: Hash,
}

pub fn build_block(ctx: &BlockContext<'_>, tip: &Tip, proposer: Address, time: Time, txs: Vec<Vec<u8>>) -> Block {
    let vhash = ctx.validators.hash();
    let header = Header {
        version: block::header::Version { block: BLOCK_PROTOCOL, app: 0 },
        chain_id: ctx.chain_id.clone(),
        height: block::Height::try_from(tip.height + 1).unwrap_or_default(),
        time,
        last_block_id: tip.block_id,
        last_commit_hash: Some(commit_hash(tip.last_commit.as_ref())),
        data_hash: Some(data_hash(&txs)),
        validators_hash: vhash,
        next_validators_hash: vhash,
        consensus_hash: ctx.consensus_hash,
        app_hash: AppHash::try_from(tip.app_hash.clone()).unwrap_or_default(),
        last_results_hash: Some(tip.results_hash),
        evidence_hash: Some(empty_hash()),
        proposer_address: proposer.to_tendermint(),
    };
    Block::new(header, txs, tendermint::evidence::List::default(), tip.last_commit.clone())
}

/// Checks a proposed (or synced) block against our own view of the chain.
/// Every honest validator computes the same answer except for the clock
/// bound, which only rejects blocks stamped too far in the future.
pub fn validate_block(
    ctx: &BlockContext<'_>,
    tip: &Tip,
    block: &Block,
    expected_proposer: Option<Address>,
    max_time: Option<Time>,
) -> Result<(), String> {
    let h = &block.header;
    let want = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
    want(h.version.block == BLOCK_PROTOCOL, "block protocol version")?;
    want(&h.chain_id == ctx.chain_id, "chain id")?;
    want(h.height.value() == tip.height + 1, "height")?;
    want(h.last_block_id == tip.block_id, "last block id")?;
    if let Some(prev) = tip.time {
        want(h.time > prev, "time must increase")?;
    }
    if let Some(max) = max_time {
        want(h.time <= max, "time too far in the future")?;
    }
    let vhash = ctx.validators.hash();
    want(h.validators_hash == vhash && h.next_validators_hash == vhash, "validators hash")?;
    want(h.consensus_hash == ctx.consensus_hash, "consensus hash")?;
    want(h.app_hash.as_bytes() == tip.app_hash.as_slice(), "app hash")?;
    want(h.last_results_hash == Some(tip.results_hash), "last results hash")?;
    want(h.data_hash == Some(data_hash(&block.data)), "data hash")?;
    want(block.evidence.iter().next().is_none() && h.evidence_hash == Some(empty_hash()), "evidence")?;
    if let Some(p) = expected_proposer {
        want(h.proposer_address == p.to_tendermint(), "proposer")?;
    }
    want(h.last_commit_hash == Some(commit_hash(block.last_commit.as_ref())), "last commit hash")?;
    match (&block.last_commit, tip.block_id) {
        (None, None) => Ok(()),
        (Some(c), Some(id)) => {
            want(c.height.value() == tip.height && c.block_id == id, "last commit is for another block")?;
            verify_commit(ctx.chain_id, ctx.validators, c)
        }
        _ => Err("last commit".into()),
    }
}

/// More than two thirds of the voting power signed precommits for the
/// commit's block, each over CometBFT canonical vote bytes.
pub fn verify_commit(chain_id: &chain::Id, validators: &ValidatorSet, commit: &Commit) -> Result<(), String> {
    if commit.signatures.len() != validators.validators.len() {
        return Err("commit has the wrong number of signatures".into());
    }
    let total: u128 = validators.validators.iter().map(|v| u128::from(v.voting_power)).sum();
    let mut signed: u128 = 0;
    for (sig, val) in commit.signatures.iter().zip(validators.validators.iter()) {
        let CommitSig::BlockIdFlagCommit { validator_address, timestamp, signature } = sig else { continue };
        if validator_address.as_bytes() != val.address.0 {
            return Err("commit signature from the wrong validator".into());
        }
        let Some(signature) = signature else { return Err("commit signature missing".into()) };
        let vote = tendermint::vote::Vote {
            vote_type: tendermint::vote::Type::Precommit,
            height: commit.height,
            round: commit.round,
            block_id: Some(commit.block_id),
            timestamp: Some(*timestamp),
            validator_address: *validator_address,
            validator_index: tendermint::vote::ValidatorIndex::try_from(0u32).expect("0 is a valid index"),
            signature: None,
            extension: Vec::new(),
            extension_signature: None,
        };
        let bytes = vote.into_signable_vec(chain_id.clone());
        let sig = <[u8; 64]>::try_from(signature.as_bytes()).map_err(|_| "bad signature length".to_string())?;
        if !val.public_key.verify(&bytes, &crate::types::Signature(sig)) {
            return Err(format!("bad commit signature from {}", val.address));
        }
        signed += u128::from(val.voting_power);
    }
    if signed * 3 > total * 2 {
        Ok(())
    } else {
        Err("commit lacks two thirds of the voting power".into())
    }
}

/// The decided certificate as a CometBFT commit: one entry per validator in
/// set order, each stamped with the block time the precommits signed.
pub fn commit_from_certificate(cert: &CommitCertificate<ZoneContext>, validators: &ValidatorSet) -> Commit {
    let time = cert.value_id.time();
    let signatures = validators
        .validators
        .iter()
        .map(|v| {
            match cert.commit_signatures.iter().find(|s| s.address == v.address) {
                Some(s) => CommitSig::BlockIdFlagCommit {
                    validator_address: v.address.to_tendermint(),
                    timestamp: time,
                    signature: tendermint::Signature::try_from(s.signature.0.as_slice()).ok(),
                },
                None => CommitSig::BlockIdFlagAbsent,
            }
        })
        .collect();
    Commit {
        height: block::Height::try_from(cert.height.0).unwrap_or_default(),
        round: crate::types::round_to_tm(cert.round),
        block_id: cert.value_id.block_id(),
        signatures,
    }
}
