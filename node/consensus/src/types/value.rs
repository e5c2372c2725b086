//! The consensus value: a CometBFT block id plus the header time, never the
//! block itself, and the header-time conversions it needs.
use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types as mc;
use tendermint::block::{self, parts};

/// What consensus agrees on: a CometBFT block id and the header time, which
/// every precommit's canonical sign bytes use as their timestamp, so the
/// decided certificate alone rebuilds a verifiable `Commit`.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ValueId {
    pub block_hash: [u8; 32],
    pub parts_hash: [u8; 32],
    pub parts_total: u32,
    /// Header time as Unix nanoseconds.
    pub time_nanos: i128,
}

impl ValueId {
    pub fn block_id(&self) -> block::Id {
        block::Id {
            hash: tendermint::Hash::Sha256(self.block_hash),
            part_set_header: parts::Header::new(self.parts_total, tendermint::Hash::Sha256(self.parts_hash))
                .unwrap_or_default(),
        }
    }

    pub fn time(&self) -> tendermint::Time {
        time_from_nanos(self.time_nanos)
    }
}

pub fn time_from_nanos(nanos: i128) -> tendermint::Time {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000);
    i64::try_from(secs)
        .ok()
        .and_then(|s| tendermint::Time::from_unix_timestamp(s, sub as u32).ok())
        .unwrap_or_else(tendermint::Time::unix_epoch)
}

pub fn time_to_nanos(t: tendermint::Time) -> i128 {
    t.unix_timestamp_nanos()
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.block_hash[..6]))
    }
}
impl fmt::Debug for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueId({})", hex::encode_upper(self.block_hash))
    }
}

/// The consensus value is its own id; the block lives in the node's stores.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Value(pub ValueId);

impl mc::Value for Value {
    type Id = ValueId;
    fn id(&self) -> ValueId {
        self.0
    }
}
