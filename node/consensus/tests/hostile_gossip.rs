//! Hostile frames on the transaction gossip port, at the socket level:
//! random bytes, length prefixes beyond the limit, frames cut short,
//! well-framed garbage, valid frames of invalid transactions. The listener
//! keeps accepting, invalid transactions never reach the mempool, and a
//! valid transaction still gets in afterwards.
//!
//! Every frame is sent twice: by a stranger (the handshake parser sees it)
//! and by the configured peer after a real handshake (the frame parser sees
//! it). The peer's bans lapse at once so the flood runs to the end;
//! banning is tested in tests/gossip.rs.
//!
//! `PROPTEST_CASES` sets the number of cases; `KAWASE_FUZZ_SEED` the seed.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ed25519_consensus::SigningKey;
use std::time::Duration;

use kawase_client::msgs;
use kawase_consensus::gossip::{self, auth, GossipConfig, GossipPeer, NodeId};
use kawase_consensus::mempool::{Mempool, MempoolConfig};
use kawase_devkit::TestChain;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const CHAIN: &str = "kawase-gossip-hostile";
const PEER_SEED: [u8; 32] = [9; 32];
const SERVER_SEED: [u8; 32] = [1; 32];

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default_cases);
    let seed: u64 = std::env::var("KAWASE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    eprintln!("gossip hostile: {cases} cases, KAWASE_FUZZ_SEED={seed}");
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 64, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

#[derive(Clone, Debug)]
enum Frame {
    Raw(Vec<u8>),
    /// A length prefix, then `body` (shorter or longer than announced).
    Prefixed(u32, Vec<u8>),
    /// A well-formed frame of these "transactions".
    Txs(Vec<Vec<u8>>),
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Frame::Raw),
        (
            prop_oneof![0u32..64, Just(u32::MAX), (16u32 << 20)..(16u32 << 20) + 8, any::<u32>()],
            proptest::collection::vec(any::<u8>(), 0..128)
        )
            .prop_map(|(n, b)| Frame::Prefixed(n, b)),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20).prop_map(Frame::Txs),
    ]
}

/// `u32 length | borsh Vec<tx>`: today's framing.
fn encode_txs(txs: &[Vec<u8>]) -> Vec<u8> {
    let body = borsh::to_vec(&txs.to_vec()).unwrap();
    [(body.len() as u32).to_be_bytes().to_vec(), body].concat()
}

/// Sends `bytes` on a fresh connection, after a handshake as the configured
/// peer when `authenticated`. The server may hang up first: that is an
/// answer too.
async fn send_frame(addr: SocketAddr, bytes: &[u8], authenticated: bool) {
    let Ok(mut s) = TcpStream::connect(addr).await else { return };
    if authenticated {
        let server = NodeId::of_seed(SERVER_SEED);
        auth::handshake(&mut s, &SigningKey::from(PEER_SEED), CHAIN, |id| id == server)
            .await
            .expect("the configured peer completes the handshake");
    }
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
}

/// One accepted peer (at a port nobody listens on, so the server's own dials
/// fail quietly).
fn config() -> GossipConfig {
    let peer = GossipPeer { id: NodeId::of_seed(PEER_SEED), addr: "127.0.0.1:1".parse().unwrap() };
    let mut c = GossipConfig::new("127.0.0.1:0".parse().unwrap(), CHAIN, SERVER_SEED, vec![peer]);
    c.handshake_timeout = Duration::from_millis(500);
    c.frame_timeout = Duration::from_millis(500);
    // A malformed frame bans its peer at once; here the ban lapses at once
    // so the flood runs to the end (banning is tested in tests/gossip.rs).
    c.ban_for = Duration::ZERO;
    // Hundreds of connections in a row, each held until its handshake
    // times out: the per-address cap is tested in tests/gossip.rs.
    c.max_inbound = 4096;
    c.max_inbound_per_ip = 4096;
    c
}

#[test]
fn hostile_gossip_frames_never_stop_the_listener_or_reach_the_mempool() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, mut d) = TestChain::demo_fz(dir.path(), CHAIN).unwrap();
    let mempool = Arc::new(Mempool::new(chain.app.clone(), MempoolConfig::default(), None));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (_outbox, outbox_rx) = tokio::sync::mpsc::unbounded_channel();
    let addr = rt.block_on(gossip::start(config(), mempool.clone(), outbox_rx, Arc::new(AtomicU64::new(0)))).unwrap();

    let mut runner = runner(128);
    let r = runner.run(&frame(), |f| {
        let bytes = match &f {
            Frame::Raw(b) => b.clone(),
            Frame::Prefixed(n, b) => [n.to_be_bytes().to_vec(), b.clone()].concat(),
            Frame::Txs(txs) => encode_txs(txs),
        };
        rt.block_on(send_frame(addr, &bytes, false));
        rt.block_on(send_frame(addr, &bytes, true));
        Ok(())
    });
    if let Err(e) = r {
        panic!("{e}");
    }
    // Random bytes are not transactions: nothing got in.
    assert_eq!(mempool.size().0, 0, "garbage entered the mempool");

    // The listener still serves a well-behaved peer.
    let (a, ba) = (d.alice.address(), d.bank_a.address());
    let tx = d.bank_a.sign(CHAIN, vec![msgs::register_account(ba, a, kawase_accounts::Role::Customer, "G-1")]);
    let hash = kawase_app::tx::tx_hash(&tx);
    rt.block_on(send_frame(addr, &encode_txs(&[b"junk".to_vec(), tx]), true));
    let mut arrived = false;
    for _ in 0..200 {
        if mempool.contains(&hash) {
            arrived = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(arrived, "a valid transaction gossiped after the flood reached the mempool");
}
