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

pub use crate::tx_proof::tx_proof;

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
    value_id_with_parts(block, Sha256::digest(encoded).into())
}

/// [`value_id`] when the SHA-256 of the encoding is already known.
pub fn value_id_with_parts(block: &Block, parts_hash: [u8; 32]) -> ValueId {
    let hash = match block.header.hash() {
        Hash::Sha256(h) => h,
        Hash::None => [0; 32],
    };
    ValueId { block_hash: hash, parts_hash, parts_total: 1, time_nanos: time_to_nanos(block.header.time) }
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
        .map(|c| c.signatures.iter().map(|s| pb::types::CommitSig::from(s.clone()).encode_to_vec()).collect::<Vec<_>>())
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
    /// `validators.hash()`, computed once by the caller.
    pub validators_hash: Hash,
}

pub fn build_block(ctx: &BlockContext<'_>, tip: &Tip, proposer: Address, time: Time, txs: Vec<Vec<u8>>) -> Block {
    let vhash = ctx.validators_hash;
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
    let vhash = ctx.validators_hash;
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
        .map(|v| match cert.commit_signatures.iter().find(|s| s.address == v.address) {
            Some(s) => CommitSig::BlockIdFlagCommit {
                validator_address: v.address.to_tendermint(),
                timestamp: time,
                signature: tendermint::Signature::try_from(s.signature.0.as_slice()).ok(),
            },
            None => CommitSig::BlockIdFlagAbsent,
        })
        .collect();
    Commit {
        height: block::Height::try_from(cert.height.0).unwrap_or_default(),
        round: crate::types::round_to_tm(cert.round),
        block_id: cert.value_id.block_id(),
        signatures,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use malachitebft_core_types::{CommitSignature, NilOrVal, Round, VoteType};
    use tendermint_light_client_verifier::operations::voting_power::{
        ProdVotingPowerCalculator, VotingPowerCalculator,
    };
    use tendermint_light_client_verifier::types::TrustThreshold;

    use super::*;
    use crate::types::{Height, PrivateKey, Validator, Vote};

    fn keys(n: u8) -> Vec<PrivateKey> {
        (1..=n).map(|i| PrivateKey(ed25519_consensus::SigningKey::from([i; 32]))).collect()
    }

    fn setup() -> (chain::Id, Vec<PrivateKey>, ValidatorSet, Hash) {
        let keys = keys(4);
        let set = ValidatorSet::new(keys.iter().map(|k| Validator::new(k.public_key(), 10)).collect());
        let params = tendermint::consensus::Params {
            block: block::Size { max_bytes: 1 << 20, max_gas: -1, time_iota_ms: 1 },
            evidence: tendermint::evidence::Params {
                max_age_num_blocks: 1000,
                max_age_duration: tendermint::evidence::Duration(std::time::Duration::from_secs(3600)),
                max_bytes: 1 << 20,
            },
            validator: tendermint::consensus::params::ValidatorParams {
                pub_key_types: vec![tendermint::public_key::Algorithm::Ed25519],
            },
            version: None,
            abci: Default::default(),
        };
        ("kawase-test".parse().unwrap(), keys, set, consensus_hash(&params))
    }

    fn genesis_tip() -> Tip {
        Tip {
            height: 0,
            block_id: None,
            time: None,
            app_hash: vec![7; 32],
            results_hash: results_hash(&[]),
            last_commit: None,
        }
    }

    /// Signs precommits for `id` by the first `signers` keys and builds the certificate.
    fn certify(
        chain_id: &chain::Id,
        keys: &[PrivateKey],
        signers: usize,
        id: ValueId,
        h: u64,
    ) -> CommitCertificate<ZoneContext> {
        let sigs = keys[..signers]
            .iter()
            .map(|k| {
                let address = crate::types::Address::from_public_key(&k.public_key());
                let vote = Vote {
                    typ: VoteType::Precommit,
                    height: Height(h),
                    round: Round::new(0),
                    value: NilOrVal::Val(id),
                    validator_address: address,
                    extension: None,
                };
                CommitSignature::new(address, k.sign(&vote.sign_bytes(chain_id)))
            })
            .collect();
        CommitCertificate { height: Height(h), round: Round::new(0), value_id: id, commit_signatures: sigs }
    }

    #[test]
    fn a_decided_certificate_becomes_a_commit_the_tendermint_light_client_accepts() {
        let (chain_id, keys, set, ch) = setup();
        let ctx =
            BlockContext { chain_id: &chain_id, validators: &set, consensus_hash: ch, validators_hash: set.hash() };
        let genesis = genesis_tip();
        let proposer = set.validators[0].address;
        let time = Time::from_unix_timestamp(1_800_000_000, 5).unwrap();
        let b1 = build_block(&ctx, &genesis, proposer, time, vec![b"tx1".to_vec(), b"tx2".to_vec()]);
        validate_block(&ctx, &genesis, &b1, Some(proposer), None).unwrap();
        let enc = encode_block(&b1);
        assert_eq!(decode_block(&enc).unwrap(), b1);
        let id = value_id(&b1, &enc);
        assert_eq!(id.block_id().hash, b1.header.hash());

        let cert = certify(&chain_id, &keys, 3, id, 1);
        let commit = commit_from_certificate(&cert, &set);
        verify_commit(&chain_id, &set, &commit).unwrap();
        let sh = tendermint::block::signed_header::SignedHeader::new(b1.header.clone(), commit.clone()).unwrap();
        let tm_set = set.to_tendermint();
        assert_eq!(tm_set.hash(), b1.header.validators_hash);
        let power =
            ProdVotingPowerCalculator::default().voting_power_in(&sh, &tm_set, TrustThreshold::TWO_THIRDS).unwrap();
        assert_eq!(power.tallied, 30);

        // The next block carries that commit and checks against it.
        let tip1 = Tip {
            height: 1,
            block_id: Some(id.block_id()),
            time: Some(time),
            app_hash: vec![8; 32],
            results_hash: results_hash(&[]),
            last_commit: Some(commit),
        };
        let p2 = set.validators[1].address;
        let b2 = build_block(&ctx, &tip1, p2, (time + std::time::Duration::from_secs(1)).unwrap(), vec![]);
        validate_block(&ctx, &tip1, &b2, Some(p2), None).unwrap();
        assert!(validate_block(&ctx, &tip1, &b2, Some(proposer), None).unwrap_err().contains("proposer"));
    }

    #[test]
    fn blocks_with_forged_or_weak_commits_or_wrong_headers_are_rejected() {
        let (chain_id, keys, set, ch) = setup();
        let ctx =
            BlockContext { chain_id: &chain_id, validators: &set, consensus_hash: ch, validators_hash: set.hash() };
        let genesis = genesis_tip();
        let proposer = set.validators[0].address;
        let time = Time::from_unix_timestamp(1_800_000_000, 0).unwrap();
        let b1 = build_block(&ctx, &genesis, proposer, time, vec![]);
        let id = value_id(&b1, &encode_block(&b1));

        // Two of four signatures are not a quorum.
        let weak = commit_from_certificate(&certify(&chain_id, &keys, 2, id, 1), &set);
        assert!(verify_commit(&chain_id, &set, &weak).unwrap_err().contains("two thirds"));
        // A signature over another chain id does not count.
        let other: chain::Id = "other-chain".parse().unwrap();
        let forged = commit_from_certificate(&certify(&other, &keys, 4, id, 1), &set);
        assert!(verify_commit(&chain_id, &set, &forged).unwrap_err().contains("bad commit signature"));

        let mut bad = b1.clone();
        bad.header.app_hash = AppHash::try_from(vec![9u8; 32]).unwrap();
        assert!(validate_block(&ctx, &genesis, &bad, None, None).unwrap_err().contains("app hash"));
        let mut bad = b1.clone();
        bad.data.push(b"smuggled".to_vec());
        assert!(validate_block(&ctx, &genesis, &bad, None, None).unwrap_err().contains("data hash"));
        let max = Time::from_unix_timestamp(1_700_000_000, 0).unwrap();
        assert!(validate_block(&ctx, &genesis, &b1, None, Some(max)).unwrap_err().contains("future"));
        assert!(decode_block(b"\x01\x02garbage").is_err());
    }
}
