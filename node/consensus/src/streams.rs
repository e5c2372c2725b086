//! Reassembly of proposal-part streams from peers, with limits an attacker
//! cannot use to starve consensus. Any peer can send parts, and a stream's
//! Init is unsigned until its Fin arrives, so:
//! - an Init must be for a height in `tip+1 ..= tip+height_window` and name
//!   the expected proposer of its (height, round); otherwise the stream is
//!   dropped;
//! - each peer has its own caps on unfinished streams and buffered bytes;
//!   past them its own oldest streams go first, so a flood evicts only the
//!   flooder's streams;
//! - when the global caps are reached, the peer holding the most streams
//!   (then the most bytes) loses its oldest: an honest proposer streaming
//!   one block at a time is the last to lose one;
//! - complete, correctly signed proposals for later heights wait in a
//!   bounded map (per height/round and in total, lowest first kept) that
//!   every decision prunes up to the new tip.
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::Hash;

use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::Round;
use sha2::{Digest, Sha256};

use crate::types::{Address, Height, ProposalInit, ProposalPart, Signature, ValidatorSet, ZoneContext};

/// Bounds on what peers can make this node hold.
#[derive(Clone, Debug)]
pub struct Limits {
    /// One stream: the largest block plus framing.
    pub max_stream_bytes: usize,
    /// All unfinished streams of one peer.
    pub max_peer_bytes: usize,
    /// Unfinished streams of one peer.
    pub max_peer_streams: usize,
    /// Unfinished streams in total.
    pub max_streams: usize,
    /// Bytes of unfinished streams in total.
    pub max_total_bytes: usize,
    /// Heights accepted: `tip+1 ..= tip+height_window`.
    pub height_window: u64,
    /// Complete proposals kept for one later (height, round).
    pub max_future_per_round: usize,
    /// Complete proposals kept for later heights in total.
    pub max_future: usize,
}

impl Limits {
    /// The node's limits for blocks of at most `max_block_bytes`.
    pub fn for_block_size(max_block_bytes: usize) -> Limits {
        let max_stream_bytes = max_block_bytes.saturating_add(1 << 20);
        Limits {
            max_stream_bytes,
            max_peer_bytes: max_stream_bytes.saturating_mul(2),
            max_peer_streams: 4,
            max_streams: 64,
            max_total_bytes: max_stream_bytes.saturating_mul(8),
            height_window: 3,
            max_future_per_round: 2,
            max_future: 32,
        }
    }
}

/// A proposal reassembled from its parts, its Fin signature checked.
#[derive(Clone, Debug)]
pub struct Assembled {
    pub init: ProposalInit,
    pub encoded: Vec<u8>,
    pub parts_hash: [u8; 32],
}

/// What the proposer's Fin signs: the stream's Init and the SHA-256 of the
/// whole encoded block (which is also the value id's part-set hash).
pub fn fin_digest(init: &ProposalInit, parts_hash: &[u8; 32]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"kawase/proposal/");
    h.update(init.height.0.to_be_bytes());
    h.update(init.round.as_i64().to_be_bytes());
    h.update(init.pol_round.as_i64().to_be_bytes());
    h.update(init.proposer.0);
    h.update(parts_hash);
    h.finalize().to_vec()
}

#[derive(Default)]
struct Stream {
    init: Option<ProposalInit>,
    data: BTreeMap<u64, Vec<u8>>,
    fin: Option<(u64, Signature)>,
    bytes: usize,
    /// Arrival order of the stream's first part (oldest evicted first).
    opened: u64,
}

#[derive(Default, Clone, Copy)]
struct Usage {
    streams: usize,
    bytes: usize,
}

/// Unfinished streams per (peer, stream id) and complete future proposals.
pub struct ProposalStreams<P> {
    limits: Limits,
    validators: ValidatorSet,
    tip: u64,
    streams: BTreeMap<(P, StreamId), Stream>,
    usage: HashMap<P, Usage>,
    total_bytes: usize,
    next_opened: u64,
    future: BTreeMap<(u64, i64), Vec<Assembled>>,
    /// Streams refused (bad Init, too large): their later parts are dropped
    /// instead of reopening them. Bounded, oldest forgotten first.
    refused: BTreeSet<(P, StreamId)>,
    refused_order: VecDeque<(P, StreamId)>,
}

impl<P: Ord + Hash + Clone + std::fmt::Display> ProposalStreams<P> {
    pub fn new(validators: ValidatorSet, limits: Limits, tip: u64) -> Self {
        ProposalStreams {
            limits,
            validators,
            tip,
            streams: BTreeMap::new(),
            usage: HashMap::new(),
            total_bytes: 0,
            next_opened: 0,
            future: BTreeMap::new(),
            refused: BTreeSet::new(),
            refused_order: VecDeque::new(),
        }
    }

