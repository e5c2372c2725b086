#![allow(clippy::unwrap_used)]
use bytes::Bytes;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::Round;
use sha2::{Digest, Sha256};

use super::*;
use crate::types::{PrivateKey, Validator};

fn key(n: u8) -> PrivateKey {
    PrivateKey(ed25519_consensus::SigningKey::from([n; 32]))
}

fn keys() -> Vec<PrivateKey> {
    (1..=4).map(key).collect()
}

fn validators() -> ValidatorSet {
    ValidatorSet::new(keys().iter().map(|k| Validator::new(k.public_key(), 1)).collect())
}

fn limits() -> Limits {
    Limits {
        max_stream_bytes: 1_000,
        max_peer_bytes: 2_000,
        max_peer_streams: 4,
        max_streams: 16,
        max_total_bytes: 8_000,
        height_window: 3,
        max_future_per_round: 2,
        max_future: 8,
    }
}

fn streams(tip: u64) -> ProposalStreams<u32> {
    ProposalStreams::new(validators(), limits(), tip)
}

/// The key of the expected proposer of (height, round).
fn proposer_key(height: u64, round: i64) -> PrivateKey {
    let set = validators();
    let v =
        &set.validators[ZoneContext::proposer_index(set.validators.len(), Height(height), Round::new(round as u32))];
    keys().into_iter().find(|k| Address::from_public_key(&k.public_key()) == v.address).unwrap()
}

fn init(height: u64, round: i64) -> ProposalInit {
    let k = proposer_key(height, round);
    ProposalInit {
        height: Height(height),
        round: Round::new(round as u32),
        pol_round: Round::Nil,
        proposer: Address::from_public_key(&k.public_key()),
    }
}

/// Init, one data part, and a Fin signed by `signer`.
fn parts(id: u64, init: &ProposalInit, data: &[u8], signer: &PrivateKey) -> Vec<StreamMessage<ProposalPart>> {
    let sid = StreamId::new(Bytes::from(id.to_be_bytes().to_vec()));
    let hash: [u8; 32] = Sha256::digest(data).into();
    let sig = signer.sign(&fin_digest(init, &hash));
    vec![
        StreamMessage::new(sid.clone(), 0, StreamContent::Data(ProposalPart::Init(init.clone()))),
        StreamMessage::new(sid.clone(), 1, StreamContent::Data(ProposalPart::Data(data.to_vec()))),
        StreamMessage::new(sid, 2, StreamContent::Data(ProposalPart::Fin(sig))),
    ]
}

fn feed(s: &mut ProposalStreams<u32>, peer: u32, msgs: Vec<StreamMessage<ProposalPart>>) -> Option<Assembled> {
    let mut out = None;
    for m in msgs {
        out = s.receive(peer, m).or(out);
    }
    out
}

#[test]
fn a_complete_signed_proposal_for_the_next_height_is_returned_and_a_forged_one_is_not() {
    let mut s = streams(4);
    let i = init(5, 0);
    let got = feed(&mut s, 7, parts(1, &i, b"block", &proposer_key(5, 0))).expect("assembled");
    assert_eq!((got.init, got.encoded), (i.clone(), b"block".to_vec()));
    let forger = keys().into_iter().find(|k| Address::from_public_key(&k.public_key()) != i.proposer).unwrap();
    assert!(feed(&mut s, 7, parts(2, &i, b"block", &forger)).is_none());
    assert_eq!(s.open_streams(), 0);
}

#[test]
fn a_flood_of_streams_from_one_peer_never_evicts_the_honest_proposers_stream() {
    let mut s = streams(0);
    let i = init(1, 0);
    let mut honest = parts(1, &i, b"the block", &proposer_key(1, 0));
    let fin = honest.pop().unwrap();
    feed(&mut s, 1, honest);
    // Peer 2 opens hundreds of streams with forged Inits naming the proposer.
    for n in 0..500 {
        let mut p = parts(1_000 + n, &i, b"junk", &key(9));
        p.pop();
        feed(&mut s, 2, p);
    }
    assert!(s.receive(1, fin).is_some(), "the honest stream was evicted by the flood");
}

