//! Node events as CometBFT 0.38 publishes them: the JSON `data` pushed to
//! subscribers, the flattened `events` map, and the subscription query
//! language matched against that map.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tendermint::abci;

use crate::backend::NodeEvent;

/// Composite key → values, e.g. `tm.event` → `["Tx"]`,
/// `transfer.amount` → `["5"]`. Sorted like Go's JSON map output.
pub(crate) type EventMap = BTreeMap<String, Vec<String>>;

/// Uppercase hex SHA-256 of a transaction, CometBFT's tx hash.
pub(crate) fn tx_hash(tx: &[u8]) -> [u8; 32] {
    Sha256::digest(tx).into()
}

/// Add `type.key` → value for each attribute with a non-empty type and key,
/// as CometBFT's event bus does.
fn flatten(events: &[abci::Event], out: &mut EventMap) {
    for event in events.iter().filter(|e| !e.kind.is_empty()) {
        for attr in &event.attributes {
            let key = String::from_utf8_lossy(attr.key_bytes());
            if key.is_empty() {
                continue;
            }
            out.entry(format!("{}.{}", event.kind, key))
                .or_default()
                .push(String::from_utf8_lossy(attr.value_bytes()).into_owned());
        }
    }
}

/// The `events` map CometBFT attaches to an event.
pub(crate) fn event_map(event: &NodeEvent) -> EventMap {
    let mut map = EventMap::new();
    match event {
        NodeEvent::NewBlock(b) => {
            flatten(&b.result_finalize_block.events, &mut map);
            map.entry("tm.event".into()).or_default().push("NewBlock".into());
        }
        NodeEvent::Tx(t) => {
            flatten(&t.result.events, &mut map);
            map.entry("tm.event".into()).or_default().push("Tx".into());
            map.entry("tx.hash".into()).or_default().push(hex::encode_upper(tx_hash(&t.tx)));
            map.entry("tx.height".into()).or_default().push(t.height.to_string());
        }
    }
    map
}

/// The event's `data`: `{"type": "tendermint/event/...", "value": ...}` in
/// CometBFT 0.38's shape (NewBlock carries `block_id` and
/// `result_finalize_block`; Tx carries `TxResult`).
pub(crate) fn event_data(event: &NodeEvent) -> Result<Value, serde_json::Error> {
    Ok(match event {
        NodeEvent::NewBlock(b) => json!({
            "type": "tendermint/event/NewBlock",
            "value": {
                "block": serde_json::to_value(&b.block)?,
                "block_id": serde_json::to_value(b.block_id)?,
                "result_finalize_block": serde_json::to_value(&b.result_finalize_block)?,
            }
        }),
        NodeEvent::Tx(t) => {
            use base64::Engine as _;
            json!({
                "type": "tendermint/event/Tx",
                "value": {
                    "TxResult": {
                        "height": t.height.to_string(),
                        "index": t.index,
                        "tx": base64::engine::general_purpose::STANDARD.encode(&t.tx),
                        "result": serde_json::to_value(&t.result)?,
                    }
                }
            })
        }
    })
}

/// A parsed subscription query: conditions joined by `AND`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Query {
    conditions: Vec<Condition>,
}

#[derive(Clone, Debug, PartialEq)]
struct Condition {
    key: String,
    op: Op,
}

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Exists,
    Contains(String),
    EqStr(String),
    Num(Cmp, f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

impl Query {
    /// Parse CometBFT's query syntax, e.g.
    /// `tm.event = 'Tx' AND tx.hash = 'AB12..' AND tx.height >= 5`.
    /// Supported: `=`, `<`, `<=`, `>`, `>=` with 'strings' or numbers,
    /// `CONTAINS 'str'`, `EXISTS`. Dates and times are not.
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut rest = input.trim();
        if rest.is_empty() {
            return Err("empty query".into());
        }
        let mut conditions = Vec::new();
        loop {
            let (cond, after) = parse_condition(rest)?;
            conditions.push(cond);
            rest = after.trim_start();
            if rest.is_empty() {
                break;
            }
            let Some(after_and) = strip_keyword(rest, "AND") else {
                return Err(format!("expected AND at {rest:?}"));
            };
            rest = after_and.trim_start();
        }
        Ok(Self { conditions })
    }

    /// Whether every condition holds for some value of its key.
    pub fn matches(&self, events: &EventMap) -> bool {
        self.conditions.iter().all(|c| {
            let Some(values) = events.get(&c.key) else {
                return false;
            };
            values.iter().any(|v| match &c.op {
                Op::Exists => true,
                Op::Contains(s) => v.contains(s.as_str()),
                Op::EqStr(s) => v == s,
                Op::Num(cmp, n) => v.trim().parse::<f64>().is_ok_and(|x| cmp.holds(x, *n)),
            })
        })
    }
}

