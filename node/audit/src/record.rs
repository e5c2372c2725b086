//! One audit record: the event an operator cares about, its place in the
//! chain, and the hash that seals both.
use crate::canon::{write_str, write_value};
use crate::error::BreakKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// `prev` of the first record (seq 0): there is no record before it.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Most bytes an event's `detail` takes in its line (canonical JSON); a larger
/// one is replaced by a marker, so a hostile input (a peer's certificate
/// subject, a request body) cannot blow a line up.
pub const DETAIL_MAX_BYTES: usize = 4096;
/// Longest line any record of ours can be (capped detail, clipped strings
/// escaped at worst 6x, hashes); readers refuse anything longer unread.
pub const LINE_MAX_BYTES: usize = 16 * 1024;

const KIND_MAX_BYTES: usize = 64;
const ACTOR_MAX_BYTES: usize = 256;
const OUTCOME_MAX_BYTES: usize = 32;
/// Nesting kept in `detail`; deeper values become a marker string.
const DETAIL_MAX_DEPTH: usize = 16;
/// How much of an oversized detail's canonical text the marker keeps.
const DETAIL_PREFIX_BYTES: usize = 1024;
const CLIPPED: &str = "…[truncated]";
/// Domain separation: no other SHA-256 in the system hashes these bytes.
const HASH_DOMAIN: &str = "kawase-audit/v1\n";

/// The stable event kinds (snake_case; a SIEM's rules match on them).
pub mod kind {
    pub const NODE_START: &str = "node_start";
    pub const NODE_STOP: &str = "node_stop";
    pub const TLS_RELOAD: &str = "tls_reload";
    pub const TLS_RELOAD_FAILED: &str = "tls_reload_failed";
    pub const TLS_HANDSHAKE_FAILED: &str = "tls_handshake_failed";
    pub const KEY_IMPORT: &str = "key_import";
    pub const KEY_EXPORT: &str = "key_export";
    pub const ADMIN_TX: &str = "admin_tx";
    pub const AUTH_FAILURE: &str = "auth_failure";
    /// Written by [`AuditLog::open`](crate::AuditLog::open) itself after it
    /// dropped a line torn by a crash.
    pub const AUDIT_TORN_TAIL_DROPPED: &str = "audit_torn_tail_dropped";
}

/// The stable outcomes.
pub mod outcome {
    pub const OK: &str = "ok";
    pub const REFUSED: &str = "refused";
    pub const FAILED: &str = "failed";
}

/// What happened, who did it, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// One of [`kind`].
    pub kind: String,
    /// Who: a client certificate's CN, a key name, `"node"`, `"operator"`.
    pub actor: String,
    /// One of [`outcome`].
    pub outcome: String,
    /// Anything else, as a JSON object.
    pub detail: Value,
    /// Wall clock, milliseconds since the Unix epoch: this is an operator's
    /// log, not chain state, so it need not be deterministic.
    pub at_unix_ms: u64,
}

impl Event {
    /// An event that ended [`outcome::OK`], with no detail, stamped now.
    pub fn new(kind: impl Into<String>, actor: impl Into<String>) -> Event {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Event {
            kind: kind.into(),
            actor: actor.into(),
            outcome: outcome::OK.into(),
            detail: Value::Object(Map::new()),
            at_unix_ms: u64::try_from(now).unwrap_or(u64::MAX),
        }
    }

    pub fn outcome(mut self, outcome: impl Into<String>) -> Event {
        self.outcome = outcome.into();
        self
    }

    /// Shorthand for `.outcome(outcome::REFUSED)`.
    pub fn refused(self) -> Event {
        self.outcome(outcome::REFUSED)
    }

    /// Shorthand for `.outcome(outcome::FAILED)`.
    pub fn failed(self) -> Event {
        self.outcome(outcome::FAILED)
    }

    /// Adds `key: value` to `detail`. Floats are stored as strings when the
    /// event is appended (their text is not the same in every language, and
    /// the hash must be reproducible); the whole detail is capped at
    /// [`DETAIL_MAX_BYTES`].
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Event {
        if !self.detail.is_object() {
            let old = std::mem::take(&mut self.detail);
            self.detail = wrap(old);
        }
        if let Value::Object(map) = &mut self.detail {
            map.insert(key.into(), value.into());
        }
        self
    }

    /// Sets the timestamp (tests, or an event observed earlier).
    pub fn at(mut self, unix_ms: u64) -> Event {
        self.at_unix_ms = unix_ms;
        self
    }

    /// The event as it is written: strings clipped, detail an object without
    /// floats, nested at most [`DETAIL_MAX_DEPTH`] deep and capped. Every
    /// append goes through this, whoever built the event.
    pub(crate) fn bounded(self) -> Event {
        let detail = match sanitize(self.detail, 0) {
            object @ Value::Object(_) => object,
            other => wrap(other),
        };
        Event {
            kind: clip(self.kind, KIND_MAX_BYTES),
            actor: clip(self.actor, ACTOR_MAX_BYTES),
            outcome: clip(self.outcome, OUTCOME_MAX_BYTES),
            detail: cap(detail),
            at_unix_ms: self.at_unix_ms,
        }
    }

