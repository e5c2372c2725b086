//! ABCI queries. Paths (all answers JSON unless noted):
//!
//! | path | data | answer |
//! |---|---|---|
//! | `/store` | raw key bytes | raw value (empty if absent); with `prove`, two proof ops: `ics23:jmt` (membership or non-membership of the key against the JMT root) then `ics23:simple` (the JMT root under key `ibc` against the app hash of `height`) |
//! | `/store/proofs` | `{"prefix":…,"keys":[…]}`, at most 256 keys | `[{"key","value","proof_ops":[hex,hex]}]`: for each `prefix + key`, in order, what `/store` with `prove` answers (value and its two proof ops, hex), all at one height: a relayer proves a batch of packets in one request |
//! | `/app/chain` | - | `{chain_id, zone, params}` (no height; the response's `height` is the one answered) |
//! | `/accounts/account` | bech32 address | the account |
//! | `/accounts/banks` | - | all issuing banks (latest only) |
//! | `/token/balance` | bech32 address | `{address, amount}` |
//! | `/token/bank` | bech32 bank address | supply and lifetime counters of the bank |
//! | `/token/total_supply` | - | `{amount}` |
//! | `/token/positions` | - | netted interbank positions (latest only) |
//! | `/tx` | tx hash, hex | result of a committed transaction (node-local index) |
//! | `/settlement/reserved` | bech32 address | FZ deposit reserved per BZ channel (latest only: a prefix read) |
//! | `/settlement/bz_account` | bech32 address | `{address, fz_address, bank, channel, balance, held}`: BZ balance, one held total (not the holds), FZ identity |
//! | `/settlement/holds` | - | BZ payments and discharges in flight (latest only) |
//! | `/settlement/links` | - | FZ links per channel (latest only) |
//! | `/settlement/bz_total` | - | everything charged into the BZ and not discharged |
//! | `/ibc/packet_commitments` | channel id | sequences sent on `settlement`/channel and not yet acknowledged or timed out (latest only) |
//! | `/ibc/packet_acks` | channel id | sequences received on `settlement`/channel whose acks are stored (latest only) |
//! | `/ibc/unreceived` | `{"channel":…,"sequences":[…]}` | those of the sequences this zone has not received |
//! | `/ibc/acked` | `{"channel":…,"sequences":[…]}` | those of the sequences this zone received and stored an ack for (what a relayer asks instead of listing every ack ever stored) |
//!
//! `height` 0 means the latest committed height; point queries work at any
//! retained height, list queries and `/settlement/reserved` only at the
//! latest (at an older height their prefix read fails with `query/1`).
//! `/tx` reads the node-local index, which is not versioned.
use bytes::Bytes;
use kawase_primitives::{json_answer as json, ErrorCode, StateRead};
use kawase_state::Storage;
use tendermint_proto::v0_38::abci::{RequestQuery, ResponseQuery};
use tendermint_proto::v0_38::crypto::{ProofOp, ProofOps};

use crate::genesis::read_chain;
use crate::registry::Registry;
use crate::state_key;

pub const CODESPACE: &str = kawase_primitives::QUERY_CODESPACE;

/// ICS-23 proof op types in `proof_ops`: the key in the JMT, then the JMT
/// root under the app hash (as Cosmos SDK's `ics23:iavl` + `ics23:simple`).
pub const PROOF_OP_TYPE: &str = "ics23:jmt";
pub const OUTER_PROOF_OP_TYPE: &str = "ics23:simple";

pub use kawase_primitives::QueryError;

fn internal(e: impl std::fmt::Display) -> QueryError {
    QueryError::Internal(e.to_string())
}

/// Longest request payload we look at.
const MAX_QUERY_DATA: usize = 4096;

pub fn handle(storage: &Storage, registry: &Registry, req: &RequestQuery) -> ResponseQuery {
    match answer(storage, registry, req) {
        Ok((height, value, proof_ops)) => ResponseQuery {
            key: req.data.clone(),
            value: Bytes::from(value),
            proof_ops,
            height: height as i64,
            ..Default::default()
        },
        Err(e) => ResponseQuery {
            code: e.code(),
            codespace: CODESPACE.into(),
            log: e.to_string(),
            key: req.data.clone(),
            ..Default::default()
        },
    }
}

type Answer = (u64, Vec<u8>, Option<ProofOps>);

