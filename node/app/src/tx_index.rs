//! The node-local transaction index (`/tx` query, duplicate handling):
//! one record per transaction hash, written in the block's atomic commit.
use kawase_primitives::StateRead;

use crate::exec::TxOutcome;
use crate::{state_key, AppError};

/// What the node indexes per transaction (served by the `/tx` query as
/// JSON). Stored as protobuf: it is written for every transaction, on the
/// block's critical path.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxRecord {
    #[prost(bytes = "vec", tag = "1")]
    pub hash: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub height: u64,
    #[prost(uint32, tag = "3")]
    pub index: u32,
    #[prost(uint32, tag = "4")]
    pub code: u32,
    #[prost(string, tag = "5")]
    pub codespace: String,
    #[prost(string, tag = "6")]
    pub log: String,
    #[prost(message, repeated, tag = "7")]
    pub events: Vec<RecordEvent>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordEvent {
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(string, repeated, tag = "2")]
    pub keys: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    pub values: Vec<String>,
}

impl TxRecord {
    pub(crate) fn new(hash: &[u8; 32], height: u64, index: u32, o: &TxOutcome) -> Self {
        let (code, codespace, log) = match &o.result {
            Ok(()) => (0, String::new(), String::new()),
            Err(f) => (f.code, f.codespace.to_string(), f.log.clone()),
        };
        let events = o
            .events
            .iter()
            .map(|e| RecordEvent {
                kind: e.kind.clone(),
                keys: e.attributes.iter().map(|(k, _)| k.clone()).collect(),
                values: e.attributes.iter().map(|(_, v)| v.clone()).collect(),
            })
            .collect();
        TxRecord { hash: hash.to_vec(), height, index, code, codespace, log, events }
    }

    /// The JSON answer of the `/tx` query.
    pub fn to_json(&self) -> serde_json::Value {
        let events: Vec<serde_json::Value> = self
            .events
            .iter()
            .map(|e| {
                let attrs: Vec<(&String, &String)> = e.keys.iter().zip(e.values.iter()).collect();
                serde_json::json!({ "type": e.kind, "attributes": attrs })
            })
            .collect();
        serde_json::json!({
            "hash": hex::encode_upper(&self.hash),
            "height": self.height,
            "index": self.index,
            "code": self.code,
            "codespace": self.codespace,
            "log": self.log,
            "events": events,
        })
    }
}

/// The result code the `/tx` index holds for `hash`, if any.
pub(crate) fn indexed_code(state: &impl StateRead, hash: &[u8; 32]) -> Result<Option<u32>, AppError> {
    let raw = state.get_nonverifiable(&state_key::tx_result(hash)).map_err(|e| AppError::State(e.to_string()))?;
    raw.map(|raw| {
        prost::Message::decode(raw.as_slice())
            .map(|r: TxRecord| r.code)
            .map_err(|e| AppError::State(format!("tx index entry {}: {e}", hex::encode_upper(hash))))
    })
    .transpose()
}

/// `(height, index)` of the indexed occurrence of `hash`.
pub(crate) fn location(state: &impl StateRead, hash: &[u8; 32]) -> Result<Option<(u64, u32)>, AppError> {
    let raw = state.get_nonverifiable(&state_key::tx_result(hash)).map_err(|e| AppError::State(e.to_string()))?;
    raw.map(|raw| {
        prost::Message::decode(raw.as_slice())
            .map(|r: TxRecord| (r.height, r.index))
            .map_err(|e| AppError::State(format!("tx index entry {}: {e}", hex::encode_upper(hash))))
    })
    .transpose()
}

/// Whether the `/tx` index already holds a success for `hash`.
pub(crate) fn committed_success(state: &impl StateRead, hash: &[u8; 32]) -> Result<bool, AppError> {
    Ok(indexed_code(state, hash)? == Some(0))
}

/// Whether this occurrence of `hash` goes into the `/tx` index. The first
/// does; a later one only if it succeeded where the indexed one failed
/// (a failure that used the sequence can never be followed by a success,
/// so the replaced one did nothing). A committed success is never
/// overwritten, so a Byzantine proposer's duplicate cannot make it look failed.
pub(crate) fn replaces_index_entry(state: &impl StateRead, hash: &[u8; 32], ok: bool) -> Result<bool, AppError> {
    Ok(match indexed_code(state, hash)? {
        None => true,
        Some(code) => ok && code != 0,
    })
}
