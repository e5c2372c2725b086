//! Resuming a path from chain state alone. The path file records each new
//! identifier right after the chain has it, but a crash between the two (or
//! a lost path file) would otherwise leave ends the relayer no longer knows:
//! a second ChanOpenTry is refused by a BZ already bound to the first, so
//! such a path could never complete. Before each step the relayer looks for
//! the missing identifiers on the chains: clients tracking the other zone's
//! chain, connections between the path's clients, settlement channels on the
//! path's connection, whose counterparty fields tie the two ends together.
//! Scans are bounded (the newest [`SCAN`] identifiers of each kind).
use anyhow::Result;
use kawase_ibc::ibc_proto::ibc::core::channel::v1 as chan;
use kawase_ibc::ibc_proto::ibc::core::connection::v1 as conn;

use crate::chain::Chain;
use crate::path::{channel_end, client_state, connection_end, PathIds};

/// Most identifiers of one kind looked at per chain.
const SCAN: u64 = 256;

/// Test hook: `KAWASE_RELAYER_CRASH_AFTER=<step>` makes the process exit
/// right after `step`'s transaction committed and before the path file
/// records it, the window this module exists for.
pub fn crash_point(step: &str) {
    if std::env::var("KAWASE_RELAYER_CRASH_AFTER").is_ok_and(|s| s == step) {
        eprintln!("crash point {step}: exiting before the path file records it");
        std::process::exit(86);
    }
}

async fn counter(chain: &Chain, key: &str) -> Result<u64> {
    let (v, _) = chain.query("/store", key.as_bytes().to_vec(), 0).await?;
    Ok(<[u8; 8]>::try_from(v.as_slice()).map(u64::from_be_bytes).unwrap_or(0))
}

/// The newest identifiers first: `prefix-(n-1)` down to `prefix-(n-SCAN)`.
async fn newest_ids(chain: &Chain, counter_key: &str, prefix: &str) -> Result<Vec<String>> {
    let n = counter(chain, counter_key).await?;
    Ok((n.saturating_sub(SCAN)..n).rev().map(|i| format!("{prefix}-{i}")).collect())
}

/// The oldest unfrozen client on `host` tracking `tracked` (the path's own:
/// substitutes and strays come later).
async fn find_client(host: &Chain, tracked: &Chain) -> Result<Option<String>> {
    for id in newest_ids(host, "ibc/counter/clients", "07-tendermint").await?.into_iter().rev() {
        if let Some(cs) = client_state(host, &id).await? {
            if cs.chain_id.as_str() == tracked.chain_id && cs.frozen_height.is_none() {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

/// Rank of a handshake state: the furthest-along end is the one to resume.
fn rank(state: i32) -> i32 {
    match state {
        3 => 2,     // OPEN
        1 | 2 => 1, // INIT, TRYOPEN
        _ => 0,
    }
}

async fn find_connection(chain: &Chain, want: impl Fn(&conn::ConnectionEnd) -> bool) -> Result<Option<String>> {
    let mut best: Option<(i32, String)> = None;
    for id in newest_ids(chain, "ibc/counter/connections", "connection").await? {
        if let Some((end, _)) = connection_end(chain, &id).await? {
            if rank(end.state) > 0 && want(&end) && best.as_ref().is_none_or(|(r, _)| rank(end.state) > *r) {
                best = Some((rank(end.state), id));
            }
        }
    }
    Ok(best.map(|(_, id)| id))
}

async fn find_channel(chain: &Chain, want: impl Fn(&chan::Channel) -> bool) -> Result<Option<String>> {
    let mut best: Option<(i32, String)> = None;
    for id in newest_ids(chain, "ibc/counter/channels", "channel").await? {
        if let Some((end, _)) = channel_end(chain, &id).await? {
            if rank(end.state) > 0 && want(&end) && best.as_ref().is_none_or(|(r, _)| rank(end.state) > *r) {
                best = Some((rank(end.state), id));
            }
        }
    }
    Ok(best.map(|(_, id)| id))
}

/// Fills the identifiers `ids` lacks from what the chains hold; `true` if
/// it found any (the caller records them).
pub async fn discover(fz: &Chain, bz: &Chain, ids: &mut PathIds) -> Result<bool> {
    let before = ids.clone();
    if ids.fz_client.is_empty() {
        ids.fz_client = find_client(fz, bz).await?.unwrap_or_default();
    }
    if ids.bz_client.is_empty() {
        ids.bz_client = find_client(bz, fz).await?.unwrap_or_default();
    }
    if !ids.has_clients() {
        return Ok(*ids != before);
    }
    if ids.fz_connection.is_empty() {
        let (a, b) = (ids.fz_client.clone(), ids.bz_client.clone());
        let found =
            find_connection(fz, |e| e.client_id == a && e.counterparty.as_ref().is_some_and(|c| c.client_id == b))
                .await?;
        ids.fz_connection = found.unwrap_or_default();
    }
    if !ids.fz_connection.is_empty() && ids.bz_connection.is_empty() {
        let (b, fz_conn) = (ids.bz_client.clone(), ids.fz_connection.clone());
        let found = find_connection(bz, |e| {
            e.client_id == b && e.counterparty.as_ref().is_some_and(|c| c.connection_id == fz_conn)
        })
        .await?;
        ids.bz_connection = found.unwrap_or_default();
    }
    if !ids.has_connection() {
        return Ok(*ids != before);
    }
    if ids.fz_channel.is_empty() {
        let fz_conn = ids.fz_connection.clone();
        ids.fz_channel = find_channel(fz, |e| e.connection_hops.first() == Some(&fz_conn)).await?.unwrap_or_default();
    }
    if !ids.fz_channel.is_empty() && ids.bz_channel.is_empty() {
        let (bz_conn, fz_chan) = (ids.bz_connection.clone(), ids.fz_channel.clone());
        let found = find_channel(bz, |e| {
            e.connection_hops.first() == Some(&bz_conn)
                && e.counterparty.as_ref().is_some_and(|c| c.channel_id == fz_chan)
        })
        .await?;
        ids.bz_channel = found.unwrap_or_default();
    }
    Ok(*ids != before)
}
