//! The store itself: opening, preparing and committing versions, pruning,
//! root hashes and proofs.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use jmt::storage::TreeUpdateBatch;
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue};
use kawase_primitives::Changes;
use rocksdb::{BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Options, WriteBatch, DB};
use sha2::Sha256;

use crate::encoding::{
    encode_node, encode_node_key, encode_stale, encode_u64, encode_value, root_node_key, value_key, StaleEntry,
    ALL_CFS, CF_LATEST, CF_META, CF_NODES, CF_NONVERIFIABLE, CF_PREIMAGES, CF_STALE, CF_VALUES, META_EARLIEST,
    META_LATEST,
};
use crate::inner::{jmt_err, Inner, Meta};
use crate::snapshot::{Snapshot, VersionedSnapshot};
use crate::StorageError;

type Jmt<'a> = JellyfishMerkleTree<'a, Inner, Sha256>;

const BLOCK_CACHE_BYTES: usize = 64 << 20;
/// One memtable's size before it is flushed (per column family).
const WRITE_BUFFER_BYTES: usize = 64 << 20;
/// All memtables of all column families together: RocksDB flushes the
/// largest when they reach it, instead of allowing 64 MiB x 2 per family.
const MEMTABLE_BUDGET_BYTES: usize = 256 << 20;
/// The write-ahead log is kept below this by flushing the families that
/// hold its oldest entries. Without it RocksDB keeps every log file until
/// the last family's memtable fills, which a small family (meta) never
/// does: up to 4 x all memtables, 3.5 GiB here, on disk and replayed at
/// every restart.
const MAX_WAL_BYTES: u64 = 256 << 20;

/// How much history the store keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageConfig {
    /// `None` keeps every version readable and provable (archive node).
    /// `Some(n)` keeps the last `n` versions (n >= 1) and prunes older ones.
    pub keep_recent: Option<u64>,
}

/// The versioned, Merkle-committed state store. Cheap to clone; all clones
/// share one RocksDB instance.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

/// A block's changes, applied in memory on top of the version it was prepared
/// on, ready to be written by [`Storage::commit`].
#[derive(Clone)]
pub struct PreparedCommit {
    version: u64,
    prepared_on: Option<u64>,
    root_hash: [u8; 32],
    tree_update: TreeUpdateBatch,
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    nonverifiable: Vec<(Vec<u8>, Vec<u8>)>,
    /// Entries (other than tree nodes) that this version makes stale.
    stale: Vec<StaleEntry>,
}

impl PreparedCommit {
    /// The app hash this commit produces.
    pub fn root_hash(&self) -> [u8; 32] {
        self.root_hash
    }

    /// The version (block height) this commit writes.
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl fmt::Debug for PreparedCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedCommit")
            .field("version", &self.version)
            .field("prepared_on", &self.prepared_on)
            .field("root_hash", &hex::encode(self.root_hash))
            .field("writes", &self.writes.len())
            .field("nonverifiable", &self.nonverifiable.len())
            .finish()
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meta = self.inner.meta();
        f.debug_struct("Storage")
            .field("latest", &meta.latest)
            .field("earliest", &meta.earliest)
            .field("keep_recent", &self.inner.keep_recent)
            .finish()
    }
}

