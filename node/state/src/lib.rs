//! Kawase's chain state: a synchronous, versioned, Merkle-committed key-value
//! store.
//!
//! Verifiable keys live in a Jellyfish Merkle Tree (the `jmt` crate, SHA-256)
//! persisted in RocksDB; the app hash commits to the JMT root through one
//! more Merkle layer (see [`app_hash`]) so IBC proofs have the two-level
//! shape (store, then root) that ICS-23 paths with a prefix require.
//! Versions are block heights and start at 1. Alongside the tree the store
//! keeps a plain "latest values" column family so that reads of the current
//! state are a single RocksDB point lookup, and a non-verifiable column family
//! for node-local indexes.
//!
//! Writing a block is two steps: [`Storage::prepare`] computes the new root
//! without touching disk, [`Storage::commit`] writes everything in one atomic
//! RocksDB write batch and then prunes versions older than the configured
//! retention window.
#![deny(clippy::unwrap_used)]

mod encoding;
mod frozen;
mod inner;
mod snapshot;
mod store;

#[cfg(test)]
mod tests;

pub use frozen::Frozen;
pub use snapshot::{Snapshot, VersionedSnapshot};
pub use store::{PreparedCommit, Storage, StorageConfig};

use kawase_primitives::StateError;

pub use kawase_primitives::commitment::{app_hash, outer_proof, proof_specs, COMMITMENT_PREFIX};

/// The ICS-23 proof spec of the JMT (the inner layer of the commitment; see
/// [`proof_specs`] for the whole chain up to the app hash).
pub fn proof_spec() -> ics23::ProofSpec {
    jmt::ics23_spec()
}

/// Everything that can go wrong in the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The version was committed once but has since been pruned.
    #[error("version {requested} has been pruned; the earliest retained version is {earliest}")]
    VersionPruned { requested: u64, earliest: u64 },
    /// The version has not been committed (yet).
    #[error("version {requested} is not a committed version (latest committed: {latest:?})")]
    VersionUnknown { requested: u64, latest: Option<u64> },
    /// `prepare` was asked for a version other than the next one.
    #[error("wrong version: expected {expected}, got {got}")]
    WrongVersion { expected: u64, got: u64 },
    /// The store's latest version moved between `prepare` and `commit`.
    #[error(
        "stale prepared commit for version {version}: prepared on top of {prepared_on:?}, \
         but the latest committed version is now {latest:?}"
    )]
    StalePrepare { version: u64, prepared_on: Option<u64>, latest: Option<u64> },
    /// ICS-23 cannot express absence from an empty tree.
    #[error("the tree is empty at version {version}: there is no ICS-23 proof to give")]
    EmptyTree { version: u64 },
    #[error("invalid storage configuration: {0}")]
    InvalidConfig(String),
    #[error("rocksdb: {0}")]
    Db(String),
    #[error("jellyfish merkle tree: {0}")]
    Jmt(String),
    /// Bytes on disk that do not decode: the store is damaged.
    #[error("corrupt store: {0}")]
    Corrupt(String),
}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError::Db(e.into_string())
    }
}

impl From<StorageError> for StateError {
    fn from(e: StorageError) -> Self {
        StateError(e.to_string())
    }
}
