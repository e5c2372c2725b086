//! Planning one lane round: what is pending and not already in flight,
//! the packets and acknowledgements from the away zone's events, and their
//! proofs at one proof height with one client update.
use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::Result;
use kawase_ibc::ibc_proto::google::protobuf::Any;
use kawase_ibc::ibc_proto::ibc::core::channel::v1::{MsgAcknowledgement, MsgRecvPacket, MsgTimeout, Packet};
use kawase_ibc::ibc_proto::ibc::core::client::v1::Height as RawHeight;

use super::{Carried, Expired, Lane, LaneState, RoundStats, MAX_PER_ROUND};
use crate::lookup::{acked, packets_from_events, proofs, seqs, unreceived};
use crate::metrics::Metrics;
use crate::path::{any, proof_point, revision};
use crate::share::Share;

/// What one round sends home.
struct Outgoing {
    recvs: Vec<Any>,
    acks: Vec<Any>,
    timeouts: Vec<Any>,
}

/// A round ready to broadcast: the client update, then its messages.
pub(super) struct Planned {
    pub update: Option<Any>,
    pub msgs: Vec<Any>,
    pub carried: Carried,
    pub stats: RoundStats,
}

/// Plans one round of `lane`: what is pending and not already in flight,
/// with proofs. `expired_away` receives the away zone's packets that
/// expired at home; `expired_home` holds home's packets the other lane
/// found expired away.
pub(super) async fn plan(
    lane: &Lane<'_>,
    state: &mut LaneState,
    share: Share,
    expired_away: &Expired,
    expired_home: &Expired,
    metrics: &Metrics,
) -> Result<Option<Planned>> {
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
        let look: Vec<u64> =
            committed_away.iter().copied().filter(|s| !state.in_flight.recv.contains(s)).take(MAX_PER_ROUND).collect();
        state.recv_waiting.pick(share, unreceived(home, home_channel, &look).await?)
    };
    // Home's own packets still pending, and which of them away has acked
    // (asked by sequence: away keeps every ack it ever wrote).
    let (committed_home, _) = seqs(home, "/ibc/packet_commitments", home_channel).await?;
    let mine: Vec<u64> = committed_home
        .iter()
        .copied()
        .filter(|s| !state.in_flight.ack.contains(s) && !state.in_flight.timeout.contains(s))
        .take(MAX_PER_ROUND)
        .collect();
    let (acked_away, version_a) =
        if mine.is_empty() { (Vec::new(), 0) } else { acked(away, away_channel, &mine).await? };
    let still: BTreeSet<u64> = committed_home.iter().copied().collect();
    let acked_set: BTreeSet<u64> = acked_away.iter().copied().collect();
    let to_ack = state.ack_waiting.pick(share, acked_away);
    let expired: Vec<Packet> = expired_home
        .take()
        .into_iter()
        .filter(|p| {
            still.contains(&p.sequence)
                && !acked_set.contains(&p.sequence)
                && !state.in_flight.timeout.contains(&p.sequence)
                && !state.in_flight.ack.contains(&p.sequence)
        })
        .collect();
    if to_recv.is_empty() && to_ack.is_empty() && expired.is_empty() {
        return Ok(None);
    }

    // One proof height for the whole round, and one client update, above
    // the last round's.
    let (v, ph, update) =
        proof_point(home, client_on_home, away, version_c.max(version_a).max(state.last_target)).await?;
    let proof_height = RawHeight { revision_number: revision(&away.chain_id)?, revision_height: ph };
    let signer = home.key.address().to_string();
    let t_lookup = Instant::now();
    // Time spent finding packets in the away zone's events (the rest of the
    // lookup is proofs).
    let mut events_took = std::time::Duration::ZERO;
    let mut out = Outgoing { recvs: Vec::new(), acks: Vec::new(), timeouts: Vec::new() };
    let mut carried = Carried::default();

    if !to_recv.is_empty() {
        // A packet already expired at home can only be timed out, on away.
        let home_time = home.time_at(home.height().await?).await?;
        let home_nanos = u64::try_from(home_time.unix_timestamp_nanos()).unwrap_or(0);
        let t = Instant::now();
        let packets = packets_from_events(away, "send_packet", "packet_src_channel", away_channel, &to_recv).await?;
        events_took += t.elapsed();
        let (dead, live): (Vec<&Packet>, Vec<&Packet>) = to_recv
            .iter()
            .filter_map(|s| packets.get(s).map(|(p, _)| p))
            .partition(|p| p.timeout_timestamp != 0 && home_nanos >= p.timeout_timestamp);
        expired_away.put(dead.into_iter().cloned());
        let seqs: Vec<u64> = live.iter().map(|p| p.sequence).collect();
        let proofs = proofs(away, crate::keys::commitment, away_channel, &seqs, v).await?;
        carried.recv = seqs.into_iter().collect();
        out.recvs = live
            .into_iter()
            .zip(proofs)
            .map(|(packet, proof_commitment)| {
                any(MsgRecvPacket {
                    packet: Some(packet.clone()),
                    proof_commitment,
                    proof_height: Some(proof_height),
                    signer: signer.clone(),
                })
            })
            .collect();
    }

    if !to_ack.is_empty() {
        let t = Instant::now();
        let acks =
            packets_from_events(away, "write_acknowledgement", "packet_dst_channel", away_channel, &to_ack).await?;
        events_took += t.elapsed();
        let found: Vec<&(Packet, Vec<u8>)> = to_ack.iter().filter_map(|s| acks.get(s)).collect();
        let seqs: Vec<u64> = found.iter().map(|(p, _)| p.sequence).collect();
        let proofs = proofs(away, crate::keys::ack, away_channel, &seqs, v).await?;
        carried.ack = seqs.into_iter().collect();
        out.acks = found
            .into_iter()
            .zip(proofs)
            .map(|((packet, ack), proof_acked)| {
                any(MsgAcknowledgement {
                    packet: Some(packet.clone()),
                    acknowledgement: ack.clone(),
                    proof_acked,
                    proof_height: Some(proof_height),
                    signer: signer.clone(),
                })
            })
            .collect();
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
            carried.timeout.insert(packet.sequence);
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
        events_took = ?events_took,
        "{}: looked up packets and proofs",
        home.name
    );

    stats.received = out.recvs.len();
    stats.acked = out.acks.len();
    stats.timed_out = out.timeouts.len();
    if !stats.did_something() {
        return Ok(None);
    }
    state.last_target = ph;
    let msgs: Vec<Any> = out.recvs.into_iter().chain(out.acks).chain(out.timeouts).collect();
    Ok(Some(Planned { update, msgs, carried, stats }))
}
