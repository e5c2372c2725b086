//! Read views of the store.

use std::sync::Arc;

use jmt::storage::TreeReader;
use jmt::KeyHash;
use kawase_primitives::{StateError, StateRead};
use sha2::Sha256;

use crate::encoding::{CF_LATEST, CF_NONVERIFIABLE};
use crate::inner::Inner;

/// Read view of the latest committed state: every read is served from the
/// "latest values" column family (one point lookup per `get_raw`).
///
/// It is a live view, not a frozen one: a commit made while the view is held
/// becomes visible to it. The node reads it between commits.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<Inner>,
    version: Option<u64>,
}

impl Snapshot {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        let version = inner.meta().latest;
        Snapshot { inner, version }
    }

    /// The latest committed version when this view was taken (`None` for a
    /// fresh store).
    pub fn version(&self) -> Option<u64> {
        self.version
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("version", &self.version).finish()
    }
}

impl StateRead for Snapshot {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.inner.get_latest(CF_LATEST, key)?)
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StateError> {
        Ok(self.inner.prefix_latest(prefix)?)
    }

    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.inner.get_latest(CF_NONVERIFIABLE, key)?)
    }
}

/// Read view at a retained version: point reads go through the JMT's
/// versioned values. Prefix reads are only served while the version is the
/// latest one; non-verifiable reads are unversioned and return the current
/// value.
#[derive(Clone)]
pub struct VersionedSnapshot {
    inner: Arc<Inner>,
    version: u64,
}

impl VersionedSnapshot {
    pub(crate) fn new(inner: Arc<Inner>, version: u64) -> Self {
        VersionedSnapshot { inner, version }
    }

    /// The version this view reads.
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl std::fmt::Debug for VersionedSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedSnapshot").field("version", &self.version).finish()
    }
}

impl StateRead for VersionedSnapshot {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.inner.check_readable(self.version)?;
        let value = self
            .inner
            .get_value_option(self.version, KeyHash::with::<Sha256>(key))
            .map_err(|e| self.inner.read_error(self.version, e))?;
        // Pruning may have removed the entry while we read it.
        self.inner.check_readable(self.version)?;
        Ok(value)
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StateError> {
        if self.inner.meta().latest != Some(self.version) {
            return Err(StateError("prefix reads are only served at the latest version".into()));
        }
        Ok(self.inner.prefix_latest(prefix)?)
    }

    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.inner.get_latest(CF_NONVERIFIABLE, key)?)
    }
}
