//! Keys owned by the application itself (chain identity and parameters)
//! and the node-local transaction index.

pub const PREFIX: &str = "app/";

pub fn chain_id() -> &'static [u8] {
    b"app/chain_id"
}

pub fn zone() -> &'static [u8] {
    b"app/zone"
}

pub fn params() -> &'static [u8] {
    b"app/params"
}

/// Non-verifiable: result of a transaction by hash (upper-case hex, as
/// CometBFT prints hashes).
pub fn tx_result(hash: &[u8; 32]) -> Vec<u8> {
    format!("index/tx/{}", hex::encode_upper(hash)).into_bytes()
}

/// Non-verifiable: the last committed block's FinalizeBlock response
/// (height, then the protobuf without the app hash, which the store keeps).
/// Committed in the same atomic batch as the block's state, so after a crash
/// the block store can re-derive the results it had not yet written.
pub fn last_block_results() -> &'static [u8] {
    b"index/block_results/last"
}

/// Non-verifiable: the last committed block's header time (nanoseconds
/// since the epoch, 8 bytes big-endian), CheckTx's clock after a restart.
pub fn last_block_time() -> &'static [u8] {
    b"index/block_time/last"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_keys_share_the_app_prefix_and_index_keys_do_not() {
        for k in [chain_id(), zone(), params()] {
            assert!(k.starts_with(PREFIX.as_bytes()));
        }
        assert!(!tx_result(&[0u8; 32]).starts_with(PREFIX.as_bytes()));
        assert!(!last_block_results().starts_with(PREFIX.as_bytes()));
        assert!(!last_block_results().starts_with(b"index/tx/"));
        assert!(!last_block_time().starts_with(PREFIX.as_bytes()));
        assert_ne!(last_block_time(), last_block_results());
        assert!(tx_result(&[0u8; 32]) < tx_result(&[1u8; 32]));
    }
}
