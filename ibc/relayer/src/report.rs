//! What `paths` and `clients` read from the chains, and how they print it:
//! an aligned table for people, JSON with stable field names for scripts.
use std::time::Duration;

use anyhow::{anyhow, Result};
use kawase_ibc::ibc::clients::tendermint::client_state::consensus_state_status;
use kawase_ibc::ibc::core::client::types::Status;
use kawase_ibc::ibc::primitives::Timestamp;

use crate::chain::Chain;
use crate::path::{self, PathIds};

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Rows under a header, columns padded to their widest cell and two spaces
/// apart (the last column is not padded).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `-` for what does not exist (yet).
fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// One end of a path: identifiers from the path file, states from chain.
#[derive(Debug, serde::Serialize)]
pub struct EndReport {
    pub chain_id: String,
    pub client_id: Option<String>,
    pub connection_id: Option<String>,
    /// `INIT`, `TRYOPEN`, `OPEN`, or `MISSING` (named in the path file but
    /// not on chain); null without a connection id.
    pub connection_state: Option<String>,
    pub port_id: String,
    pub channel_id: Option<String>,
    /// `INIT`, `TRYOPEN`, `OPEN`, `CLOSED`, ... or `MISSING`.
    pub channel_state: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct PathReport {
    pub path_file: String,
    pub fz: EndReport,
    pub bz: EndReport,
}

fn some(id: &str) -> Option<String> {
    (!id.is_empty()).then(|| id.to_owned())
}

async fn end_report(chain: &Chain, client: &str, connection: &str, channel: &str) -> Result<EndReport> {
    let connection_state = match some(connection) {
        None => None,
        Some(id) => Some(match path::connection_end(chain, &id).await? {
            Some((end, _)) => path::connection_state_name(end.state),
            None => "MISSING".into(),
        }),
    };
    let channel_state = match some(channel) {
        None => None,
        Some(id) => Some(match path::channel_end(chain, &id).await? {
            Some((end, _)) => path::channel_state_name(end.state),
            None => "MISSING".into(),
        }),
    };
    Ok(EndReport {
        chain_id: chain.chain_id.clone(),
        client_id: some(client),
        connection_id: some(connection),
        connection_state,
        port_id: kawase_ibc::SETTLEMENT_PORT.into(),
        channel_id: some(channel),
        channel_state,
    })
}

pub async fn path_report(fz: &Chain, bz: &Chain, ids: &PathIds, file: &std::path::Path) -> Result<PathReport> {
    Ok(PathReport {
        path_file: file.display().to_string(),
        fz: end_report(fz, &ids.fz_client, &ids.fz_connection, &ids.fz_channel).await?,
        bz: end_report(bz, &ids.bz_client, &ids.bz_connection, &ids.bz_channel).await?,
    })
}

pub fn paths_text(paths: &[PathReport]) -> String {
    let header = ["PATH", "ZONE", "CHAIN ID", "CLIENT", "CONNECTION", "STATE", "PORT", "CHANNEL", "STATE"];
    let mut rows = Vec::new();
    for p in paths {
        for (i, (zone, end)) in [("FZ", &p.fz), ("BZ", &p.bz)].into_iter().enumerate() {
            rows.push(vec![
                if i == 0 { p.path_file.clone() } else { String::new() },
                zone.into(),
                end.chain_id.clone(),
                or_dash(&end.client_id),
                or_dash(&end.connection_id),
                or_dash(&end.connection_state),
                end.port_id.clone(),
                or_dash(&end.channel_id),
                or_dash(&end.channel_state),
            ]);
        }
    }
    table(&header, &rows)
}

/// One light client: where it lives, what it tracks, and how long it can
/// go without an update.
#[derive(Debug, serde::Serialize)]
pub struct ClientReport {
    /// The zone the client lives on (`fz` or `bz`).
    pub zone: String,
    pub host_chain_id: String,
    pub client_id: String,
    /// The chain the client tracks.
    pub tracked_chain_id: String,
    /// `Active`, `Frozen` or `Expired` (ibc-rs' client status).
    pub status: String,
    pub revision_number: u64,
    /// The latest height of the tracked chain the client has.
    pub latest_height: u64,
    /// Set once misbehaviour froze the client.
    pub frozen_height: Option<u64>,
    /// Header time of the latest consensus state (RFC 3339).
    pub consensus_time: Option<String>,
    pub trusting_period_secs: u64,
    /// `consensus_time + trusting_period`: without an update by then, the
    /// client expires (RFC 3339).
    pub expires_at: Option<String>,
    /// The host zone's latest block time, against which status and time
    /// left are reckoned (RFC 3339).
    pub host_time: String,
    /// Seconds from `host_time` to `expires_at` (0 once expired).
    pub time_left_secs: u64,
    /// Less than a third of the trusting period is left.
    pub refresh_soon: bool,
}

/// `host`'s client `client_id`, read from `host` and judged against
/// `host`'s latest block time, as ibc-rs judges it.
pub async fn client_report(host: &Chain, client_id: &str) -> Result<ClientReport> {
    let cs = path::client_state(host, client_id)
        .await?
        .ok_or_else(|| anyhow!("the {} has no client {client_id}", host.label()))?;
    let consensus = path::consensus_state(host, client_id, cs.latest_height).await?;
    let host_time = host.time_at(host.height().await?).await?;
    let host_ts = Timestamp::from_nanoseconds(u64::try_from(host_time.unix_timestamp_nanos()).unwrap_or(0));
    let status = if cs.is_frozen() {
        Status::Frozen
    } else {
        match &consensus {
            // ibc-rs: without a consensus state at the latest height the
            // client is expired.
            None => Status::Expired,
            Some(c) => consensus_state_status(c, &host_ts, cs.trusting_period).map_err(|e| anyhow!("{e}"))?,
        }
    };
    let consensus_time = consensus.as_ref().map(|c| c.timestamp());
    let expires_at = consensus_time.and_then(|t| t.checked_add(cs.trusting_period));
    let time_left = expires_at.and_then(|e| e.duration_since(host_time).ok()).unwrap_or_default();
    Ok(ClientReport {
        zone: host.name.into(),
        host_chain_id: host.chain_id.clone(),
        client_id: client_id.into(),
        tracked_chain_id: cs.chain_id.to_string(),
        status: status.to_string(),
        revision_number: cs.latest_height.revision_number(),
        latest_height: cs.latest_height.revision_height(),
        frozen_height: cs.frozen_height.map(|h| h.revision_height()),
        consensus_time: consensus_time.map(|t| t.to_rfc3339()),
        trusting_period_secs: cs.trusting_period.as_secs(),
        expires_at: expires_at.map(|t| t.to_rfc3339()),
        host_time: host_time.to_rfc3339(),
        time_left_secs: time_left.as_secs(),
        refresh_soon: status == Status::Active && time_left < cs.trusting_period / 3,
    })
}

/// `13d 23h 59m`, `2h 5m`, `40s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if days > 0 {
        format!("{days}d {hours}h {mins}m")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m {}s", s % 60)
    } else {
        format!("{s}s")
    }
}

