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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_keys_share_the_app_prefix_and_index_keys_do_not() {
        for k in [chain_id(), zone(), params()] {
            assert!(k.starts_with(PREFIX.as_bytes()));
        }
        assert!(!tx_result(&[0u8; 32]).starts_with(PREFIX.as_bytes()));
        assert!(tx_result(&[0u8; 32]) < tx_result(&[1u8; 32]));
    }
}
