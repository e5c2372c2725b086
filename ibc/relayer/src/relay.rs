//! Relaying as two lanes that run side by side, one per zone. A lane
//! submits to its *home* zone everything that zone must be told: the other
//! zone's packets to receive, the acknowledgements of home's own packets,
//! and the timeouts of home's packets that expired unreceived. So the FZ's
//! receipts of one batch overlap the BZ's acknowledgements of the previous
//! one, each key has one submitter, and every lane round needs one client
//! update of home's client of the other zone.
//!
//! Everything pending is found from chain state on every round (packet
//! commitments, receipts and acks), so a restarted relayer picks up exactly
//! where the chains are; nothing is trusted: the zones verify every proof.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use kawase_ibc::ibc_proto::google::protobuf::Any;
use kawase_ibc::ibc_proto::ibc::core::channel::v1::{MsgAcknowledgement, MsgRecvPacket, MsgTimeout, Packet};
use kawase_ibc::ibc_proto::ibc::core::client::v1::Height as RawHeight;

use crate::chain::{Chain, Delivered};
use crate::lookup::{acked, packets_from_events, seqs, unreceived, LOOKUPS_IN_FLIGHT, MSGS_PER_TX};
use crate::metrics::Metrics;
use crate::path::{any, proof_point, revision};
use crate::share::{Share, Waiting};

/// Most packets looked at per round and kind (receive, acknowledge).
const MAX_PER_ROUND: usize = 1000;

/// One zone's lane.
pub struct Lane<'a> {
    /// Where this lane submits.
    pub home: &'a Chain,
    /// The other zone, only read.
    pub away: &'a Chain,
    pub home_channel: &'a str,
    pub away_channel: &'a str,
    /// `home`'s client of `away`.
    pub client_on_home: &'a str,
}

/// Packets sent by one zone that a lane found expired at the other: the
/// receiving lane cannot deliver them, so it hands them to the sending
/// zone's lane, which proves their non-receipt. Deduplicated by sequence and
/// bounded; losing one is harmless, it is found again the next round.
#[derive(Default)]
pub struct Expired(Mutex<BTreeMap<u64, Packet>>);

impl Expired {
    fn put(&self, packets: impl IntoIterator<Item = Packet>) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for p in packets {
            if m.len() < MAX_PER_ROUND {
                m.insert(p.sequence, p);
            }
        }
    }

    fn take(&self) -> Vec<Packet> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner())).into_values().collect()
    }
}

/// What a lane keeps between its rounds: which of another relayer's
/// sequences have waited long enough to be taken over.
#[derive(Default)]
pub struct LaneState {
    recv_waiting: Waiting,
    ack_waiting: Waiting,
}

/// What a round found and did.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundStats {
    /// The away zone's packets not yet acknowledged.
    pub pending: usize,
    pub received: usize,
    pub acked: usize,
    pub timed_out: usize,
    /// Messages that turned out to be no-ops: another relayer delivered
    /// the same packet first (the zone accepts them and does nothing).
    pub redundant: usize,
}

impl RoundStats {
    pub fn did_something(&self) -> bool {
        self.received + self.acked + self.timed_out > 0
    }
}

/// What one round sends home.
struct Outgoing {
    recvs: Vec<Any>,
    acks: Vec<Any>,
    timeouts: Vec<Any>,
}

