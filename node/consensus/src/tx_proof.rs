//! Merkle inclusion proofs of a block's transactions under its data hash
//! (CometBFT's `Txs.Proof`), served by the RPC's `tx`/`tx_search` with
//! `prove`. Beside `block::data_hash`, whose tree they open.
use sha2::{Digest, Sha256};

/// Merkle inclusion proof of `txs[index]` under the block's data hash
/// (leaves are the transactions' SHA-256, as CometBFT's `Txs.Proof`).
pub fn tx_proof(txs: &[Vec<u8>], index: usize) -> tendermint::tx::Proof {
    fn leaf(x: &[u8]) -> [u8; 32] {
        Sha256::new().chain_update([0u8]).chain_update(x).finalize().into()
    }
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }
    /// The RFC 6962 root tendermint-rs computes (leaves are the tx hashes).
    fn root(items: &[[u8; 32]]) -> [u8; 32] {
        tendermint::merkle::simple_hash_from_byte_vectors::<tendermint::crypto::default::Sha256>(items)
    }
    /// Aunts from the leaf up.
    fn aunts(items: &[[u8; 32]], index: usize, out: &mut Vec<[u8; 32]>) {
        if items.len() <= 1 {
            return;
        }
        let k = split(items.len());
        if index < k {
            aunts(&items[..k], index, out);
            out.push(root(&items[k..]));
        } else {
            aunts(&items[k..], index - k, out);
            out.push(root(&items[..k]));
        }
    }
    let hashes: Vec<[u8; 32]> = txs.iter().map(|t| Sha256::digest(t).into()).collect();
    let mut path = Vec::new();
    aunts(&hashes, index, &mut path);
    tendermint::tx::Proof {
        root_hash: tendermint::Hash::Sha256(root(&hashes)),
        data: txs[index].clone(),
        proof: tendermint::merkle::Proof {
            total: hashes.len() as u64,
            index: index as u64,
            leaf_hash: tendermint::Hash::Sha256(leaf(&hashes[index])),
            aunts: path.into_iter().map(tendermint::Hash::Sha256).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn tx_proofs_verify_against_the_data_hash() {
        for n in 1..=9usize {
            let txs: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 3 + i]).collect();
            let data_hash = crate::block::data_hash(&txs);
            for i in 0..n {
                let p = tx_proof(&txs, i);
                assert_eq!(p.root_hash, data_hash, "n={n} i={i}");
                let leaf_input: [u8; 32] = Sha256::digest(&txs[i]).into();
                let leaf: [u8; 32] = Sha256::new().chain_update([0u8]).chain_update(leaf_input).finalize().into();
                assert_eq!(p.proof.leaf_hash.as_bytes(), leaf);
                // Walk the aunts up to the root the way CometBFT's verifier does.
                fn walk(idx: usize, total: usize, leaf: [u8; 32], aunts: &[tendermint::Hash]) -> Option<[u8; 32]> {
                    if total == 1 {
                        return aunts.is_empty().then_some(leaf);
                    }
                    let (last, rest) = aunts.split_last()?;
                    let mut k = 1;
                    while k * 2 < total {
                        k *= 2;
                    }
                    let last: [u8; 32] = last.as_bytes().try_into().ok()?;
                    if idx < k {
                        let l = walk(idx, k, leaf, rest)?;
                        Some(Sha256::new().chain_update([1u8]).chain_update(l).chain_update(last).finalize().into())
                    } else {
                        let r = walk(idx - k, total - k, leaf, rest)?;
                        Some(Sha256::new().chain_update([1u8]).chain_update(last).chain_update(r).finalize().into())
                    }
                }
                let root =
                    walk(i, n, p.proof.leaf_hash.as_bytes().try_into().expect("32"), &p.proof.aunts).expect("path");
                assert_eq!(tendermint::Hash::Sha256(root), data_hash, "n={n} i={i}");
            }
        }
    }
}