#[test]
fn many_flooding_peers_evict_their_own_streams_before_a_lighter_honest_one() {
    let mut s = streams(0);
    let i = init(1, 0);
    let mut honest = parts(1, &i, b"the block", &proposer_key(1, 0));
    let fin = honest.pop().unwrap();
    // The honest peer has the smallest id: first in key order.
    feed(&mut s, 0, honest);
    for peer in 10..60u32 {
        for n in 0..4 {
            let mut p = parts(u64::from(peer) * 100 + n, &i, &[0u8; 100], &key(9));
            p.pop();
            feed(&mut s, peer, p);
        }
    }
    assert!(s.open_streams() <= limits().max_streams);
    assert!(s.receive(0, fin).is_some(), "the honest stream was evicted by other peers' floods");
}

#[test]
fn streams_outside_the_height_window_or_naming_the_wrong_proposer_are_refused() {
    let mut s = streams(10);
    for h in [5, 10, 14, 1_000_000] {
        let mut p = parts(h, &init(h, 0), b"x", &proposer_key(h, 0));
        p.pop();
        feed(&mut s, 3, p);
    }
    let mut wrong = init(11, 0);
    wrong.proposer = init(11, 1).proposer;
    let mut p = parts(99, &wrong, b"x", &proposer_key(11, 1));
    p.pop();
    feed(&mut s, 3, p);
    assert_eq!(s.open_streams(), 0);
    // Inside the window, from the right proposer: kept.
    let mut p = parts(100, &init(13, 2), b"x", &proposer_key(13, 2));
    p.pop();
    feed(&mut s, 3, p);
    assert_eq!(s.open_streams(), 1);
}

#[test]
fn a_peers_buffered_bytes_stay_within_its_cap() {
    let mut s = streams(0);
    let i = init(1, 0);
    for n in 0..4u64 {
        let sid = StreamId::new(Bytes::from(n.to_be_bytes().to_vec()));
        s.receive(5, StreamMessage::new(sid.clone(), 0, StreamContent::Data(ProposalPart::Init(i.clone()))));
        for seq in 1..20 {
            s.receive(5, StreamMessage::new(sid.clone(), seq, StreamContent::Data(ProposalPart::Data(vec![0; 300]))));
        }
    }
    assert!(s.buffered_bytes() <= limits().max_peer_bytes, "{} bytes buffered", s.buffered_bytes());
}

#[test]
fn future_proposals_are_bounded_per_round_and_dropped_once_decided_past() {
    let mut s = streams(0);
    // Five distinct signed proposals for (3, 0): only the cap is kept.
    for n in 0..5u8 {
        assert!(feed(&mut s, 4, parts(u64::from(n), &init(3, 0), &[n], &proposer_key(3, 0))).is_none());
    }
    assert_eq!(s.future_len(), limits().max_future_per_round);
    // Many rounds of height 2: the total stays bounded.
    for r in 0..40i64 {
        feed(&mut s, 4, parts(100 + r as u64, &init(2, r), b"r", &proposer_key(2, r)));
    }
    assert!(s.future_len() <= limits().max_future);
    // Deciding height 3 leaves nothing for heights at or below it.
    s.set_tip(3);
    assert_eq!(s.future_len(), 0);
    assert!(s.take_ready(Height(3), Round::new(0)).is_empty());
}

#[test]
fn a_kept_future_proposal_is_handed_over_when_its_round_starts() {
    let mut s = streams(0);
    assert!(feed(&mut s, 4, parts(1, &init(2, 1), b"later", &proposer_key(2, 1))).is_none());
    s.set_tip(1);
    let ready = s.take_ready(Height(2), Round::new(1));
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].encoded, b"later".to_vec());
}