/// An RFC 3339 time to the second.
fn short_time(t: &Option<String>) -> String {
    match t {
        None => "-".into(),
        Some(t) => match t.split_once('.') {
            Some((secs, _)) => format!("{secs}Z"),
            None => t.clone(),
        },
    }
}

pub fn clients_text(clients: &[ClientReport]) -> String {
    let header = [
        "ZONE",
        "CLIENT",
        "TRACKS",
        "STATUS",
        "HEIGHT",
        "CONSENSUS TIME",
        "TRUSTING",
        "EXPIRES AT",
        "TIME LEFT",
        "NOTE",
    ];
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            let note = match c.status.as_str() {
                "Active" if c.refresh_soon => {
                    format!("refresh soon: kawase-relayer update-client --zone {}", c.zone)
                }
                "Frozen" => format!("misbehaviour at {}-{}", c.revision_number, c.frozen_height.unwrap_or(0)),
                "Expired" => "expired: create a new path".into(),
                _ => String::new(),
            };
            vec![
                c.zone.to_uppercase(),
                c.client_id.clone(),
                c.tracked_chain_id.clone(),
                c.status.clone(),
                format!("{}-{}", c.revision_number, c.latest_height),
                short_time(&c.consensus_time),
                human_duration(Duration::from_secs(c.trusting_period_secs)),
                short_time(&c.expires_at),
                human_duration(Duration::from_secs(c.time_left_secs)),
                note,
            ]
        })
        .collect();
    table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_leaves_the_last_unpadded() {
        let t = table(&["A", "BB", "C"], &[vec!["xxx".into(), "y".into(), "z".into()]]);
        assert_eq!(t, "A    BB  C\nxxx  y   z");
    }

    #[test]
    fn durations_read_as_days_hours_minutes() {
        assert_eq!(human_duration(Duration::from_secs(14 * 86_400)), "14d 0h 0m");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600 + 120)), "3h 2m");
        assert_eq!(human_duration(Duration::from_secs(65)), "1m 5s");
        assert_eq!(human_duration(Duration::from_secs(9)), "9s");
    }

    #[test]
    fn times_print_to_the_second() {
        assert_eq!(short_time(&Some("2025-01-02T03:04:05.123456789Z".into())), "2025-01-02T03:04:05Z");
        assert_eq!(short_time(&None), "-");
    }
}
