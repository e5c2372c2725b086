//! On-disk layout: column family names and key / value encodings.
//!
//! Every integer that is part of a key is big-endian so that RocksDB's byte
//! order is numeric order.

use jmt::storage::{NibblePath, Node, NodeKey};
use jmt::KeyHash;

use crate::StorageError;

/// JMT nodes: borsh(NodeKey) -> borsh(Node).
pub(crate) const CF_NODES: &str = "jmt_nodes";
/// JMT values: key_hash(32) ++ version(8 BE) -> tag ++ value.
pub(crate) const CF_VALUES: &str = "jmt_values";
/// Key preimages for ICS-23 proofs: key_hash(32) -> raw key.
pub(crate) const CF_PREIMAGES: &str = "jmt_preimages";
/// Latest verifiable values: raw key -> value (absent when deleted).
pub(crate) const CF_LATEST: &str = "latest";
/// Node-local, unversioned entries: raw key -> value.
pub(crate) const CF_NONVERIFIABLE: &str = "nonverifiable";
/// Store metadata (latest and earliest versions).
pub(crate) const CF_META: &str = "meta";
/// Garbage index: stale_since(8 BE) ++ kind ++ payload -> empty.
pub(crate) const CF_STALE: &str = "stale";

pub(crate) const ALL_CFS: [&str; 7] =
    [CF_NODES, CF_VALUES, CF_PREIMAGES, CF_LATEST, CF_NONVERIFIABLE, CF_META, CF_STALE];

pub(crate) const META_LATEST: &[u8] = b"latest_version";
pub(crate) const META_EARLIEST: &[u8] = b"earliest_version";

const VALUE_TOMBSTONE: u8 = 0;
const VALUE_PRESENT: u8 = 1;

const STALE_NODE: u8 = b'N';
const STALE_VALUE: u8 = b'V';

pub(crate) fn encode_u64(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

pub(crate) fn decode_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    let arr: [u8; 8] =
        bytes.try_into().map_err(|_| StorageError::Corrupt(format!("expected 8 bytes, got {}", bytes.len())))?;
    Ok(u64::from_be_bytes(arr))
}

/// The key of the root node of `version` (the node at the empty nibble path).
pub(crate) fn root_node_key(version: u64) -> NodeKey {
    NodeKey::new(version, std::iter::empty().collect::<NibblePath>())
}

pub(crate) fn encode_node_key(key: &NodeKey) -> Result<Vec<u8>, StorageError> {
    borsh::to_vec(key).map_err(|e| StorageError::Jmt(format!("encoding node key: {e}")))
}

pub(crate) fn decode_node_key(bytes: &[u8]) -> Result<NodeKey, StorageError> {
    borsh::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("node key: {e}")))
}

pub(crate) fn encode_node(node: &Node) -> Result<Vec<u8>, StorageError> {
    borsh::to_vec(node).map_err(|e| StorageError::Jmt(format!("encoding node: {e}")))
}

pub(crate) fn decode_node(bytes: &[u8]) -> Result<Node, StorageError> {
    borsh::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("node: {e}")))
}

pub(crate) fn value_key(key_hash: &KeyHash, version: u64) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&key_hash.0);
    out[32..].copy_from_slice(&encode_u64(version));
    out
}

/// Splits a value-CF key into its key hash and version.
pub(crate) fn decode_value_key(bytes: &[u8]) -> Result<(KeyHash, u64), StorageError> {
    if bytes.len() != 40 {
        return Err(StorageError::Corrupt(format!("value key of {} bytes", bytes.len())));
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[..32]);
    Ok((KeyHash(hash), decode_u64(&bytes[32..])?))
}

pub(crate) fn encode_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![VALUE_TOMBSTONE],
        Some(v) => {
            let mut out = Vec::with_capacity(v.len() + 1);
            out.push(VALUE_PRESENT);
            out.extend_from_slice(v);
            out
        }
    }
}

pub(crate) fn decode_value(bytes: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
    match bytes.split_first() {
        Some((&VALUE_TOMBSTONE, [])) => Ok(None),
        Some((&VALUE_PRESENT, rest)) => Ok(Some(rest.to_vec())),
        _ => Err(StorageError::Corrupt("versioned value with a bad tag".into())),
    }
}

/// Something that stops being needed once every retained version is at or
/// after its `stale_since` version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StaleEntry {
    Node(NodeKey),
    Value { key_hash: KeyHash, version: u64 },
}

pub(crate) fn encode_stale(stale_since: u64, entry: &StaleEntry) -> Result<Vec<u8>, StorageError> {
    let mut out = encode_u64(stale_since).to_vec();
    match entry {
        StaleEntry::Node(key) => {
            out.push(STALE_NODE);
            out.extend_from_slice(&encode_node_key(key)?);
        }
        StaleEntry::Value { key_hash, version } => {
            out.push(STALE_VALUE);
            out.extend_from_slice(&value_key(key_hash, *version));
        }
    }
    Ok(out)
}

pub(crate) fn decode_stale(bytes: &[u8]) -> Result<(u64, StaleEntry), StorageError> {
    if bytes.len() < 9 {
        return Err(StorageError::Corrupt("short stale index key".into()));
    }
    let since = decode_u64(&bytes[..8])?;
    let payload = &bytes[9..];
    let entry = match bytes[8] {
        STALE_NODE => StaleEntry::Node(decode_node_key(payload)?),
        STALE_VALUE => {
            let (key_hash, version) = decode_value_key(payload)?;
            StaleEntry::Value { key_hash, version }
        }
        other => return Err(StorageError::Corrupt(format!("stale index kind {other}"))),
    };
    Ok((since, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        let kh = KeyHash([7; 32]);
        let key = root_node_key(42);
        for entry in [StaleEntry::Node(key.clone()), StaleEntry::Value { key_hash: kh, version: 9 }] {
            let bytes = encode_stale(5, &entry).expect("encode");
            assert_eq!(decode_stale(&bytes).expect("decode"), (5, entry));
        }
        assert_eq!(decode_value_key(&value_key(&kh, 3)).expect("decode"), (kh, 3));
        assert_eq!(decode_value(&encode_value(None)).expect("decode"), None);
        assert_eq!(decode_value(&encode_value(Some(b""))).expect("decode"), Some(vec![]));
        assert_eq!(decode_value(&encode_value(Some(b"ab"))).expect("decode"), Some(b"ab".to_vec()));
        assert!(root_node_key(1).nibble_path().is_empty());
        assert_eq!(decode_node_key(&encode_node_key(&key).expect("encode")).expect("decode"), key);
    }
}