/// `keyword` (any case) followed by a space or the end.
fn strip_keyword<'a>(s: &'a str, keyword: &str) -> Option<&'a str> {
    let head = s.get(..keyword.len())?;
    let tail = &s[keyword.len()..];
    (head.eq_ignore_ascii_case(keyword) && (tail.is_empty() || tail.starts_with(char::is_whitespace))).then_some(tail)
}

fn parse_condition(s: &str) -> Result<(Condition, &str), String> {
    let key_end =
        s.find(|c: char| c.is_whitespace() || matches!(c, '=' | '<' | '>' | '\'' | '"' | '(' | ')')).unwrap_or(s.len());
    let key = &s[..key_end];
    if key.is_empty() {
        return Err(format!("expected a key at {s:?}"));
    }
    let rest = s[key_end..].trim_start();
    if let Some(after) = strip_keyword(rest, "EXISTS") {
        let op = Op::Exists;
        return Ok((Condition { key: key.into(), op }, after));
    }
    if let Some(after) = strip_keyword(rest, "CONTAINS") {
        let (text, after) = parse_string(after.trim_start())?;
        let op = Op::Contains(text);
        return Ok((Condition { key: key.into(), op }, after));
    }
    let (cmp, after) = if let Some(a) = rest.strip_prefix("<=") {
        (Cmp::Le, a)
    } else if let Some(a) = rest.strip_prefix(">=") {
        (Cmp::Ge, a)
    } else if let Some(a) = rest.strip_prefix('<') {
        (Cmp::Lt, a)
    } else if let Some(a) = rest.strip_prefix('>') {
        (Cmp::Gt, a)
    } else if let Some(a) = rest.strip_prefix('=') {
        (Cmp::Eq, a)
    } else {
        return Err(format!("expected an operator after {key:?}"));
    };
    let after = after.trim_start();
    if after.starts_with('\'') {
        let (text, after) = parse_string(after)?;
        if cmp != Cmp::Eq {
            return Err(format!("{key}: only = and CONTAINS compare strings"));
        }
        return Ok((Condition { key: key.into(), op: Op::EqStr(text) }, after));
    }
    let num_end =
        after.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))).unwrap_or(after.len());
    let literal = &after[..num_end];
    let number =
        literal.parse::<f64>().map_err(|_| format!("{key}: expected a 'string' or a number, got {after:?}"))?;
    Ok((Condition { key: key.into(), op: Op::Num(cmp, number) }, &after[num_end..]))
}

/// A single-quoted string (no escapes in CometBFT's grammar).
fn parse_string(s: &str) -> Result<(String, &str), String> {
    let Some(body) = s.strip_prefix('\'') else {
        return Err(format!("expected a quoted string at {s:?}"));
    };
    let Some(end) = body.find('\'') else {
        return Err("unterminated string".into());
    };
    Ok((body[..end].to_owned(), &body[end + 1..]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> EventMap {
        let mut m = EventMap::new();
        for (k, v) in pairs {
            m.entry((*k).into()).or_default().push((*v).into());
        }
        m
    }

    #[test]
    fn queries_in_the_forms_clients_send_match_the_event_map() {
        let tx = map(&[("tm.event", "Tx"), ("tx.hash", "AB"), ("tx.height", "7"), ("transfer.amount", "100")]);
        let block = map(&[("tm.event", "NewBlock")]);
        for (q, on_tx, on_block) in [
            ("tm.event='Tx'", true, false),
            ("tm.event = 'NewBlock'", false, true),
            ("tm.event = 'Tx' AND tx.hash = 'AB'", true, false),
            ("tm.event = 'Tx' AND tx.hash = 'ab'", false, false),
            ("tm.event='Tx' and tx.height=7", true, false),
            ("tx.height >= 7 AND tx.height < 8", true, false),
            ("tx.height > 7", false, false),
            ("transfer.amount EXISTS", true, false),
            ("tm.event CONTAINS 'Block'", false, true),
        ] {
            let query = Query::parse(q).unwrap();
            assert_eq!(query.matches(&tx), on_tx, "{q} on tx");
            assert_eq!(query.matches(&block), on_block, "{q} on block");
        }
    }

    #[test]
    fn malformed_queries_are_rejected() {
        for q in [
            "",
            "tm.event",
            "tm.event='Tx",
            "tm.event='Tx' OR tx.height=1",
            "tm.event < 'Tx'",
            "tx.height = five",
            "= 'x'",
            "tm.event='Tx' AND",
            "tx.time >= TIME 2013-05-03T14:45:00Z",
        ] {
            assert!(Query::parse(q).is_err(), "{q:?} should not parse");
        }
    }
}
