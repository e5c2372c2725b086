//! ABCI queries. Paths (all answers JSON unless noted):
//!
//! | path | data | answer |
//! |---|---|---|
//! | `/store` | raw key bytes | raw value; with `prove`, an ICS-23 proof (`ics23:jmt` op) against the app hash of `height` |
//! | `/app/chain` | - | chain id, zone, params, latest height |
//! | `/accounts/account` | bech32 address | the account |
//! | `/accounts/banks` | - | all issuing banks (latest only) |
//! | `/token/balance` | bech32 address | `{address, amount}` |
//! | `/token/bank` | bech32 bank address | supply and lifetime counters of the bank |
//! | `/token/total_supply` | - | `{amount}` |
//! | `/token/positions` | - | netted interbank positions (latest only) |
//! | `/tx` | tx hash, hex | result of a committed transaction (node-local index) |
//!
//! `height` 0 means the latest committed height; point queries work at any
//! retained height, list queries only at the latest.
use bytes::Bytes;
use kawase_accounts::StateReadExt as _;
use kawase_primitives::{Address, ErrorCode, StateRead};
use kawase_state::Storage;
use kawase_token::StateReadExt as _;
use tendermint_proto::v0_38::abci::{RequestQuery, ResponseQuery};
use tendermint_proto::v0_38::crypto::{ProofOp, ProofOps};

use crate::genesis::read_chain;
use crate::state_key;

pub const CODESPACE: &str = "query";

/// ICS-23 proof op type used in `proof_ops`.
pub const PROOF_OP_TYPE: &str = "ics23:jmt";

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("internal: {0}")]
    Internal(String),
    #[error("unknown query path `{0}`")]
    UnknownPath(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("height unavailable: {0}")]
    HeightUnavailable(String),
}

impl ErrorCode for QueryError {
    fn codespace(&self) -> &'static str {
        CODESPACE
    }
    fn code(&self) -> u32 {
        match self {
            QueryError::Internal(_) => 1,
            QueryError::UnknownPath(_) => 2,
            QueryError::BadRequest(_) => 3,
            QueryError::NotFound(_) => 4,
            QueryError::HeightUnavailable(_) => 5,
        }
    }
}

fn internal(e: impl std::fmt::Display) -> QueryError {
    QueryError::Internal(e.to_string())
}

/// Longest request payload we look at.
const MAX_QUERY_DATA: usize = 4096;

pub fn handle(storage: &Storage, req: &RequestQuery) -> ResponseQuery {
    match answer(storage, req) {
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

fn answer(storage: &Storage, req: &RequestQuery) -> Result<Answer, QueryError> {
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
    if path == "/store" || path == "store" {
        return store_query(storage, &req.data, height, req.prove);
    }
    let value = if height == latest {
        typed(&storage.latest(), path, &req.data)?
    } else {
        let snap = storage.at_version(height).map_err(|e| QueryError::HeightUnavailable(e.to_string()))?;
        typed(&snap, path, &req.data)?
    };
    Ok((height, value, None))
}

fn store_query(storage: &Storage, key: &[u8], height: u64, prove: bool) -> Result<Answer, QueryError> {
    if !prove {
        let snap = storage.at_version(height).map_err(|e| QueryError::HeightUnavailable(e.to_string()))?;
        let v = snap.get_raw(key).map_err(internal)?.unwrap_or_default();
        return Ok((height, v, None));
    }
    let (value, proof) =
        storage.get_with_proof(key, height).map_err(|e| QueryError::HeightUnavailable(e.to_string()))?;
    let op = ProofOp { r#type: PROOF_OP_TYPE.into(), key: key.to_vec(), data: prost::Message::encode_to_vec(&proof) };
    Ok((height, value.unwrap_or_default(), Some(ProofOps { ops: vec![op] })))
}

fn address(data: &[u8]) -> Result<Address, QueryError> {
    let s = std::str::from_utf8(data).map_err(|_| QueryError::BadRequest("address must be UTF-8 bech32".into()))?;
    s.trim().parse::<Address>().map_err(|e| QueryError::BadRequest(e.to_string()))
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, QueryError> {
    serde_json::to_vec(v).map_err(internal)
}

fn typed<S: StateRead>(state: &S, path: &str, data: &[u8]) -> Result<Vec<u8>, QueryError> {
    match path {
        "/app/chain" => {
            let (chain_id, zone, params) =
                read_chain(state).map_err(internal)?.ok_or_else(|| QueryError::NotFound("chain".into()))?;
            json(&serde_json::json!({ "chain_id": chain_id, "zone": zone, "params": params }))
        }
        "/accounts/account" => {
            let a = address(data)?;
            let acct =
                state.account(&a).map_err(internal)?.ok_or_else(|| QueryError::NotFound(format!("account {a}")))?;
            json(&acct)
        }
        "/accounts/banks" => json(&state.banks().map_err(internal)?),
        "/token/balance" => {
            let a = address(data)?;
            let amount = state.balance(&a).map_err(internal)?;
            json(&serde_json::json!({ "address": a, "amount": amount.to_string() }))
        }
        "/token/bank" => {
            let a = address(data)?;
            json(&state.bank_stats(&a).map_err(internal)?)
        }
        "/token/total_supply" => {
            json(&serde_json::json!({ "amount": state.total_supply().map_err(internal)?.to_string() }))
        }
        "/token/positions" => json(&state.positions().map_err(internal)?),
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
            let record: crate::abci::TxRecord = prost::Message::decode(raw.as_slice()).map_err(internal)?;
            json(&record.to_json())
        }
        other => Err(QueryError::UnknownPath(other.chars().take(64).collect())),
    }
}