    /// Canonical JSON (see [`crate::canon`]); keys sorted.
    fn write(&self, out: &mut String) {
        out.push_str("{\"actor\":");
        write_str(out, &self.actor, usize::MAX);
        out.push_str(",\"at_unix_ms\":");
        out.push_str(&self.at_unix_ms.to_string());
        out.push_str(",\"detail\":");
        write_value(out, &self.detail, usize::MAX);
        out.push_str(",\"kind\":");
        write_str(out, &self.kind, usize::MAX);
        out.push_str(",\"outcome\":");
        write_str(out, &self.outcome, usize::MAX);
        out.push('}');
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// 0-based and consecutive: a gap or a step back shows removal or reordering.
    pub seq: u64,
    /// The previous record's `hash` ([`GENESIS_PREV`] for seq 0): the chain.
    pub prev: String,
    pub event: Event,
    /// Hex SHA-256 of `"kawase-audit/v1\n"` followed by the canonical JSON of
    /// `{"event": .., "prev": .., "seq": ..}` (the record without its hash).
    pub hash: String,
}

impl Record {
    /// The record `seq` after `prev`, sealed with its hash.
    pub(crate) fn seal(seq: u64, prev: String, event: Event) -> Record {
        let hash = hash_of(seq, &prev, &event);
        Record { seq, prev, event, hash }
    }

    /// The hash the record's content calls for (equal to `hash` unless edited).
    pub fn expected_hash(&self) -> String {
        hash_of(self.seq, &self.prev, &self.event)
    }

    /// The line as written, without its newline: canonical JSON, keys sorted
    /// (`event`, `hash`, `prev`, `seq`).
    pub fn to_line(&self) -> String {
        let mut out = String::from("{\"event\":");
        self.event.write(&mut out);
        out.push_str(",\"hash\":");
        write_str(&mut out, &self.hash, usize::MAX);
        out.push_str(",\"prev\":");
        write_str(&mut out, &self.prev, usize::MAX);
        out.push_str(",\"seq\":");
        out.push_str(&self.seq.to_string());
        out.push('}');
        out
    }

    /// Parses one line (without its newline) and checks it on its own: it
    /// must be exactly the canonical encoding of its content (so an added
    /// field or a duplicated key is an edit too) and carry its own hash. The
    /// chain (seq, prev) is the caller's to check.
    pub fn from_line(line: &[u8]) -> Result<Record, BreakKind> {
        if line.len() > LINE_MAX_BYTES {
            return Err(BreakKind::Unparsable);
        }
        let record: Record = serde_json::from_slice(line).map_err(|_| BreakKind::Unparsable)?;
        if record.to_line().as_bytes() != line || record.expected_hash() != record.hash {
            return Err(BreakKind::Edited);
        }
        Ok(record)
    }
}

/// The `seq` of a line that is not a valid record, if it still has one.
pub(crate) fn peek_seq(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Value>(line).ok()?.get("seq")?.as_u64()
}

fn hash_of(seq: u64, prev: &str, event: &Event) -> String {
    let mut text = String::from(HASH_DOMAIN);
    text.push_str("{\"event\":");
    event.write(&mut text);
    text.push_str(",\"prev\":");
    write_str(&mut text, prev, usize::MAX);
    text.push_str(",\"seq\":");
    text.push_str(&seq.to_string());
    text.push('}');
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn wrap(value: Value) -> Value {
    let mut map = Map::new();
    map.insert("value".into(), value);
    Value::Object(map)
}

/// `s` cut to at most `max` bytes (on a char boundary), marked if cut.
fn clip(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max.saturating_sub(CLIPPED.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push_str(CLIPPED);
    s
}

fn sanitize(value: Value, depth: usize) -> Value {
    match value {
        Value::Array(_) | Value::Object(_) if depth >= DETAIL_MAX_DEPTH => Value::String("[too deep]".into()),
        Value::Number(n) if n.is_f64() => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| sanitize(v, depth + 1)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, sanitize(v, depth + 1))).collect()),
        other => other,
    }
}

/// `detail` itself if its canonical text fits [`DETAIL_MAX_BYTES`], else a
/// marker keeping its first [`DETAIL_PREFIX_BYTES`] as a string (which, even
/// if every byte needs escaping again, stays well under the cap).
fn cap(detail: Value) -> Value {
    let mut text = String::new();
    if write_value(&mut text, &detail, DETAIL_MAX_BYTES) {
        return detail;
    }
    let mut cut = DETAIL_PREFIX_BYTES.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    let mut marker = Map::new();
    marker.insert("truncated".into(), Value::Bool(true));
    marker.insert("cap_bytes".into(), Value::from(DETAIL_MAX_BYTES as u64));
    marker.insert("prefix".into(), Value::String(text));
    Value::Object(marker)
}