fn answer(storage: &Storage, registry: &Registry, req: &RequestQuery) -> Result<Answer, QueryError> {
    if req.data.len() > MAX_QUERY_DATA {
        return Err(QueryError::BadRequest(format!("query data over {MAX_QUERY_DATA} bytes")));
    }
    let latest =
        storage.latest_version().ok_or_else(|| QueryError::HeightUnavailable("no block committed yet".into()))?;
    let height = match u64::try_from(req.height) {
        Ok(0) => latest,
        Ok(h) if h <= latest => h,
        _ => return Err(QueryError::HeightUnavailable(format!("height {} (latest is {latest})", req.height))),
    };
    let path = req.path.trim_end_matches('/');
    if path == "/store/proofs" {
        return store_proofs(storage, &req.data, height);
    }
    if path == "/store" || path == "store" {
        return store_query(storage, &req.data, height, req.prove);
    }
    if height == latest {
        // A frozen view: a multi-key answer cannot straddle a commit, and
        // the height reported is the one every read saw. A height asked
        // for by number is answered at that height even if a block
        // committed meanwhile (below, like any past height).
        let asked = req.height != 0;
        let frozen = storage
            .with_frozen_latest(|view| match view.version() {
                Some(v) if !asked || v == height => Some(typed(view, registry, path, &req.data).map(|a| (v, a, None))),
                _ => None,
            })
            .map_err(internal)?;
        if let Some(answer) = frozen {
            return answer;
        }
    }
    let snap = storage.at_version(height).map_err(|e| QueryError::HeightUnavailable(e.to_string()))?;
    Ok((height, typed(&snap, registry, path, &req.data)?, None))
}

fn store_query(storage: &Storage, key: &[u8], height: u64, prove: bool) -> Result<Answer, QueryError> {
    if !prove {
        let snap = storage.at_version(height).map_err(|e| QueryError::HeightUnavailable(e.to_string()))?;
        let v = snap.get_raw(key).map_err(internal)?.unwrap_or_default();
        return Ok((height, v, None));
    }
    let (value, proof) =
        storage.get_with_proof(key, height).map_err(|e| QueryError::HeightUnavailable(e.to_string()))?;
    let root = storage.root_hash(height).map_err(|e| QueryError::HeightUnavailable(e.to_string()))?;
    Ok((height, value.unwrap_or_default(), Some(ProofOps { ops: vec![inner_op(key, &proof), outer_op(root)] })))
}

/// The first proof op: `key` under the JMT root.
fn inner_op(key: &[u8], proof: &ics23::CommitmentProof) -> ProofOp {
    ProofOp { r#type: PROOF_OP_TYPE.into(), key: key.to_vec(), data: prost::Message::encode_to_vec(proof) }
}

/// The second proof op: the JMT root under the app hash.
fn outer_op(root: [u8; 32]) -> ProofOp {
    ProofOp {
        r#type: OUTER_PROOF_OP_TYPE.into(),
        key: kawase_state::COMMITMENT_PREFIX.to_vec(),
        data: prost::Message::encode_to_vec(&kawase_state::outer_proof(root)),
    }
}

/// Most keys one `/store/proofs` request may ask for: the work (one JMT
/// proof each) and the answer (about 2.5 KiB each) stay bounded.
pub const MAX_PROOF_KEYS: usize = 256;

fn store_proofs(storage: &Storage, data: &[u8], height: u64) -> Result<Answer, QueryError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Req {
        prefix: String,
        keys: Vec<String>,
    }
    let r: Req = serde_json::from_slice(data).map_err(|e| QueryError::BadRequest(format!("proofs request: {e}")))?;
    if r.keys.len() > MAX_PROOF_KEYS {
        return Err(QueryError::BadRequest(format!("{} keys asked, at most {MAX_PROOF_KEYS}", r.keys.len())));
    }
    let unavailable = |e: kawase_state::StorageError| QueryError::HeightUnavailable(e.to_string());
    let root = storage.root_hash(height).map_err(unavailable)?;
    let outer = hex::encode(outer_op(root).data);
    let mut out = Vec::with_capacity(r.keys.len());
    for k in &r.keys {
        let key = format!("{}{k}", r.prefix);
        let (value, proof) = storage.get_with_proof(key.as_bytes(), height).map_err(unavailable)?;
        out.push(serde_json::json!({
            "key": key,
            "value": hex::encode(value.unwrap_or_default()),
            "proof_ops": [hex::encode(inner_op(key.as_bytes(), &proof).data), outer],
        }));
    }
    Ok((height, json(&out)?, None))
}

fn typed<S: StateRead>(state: &S, registry: &Registry, path: &str, data: &[u8]) -> Result<Vec<u8>, QueryError> {
    match path {
        "/app/chain" => {
            let (chain_id, zone, params) =
                read_chain(state).map_err(internal)?.ok_or_else(|| QueryError::NotFound("chain".into()))?;
            json(&serde_json::json!({ "chain_id": chain_id, "zone": zone, "params": params }))
        }
        "/tx" => {
            let s = std::str::from_utf8(data).map_err(|_| QueryError::BadRequest("hash must be hex".into()))?;
            let h: [u8; 32] = hex::decode(s.trim())
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| QueryError::BadRequest("hash must be 64 hex characters".into()))?;
            let raw = state
                .get_nonverifiable(&state_key::tx_result(&h))
                .map_err(internal)?
                .ok_or_else(|| QueryError::NotFound(format!("tx {}", hex::encode_upper(h))))?;
            let record: crate::TxRecord = prost::Message::decode(raw.as_slice()).map_err(internal)?;
            json(&record.to_json())
        }
        other => registry.query(other, data, state),
    }
}