    /// A block was decided at `tip`: everything at or below it is dropped.
    pub fn set_tip(&mut self, tip: u64) {
        self.tip = tip;
        self.future = self.future.split_off(&(tip + 1, i64::MIN));
        let stale: Vec<(P, StreamId)> = self
            .streams
            .iter()
            .filter(|(_, s)| s.init.as_ref().is_some_and(|i| i.height.0 <= tip))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.remove(&k);
        }
    }

    /// Complete proposals kept for (height, round), handed over once.
    pub fn take_ready(&mut self, height: Height, round: Round) -> Vec<Assembled> {
        self.future.remove(&(height.0, round.as_i64())).unwrap_or_default()
    }

    /// Unfinished streams held (for tests and metrics).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes of unfinished streams held.
    pub fn buffered_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Complete future proposals held.
    pub fn future_len(&self) -> usize {
        self.future.values().map(Vec::len).sum()
    }

    /// Takes one part from `from`. A complete, correctly signed proposal for
    /// the next height is returned; one for a later height is kept for
    /// [`Self::take_ready`].
    pub fn receive(&mut self, from: P, msg: StreamMessage<ProposalPart>) -> Option<Assembled> {
        let key = (from.clone(), msg.stream_id.clone());
        if self.refused.contains(&key) {
            return None;
        }
        if let StreamContent::Data(ProposalPart::Init(init)) = &msg.content {
            if let Err(why) = self.check_init(init) {
                tracing::debug!(peer = %from, height = %init.height, round = %init.round, why, "proposal stream refused");
                self.refuse(key);
                return None;
            }
        }
        if !self.streams.contains_key(&key) {
            self.make_room_for(&from);
            self.next_opened += 1;
            self.streams.insert(key.clone(), Stream { opened: self.next_opened, ..Stream::default() });
            self.usage.entry(from.clone()).or_default().streams += 1;
        }
        let stream = self.streams.get_mut(&key)?;
        let before = stream.bytes;
        match msg.content {
            StreamContent::Data(ProposalPart::Init(init)) => {
                if stream.init.is_none() {
                    stream.init = Some(init);
                }
            }
            StreamContent::Data(ProposalPart::Data(d)) => {
                stream.bytes = stream.bytes.saturating_add(d.len());
                if let Some(old) = stream.data.insert(msg.sequence, d) {
                    stream.bytes = stream.bytes.saturating_sub(old.len());
                }
            }
            StreamContent::Data(ProposalPart::Fin(sig)) => stream.fin = Some((msg.sequence, sig)),
            StreamContent::Fin => {}
        }
        let after = stream.bytes;
        let usage = self.usage.entry(from.clone()).or_default();
        usage.bytes = usage.bytes.saturating_add(after).saturating_sub(before);
        self.total_bytes = self.total_bytes.saturating_add(after).saturating_sub(before);
        if self.streams.get(&key).is_some_and(|s| s.bytes > self.limits.max_stream_bytes) {
            tracing::warn!(peer = %from, "proposal stream too large; dropped");
            self.refuse(key);
            return None;
        }
        self.enforce_bytes(&from, &key);
        self.complete(&key)
    }

    fn check_init(&self, init: &ProposalInit) -> Result<(), &'static str> {
        let h = init.height.0;
        if h <= self.tip || h > self.tip.saturating_add(self.limits.height_window) {
            return Err("height outside the window");
        }
        if init.proposer != self.expected_proposer(init.height, init.round) {
            return Err("not the proposer of its height and round");
        }
        Ok(())
    }

    fn expected_proposer(&self, height: Height, round: Round) -> Address {
        let set = &self.validators.validators;
        match set.get(ZoneContext::proposer_index(set.len(), height, round)) {
            Some(v) => v.address,
            None => Address([0; 20]),
        }
    }

    /// Before `from` opens a stream: its own cap first, then the global one.
    fn make_room_for(&mut self, from: &P) {
        while self.usage.get(from).map_or(0, |u| u.streams) >= self.limits.max_peer_streams {
            if !self.evict_oldest_of(from) {
                break;
            }
        }
        while self.streams.len() >= self.limits.max_streams {
            let Some(victim) = self.heaviest_peer(from) else { break };
            if !self.evict_oldest_of(&victim) {
                break;
            }
        }
    }

    /// After `from` added bytes to `key`: its own byte cap (never evicting
    /// the stream just written to while it has others), then the global one.
    fn enforce_bytes(&mut self, from: &P, key: &(P, StreamId)) {
        while self.usage.get(from).map_or(0, |u| u.bytes) > self.limits.max_peer_bytes {
            let oldest_other = self
                .streams
                .iter()
                .filter(|((p, id), _)| p == from && id != &key.1)
                .min_by_key(|(_, s)| s.opened)
                .map(|(k, _)| k.clone());
            match oldest_other {
                Some(k) => {
                    self.remove(&k);
                }
                None => {
                    self.remove(key);
                    break;
                }
            }
        }
        while self.total_bytes > self.limits.max_total_bytes {
            let Some(victim) = self.heaviest_peer(from) else { break };
            if !self.evict_oldest_of(&victim) {
                break;
            }
        }
    }

    /// The peer holding the most streams, then the most bytes; `prefer`
    /// (the peer asking for room) on a tie, so it pays for its own traffic.
    fn heaviest_peer(&self, prefer: &P) -> Option<P> {
        let score = |u: &Usage| (u.streams, u.bytes);
        let max = self.usage.values().filter(|u| u.streams > 0).map(score).max()?;
        if self.usage.get(prefer).map(score) == Some(max) {
            return Some(prefer.clone());
        }
        self.usage.iter().filter(|(_, u)| score(u) == max).map(|(p, _)| p).min().cloned()
    }

    fn evict_oldest_of(&mut self, peer: &P) -> bool {
        let oldest =
            self.streams.iter().filter(|((p, _), _)| p == peer).min_by_key(|(_, s)| s.opened).map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                tracing::debug!(%peer, "proposal stream evicted");
                self.remove(&k);
                true
            }
            None => false,
        }
    }

    /// Drops the stream and remembers it, so its remaining parts do not
    /// open it again (parts may arrive before the Init).
    fn refuse(&mut self, key: (P, StreamId)) {
        self.remove(&key);
        if self.refused.insert(key.clone()) {
            self.refused_order.push_back(key);
        }
        let cap = self.limits.max_streams.saturating_mul(4).max(1);
        while self.refused_order.len() > cap {
            if let Some(old) = self.refused_order.pop_front() {
                self.refused.remove(&old);
            }
        }
    }

    fn remove(&mut self, key: &(P, StreamId)) -> Option<Stream> {
        let s = self.streams.remove(key)?;
        self.total_bytes = self.total_bytes.saturating_sub(s.bytes);
        if let Some(u) = self.usage.get_mut(&key.0) {
            u.streams = u.streams.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(s.bytes);
            if u.streams == 0 {
                self.usage.remove(&key.0);
            }
        }
        Some(s)
    }

    /// A whole stream with a valid Fin signature: the next height's is
    /// returned, a later one kept.
    fn complete(&mut self, key: &(P, StreamId)) -> Option<Assembled> {
        let stream = self.streams.get(key)?;
        let (Some(_), Some((fin_seq, _))) = (&stream.init, &stream.fin) else { return None };
        // Parts 1..fin_seq are data; all must be present.
        if stream.data.len() as u64 != fin_seq.saturating_sub(1) {
            return None;
        }
        let stream = self.remove(key)?;
        let (init, (_, sig)) = (stream.init?, stream.fin?);
        let encoded: Vec<u8> = stream.data.into_values().flatten().collect();
        let proposer = self.validators.validators.iter().find(|v| v.address == init.proposer)?;
        let parts_hash: [u8; 32] = Sha256::digest(&encoded).into();
        if !proposer.public_key.verify(&fin_digest(&init, &parts_hash), &sig) {
            tracing::warn!(peer = %key.0, proposer = %init.proposer, "proposal with a bad signature");
            return None;
        }
        let a = Assembled { init, encoded, parts_hash };
        let h = a.init.height.0;
        if h <= self.tip {
            return None;
        }
        if h == self.tip + 1 {
            return Some(a);
        }
        self.keep_future(a);
        None
    }

    fn keep_future(&mut self, a: Assembled) {
        let slot = (a.init.height.0, a.init.round.as_i64());
        let list = self.future.entry(slot).or_default();
        if list.iter().any(|b| b.parts_hash == a.parts_hash && b.init == a.init)
            || list.len() >= self.limits.max_future_per_round
        {
            return;
        }
        list.push(a);
        // Over the total: the farthest (height, round) goes first.
        while self.future_len() > self.limits.max_future {
            let Some(mut last) = self.future.last_entry() else { break };
            last.get_mut().pop();
            if last.get().is_empty() {
                last.remove();
            }
        }
    }
}

#[cfg(test)]
#[path = "streams_tests.rs"]
mod tests;