/// One round of `lane`. `expired_away` receives the away zone's packets
/// that expired at home; `expired_home` holds home's packets the other lane
/// found expired away.
pub async fn round(
    lane: &Lane<'_>,
    state: &mut LaneState,
    share: Share,
    expired_away: &Expired,
    expired_home: &Expired,
    metrics: &Metrics,
) -> Result<RoundStats> {
    let Lane { home, away, home_channel, away_channel, client_on_home } = *lane;
    let mut stats = RoundStats::default();

    // What is pending, read before the proof height is chosen: proofs are
    // taken at or after the versions these lists were read at.
    let (committed_away, version_c) = seqs(away, "/ibc/packet_commitments", away_channel).await?;
    stats.pending = committed_away.len();
    metrics.set_pending(away.name, committed_away.len());
    let to_recv = if committed_away.is_empty() {
        Vec::new()
    } else {
        let look: Vec<u64> = committed_away.iter().copied().take(MAX_PER_ROUND).collect();
        state.recv_waiting.pick(share, unreceived(home, home_channel, &look).await?)
    };
    // Home's own packets still pending, and which of them away has acked
    // (asked by sequence: away keeps every ack it ever wrote).
    let (committed_home, _) = seqs(home, "/ibc/packet_commitments", home_channel).await?;
    let mine: Vec<u64> = committed_home.iter().copied().take(MAX_PER_ROUND).collect();
    let (acked_away, version_a) =
        if mine.is_empty() { (Vec::new(), 0) } else { acked(away, away_channel, &mine).await? };
    let still: BTreeSet<u64> = committed_home.iter().copied().collect();
    let acked_set: BTreeSet<u64> = acked_away.iter().copied().collect();
    let to_ack = state.ack_waiting.pick(share, acked_away);
    let expired: Vec<Packet> = expired_home
        .take()
        .into_iter()
        .filter(|p| still.contains(&p.sequence) && !acked_set.contains(&p.sequence))
        .collect();
    if to_recv.is_empty() && to_ack.is_empty() && expired.is_empty() {
        return Ok(stats);
    }

    // One proof height for the whole round, and one client update.
    let (v, ph, update) = proof_point(home, client_on_home, away, version_c.max(version_a)).await?;
    let proof_height = RawHeight { revision_number: revision(&away.chain_id)?, revision_height: ph };
    let signer = home.key.address().to_string();
    let t_lookup = Instant::now();
    let mut out = Outgoing { recvs: Vec::new(), acks: Vec::new(), timeouts: Vec::new() };

    if !to_recv.is_empty() {
        // A packet already expired at home can only be timed out, on away.
        let home_time = home.time_at(home.height().await?).await?;
        let home_nanos = u64::try_from(home_time.unix_timestamp_nanos()).unwrap_or(0);
        let packets = packets_from_events(away, "send_packet", "packet_src_channel", away_channel, &to_recv).await?;
        let (dead, live): (Vec<&Packet>, Vec<&Packet>) = to_recv
            .iter()
            .filter_map(|s| packets.get(s).map(|(p, _)| p))
            .partition(|p| p.timeout_timestamp != 0 && home_nanos >= p.timeout_timestamp);
        expired_away.put(dead.into_iter().cloned());
        out.recvs = stream::iter(live)
            .map(|packet| {
                let signer = signer.clone();
                async move {
                    let key = crate::keys::commitment(away_channel, packet.sequence)?;
                    let (_, proof_commitment) = away.query_proof(&key, v).await?;
                    anyhow::Ok(any(MsgRecvPacket {
                        packet: Some(packet.clone()),
                        proof_commitment,
                        proof_height: Some(proof_height),
                        signer,
                    }))
                }
            })
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
    }

    if !to_ack.is_empty() {
        let acks =
            packets_from_events(away, "write_acknowledgement", "packet_dst_channel", away_channel, &to_ack).await?;
        out.acks = stream::iter(to_ack.iter().filter_map(|s| acks.get(s)))
            .map(|(packet, ack)| {
                let signer = signer.clone();
                async move {
                    let key = crate::keys::ack(away_channel, packet.sequence)?;
                    let (_, proof_acked) = away.query_proof(&key, v).await?;
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
    }

    if !expired.is_empty() {
        // Proof of non-receipt at an away height whose time is past each
        // of these timeouts; the others wait for a later round.
        let proof_time = away.time_at(ph).await?;
        let proof_nanos = u64::try_from(proof_time.unix_timestamp_nanos()).unwrap_or(0);
        for packet in expired.into_iter().filter(|p| proof_nanos >= p.timeout_timestamp) {
            let key = crate::keys::receipt(away_channel, packet.sequence)?;
            let (value, proof_unreceived) = away.query_proof(&key, v).await?;
            if !value.is_empty() {
                continue; // received after all: its ack will come.
            }
            out.timeouts.push(any(MsgTimeout {
                next_sequence_recv: packet.sequence,
                packet: Some(packet),
                proof_unreceived,
                proof_height: Some(proof_height),
                signer: signer.clone(),
            }));
        }
    }
    tracing::debug!(
        recvs = out.recvs.len(),
        acks = out.acks.len(),
        timeouts = out.timeouts.len(),
        took = ?t_lookup.elapsed(),
        "{}: looked up packets and proofs",
        home.name
    );

    stats.received = out.recvs.len();
    stats.acked = out.acks.len();
    stats.timed_out = out.timeouts.len();
    if !stats.did_something() {
        return Ok(stats);
    }
    let kinds = [("recv", stats.received), ("ack", stats.acked), ("timeout", stats.timed_out)];
    let msgs: Vec<Any> = out.recvs.into_iter().chain(out.acks).chain(out.timeouts).collect();
    let started = Instant::now();
    let delivered =
        submit_chunks(home, update, msgs).await.with_context(|| format!("relaying to the {}", home.label()))?;
    let took = started.elapsed();
    for (kind, sent) in kinds {
        if sent > 0 {
            let wasted = sent.saturating_sub(acted_on(&delivered, kind));
            metrics.relayed(home.name, kind, sent - wasted, took);
            metrics.redundant(home.name, kind, wasted);
            stats.redundant += wasted;
        }
    }
    tracing::debug!(?stats, took = ?took, "{}: committed", home.name);
    Ok(stats)
}

/// How many packets of `kind` the delivered transactions acted on. A
/// message another relayer made redundant is a no-op that emits no event.
fn acted_on(delivered: &[Delivered], kind: &str) -> usize {
    let event = match kind {
        "recv" => "recv_packet",
        "ack" => "acknowledge_packet",
        _ => "timeout_packet",
    };
    delivered.iter().flat_map(|d| &d.events).filter(|e| e.kind == event).count()
}

/// Submits `msgs` in chunks, the client update (if any) first, in
/// back-to-back transactions that share blocks.
async fn submit_chunks(chain: &Chain, update: Option<Any>, msgs: Vec<Any>) -> Result<Vec<Delivered>> {
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

/// Runs `lane` until the process ends: a round, then a pause if it found
/// nothing (or failed), and home's client refreshed every `refresh`.
pub async fn run(
    lane: Lane<'_>,
    share: Share,
    expired_away: &Expired,
    expired_home: &Expired,
    idle: Duration,
    refresh: Duration,
    metrics: &Metrics,
) {
    let mut state = LaneState::default();
    let mut refreshed = Instant::now();
    loop {
        metrics.pass();
        let result = round(&lane, &mut state, share, expired_away, expired_home, metrics).await;
        match result {
            Ok(stats) if stats.did_something() => tracing::info!(?stats, "relayed to the {}", lane.home.label()),
            Ok(_) => tokio::time::sleep(idle).await,
            Err(e) => {
                metrics.error();
                tracing::warn!("relay round to the {} failed (will retry from chain state): {e:#}", lane.home.label());
                tokio::time::sleep(idle.max(Duration::from_millis(500))).await;
            }
        }
        if refreshed.elapsed() >= refresh {
            match crate::path::update_client(lane.home, lane.client_on_home, lane.away).await {
                Ok(_) => refreshed = Instant::now(),
                Err(e) => {
                    metrics.error();
                    tracing::warn!("refreshing the {}'s client failed (will retry): {e:#}", lane.home.label());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str) -> tendermint::abci::Event {
        tendermint::abci::Event::new(kind, Vec::<tendermint::abci::EventAttribute>::new())
    }

    fn packet(sequence: u64) -> Packet {
        Packet { sequence, ..Default::default() }
    }

    #[test]
    fn a_message_that_emitted_no_packet_event_counts_as_redundant() {
        // Three receipts sent, two took effect (a second relayer had
        // delivered the third), one ack sent and taken.
        let delivered = vec![
            Delivered {
                height: 5,
                events: vec![event("update_client"), event("recv_packet"), event("write_acknowledgement")],
            },
            Delivered { height: 5, events: vec![event("recv_packet"), event("acknowledge_packet")] },
        ];
        assert_eq!(acted_on(&delivered, "recv"), 2);
        assert_eq!(acted_on(&delivered, "ack"), 1);
        assert_eq!(acted_on(&delivered, "timeout"), 0);
    }

    #[test]
    fn expired_packets_are_handed_over_once_each_and_the_box_is_bounded() {
        let b = Expired::default();
        b.put([packet(3), packet(3), packet(1)]);
        let taken: Vec<u64> = b.take().iter().map(|p| p.sequence).collect();
        assert_eq!(taken, vec![1, 3]);
        assert!(b.take().is_empty(), "taking empties the box");
        b.put((0..(MAX_PER_ROUND as u64 + 50)).map(packet));
        assert_eq!(b.take().len(), MAX_PER_ROUND);
    }
}
