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

/// The page (1-based) of matches of `query` and the number of matches,
/// oldest first or (`desc`) newest first.
///
/// The index is walked once, from the end asked for, keeping only the page:
/// memory stays at one page and `desc` finds the newest matches without
/// reading the oldest ones first. Counting every match means visiting every
/// entry of the first condition, so the walk is bounded by `limits` and
/// `deadline`, checked at every step; past either it answers an error
/// rather than a partial count.
pub fn search(
    index: &dyn TxIndex,
    query: &str,
    page: u32,
    per_page: u8,
    desc: bool,
    limits: &SearchLimits,
    deadline: &Deadline,
) -> Result<(Vec<TxLocation>, u32), RpcError> {
    let conds = parse_query(query)?;
    let Some((first, rest)) = conds.split_first() else {
        return Err(RpcError::InvalidParams("empty query".into()));
    };
    let filters = rest.iter().map(|c| Filter::new(index, c)).collect::<Result<Vec<_>, _>>()?;
    if filters.iter().any(|f| matches!(f, Filter::Hash(None))) {
        // No such transaction: nothing can match.
        return Ok((Vec::new(), 0));
    }
    let per_page = usize::from(per_page.max(1));
    let skip = usize::try_from(page.max(1) - 1).unwrap_or(usize::MAX).saturating_mul(per_page);
    let mut walk = Walk {
        filters,
        limits,
        deadline,
        scanned: 0,
        blocks: Blocks { index, limits, decoded: 0, last: None },
        skip,
        per_page,
        page: Vec::with_capacity(per_page),
        total: 0,
        stopped: None,
    };
    let scanned = if first.key == "tx.hash" {
        if let Some(loc) = index.by_hash(&hash_param(&first.value)?)? {
            walk.visit(loc);
        }
        Ok(())
    } else {
        index.scan(&first.key, &first.value, desc, &mut |loc| walk.visit(loc))
    };
    // Why the walk stopped early explains a store error it may have caused.
    if let Some(e) = walk.stopped {
        return Err(e);
    }
    scanned?;
    Ok((walk.page, walk.total))
}

/// A further condition, resolved once before the walk.
enum Filter<'q> {
    Height(u64),
    /// Where the transaction with that hash is, if anywhere.
    Hash(Option<TxLocation>),
    /// An event attribute: needs the block's decoded results.
    Event(&'q Cond),
}

impl<'q> Filter<'q> {
    fn new(index: &dyn TxIndex, c: &'q Cond) -> Result<Filter<'q>, RpcError> {
        Ok(match c.key.as_str() {
            "tx.height" => Filter::Height(
                c.value
                    .parse()
                    .map_err(|_| RpcError::InvalidParams(format!("tx.height is a block height; got `{}`", c.value)))?,
            ),
            "tx.hash" => Filter::Hash(index.by_hash(&hash_param(&c.value)?)?),
            _ => Filter::Event(c),
        })
    }
}

/// State of one walk over the index.
struct Walk<'a> {
    filters: Vec<Filter<'a>>,
    limits: &'a SearchLimits,
    deadline: &'a Deadline,
    scanned: usize,
    blocks: Blocks<'a>,
    /// Matches before the page.
    skip: usize,
    per_page: usize,
    page: Vec<TxLocation>,
    total: u32,
    /// Why the walk stopped before the index's end.
    stopped: Option<RpcError>,
}

impl Walk<'_> {
    /// One index entry; false stops the walk.
    fn visit(&mut self, loc: TxLocation) -> bool {
        match self.step(loc) {
            Ok(()) => true,
            Err(e) => {
                self.stopped = Some(e);
                false
            }
        }
    }

    fn step(&mut self, loc: TxLocation) -> Result<(), RpcError> {
        self.deadline.check()?;
        self.scanned += 1;
        if self.scanned > self.limits.max_scanned {
            return Err(RpcError::internal(format!(
                "tx_search stopped after {} index entries without finishing (the node's limit); \
                 narrow the query, e.g. with tx.height",
                self.limits.max_scanned
            )));
        }
        if !self.matches(loc)? {
            return Ok(());
        }
        let seen = usize::try_from(self.total).unwrap_or(usize::MAX);
        if seen >= self.skip && self.page.len() < self.per_page {
            self.page.push(loc);
        }
        self.total = self.total.saturating_add(1);
        Ok(())
    }

    fn matches(&mut self, loc: TxLocation) -> Result<bool, RpcError> {
        // Cheap conditions first: a block is decoded only if they all hold.
        let cheap = self.filters.iter().all(|f| match f {
            Filter::Height(h) => *h == loc.height,
            Filter::Hash(at) => *at == Some(loc),
            Filter::Event(_) => true,
        });
        if !cheap {
            return Ok(false);
        }
        if !self.filters.iter().any(|f| matches!(f, Filter::Event(_))) {
            return Ok(true);
        }
        let results = self.blocks.results(loc.height)?;
        let Some(r) = results.and_then(|rs| rs.get(loc.index as usize)) else {
            return Ok(false);
        };
        Ok(self.filters.iter().all(|f| match f {
            Filter::Event(c) => event_matches(r, c),
            Filter::Height(_) | Filter::Hash(_) => true,
        }))
    }
}

/// Blocks' results decoded during a walk, within the decode bound.
struct Blocks<'a> {
    index: &'a dyn TxIndex,
    limits: &'a SearchLimits,
    decoded: usize,
    /// The last decoded block: entries of one block come together.
    last: Option<(u64, Option<Vec<ExecTxResult>>)>,
}

impl Blocks<'_> {
    /// The results of the block at `height`.
    fn results(&mut self, height: u64) -> Result<Option<&[ExecTxResult]>, RpcError> {
        if self.last.as_ref().is_none_or(|(h, _)| *h != height) {
            if self.decoded >= self.limits.max_decoded_blocks {
                return Err(RpcError::internal(format!(
                    "tx_search stopped after decoding {} blocks without finishing (the node's limit); \
                     put the most selective condition first",
                    self.limits.max_decoded_blocks
                )));
            }
            self.decoded += 1;
            self.last = Some((height, self.index.tx_results(height)?));
        }
        Ok(self.last.as_ref().and_then(|(_, rs)| rs.as_deref()))
    }
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
