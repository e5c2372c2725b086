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

use anyhow::Result;
use futures_util::stream::StreamExt as _;
use kawase_ibc::ibc_proto::google::protobuf::Any;
use kawase_ibc::ibc_proto::ibc::core::channel::v1::Packet;

use crate::chain::{Chain, Delivered};
use crate::lookup::MSGS_PER_TX;
use crate::metrics::Metrics;
use crate::share::{Share, Waiting};

mod plan;
use plan::plan;

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
/// sequences have waited long enough to be taken over, what its rounds
/// still in flight carry (not offered again until they commit or fail),
/// and the last proof height it used.
#[derive(Default)]
pub struct LaneState {
    recv_waiting: Waiting,
    ack_waiting: Waiting,
    in_flight: Carried,
    /// A round's proof height is above the last one, so two rounds in
    /// flight never carry client updates to the same height.
    last_target: u64,
}

/// Sequences a round carries: the away zone's packets it receives, and
/// home's packets it acknowledges or times out.
#[derive(Debug, Default, Clone)]
struct Carried {
    recv: BTreeSet<u64>,
    ack: BTreeSet<u64>,
    timeout: BTreeSet<u64>,
}

impl Carried {
    fn add(&mut self, other: &Carried) {
        self.recv.extend(&other.recv);
        self.ack.extend(&other.ack);
        self.timeout.extend(&other.timeout);
    }

    fn remove(&mut self, other: &Carried) {
        self.recv.retain(|s| !other.recv.contains(s));
        self.ack.retain(|s| !other.ack.contains(s));
        self.timeout.retain(|s| !other.timeout.contains(s));
    }
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

/// A round broadcast and waiting for its commits.
struct Sent {
    carried: Carried,
    stats: RoundStats,
    started: Instant,
    /// When its last commit was seen (set by the waiting future).
    committed: Option<Instant>,
}

/// How many rounds a lane has broadcast and not yet seen committed: the
/// next round's lookups and proofs overlap the previous round's block.
const PIPELINE_DEPTH: usize = 2;

/// A round's commits are in (or failed): what took effect and what was
/// redundant, and its sequences free to be offered again.
async fn finish(home: &Chain, state: &mut LaneState, sent: Sent, result: Result<Vec<Delivered>>, metrics: &Metrics) {
    state.in_flight.remove(&sent.carried);
    let took = sent.committed.unwrap_or_else(Instant::now) - sent.started;
    let mut stats = sent.stats;
    match result {
        Ok(delivered) => {
            let kinds = [(Kind::Recv, stats.received), (Kind::Ack, stats.acked), (Kind::Timeout, stats.timed_out)];
            for (kind, n) in kinds {
                if n > 0 {
                    let wasted = n.saturating_sub(acted_on(&delivered, kind));
                    metrics.relayed(home.name, kind.label(), n - wasted, took);
                    metrics.redundant(home.name, kind.label(), wasted);
                    stats.redundant += wasted;
                }
            }
            tracing::info!(?stats, took = ?took, "relayed to the {}", home.label());
        }
        Err(e) => {
            metrics.error();
            // A transaction that never committed leaves a sequence gap.
            home.resync().await;
            tracing::warn!("relaying to the {} failed (will retry from chain state): {e:#}", home.label());
        }
    }
}

/// What a packet message does on its home zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Recv,
    Ack,
    Timeout,
}

impl Kind {
    /// The `kind` label of the relayer's metrics.
    fn label(self) -> &'static str {
        match self {
            Kind::Recv => "recv",
            Kind::Ack => "ack",
            Kind::Timeout => "timeout",
        }
    }

    /// The event ibc-rs emits when the message takes effect.
    fn event(self) -> &'static str {
        match self {
            Kind::Recv => "recv_packet",
            Kind::Ack => "acknowledge_packet",
            Kind::Timeout => "timeout_packet",
        }
    }
}

/// How many packets of `kind` the delivered transactions acted on. A
/// message another relayer made redundant is a no-op that emits no event.
fn acted_on(delivered: &[Delivered], kind: Kind) -> usize {
    delivered.iter().flat_map(|d| &d.events).filter(|e| e.kind == kind.event()).count()
}

