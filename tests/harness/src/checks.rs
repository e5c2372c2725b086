//! Checks after every fault run, on the chain itself: every node caught
//! up, no two nodes committed different blocks or app hashes at any
//! height, and every transaction a client was told about is in the chain
//! as it was told, exactly once (Jepsen's "no lost, no duplicated writes").
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sha2::Digest;

use super::load::{Effect, Endpoint, Outcome, Sent};
use super::manifest::ZoneName;
use super::rpc::Rpc;

/// Totals and violations of one run's checks.
#[derive(Default, Debug)]
pub struct Verdict {
    pub heights: BTreeMap<String, u64>,
    pub blocks_compared: u64,
    pub forks: u64,
    pub app_hash_mismatches: u64,
    pub txs_checked: u64,
    pub committed: u64,
    pub refused: u64,
    /// CheckTx refusals by operation and reason (the load fails some on purpose).
    pub refused_by: BTreeMap<String, u64>,
    pub unknown_committed: u64,
    pub unknown_absent: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub wrong_result: u64,
    /// Issued by transactions that committed with code 0.
    pub issued: u128,
    pub invariants: Vec<(String, bool)>,
    pub violations: Vec<String>,
}

impl Verdict {
    pub fn fail(&mut self, what: String) {
        if self.violations.len() < 200 {
            self.violations.push(what);
        }
    }

    pub fn invariant(&mut self, name: &str, ok: bool, detail: impl FnOnce() -> String) {
        self.invariants.push((name.to_owned(), ok));
        if !ok {
            self.fail(format!("invariant {name}: {}", detail()));
        }
    }
}

async fn height_at(rpc: &str) -> Option<u64> {
    Rpc::bounded(rpc).height().await.ok()
}

