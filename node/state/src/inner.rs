//! The RocksDB instance under the store and the reads every view shares:
//! below [`crate::store`] (which writes) and the read views (which read).
use std::sync::{Mutex, PoisonError, RwLock};

use jmt::storage::{HasPreimage, LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue};
use rocksdb::{ColumnFamily, Direction, IteratorMode, WriteBatch, DB};

use crate::encoding::{
    decode_node, decode_stale, decode_u64, decode_value, decode_value_key, encode_node_key, encode_u64, root_node_key,
    value_key, StaleEntry, ALL_CFS, CF_LATEST, CF_META, CF_NODES, CF_PREIMAGES, CF_STALE, CF_VALUES, META_EARLIEST,
};
use crate::StorageError;

/// Key-value pairs in key order.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;
/// A versioned-value entry: its version and the value (`None`: tombstone).
type VersionedValue = (u64, Option<Vec<u8>>);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) latest: Option<u64>,
    pub(crate) earliest: Option<u64>,
}

pub(crate) struct Inner {
    pub(crate) db: DB,
    pub(crate) keep_recent: Option<u64>,
    /// Cached copy of the meta column family.
    pub(crate) meta: RwLock<Meta>,
    /// Serialises commits so that "check latest, write, advance" is atomic.
    pub(crate) write_lock: Mutex<()>,
}

pub(crate) fn jmt_err(e: anyhow::Error) -> StorageError {
    StorageError::Jmt(format!("{e:#}"))
}

impl Inner {
    pub(crate) fn cf(&self, name: &str) -> Result<&ColumnFamily, StorageError> {
        self.db.cf_handle(name).ok_or_else(|| StorageError::Db(format!("missing column family {name}")))
    }

    /// Flushes every column family's memtables to SST files and waits:
    /// afterwards a restart has nothing of the write-ahead log to replay.
    pub(crate) fn flush_all(&self) -> Result<(), StorageError> {
        let cfs = ALL_CFS.iter().map(|name| self.cf(name)).collect::<Result<Vec<_>, _>>()?;
        let mut opts = rocksdb::FlushOptions::default();
        opts.set_wait(true);
        self.db.flush_cfs_opt(&cfs, &opts)?;
        Ok(())
    }

    /// Number of entries in a column family (a full scan).
    pub(crate) fn count_entries(&self, cf: &str) -> Result<u64, StorageError> {
        let mut count = 0;
        for item in self.db.iterator_cf(self.cf(cf)?, IteratorMode::Start) {
            item?;
            count += 1;
        }
        Ok(count)
    }

    pub(crate) fn meta(&self) -> Meta {
        *self.meta.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_meta(&self, meta: Meta) {
        *self.meta.write().unwrap_or_else(PoisonError::into_inner) = meta;
    }

    pub(crate) fn read_meta(&self, key: &[u8]) -> Result<Option<u64>, StorageError> {
        self.db.get_pinned_cf(self.cf(CF_META)?, key)?.map(|v| decode_u64(&v)).transpose()
    }

    /// Ok if `version` is committed and not pruned.
    pub(crate) fn check_readable(&self, version: u64) -> Result<(), StorageError> {
        let meta = self.meta();
        match (meta.latest, meta.earliest) {
            (Some(latest), Some(earliest)) if version >= 1 && version <= latest => {
                if version < earliest {
                    Err(StorageError::VersionPruned { requested: version, earliest })
                } else {
                    Ok(())
                }
            }
            (latest, _) => Err(StorageError::VersionUnknown { requested: version, latest }),
        }
    }

    /// Maps a tree read failure: if the version got pruned meanwhile, say so.
    pub(crate) fn read_error(&self, version: u64, e: anyhow::Error) -> StorageError {
        match self.check_readable(version) {
            Err(pruned @ StorageError::VersionPruned { .. }) => pruned,
            _ => jmt_err(e),
        }
    }

    /// Latest-state point read.
    pub(crate) fn get_latest(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_pinned_cf(self.cf(cf)?, key)?.map(|v| v.to_vec()))
    }

    /// Latest verifiable entries under `prefix`, in key order.
    pub(crate) fn prefix_latest(&self, prefix: &[u8]) -> Result<Entries, StorageError> {
        let iter = self.db.iterator_cf(self.cf(CF_LATEST)?, IteratorMode::From(prefix, Direction::Forward));
        collect_prefix(iter, prefix)
    }