impl Storage {
    #[cfg(test)]
    pub(crate) fn count_entries(&self, cf: &str) -> Result<u64, StorageError> {
        self.inner.count_entries(cf)
    }

    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path, config: StorageConfig) -> Result<Storage, StorageError> {
        if config.keep_recent == Some(0) {
            return Err(StorageError::InvalidConfig(
                "keep_recent must be at least 1 (the latest version is always kept)".into(),
            ));
        }
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        let cf_opts = || {
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            o.set_compression_type(DBCompressionType::None);
            o.set_write_buffer_size(WRITE_BUFFER_BYTES);
            o
        };
        let mut db_opts = cf_opts();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_db_write_buffer_size(MEMTABLE_BUDGET_BYTES);
        db_opts.set_max_total_wal_size(MAX_WAL_BYTES);
        let cfs = ALL_CFS.iter().map(|name| ColumnFamilyDescriptor::new(*name, cf_opts()));
        let db = DB::open_cf_descriptors(&db_opts, path, cfs)?;

        let inner = Inner {
            db,
            keep_recent: config.keep_recent,
            meta: RwLock::new(Meta::default()),
            write_lock: Mutex::new(()),
        };
        let meta = Meta { latest: inner.read_meta(META_LATEST)?, earliest: inner.read_meta(META_EARLIEST)? };
        if meta.latest.is_some() != meta.earliest.is_some() {
            return Err(StorageError::Corrupt(format!("inconsistent version metadata {meta:?}")));
        }
        *inner.meta.write().unwrap_or_else(PoisonError::into_inner) = meta;
        tracing::info!(path = %path.display(), latest = ?meta.latest, earliest = ?meta.earliest,
            keep_recent = ?config.keep_recent, "opened state storage");

        let storage = Storage { inner: Arc::new(inner) };
        // Catch up on pruning if the retention window shrank since last run.
        storage.inner.prune()?;
        Ok(storage)
    }

    /// Last committed version, `None` for a fresh store.
    pub fn latest_version(&self) -> Option<u64> {
        self.inner.meta().latest
    }

    /// Lowest version still readable and provable, `None` for a fresh store.
    pub fn earliest_version(&self) -> Option<u64> {
        self.inner.meta().earliest
    }

    /// Bytes each column family takes: SST files on disk and memtables in
    /// memory (RocksDB's own accounting), in `ALL_CFS` order. For operators'
    /// and benches' figures; never part of a state transition.
    pub fn disk_usage(&self) -> Result<Vec<(&'static str, u64, u64)>, StorageError> {
        let db = &self.inner.db;
        ALL_CFS
            .iter()
            .map(|name| {
                let cf = self.inner.cf(name)?;
                let sst = db.property_int_value_cf(cf, "rocksdb.total-sst-files-size")?.unwrap_or(0);
                let mem = db.property_int_value_cf(cf, "rocksdb.cur-size-all-mem-tables")?.unwrap_or(0);
                Ok((*name, sst, mem))
            })
            .collect()
    }

    /// Root hash of the empty tree (what a fresh chain reports).
    pub fn empty_root() -> [u8; 32] {
        Jmt::EMPTY_ROOT.0
    }

    /// Root hash (app hash) at a committed, retained version.
    pub fn root_hash(&self, version: u64) -> Result<[u8; 32], StorageError> {
        self.inner.check_readable(version)?;
        let root = Jmt::new(&self.inner).get_root_hash(version).map_err(|e| self.inner.read_error(version, e))?;
        Ok(root.0)
    }

    /// Read view of the latest committed state.
    pub fn latest(&self) -> Snapshot {
        Snapshot::new(self.inner.clone())
    }

    /// Runs `f` on a frozen view of the latest committed state (queries:
    /// every read in `f` sees the same version, whatever commits meanwhile).
    pub fn with_frozen_latest<R>(&self, f: impl FnOnce(&crate::Frozen<'_>) -> R) -> Result<R, StorageError> {
        let frozen = crate::Frozen::new(&self.inner)?;
        Ok(f(&frozen))
    }

    /// Read view at a retained past version.
    pub fn at_version(&self, version: u64) -> Result<VersionedSnapshot, StorageError> {
        self.inner.check_readable(version)?;
        Ok(VersionedSnapshot::new(self.inner.clone(), version))
    }

    /// Computes the root for `changes` applied on top of the latest version,
    /// as `version` (which must be the next one), without writing anything.
    pub fn prepare(&self, version: u64, changes: &Changes) -> Result<PreparedCommit, StorageError> {
        let prepared_on = self.inner.meta().latest;
        let expected = prepared_on.map_or(1, |latest| latest + 1);
        if version != expected {
            return Err(StorageError::WrongVersion { expected, got: version });
        }

        let value_set: Vec<(KeyHash, Option<OwnedValue>)> =
            changes.writes.iter().map(|(key, value)| (KeyHash::with::<Sha256>(key), value.clone())).collect();
        let (root, tree_update) = Jmt::new(&self.inner).put_value_set(value_set, version).map_err(jmt_err)?;

        // Versioned values shadowed by this version become garbage once no
        // retained version predates it; so do this version's tombstones
        // (reading "nothing" is the same as reading a tombstone).
        let mut stale = Vec::new();
        for ((value_version, key_hash), value) in tree_update.node_batch.values() {
            if let Some(previous) = self.inner.newest_value_version(key_hash, value_version - 1)? {
                stale.push(StaleEntry::Value { key_hash: *key_hash, version: previous });
            }
            if value.is_none() {
                stale.push(StaleEntry::Value { key_hash: *key_hash, version: *value_version });
            }
        }
        // jmt does not mark the previous root stale when a version changes
        // nothing (it copies the root) or replaces a null root; every root is
        // superseded by the next version's, so mark it here.
        if version > 1 {
            stale.push(StaleEntry::Node(root_node_key(version - 1)));
        }

        Ok(PreparedCommit {
            version,
            prepared_on,
            root_hash: root.0,
            tree_update,
            writes: changes.writes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            nonverifiable: changes.nonverifiable.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            stale,
        })
    }

    /// Writes a prepared commit atomically, then prunes per `keep_recent`.
    /// Fails if the latest version moved since the commit was prepared.
    pub fn commit(&self, prepared: PreparedCommit) -> Result<(), StorageError> {
        let inner = &self.inner;
        let _guard = inner.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let meta = inner.meta();
        if meta.latest != prepared.prepared_on {
            return Err(StorageError::StalePrepare {
                version: prepared.version,
                prepared_on: prepared.prepared_on,
                latest: meta.latest,
            });
        }
        let version = prepared.version;

        let mut batch = WriteBatch::default();
        let (nodes, values, latest, preimages, nonverifiable, meta_cf, stale_cf) = (
            inner.cf(CF_NODES)?,
            inner.cf(CF_VALUES)?,
            inner.cf(CF_LATEST)?,
            inner.cf(CF_PREIMAGES)?,
            inner.cf(CF_NONVERIFIABLE)?,
            inner.cf(CF_META)?,
            inner.cf(CF_STALE)?,
        );
        let update = &prepared.tree_update;
        for (key, node) in update.node_batch.nodes() {
            batch.put_cf(nodes, encode_node_key(key)?, encode_node(node)?);
        }
        for ((value_version, key_hash), value) in update.node_batch.values() {
            batch.put_cf(values, value_key(key_hash, *value_version), encode_value(value.as_deref()));
        }
        for index in &update.stale_node_index_batch {
            let entry = StaleEntry::Node(index.node_key.clone());
            batch.put_cf(stale_cf, encode_stale(index.stale_since_version, &entry)?, b"");
        }
        for entry in &prepared.stale {
            batch.put_cf(stale_cf, encode_stale(version, entry)?, b"");
        }
        for (key, value) in &prepared.writes {
            match value {
                Some(value) => {
                    batch.put_cf(latest, key, value);
                    batch.put_cf(preimages, KeyHash::with::<Sha256>(key).0, key);
                }
                None => batch.delete_cf(latest, key),
            }
        }
        for (key, value) in &prepared.nonverifiable {
            batch.put_cf(nonverifiable, key, value);
        }
        let earliest = meta.earliest.unwrap_or(version);
        batch.put_cf(meta_cf, META_LATEST, encode_u64(version));
        batch.put_cf(meta_cf, META_EARLIEST, encode_u64(earliest));
        let bytes = batch.size_in_bytes();
        inner.db.write(batch)?;
        inner.set_meta(Meta { latest: Some(version), earliest: Some(earliest) });
        // A batch larger than a memtable (a genesis with many accounts) sits
        // in memtables that outgrew their budget, and a restart would replay
        // all of it from the write-ahead log at once (memory and time that
        // grow with the state). Flush it to SST files now. Crash order: the
        // batch is already durable in the WAL; a kill during the flush
        // replays it on restart, with the same result.
        if bytes > WRITE_BUFFER_BYTES {
            inner.flush_all()?;
            tracing::info!(version, bytes, "flushed a large commit to SST files");
        }
        tracing::debug!(version, root = %hex::encode(prepared.root_hash),
            writes = prepared.writes.len(), "committed state version");

        inner.prune()
    }

    /// The value of `key` at `version`, with an ICS-23 membership or
    /// non-membership proof against `root_hash(version)` (spec:
    /// [`crate::proof_spec`]).
    pub fn get_with_proof(
        &self,
        key: &[u8],
        version: u64,
    ) -> Result<(Option<Vec<u8>>, ics23::CommitmentProof), StorageError> {
        if self.root_hash(version)? == Self::empty_root() {
            return Err(StorageError::EmptyTree { version });
        }
        Jmt::new(&self.inner).get_with_ics23_proof(key.to_vec(), version).map_err(|e| self.inner.read_error(version, e))
    }

    /// The app hash at `version` (commits to `root_hash(version)`).
    pub fn app_hash(&self, version: u64) -> Result<[u8; 32], StorageError> {
        Ok(crate::app_hash(self.root_hash(version)?))
    }

    /// Number of stored JMT nodes (a full scan; for tests and diagnostics).
    pub fn node_count(&self) -> Result<u64, StorageError> {
        self.inner.count_entries(CF_NODES)
    }
}
