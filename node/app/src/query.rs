//! ABCI queries. Paths (all answers JSON unless noted):
//!
//! | path | data | answer |
//! |---|---|---|
//! | `/store` | raw key bytes | raw value (empty if absent); with `prove`, two proof ops: `ics23:jmt` (membership or non-membership of the key against the JMT root) then `ics23:simple` (the JMT root under key `ibc` against the app hash of `height`) |
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
//!
//! `height` 0 means the latest committed height; point queries work at any
//! retained height, list queries and `/settlement/reserved` only at the
//! latest (at an older height their prefix read fails with `query/1`).
//! `/tx` reads the node-local index, which is not versioned.
use bytes::Bytes;
use kawase_accounts::StateReadExt as _;
use kawase_primitives::{Address, ErrorCode, StateRead};
use kawase_settlement::StateReadExt as _;
use kawase_state::Storage;
use kawase_token::StateReadExt as _;
use tendermint_proto::v0_38::abci::{RequestQuery, ResponseQuery};
use tendermint_proto::v0_38::crypto::{ProofOp, ProofOps};

use crate::genesis::read_chain;
use crate::state_key;

pub const CODESPACE: &str = "query";

/// ICS-23 proof op types in `proof_ops`: the key in the JMT, then the JMT
/// root under the app hash (as Cosmos SDK's `ics23:iavl` + `ics23:simple`).
pub const PROOF_OP_TYPE: &str = "ics23:jmt";
pub const OUTER_PROOF_OP_TYPE: &str = "ics23:simple";

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
    let root = storage.root_hash(height).map_err(|e| QueryError::HeightUnavailable(e.to_string()))?;
    let op = ProofOp { r#type: PROOF_OP_TYPE.into(), key: key.to_vec(), data: prost::Message::encode_to_vec(&proof) };
    let outer = ProofOp {
        r#type: OUTER_PROOF_OP_TYPE.into(),
        key: kawase_state::COMMITMENT_PREFIX.to_vec(),
        data: prost::Message::encode_to_vec(&kawase_state::outer_proof(root)),
    };
    Ok((height, value.unwrap_or_default(), Some(ProofOps { ops: vec![op, outer] })))
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
        "/settlement/reserved" => {
            let a = address(data)?;
            let list = kawase_settlement::reserved_of(state, &a).map_err(internal)?;
            let list: Vec<_> =
                list.into_iter().map(|(c, r)| serde_json::json!({"channel": c, "amount": r.to_string()})).collect();
            json(&serde_json::json!({ "address": a, "reserved": list }))
        }
        "/settlement/bz_account" => {
            let a = address(data)?;
            let acct = state
                .bz_account(&a)
                .map_err(internal)?
                .ok_or_else(|| QueryError::NotFound(format!("BZ account {a}")))?;
            json(&acct)
        }
        "/settlement/holds" => json(&state.holds().map_err(internal)?),
        "/settlement/links" => {
            let links: Vec<_> = state
                .fz_links()
                .map_err(internal)?
                .into_iter()
                .map(|(c, fz, bz, st)| serde_json::json!({"channel": c, "fz_address": fz, "bz_address": bz, "status": st}))
                .collect();
            json(&links)
        }
        "/settlement/bz_total" => {
            json(&serde_json::json!({ "amount": state.bz_total().map_err(internal)?.to_string() }))
        }
        "/ibc/packet_commitments" => json(&sequences_under(state, "commitments", data)?),
        "/ibc/packet_acks" => json(&sequences_under(state, "acks", data)?),
        "/ibc/unreceived" => {
            #[derive(serde::Deserialize)]
            struct Req {
                channel: String,
                sequences: Vec<u64>,
            }
            let r: Req = serde_json::from_slice(data).map_err(|e| QueryError::BadRequest(e.to_string()))?;
            check_channel(&r.channel)?;
            let mut out = Vec::new();
            for seq in r.sequences {
                let key =
                    format!("receipts/ports/{}/channels/{}/sequences/{seq}", kawase_ibc::SETTLEMENT_PORT, r.channel);
                if state.get_raw(key.as_bytes()).map_err(internal)?.is_none() {
                    out.push(seq);
                }
            }
            json(&out)
        }
        other => Err(QueryError::UnknownPath(other.chars().take(64).collect())),
    }
}

fn check_channel(c: &str) -> Result<(), QueryError> {
    c.parse::<kawase_ibc::ibc::core::host::types::identifiers::ChannelId>()
        .map(|_| ())
        .map_err(|e| QueryError::BadRequest(format!("channel: {e}")))
}

/// Sequences stored under an ICS-24 packet path root (`commitments`, `acks`)
/// of the settlement port and `data`'s channel, ascending.
fn sequences_under<S: StateRead>(state: &S, root: &str, data: &[u8]) -> Result<Vec<u64>, QueryError> {
    let channel = std::str::from_utf8(data).map_err(|_| QueryError::BadRequest("channel id must be UTF-8".into()))?;
    let channel = channel.trim();
    check_channel(channel)?;
    let prefix = format!("{root}/ports/{}/channels/{channel}/sequences/", kawase_ibc::SETTLEMENT_PORT);
    let mut out = Vec::new();
    for (k, _) in state.prefix_raw(prefix.as_bytes()).map_err(internal)? {
        let s = std::str::from_utf8(&k[prefix.len()..]).map_err(internal)?;
        out.push(s.parse::<u64>().map_err(internal)?);
    }
    out.sort_unstable();
    Ok(out)
}
