//! Reading what is pending from chain state: the sequences a channel has
//! committed, received or acked (ABCI list queries), and the packets and
//! acknowledgements themselves (the events of the transactions that sent or
//! acked them, found through the node's index by sequence).
use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use kawase_ibc::ibc_proto::ibc::core::channel::v1::Packet;
use kawase_ibc::ibc_proto::ibc::core::client::v1::Height as RawHeight;

use crate::chain::Chain;

/// Most packet messages per transaction (each carries a ~1 KiB proof;
/// transactions are limited to 32 KiB).
pub const MSGS_PER_TX: usize = 20;

/// How many RPC lookups (packet events, proofs) run at once.
pub const LOOKUPS_IN_FLIGHT: usize = 32;

pub fn attr(ev: &tendermint::abci::Event, key: &str) -> Option<String> {
    ev.attributes.iter().find(|a| a.key_str().ok() == Some(key)).and_then(|a| a.value_str().ok().map(str::to_owned))
}

/// The packets (with their acks, for `write_acknowledgement`) of `seqs`,
/// from events of `kind` whose `chan_key` attribute is `channel`. Events are
/// looked up by sequence (the node's index answers that directly); one
/// transaction carries many packets, so every matching event of a found
/// transaction is kept and the rest are probed in rounds, spread out so one
/// round rarely asks for the same transaction twice.
pub async fn packets_from_events(
    chain: &Chain,
    kind: &str,
    chan_key: &str,
    channel: &str,
    seqs: &[u64],
) -> Result<BTreeMap<u64, (Packet, Vec<u8>)>> {
    let mut found: BTreeMap<u64, (Packet, Vec<u8>)> = BTreeMap::new();
    loop {
        let missing: Vec<u64> = seqs.iter().copied().filter(|s| !found.contains_key(s)).collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let stride = (missing.len() / LOOKUPS_IN_FLIGHT).clamp(1, MSGS_PER_TX);
        let probe: Vec<u64> = missing.iter().copied().step_by(stride).take(LOOKUPS_IN_FLIGHT).collect();
        let results: Vec<_> = stream::iter(probe.iter().copied())
            .map(|seq| async move { chain.search(&format!("{kind}.packet_sequence = '{seq}'")).await })
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        for tx in results.into_iter().flatten() {
            for ev in tx.tx_result.events.iter().filter(|e| e.kind == kind) {
                if attr(ev, chan_key).as_deref() != Some(channel) {
                    continue;
                }
                let Some(seq) = attr(ev, "packet_sequence").and_then(|s| s.parse::<u64>().ok()) else { continue };
                if found.contains_key(&seq) {
                    continue;
                }
                let ack = attr(ev, "packet_ack_hex").map(hex::decode).transpose()?.unwrap_or_default();
                found.insert(seq, (packet_from_event(ev)?, ack));
            }
        }
        if let Some(seq) = probe.iter().find(|s| !found.contains_key(s)) {
            return Err(anyhow!("{}: no {kind} event for {channel}/{seq}", chain.name));
        }
    }
}

fn packet_from_event(ev: &tendermint::abci::Event) -> Result<Packet> {
    let get = |k: &str| attr(ev, k).ok_or_else(|| anyhow!("event without {k}"));
    let (rev, h) = get("packet_timeout_height")?
        .split_once('-')
        .map(|(a, b)| (a.parse::<u64>().unwrap_or(0), b.parse::<u64>().unwrap_or(0)))
        .unwrap_or((0, 0));
    Ok(Packet {
        sequence: get("packet_sequence")?.parse()?,
        source_port: get("packet_src_port")?,
        source_channel: get("packet_src_channel")?,
        destination_port: get("packet_dst_port")?,
        destination_channel: get("packet_dst_channel")?,
        data: hex::decode(get("packet_data_hex")?)?,
        timeout_height: Some(RawHeight { revision_number: rev, revision_height: h }),
        timeout_timestamp: get("packet_timeout_timestamp")?.parse()?,
    })
}

/// Sequences listed by `path` for `channel` at the latest state, and the
/// state version they were read at.
pub async fn seqs(chain: &Chain, path: &str, channel: &str) -> Result<(Vec<u64>, u64)> {
    let (v, height) = chain.query(path, channel.as_bytes().to_vec(), 0).await?;
    Ok((serde_json::from_slice(&v)?, height))
}

/// Of `sequences`, those `dst` has no receipt for.
pub async fn unreceived(dst: &Chain, dst_channel: &str, sequences: &[u64]) -> Result<Vec<u64>> {
    Ok(filtered(dst, "/ibc/unreceived", dst_channel, sequences).await?.0)
}

/// Of `sequences`, those `dst` received and stored an ack for, and the
/// state version they were read at (the lowest proof version).
pub async fn acked(dst: &Chain, dst_channel: &str, sequences: &[u64]) -> Result<(Vec<u64>, u64)> {
    filtered(dst, "/ibc/acked", dst_channel, sequences).await
}

/// A packet-state filter query (`/ibc/unreceived`, `/ibc/acked`), asked in
/// chunks that fit the node's 4 KiB query limit; the highest version any
/// chunk was answered at.
async fn filtered(chain: &Chain, path: &str, channel: &str, sequences: &[u64]) -> Result<(Vec<u64>, u64)> {
    let mut out = Vec::new();
    let mut version = 0;
    for chunk in sequences.chunks(250) {
        let req = serde_json::json!({ "channel": channel, "sequences": chunk });
        let (v, h) = chain.query(path, serde_json::to_vec(&req)?, 0).await?;
        out.extend(serde_json::from_slice::<Vec<u64>>(&v)?);
        version = version.max(h);
    }
    Ok((out, version))
}

/// Keys proven per `/store/proofs` request (the node allows 256).
pub const PROOFS_PER_QUERY: usize = 128;

/// The IBC proofs at version `v` of the keys `key(channel, seq)` for
/// `seqs` on `chain`, in order: `PROOFS_PER_QUERY` keys per request, a few
/// requests at once.
pub async fn proofs(
    chain: &Chain,
    key: fn(&str, u64) -> Result<String>,
    channel: &str,
    seqs: &[u64],
    v: u64,
) -> Result<Vec<Vec<u8>>> {
    let Some(&first) = seqs.first() else { return Ok(Vec::new()) };
    // Every key is the channel's prefix followed by the sequence.
    let sample = key(channel, first)?;
    let prefix = sample
        .strip_suffix(&first.to_string())
        .ok_or_else(|| anyhow!("key {sample} does not end in its sequence"))?
        .to_owned();
    let chunks: Vec<Vec<String>> =
        seqs.chunks(PROOFS_PER_QUERY).map(|c| c.iter().map(u64::to_string).collect()).collect();
    let answers: Vec<Vec<(Vec<u8>, Vec<u8>)>> = stream::iter(chunks)
        .map(|keys| {
            let prefix = prefix.clone();
            async move { chain.query_proofs(&prefix, &keys, v).await }
        })
        .buffered(4)
        .try_collect()
        .await?;
    Ok(answers.into_iter().flatten().map(|(_, proof)| proof).collect())
}
