//! Relaying: everything pending is found from chain state on every pass
//! (packet commitments on the sender, receipts and acks on the receiver),
//! so a restarted relayer picks up exactly where the chains are.
use std::collections::BTreeMap;

use anyhow::{anyhow, Context as _, Result};
use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use kawase_ibc::ibc_proto::google::protobuf::Any;
use kawase_ibc::ibc_proto::ibc::core::channel::v1::{MsgAcknowledgement, MsgRecvPacket, MsgTimeout, Packet};
use kawase_ibc::ibc_proto::ibc::core::client::v1::Height as RawHeight;

use crate::chain::Chain;
use crate::metrics::Metrics;
use crate::path::{any, proof_point, revision};

/// Most packet messages per transaction (each carries a ~1 KiB proof;
/// transactions are limited to 32 KiB).
const MSGS_PER_TX: usize = 20;
/// Most packets looked at per pass and direction.
const MAX_PER_PASS: usize = 1000;

/// One direction of the path: packets sent by `src` on `src_channel`.
pub struct Leg<'a> {
    pub src: &'a mut Chain,
    pub dst: &'a mut Chain,
    pub src_channel: &'a str,
    pub dst_channel: &'a str,
    /// `dst`'s client of `src`.
    pub client_on_dst: &'a str,
    /// `src`'s client of `dst`.
    pub client_on_src: &'a str,
}

/// What a pass found and did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassStats {
    pub pending: usize,
    pub received: usize,
    pub acked: usize,
    pub timed_out: usize,
}

fn attr(ev: &tendermint::abci::Event, key: &str) -> Option<String> {
    ev.attributes.iter().find(|a| a.key_str().ok() == Some(key)).and_then(|a| a.value_str().ok().map(str::to_owned))
}

/// How many RPC lookups (packet events, proofs) run at once.
const LOOKUPS_IN_FLIGHT: usize = 32;

/// The packets (with their acks, for `write_acknowledgement`) of `seqs`,
/// from events of `kind` whose `chan_key` attribute is `channel`. Events are
/// looked up by sequence (the node's index answers that directly); one
/// transaction carries many packets, so every matching event of a found
/// transaction is kept and the rest are probed in rounds, spread out so one
/// round rarely asks for the same transaction twice.
async fn packets_from_events(
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
async fn seqs(chain: &Chain, path: &str, channel: &str) -> Result<(Vec<u64>, u64)> {
    let (v, height) = chain.query(path, channel.as_bytes().to_vec(), 0).await?;
    Ok((serde_json::from_slice(&v)?, height))
}

/// Of `sequences`, those `dst` has no receipt for (asked in chunks that fit
/// the node's 4 KiB query limit).
async fn unreceived(dst: &Chain, dst_channel: &str, sequences: &[u64]) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for chunk in sequences.chunks(250) {
        let req = serde_json::json!({ "channel": dst_channel, "sequences": chunk });
        let (v, _) = dst.query("/ibc/unreceived", serde_json::to_vec(&req)?, 0).await?;
        out.extend(serde_json::from_slice::<Vec<u64>>(&v)?);
    }
    Ok(out)
}

/// Submits `msgs` in chunks, the client update (if any) first, in
/// back-to-back transactions that share blocks.
async fn submit_chunks(chain: &mut Chain, update: Option<Any>, msgs: Vec<Any>) -> Result<()> {
    let mut update = update;
    let batches = msgs
        .chunks(MSGS_PER_TX)
        .map(|chunk| {
            let mut batch: Vec<Any> = update.take().into_iter().collect();
            batch.extend(chunk.iter().cloned());
            batch
        })
        .collect();
    chain.submit_many(batches).await
}