    /// Version of the newest versioned-value entry of `key_hash` at or below
    /// `max_version`.
    pub(crate) fn newest_value_version(
        &self,
        key_hash: &KeyHash,
        max_version: u64,
    ) -> Result<Option<u64>, StorageError> {
        Ok(self.newest_value(key_hash, max_version)?.map(|(version, _)| version))
    }

    /// Newest versioned-value entry of `key_hash` at or below `max_version`:
    /// one reverse seek.
    fn newest_value(&self, key_hash: &KeyHash, max_version: u64) -> Result<Option<VersionedValue>, StorageError> {
        let seek = value_key(key_hash, max_version);
        let mut iter = self.db.iterator_cf(self.cf(CF_VALUES)?, IteratorMode::From(&seek, Direction::Reverse));
        match iter.next() {
            Some(item) => {
                let (key, value) = item?;
                let (found_hash, version) = decode_value_key(&key)?;
                if found_hash != *key_hash {
                    return Ok(None);
                }
                Ok(Some((version, decode_value(&value)?)))
            }
            None => Ok(None),
        }
    }

    /// Deletes everything that only versions older than the retention window
    /// needed, and advances the earliest version.
    pub(crate) fn prune(&self) -> Result<(), StorageError> {
        let Some(keep) = self.keep_recent else {
            return Ok(());
        };
        let meta = self.meta();
        let (Some(latest), Some(earliest)) = (meta.latest, meta.earliest) else {
            return Ok(());
        };
        let new_earliest = (latest + 1).saturating_sub(keep);
        if new_earliest <= earliest {
            return Ok(());
        }

        // Readers must see the version as pruned before its data goes.
        self.set_meta(Meta { latest: meta.latest, earliest: Some(new_earliest) });

        let (nodes, values, stale_cf, meta_cf) =
            (self.cf(CF_NODES)?, self.cf(CF_VALUES)?, self.cf(CF_STALE)?, self.cf(CF_META)?);
        let mut batch = WriteBatch::default();
        let (mut pruned_nodes, mut pruned_values) = (0usize, 0usize);
        // Entries stale since <= earliest are gone already, except before
        // the first prune (earliest == 1).
        let start = encode_u64(if earliest > 1 { earliest + 1 } else { 1 });
        for item in self.db.iterator_cf(stale_cf, IteratorMode::From(&start, Direction::Forward)) {
            let (key, _) = item?;
            let (since, entry) = decode_stale(&key)?;
            if since > new_earliest {
                break;
            }
            match entry {
                StaleEntry::Node(node_key) => {
                    batch.delete_cf(nodes, encode_node_key(&node_key)?);
                    pruned_nodes += 1;
                }
                StaleEntry::Value { key_hash, version } => {
                    batch.delete_cf(values, value_key(&key_hash, version));
                    pruned_values += 1;
                }
            }
            batch.delete_cf(stale_cf, &key);
        }
        batch.put_cf(meta_cf, META_EARLIEST, encode_u64(new_earliest));
        self.db.write(batch)?;
        tracing::debug!(earliest = new_earliest, pruned_nodes, pruned_values, "pruned state versions");
        Ok(())
    }
}

impl TreeReader for Inner {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self.db.get_pinned_cf(self.cf(CF_NODES)?, encode_node_key(node_key)?)? {
            Some(bytes) => Ok(Some(decode_node(&bytes)?)),
            // The tree before version 1 is empty: jmt builds version 1 on
            // top of a root at version 0, which is never written.
            None if node_key == &root_node_key(0) => Ok(Some(Node::Null)),
            None => Ok(None),
        }
    }

    fn get_value_option(&self, max_version: u64, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.newest_value(&key_hash, max_version)?.and_then(|(_, value)| value))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only jmt's state-sync restore and "migration" overwrite paths use
        // this; the store never takes them.
        anyhow::bail!("get_rightmost_leaf is not supported by kawase-state")
    }
}

impl HasPreimage for Inner {
    fn preimage(&self, key_hash: KeyHash) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.get_latest(CF_PREIMAGES, &key_hash.0)?)
    }
}

/// The entries of a forward iterator positioned at `prefix`, while their
/// keys start with it (every prefix read, live or frozen).
pub(crate) fn collect_prefix<I>(iter: I, prefix: &[u8]) -> Result<Entries, StorageError>
where
    I: Iterator<Item = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>>,
{
    let mut out = Vec::new();
    for item in iter {
        let (key, value) = item?;
        if !key.starts_with(prefix) {
            break;
        }
        out.push((key.into_vec(), value.into_vec()));
    }
    Ok(out)
}