/// Waits (bounded) until every node of the zone is at least at the
/// height the highest one had when asked; that height, or the heights
/// seen if some node never got there.
pub async fn caught_up(ep: &Endpoint, limit: Duration) -> Result<u64, String> {
    let mut target = 0;
    for rpc in ep.rpcs.iter() {
        target = target.max(height_at(rpc).await.unwrap_or(0));
    }
    let deadline = Instant::now() + limit;
    loop {
        let mut hs = Vec::new();
        for rpc in ep.rpcs.iter() {
            hs.push(height_at(rpc).await.unwrap_or(0));
        }
        if target > 0 && hs.iter().all(|h| *h >= target) {
            return Ok(target);
        }
        if Instant::now() > deadline {
            return Err(format!("{}: nodes at {hs:?}, wanted all at {target}", ep.chain_id));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `(block hash, app hash, tx hashes)` of heights `1..=top` at one node.
async fn blocks_of(rpc: String, top: u64) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let c = Rpc::bounded(&rpc);
    let mut out = Vec::with_capacity(top as usize);
    for h in 1..=top {
        let mut tries = 0;
        let b = loop {
            match c.block(h).await {
                Ok(b) => break b,
                e if tries >= 3 => return Err(format!("{rpc} block {h}: {e:?}")),
                _ => tries += 1,
            }
        };
        let txs = b.block.data.iter().map(|t| hex::encode_upper(sha2::Sha256::digest(t))).collect();
        out.push((b.block_id.hash.to_string(), b.block.header.app_hash.to_string(), txs));
    }
    Ok(out)
}

/// Every node's blocks up to `top` agree; the tx hash -> heights map of
/// the (agreed) chain.
pub async fn chain_agrees(ep: &Endpoint, top: u64, v: &mut Verdict) -> BTreeMap<String, Vec<u64>> {
    let tasks: Vec<_> = ep.rpcs.iter().map(|r| tokio::spawn(blocks_of(r.clone(), top))).collect();
    let mut chains = Vec::new();
    for t in tasks {
        match t.await.expect("block reader") {
            Ok(c) => chains.push(c),
            Err(e) => v.fail(format!("{}: {e}", ep.chain_id)),
        }
    }
    let mut index: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let Some(first) = chains.first() else { return index };
    for (i, (hash, app, txs)) in first.iter().enumerate() {
        let h = i as u64 + 1;
        for other in &chains[1..] {
            v.blocks_compared += 1;
            if &other[i].0 != hash {
                v.forks += 1;
                v.fail(format!("{} fork at height {h}: block {hash} vs {}", ep.chain_id, other[i].0));
            }
            if &other[i].1 != app {
                v.app_hash_mismatches += 1;
                v.fail(format!("{} app hash differs at height {h}: {app} vs {}", ep.chain_id, other[i].1));
            }
        }
        for t in txs {
            index.entry(t.clone()).or_default().push(h);
        }
    }
    for (t, hs) in &index {
        if hs.len() > 1 {
            v.duplicated += 1;
            v.fail(format!("{} tx {t} is in blocks {hs:?}", ep.chain_id));
        }
    }
    v.heights.insert(ep.chain_id.clone(), top);
    index
}

/// `(height, code)` of `hash` at one node; `None` if not found.
async fn lookup(rpc: &str, hash: &str) -> Result<Option<(u64, u32)>, String> {
    let h: tendermint::Hash = hash.parse().map_err(|e| format!("{e}"))?;
    for _ in 0..3 {
        match Rpc::bounded(rpc).tx(h, false).await {
            Ok(t) => return Ok(Some((t.height.value(), t.tx_result.code.value()))),
            Err(e) if e.to_string().contains("not found") => return Ok(None),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Err(format!("{rpc}: tx {hash} lookup failed"))
}

/// Every transaction of `history` sent to this zone: committed ones on
/// every node at the height and with the code the client was told, and
/// in exactly that block; refused ones nowhere; unknown ones at most once.
/// Only heights up to `top` were scanned: blocks above are not compared.
pub async fn transactions_as_told(
    ep: &Endpoint,
    history: &[Sent],
    index: &BTreeMap<String, Vec<u64>>,
    top: u64,
    v: &mut Verdict,
) {
    // A client may send the same bytes again after a refusal (same
    // sequence, same messages): then the hash may rightly be committed.
    let resent: std::collections::BTreeSet<&str> =
        history.iter().filter(|s| !matches!(s.outcome, Outcome::Refused { .. })).map(|s| s.hash.as_str()).collect();
    for s in history.iter().filter(|s| s.zone == ep.zone && !s.hash.is_empty()) {
        if matches!(s.outcome, Outcome::Refused { .. }) && resent.contains(s.hash.as_str()) {
            v.refused += 1;
            continue;
        }
        v.txs_checked += 1;
        let in_blocks = index.get(&s.hash).cloned().unwrap_or_default();
        let mut found = Vec::new();
        for rpc in ep.rpcs.iter() {
            match lookup(rpc, &s.hash).await {
                Ok(r) => found.push(r),
                Err(e) => v.fail(e),
            }
        }
        let same = found.windows(2).all(|w| w[0] == w[1]);
        if !same {
            v.wrong_result += 1;
            v.fail(format!("{} tx {} ({}) differs between nodes: {found:?}", ep.chain_id, s.hash, s.op));
        }
        let seen = found.first().cloned().flatten();
        let ok_code = match (&s.outcome, seen) {
            (Outcome::Committed { height, code }, Some((h, c))) => {
                v.committed += 1;
                if (h, c) != (*height, *code) || (h <= top && in_blocks != vec![*height]) {
                    v.wrong_result += 1;
                    v.fail(format!(
                        "{} tx {} ({}) told committed at {height} code {code}; index says {h} code {c}, blocks {in_blocks:?}",
                        ep.chain_id, s.hash, s.op
                    ));
                }
                c == 0
            }
            (Outcome::Committed { height, code }, None) => {
                v.lost += 1;
                v.fail(format!(
                    "{} tx {} ({}) told committed at {height} code {code} is not found",
                    ep.chain_id, s.hash, s.op
                ));
                false
            }
            (Outcome::Refused { code, log }, seen) => {
                v.refused += 1;
                *v.refused_by.entry(format!("{} code {code}: {}", s.op, refusal_kind(log))).or_default() += 1;
                if seen.is_some() || !in_blocks.is_empty() {
                    v.fail(format!(
                        "{} tx {} ({}) refused by CheckTx (code {code}: {log}) but committed: {seen:?} {in_blocks:?}",
                        ep.chain_id, s.hash, s.op
                    ));
                }
                false
            }
            (Outcome::Unknown(_), Some((h, c))) => {
                v.unknown_committed += 1;
                if h <= top && in_blocks != vec![h] {
                    v.fail(format!(
                        "{} tx {} ({}) indexed at {h} but in blocks {in_blocks:?}",
                        ep.chain_id, s.hash, s.op
                    ));
                }
                c == 0
            }
            (Outcome::Unknown(_), None) => {
                v.unknown_absent += 1;
                if !in_blocks.is_empty() {
                    v.lost += 1;
                    v.fail(format!("{} tx {} ({}) in blocks {in_blocks:?} but not indexed", ep.chain_id, s.hash, s.op));
                }
                false
            }
        };
        if let (true, Effect::Issue(a)) = (ok_code, s.effect) {
            v.issued += a;
        }
    }
}

/// Both zones' chain checks. If some node never catches up (a finding in
/// itself), the nodes that answer are still checked up to the lowest of
/// their heights.
pub async fn chains(zones: [(&Endpoint, ZoneName); 2], history: &[Sent], v: &mut Verdict) {
    for (ep, _) in zones {
        let (ep, top) = match caught_up(ep, Duration::from_secs(120)).await {
            Ok(top) => (ep.clone(), top),
            Err(e) => {
                v.fail(format!("not every node caught up: {e}"));
                let mut live = Vec::new();
                for rpc in ep.rpcs.iter() {
                    if let Some(h) = height_at(rpc).await {
                        live.push((rpc.clone(), h));
                    }
                }
                let Some(top) = live.iter().map(|(_, h)| *h).min() else {
                    v.fail(format!("{}: no node answers", ep.chain_id));
                    continue;
                };
                (Endpoint::new(ep.zone, &ep.chain_id, live.into_iter().map(|(r, _)| r).collect()), top)
            }
        };
        let index = chain_agrees(&ep, top, v).await;
        transactions_as_told(&ep, history, &index, top, v).await;
    }
}

/// A refusal's log with its numbers and addresses taken out, so the summary
/// counts kinds ("wrong sequence: expected N, got N"), not each instance.
fn refusal_kind(log: &str) -> String {
    let words: Vec<String> = log
        .split(' ')
        .map(|w| {
            let core = w.trim_end_matches([',', ':', ';', '.']);
            let tail = &w[core.len()..];
            if core.starts_with("kawase1") {
                format!("ADDR{tail}")
            } else if !core.is_empty() && core.chars().all(|c| c.is_ascii_digit()) {
                format!("N{tail}")
            } else {
                w.to_string()
            }
        })
        .collect();
    words.join(" ").chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::refusal_kind;

    #[test]
    fn refusals_are_counted_by_kind_not_by_their_numbers_or_addresses() {
        assert_eq!(refusal_kind("wrong sequence: expected 12, got 16"), "wrong sequence: expected N, got N");
        assert_eq!(
            refusal_kind("insufficient BZ balance: kawase12jdgqsxwtdfectd5 has 3"),
            "insufficient BZ balance: ADDR has N"
        );
    }
}