/// One pass over one direction: receive what `dst` has not received (or
/// time it out on `src`), then acknowledge on `src` what `dst` has acked.
pub async fn relay_leg(leg: Leg<'_>, metrics: &Metrics) -> Result<PassStats> {
    let Leg { src, dst, src_channel, dst_channel, client_on_dst, client_on_src } = leg;
    let mut stats = PassStats::default();
    // Proofs are taken at or after the version the lists were read at.
    let (committed, src_version) = seqs(src, "/ibc/packet_commitments", src_channel).await?;
    stats.pending = committed.len();
    metrics.set_pending(src.name, committed.len());
    if committed.is_empty() {
        return Ok(stats);
    }
    let batch: Vec<u64> = committed.iter().copied().take(MAX_PER_PASS).collect();
    let todo = unreceived(dst, dst_channel, &batch).await?;

    // Receive or time out.
    if !todo.is_empty() {
        let (v, ph, update) = proof_point(dst, client_on_dst, src, src_version).await?;
        let dst_time = dst.time_at(dst.height().await?).await?;
        let dst_nanos = u64::try_from(dst_time.unix_timestamp_nanos()).unwrap_or(0);
        let mut recvs = Vec::new();
        let mut timeouts = Vec::new();
        let t_lookup = std::time::Instant::now();
        let packets = packets_from_events(src, "send_packet", "packet_src_channel", src_channel, &todo).await?;
        let src_ref: &Chain = src;
        let found: Vec<(Packet, Option<Vec<u8>>)> = stream::iter(todo.iter().filter_map(|s| packets.get(s)))
            .map(|(packet, _)| async move {
                if packet.timeout_timestamp != 0 && dst_nanos >= packet.timeout_timestamp {
                    return anyhow::Ok((packet.clone(), None));
                }
                let key = crate::keys::commitment(src_channel, packet.sequence)?;
                let (_, proof) = src_ref.query_proof(&key, v).await?;
                Ok((packet.clone(), Some(proof)))
            })
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        let signer = dst.key.address().to_string();
        let proof_height = RawHeight { revision_number: revision(&src.chain_id)?, revision_height: ph };
        for (packet, proof) in found {
            match proof {
                None => timeouts.push(packet),
                Some(proof_commitment) => recvs.push(any(MsgRecvPacket {
                    packet: Some(packet),
                    proof_commitment,
                    proof_height: Some(proof_height),
                    signer: signer.clone(),
                })),
            }
        }
        stats.received = recvs.len();
        tracing::debug!(packets = todo.len(), took = ?t_lookup.elapsed(), "looked up packets and proofs");
        if !recvs.is_empty() {
            let started = std::time::Instant::now();
            submit_chunks(dst, update, recvs).await.with_context(|| format!("receiving on {}", dst.name))?;
            metrics.relayed(dst.name, "recv", stats.received, started.elapsed());
            tracing::debug!(packets = stats.received, took = ?started.elapsed(), "receipts committed");
        }
        if !timeouts.is_empty() {
            // Proof of non-receipt at a `dst` height whose time is past
            // every one of these timeouts.
            let (v, ph, update) = proof_point(src, client_on_src, dst, 0).await?;
            let proof_time = dst.time_at(ph).await?;
            let proof_nanos = u64::try_from(proof_time.unix_timestamp_nanos()).unwrap_or(0);
            let mut msgs = Vec::new();
            for packet in timeouts.into_iter().filter(|p| proof_nanos >= p.timeout_timestamp) {
                let key = crate::keys::receipt(dst_channel, packet.sequence)?;
                let (value, proof_unreceived) = dst.query_proof(&key, v).await?;
                if !value.is_empty() {
                    continue; // received after all: its ack will come.
                }
                msgs.push(any(MsgTimeout {
                    next_sequence_recv: packet.sequence,
                    packet: Some(packet),
                    proof_unreceived,
                    proof_height: Some(RawHeight { revision_number: revision(&dst.chain_id)?, revision_height: ph }),
                    signer: src.key.address().to_string(),
                }));
            }
            stats.timed_out = msgs.len();
            if !msgs.is_empty() {
                let started = std::time::Instant::now();
                submit_chunks(src, update, msgs).await.with_context(|| format!("timeouts on {}", src.name))?;
                metrics.relayed(src.name, "timeout", stats.timed_out, started.elapsed());
            }
        }
    }

    // Acknowledge what `dst` received and acked, while `src` still holds
    // the commitment.
    let (acked, dst_version) = seqs(dst, "/ibc/packet_acks", dst_channel).await?;
    let still: std::collections::BTreeSet<u64> =
        seqs(src, "/ibc/packet_commitments", src_channel).await?.0.into_iter().collect();
    let to_ack: Vec<u64> = acked.into_iter().filter(|s| still.contains(s)).take(MAX_PER_PASS).collect();
    if !to_ack.is_empty() {
        let (v, ph, update) = proof_point(src, client_on_src, dst, dst_version).await?;
        let t_acks = std::time::Instant::now();
        let dst_ref: &Chain = dst;
        let proof_height = RawHeight { revision_number: revision(&dst.chain_id)?, revision_height: ph };
        let signer = src.key.address().to_string();
        let acks =
            packets_from_events(dst, "write_acknowledgement", "packet_dst_channel", dst_channel, &to_ack).await?;
        let msgs: Vec<Any> = stream::iter(to_ack.iter().filter_map(|s| acks.get(s)))
            .map(|(packet, ack)| {
                let signer = signer.clone();
                async move {
                    let key = crate::keys::ack(dst_channel, packet.sequence)?;
                    let (_, proof_acked) = dst_ref.query_proof(&key, v).await?;
                    anyhow::Ok(any(MsgAcknowledgement {
                        packet: Some(packet.clone()),
                        acknowledgement: ack.clone(),
                        proof_acked,
                        proof_height: Some(proof_height),
                        signer,
                    }))
                }
            })
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        stats.acked = msgs.len();
        tracing::debug!(packets = stats.acked, took = ?t_acks.elapsed(), "looked up acks and proofs");
        let started = std::time::Instant::now();
        submit_chunks(src, update, msgs).await.with_context(|| format!("acks on {}", src.name))?;
        tracing::debug!(packets = stats.acked, took = ?started.elapsed(), "acks committed");
        metrics.relayed(src.name, "ack", stats.acked, started.elapsed());
    }
    Ok(stats)
}
