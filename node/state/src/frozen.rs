//! A frozen read view of the latest committed state: a RocksDB snapshot,
//! so a query reading several keys (a balance and its bank, a prefix list)
//! sees one version even when a block commits while it reads.
use kawase_primitives::{StateError, StateRead};
use rocksdb::{Direction, IteratorMode, SnapshotWithThreadMode, DB};

use crate::encoding::{decode_u64, CF_LATEST, CF_META, CF_NONVERIFIABLE, META_LATEST};
use crate::inner::{collect_prefix, Entries, Inner};
use crate::StorageError;

/// The latest committed state as of one instant (see the module docs).
/// Lives only inside [`crate::Storage::with_frozen_latest`].
pub struct Frozen<'a> {
    inner: &'a Inner,
    snap: SnapshotWithThreadMode<'a, DB>,
    version: Option<u64>,
}

impl<'a> Frozen<'a> {
    pub(crate) fn new(inner: &'a Inner) -> Result<Self, StorageError> {
        let snap = inner.db.snapshot();
        // The version is read from the snapshot itself: it was written in
        // the same batch as the state it names.
        let version = snap.get_pinned_cf(inner.cf(CF_META)?, META_LATEST)?.map(|v| decode_u64(&v)).transpose()?;
        Ok(Frozen { inner, snap, version })
    }

    /// The committed version this view reads (`None` for a fresh store).
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.snap.get_pinned_cf(self.inner.cf(cf)?, key)?.map(|v| v.to_vec()))
    }

    fn prefix(&self, prefix: &[u8]) -> Result<Entries, StorageError> {
        let iter = self.snap.iterator_cf(self.inner.cf(CF_LATEST)?, IteratorMode::From(prefix, Direction::Forward));
        collect_prefix(iter, prefix)
    }
}

impl StateRead for Frozen<'_> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.get(CF_LATEST, key)?)
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        Ok(self.prefix(prefix)?)
    }

    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.get(CF_NONVERIFIABLE, key)?)
    }
}
