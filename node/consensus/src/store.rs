//! The block store (`data/blockstore`): decided blocks with their commit
//! certificates and results, blocks proposed but not yet decided, and the
//! event index `tx_search` walks (the transaction index is the app's).
//! Written by the consensus driver only.
use std::path::Path;
use std::sync::Arc;

use malachitebft_core_types::CommitCertificate;
use prost::Message;
use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use tendermint_proto::v0_38::abci::ResponseFinalizeBlock;

use crate::types::{ValueId, ZoneContext};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("block store: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("block store: corrupt {what} at height {height}")]
    Corrupt { what: &'static str, height: u64 },
}

mod key {
    pub const LATEST: &[u8] = b"m/latest";
    pub fn block(h: u64) -> Vec<u8> {
        [b"b/".as_slice(), &h.to_be_bytes()].concat()
    }
    pub fn value_id(h: u64) -> Vec<u8> {
        [b"v/".as_slice(), &h.to_be_bytes()].concat()
    }
    pub fn certificate(h: u64) -> Vec<u8> {
        [b"c/".as_slice(), &h.to_be_bytes()].concat()
    }
    pub fn results(h: u64) -> Vec<u8> {
        [b"r/".as_slice(), &h.to_be_bytes()].concat()
    }
    // `t/{hash}` held a transaction index until the app's became the only
    // one; the prefix stays unused so old stores read the same.
    /// Pending (proposed, undecided) blocks by height then block hash, so a
    /// decision drops everything at or below its height in one range.
    pub fn pending(h: u64, block_hash: &[u8; 32]) -> Vec<u8> {
        [b"p/".as_slice(), &h.to_be_bytes(), block_hash].concat()
    }
    /// The value this node proposed at (height, round), so a restarted
    /// proposer re-proposes the same block instead of signing a second one.
    pub fn own(h: u64, round: i64) -> Vec<u8> {
        [b"o/".as_slice(), &h.to_be_bytes(), &round.to_be_bytes()].concat()
    }
    pub fn own_height(h: u64) -> Vec<u8> {
        [b"o/".as_slice(), &h.to_be_bytes()].concat()
    }
    pub fn pending_height(h: u64) -> Vec<u8> {
        [b"p/".as_slice(), &h.to_be_bytes()].concat()
    }
    /// Event attribute index: `e/{type.key}={value}\0{height}{index}`.
    pub fn event_prefix(composite: &str, value: &str) -> Vec<u8> {
        [b"e/".as_slice(), composite.as_bytes(), b"=", value.as_bytes(), b"\0"].concat()
    }
    pub fn event(composite: &str, value: &str, h: u64, i: u32) -> Vec<u8> {
        [event_prefix(composite, value).as_slice(), &h.to_be_bytes(), &i.to_be_bytes()].concat()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn height_keys_sort_numerically() {
            assert!(super::block(9) < super::block(10));
            assert!(super::block(255) < super::block(256));
            assert!(super::pending(3, &[0xff; 32]) < super::pending(4, &[0; 32]));
            assert!(super::event("a.b", "x", 2, 9) < super::event("a.b", "x", 10, 0));
            assert!(!super::event("a.b", "x", 1, 0).starts_with(&super::event_prefix("a.b", "xy")));
        }
    }
}

/// A decided block's location and result, for `tx` and `tx_search`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

#[derive(Clone)]
pub struct BlockStore {
    db: Arc<DB>,
}

impl BlockStore {
    pub fn open(path: &Path) -> Result<BlockStore, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        Ok(BlockStore { db: Arc::new(DB::open(&opts, path)?) })
    }

    fn get_u64(&self, k: &[u8]) -> Result<Option<u64>, StoreError> {
        Ok(self.db.get(k)?.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok()).map(u64::from_be_bytes))
    }

    /// Height of the last decided block stored (0 before block 1).
    pub fn latest_height(&self) -> Result<u64, StoreError> {
        Ok(self.get_u64(key::LATEST)?.unwrap_or(0))
    }

    pub fn put_pending(&self, height: u64, id: &ValueId, encoded: &[u8]) -> Result<(), StoreError> {
        Ok(self.db.put(key::pending(height, &id.block_hash), encoded)?)
    }

    pub fn put_own_proposal(&self, height: u64, round: i64, id: &ValueId) -> Result<(), StoreError> {
        let bytes = borsh::to_vec(id).map_err(|_| StoreError::Corrupt { what: "id", height })?;
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        Ok(self.db.put_opt(key::own(height, round), bytes, &wo)?)
    }

    pub fn own_proposal(&self, height: u64, round: i64) -> Result<Option<ValueId>, StoreError> {
        match self.db.get(key::own(height, round))? {
            None => Ok(None),
            Some(b) => borsh::from_slice(&b).map(Some).map_err(|_| StoreError::Corrupt { what: "id", height }),
        }
    }

    pub fn pending(&self, height: u64, id: &ValueId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key::pending(height, &id.block_hash))?)
    }

    /// Records a decided block durably (fsync) before the app executes it,
    /// so a crash in between replays it on restart.
    pub fn put_decided(
        &self,
        height: u64,
        encoded: &[u8],
        id: &ValueId,
        certificate: &CommitCertificate<ZoneContext>,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put(key::block(height), encoded);
        batch.put(key::value_id(height), borsh::to_vec(id).map_err(|_| StoreError::Corrupt { what: "id", height })?);
        batch.put(
            key::certificate(height),
            borsh::to_vec(certificate).map_err(|_| StoreError::Corrupt { what: "certificate", height })?,
        );
        batch.put(key::LATEST, height.to_be_bytes());
        batch.delete_range(key::pending_height(0), key::pending_height(height + 1));
        batch.delete_range(key::own_height(0), key::own_height(height + 1));
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        Ok(self.db.write_opt(batch, &wo)?)
    }

    /// Stores a block's results and indexes its events, in one batch.
    /// Idempotent (recovery may write a block's results again). The
    /// transaction index (hash -> height and index) is the app's, written in
    /// the state's own atomic commit (`kawase_app::App::tx_location`); this
    /// store keeps only what `tx_search` walks.
    pub fn put_results(
        &self,
        height: u64,
        tx_hashes: &[[u8; 32]],
        results: &ResponseFinalizeBlock,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put(key::results(height), results.encode_to_vec());
        for (i, (_, r)) in tx_hashes.iter().zip(results.tx_results.iter()).enumerate() {
            let i = i as u32;
            batch.put(key::event("tx.height", &height.to_string(), height, i), []);
            for ev in &r.events {
                for a in ev.attributes.iter().filter(|a| a.index) {
                    batch.put(key::event(&format!("{}.{}", ev.r#type, a.key), &a.value, height, i), []);
                }
            }
        }
        Ok(self.db.write(batch)?)
    }

    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key::block(height))?)
    }

    pub fn block(&self, height: u64) -> Result<Option<tendermint::Block>, StoreError> {
        match self.block_bytes(height)? {
            None => Ok(None),
            Some(b) => {
                crate::block::decode_block(&b).map(Some).map_err(|_| StoreError::Corrupt { what: "block", height })
            }
        }
    }

    pub fn value_id(&self, height: u64) -> Result<Option<ValueId>, StoreError> {
        match self.db.get(key::value_id(height))? {
            None => Ok(None),
            Some(b) => borsh::from_slice(&b).map(Some).map_err(|_| StoreError::Corrupt { what: "id", height }),
        }
    }

    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate<ZoneContext>>, StoreError> {
        match self.db.get(key::certificate(height))? {
            None => Ok(None),
            Some(b) => borsh::from_slice(&b).map(Some).map_err(|_| StoreError::Corrupt { what: "certificate", height }),
        }
    }

    pub fn results(&self, height: u64) -> Result<Option<ResponseFinalizeBlock>, StoreError> {
        match self.db.get(key::results(height))? {
            None => Ok(None),
            Some(b) => ResponseFinalizeBlock::decode(b.as_slice())
                .map(Some)
                .map_err(|_| StoreError::Corrupt { what: "results", height }),
        }
    }

    /// Transactions with event attribute `composite` (`type.key`) equal to
    /// `value`, in block order.
    pub fn search(&self, composite: &str, value: &str, limit: usize) -> Result<Vec<TxLocation>, StoreError> {
        let prefix = key::event_prefix(composite, value);
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(&prefix, Direction::Forward)) {
            let (k, _) = item?;
            let Some(rest) = k.strip_prefix(prefix.as_slice()) else { break };
            if rest.len() != 12 {
                continue;
            }
            let h = u64::from_be_bytes(rest[..8].try_into().unwrap_or_default());
            let i = u32::from_be_bytes(rest[8..].try_into().unwrap_or_default());
            out.push(TxLocation { height: h, index: i });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Visits the locations [`BlockStore::search`] finds, without collecting
    /// them and in either direction (newest first when `desc`), until
    /// `visit` returns false: RPC bounds its own work this way.
    pub fn scan_events(
        &self,
        composite: &str,
        value: &str,
        desc: bool,
        visit: &mut dyn FnMut(TxLocation) -> bool,
    ) -> Result<(), StoreError> {
        let prefix = key::event_prefix(composite, value);
        // The prefix ends in 0x00, so bumping that byte bounds the range.
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_lower_bound(prefix.clone());
        ro.set_iterate_upper_bound(end);
        let mode = if desc { IteratorMode::End } else { IteratorMode::Start };
        for item in self.db.iterator_opt(mode, ro) {
            let (k, _) = item?;
            let Some(rest) = k.strip_prefix(prefix.as_slice()) else { continue };
            if rest.len() != 12 {
                continue;
            }
            let h = u64::from_be_bytes(rest[..8].try_into().unwrap_or_default());
            let i = u32::from_be_bytes(rest[8..].try_into().unwrap_or_default());
            if !visit(TxLocation { height: h, index: i }) {
                break;
            }
        }
        Ok(())
    }
}
