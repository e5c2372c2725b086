//! The app hash and the outer layer of every proof.
//!
//! IBC proves a key under a *commitment prefix*: the Merkle path is
//! `[prefix, key]`, so a proof has two layers, like a Cosmos multistore. Our
//! state is one Jellyfish Merkle Tree; the app hash is the root of a
//! one-leaf CometBFT simple Merkle map `{COMMITMENT_PREFIX: jmt_root}`. The
//! inner proof (JMT, `jmt::ics23_spec`) takes a key to the JMT root, the
//! outer one (`ics23::tendermint_spec`) takes the JMT root to the app hash.
use ics23::{CommitmentProof, ExistenceProof, HashOp, LeafOp, LengthOp, ProofSpec};
use sha2::{Digest, Sha256};

/// The key of the JMT root in the outer map, and the IBC commitment prefix
/// of both zones.
pub const COMMITMENT_PREFIX: &[u8] = b"ibc";

fn outer_leaf() -> LeafOp {
    LeafOp {
        hash: HashOp::Sha256.into(),
        prehash_key: HashOp::NoHash.into(),
        prehash_value: HashOp::Sha256.into(),
        length: LengthOp::VarProto.into(),
        prefix: vec![0],
    }
}

fn outer_existence(jmt_root: [u8; 32]) -> ExistenceProof {
    ExistenceProof { key: COMMITMENT_PREFIX.to_vec(), value: jmt_root.to_vec(), leaf: Some(outer_leaf()), path: vec![] }
}

/// The app hash committing to the JMT root `jmt_root`.
pub fn app_hash(jmt_root: [u8; 32]) -> [u8; 32] {
    // The leaf hash of a one-entry simple Merkle map: SHA-256(0x00 ||
    // varint(len key) || key || varint(32) || SHA-256(root)).
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update([COMMITMENT_PREFIX.len() as u8]);
    h.update(COMMITMENT_PREFIX);
    h.update([32u8]);
    h.update(Sha256::digest(jmt_root));
    h.finalize().into()
}

/// The proof that the JMT root `jmt_root` is under the app hash.
pub fn outer_proof(jmt_root: [u8; 32]) -> CommitmentProof {
    CommitmentProof { proof: Some(ics23::commitment_proof::Proof::Exist(outer_existence(jmt_root))) }
}

/// The proof specs of the whole chain, innermost first, as an IBC client
/// state of a Kawase zone must carry them.
pub fn proof_specs() -> Vec<ProofSpec> {
    vec![jmt::ics23_spec(), ics23::tendermint_spec()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_proof_takes_the_jmt_root_to_the_app_hash() {
        let root = [7u8; 32];
        let proof = outer_proof(root);
        let spec = ics23::tendermint_spec();
        assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
            &proof,
            &spec,
            &app_hash(root).to_vec(),
            COMMITMENT_PREFIX,
            &root
        ));
        assert!(!ics23::verify_membership::<ics23::HostFunctionsManager>(
            &proof,
            &spec,
            &app_hash([8u8; 32]).to_vec(),
            COMMITMENT_PREFIX,
            &root
        ));
        let ics23::commitment_proof::Proof::Exist(e) = proof.proof.expect("exist") else { panic!("existence") };
        assert_eq!(ics23::calculate_existence_root::<ics23::HostFunctionsManager>(&e).expect("root"), app_hash(root));
    }
}