/// `msgs` in transactions of [`MSGS_PER_TX`], the client update (if any)
/// first in the first, to go out back to back so they share blocks.
fn chunks(update: Option<Any>, msgs: Vec<Any>) -> Vec<Vec<Any>> {
    let mut update = update;
    msgs.chunks(MSGS_PER_TX)
        .map(|chunk| {
            let mut batch: Vec<Any> = update.take().into_iter().collect();
            batch.extend(chunk.iter().cloned());
            batch
        })
        .collect()
}

/// Runs `lane` until the process ends: plans a round, broadcasts it and,
/// while up to [`PIPELINE_DEPTH`] rounds wait for their blocks, plans the
/// next from what is pending and not in flight; a pause when nothing is
/// pending (or a round failed); home's client refreshed every `refresh`.
pub async fn run(
    lane: Lane<'_>,
    share: Share,
    expired_away: &Expired,
    expired_home: &Expired,
    idle: Duration,
    refresh: Duration,
    metrics: &Metrics,
) {
    use futures_util::future::{BoxFuture, FutureExt as _};
    use futures_util::stream::FuturesOrdered;

    let home = lane.home;
    let mut state = LaneState::default();
    let mut refreshed = Instant::now();
    let mut commits: FuturesOrdered<BoxFuture<'_, (Sent, Result<Vec<Delivered>>)>> = FuturesOrdered::new();
    loop {
        while let Some(Some((sent, result))) = commits.next().now_or_never() {
            finish(home, &mut state, sent, result, metrics).await;
        }
        if commits.len() >= PIPELINE_DEPTH {
            if let Some((sent, result)) = commits.next().await {
                finish(home, &mut state, sent, result, metrics).await;
            }
            continue;
        }
        metrics.pass();
        match plan(&lane, &mut state, share, expired_away, expired_home, metrics).await {
            Ok(Some(p)) => {
                let started = Instant::now();
                let batches = chunks(p.update, p.msgs);
                match home.broadcast_many(batches).await {
                    Ok(hashes) => {
                        tracing::debug!(txs = hashes.len(), took = ?started.elapsed(), "{}: broadcast", home.name);
                        state.in_flight.add(&p.carried);
                        let mut sent = Sent { carried: p.carried, stats: p.stats, started, committed: None };
                        commits.push_back(
                            async move {
                                let result = home.await_commits(hashes).await;
                                sent.committed = Some(Instant::now());
                                (sent, result)
                            }
                            .boxed(),
                        );
                    }
                    Err(e) => {
                        metrics.error();
                        tracing::warn!("relaying to the {} failed (will retry from chain state): {e:#}", home.label());
                        tokio::time::sleep(idle.max(Duration::from_millis(500))).await;
                    }
                }
            }
            Ok(None) if commits.is_empty() => tokio::time::sleep(idle).await,
            // Nothing new: wait for a round in flight (or a little).
            Ok(None) => {
                tokio::select! {
                    Some((sent, result)) = commits.next() => {
                        finish(home, &mut state, sent, result, metrics).await;
                    }
                    _ = tokio::time::sleep(idle) => {}
                }
            }
            Err(e) => {
                metrics.error();
                tracing::warn!("relay round to the {} failed (will retry from chain state): {e:#}", home.label());
                tokio::time::sleep(idle.max(Duration::from_millis(500))).await;
            }
        }
        if refreshed.elapsed() >= refresh && commits.is_empty() {
            match crate::path::update_client(home, lane.client_on_home, lane.away).await {
                Ok(_) => refreshed = Instant::now(),
                Err(e) => {
                    metrics.error();
                    tracing::warn!("refreshing the {}'s client failed (will retry): {e:#}", home.label());
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
        assert_eq!(acted_on(&delivered, Kind::Recv), 2);
        assert_eq!(acted_on(&delivered, Kind::Ack), 1);
        assert_eq!(acted_on(&delivered, Kind::Timeout), 0);
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
