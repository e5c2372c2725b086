//! The transaction gossip port under hostile peers, over real TCP on
//! 127.0.0.1: strangers, oversize frames, connection floods, slow peers and
//! peers relaying bad signatures. Timeouts are short so each test is fast;
//! "closed" waits at most 10 s for the server to hang up.
#![allow(clippy::unwrap_used)]
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ed25519_consensus::SigningKey;
use kawase_accounts::Role;
use kawase_client::msgs;
use kawase_consensus::gossip::{self, auth, frame_limit, GossipConfig, GossipPeer, NodeId};
use kawase_consensus::mempool::{tx_hash, Mempool, MempoolConfig};
use kawase_devkit::{Demo, TestChain};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHAIN: &str = "kawase-gossip-test";
/// The node key of the one peer the server under test accepts.
const PEER_SEED: [u8; 32] = [9; 32];
const SERVER_SEED: [u8; 32] = [1; 32];

struct Node {
    addr: SocketAddr,
    pool: Arc<Mempool>,
    demo: Demo,
    stats: Arc<gossip::GossipStats>,
    _chain: TestChain,
    _dir: tempfile::TempDir,
}

fn chain(dir: &std::path::Path) -> (TestChain, Demo) {
    std::fs::create_dir_all(dir).unwrap();
    let (mut chain, d) = TestChain::demo_fz(dir, CHAIN).unwrap();
    chain.block(vec![]).unwrap();
    (chain, d)
}

/// Short timeouts; the accepted peer `PEER_SEED` is "at" a loopback port
/// nobody listens on, so the server's own dials fail quietly.
fn config(seed: [u8; 32], peers: Vec<GossipPeer>) -> GossipConfig {
    let mut c = GossipConfig::new("127.0.0.1:0".parse().unwrap(), CHAIN, seed, peers);
    c.handshake_timeout = Duration::from_millis(500);
    c.keepalive = Duration::from_millis(100);
    c.idle_timeout = Duration::from_secs(2);
    c.frame_timeout = Duration::from_millis(500);
    c.max_frame = frame_limit(32 << 10, 16 << 20);
    c.invalid_tx_points = 10;
    c.ban_threshold = 30;
    c
}

fn default_peer() -> GossipPeer {
    GossipPeer { id: NodeId::of_seed(PEER_SEED), addr: "127.0.0.1:1".parse().unwrap() }
}

async fn node_with(edit: impl FnOnce(&mut GossipConfig)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let (chain, demo) = chain(dir.path());
    let pool = Arc::new(Mempool::new(chain.app.clone(), MempoolConfig::default(), None));
    let mut c = config(SERVER_SEED, vec![default_peer()]);
    edit(&mut c);
    let stats = c.stats.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::mem::forget(tx);
    let addr = gossip::start(c, pool.clone(), rx, Default::default()).await.unwrap();
    Node { addr, pool, demo, stats, _chain: chain, _dir: dir }
}

async fn node() -> Node {
    node_with(|_| {}).await
}

/// Connects as the accepted peer and completes the handshake.
async fn peer(addr: SocketAddr) -> TcpStream {
    try_peer(addr, PEER_SEED).await.unwrap()
}

async fn try_peer(addr: SocketAddr, seed: [u8; 32]) -> Result<TcpStream, auth::AuthError> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let server = NodeId::of_seed(SERVER_SEED);
    auth::handshake(&mut s, &SigningKey::from(seed), CHAIN, |id| id == server).await?;
    Ok(s)
}

fn frame(txs: &[Vec<u8>]) -> Vec<u8> {
    let body = borsh::to_vec(&txs.to_vec()).unwrap();
    [(body.len() as u32).to_be_bytes().to_vec(), body].concat()
}

/// True if the server closes the connection within 10 s.
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Waits (at most 10 s) until the pool holds `hash`.
async fn arrives(pool: &Mempool, hash: [u8; 32]) -> bool {
    for _ in 0..200 {
        if pool.contains(&hash) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn register(d: &mut Demo, reference: &str) -> Vec<u8> {
    let (bank, a) = (d.bank_a.address(), d.alice.address());
    d.bank_a.sign(CHAIN, vec![msgs::register_account(bank, a, Role::Customer, reference)])
}

/// Transactions with the right sequence and a broken signature.
fn bad_signatures(d: &mut Demo, n: usize) -> Vec<Vec<u8>> {
    let bank = d.bank_a.address();
    let seq = d.bank_a.sequence;
    (0..n)
        .map(|i| {
            d.bank_a.sequence = seq;
            let mut t = d.bank_a.sign(CHAIN, vec![msgs::issue(bank, bank, 1, &format!("r{i}"))]);
            *t.last_mut().unwrap() ^= 1;
            t
        })
        .collect()
}

#[tokio::test]
async fn a_stranger_without_a_handshake_is_disconnected_and_its_txs_never_reach_the_mempool() {
    let mut n = node().await;
    let tx = register(&mut n.demo, "A-1");
    // Raw frames, no handshake.
    let mut s = TcpStream::connect(n.addr).await.unwrap();
    s.write_all(&frame(std::slice::from_ref(&tx))).await.unwrap();
    assert!(closed(&mut s).await, "the stranger is still connected");
    // A well-formed handshake with a key that is not a configured peer.
    assert!(try_peer(n.addr, [5; 32]).await.is_err(), "an unknown node key was accepted");
    assert!(!n.pool.contains(&tx_hash(&tx)), "a stranger's tx reached the mempool");
    // Both show in the intrusion-detection counters.
    let count = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&n.stats.refused_peers), 1, "the unknown node id is counted");
    assert!(count(&n.stats.failed_handshakes) >= 1, "the stranger without a handshake is counted");
    // The configured peer gets through.
    let mut s = peer(n.addr).await;
    s.write_all(&frame(std::slice::from_ref(&tx))).await.unwrap();
    assert!(arrives(&n.pool, tx_hash(&tx)).await, "the authenticated peer's tx never arrived");
}

#[tokio::test]
async fn a_huge_length_prefix_is_refused_before_anything_is_allocated() {
    let n = node().await;
    let mut s = peer(n.addr).await;
    // 16 MiB announced, nothing sent: refused on the prefix, not awaited.
    s.write_all(&(16u32 << 20).to_be_bytes()).await.unwrap();
    assert!(closed(&mut s).await, "a peer announcing a 16 MiB frame is still connected");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused() {
    for (total, per_ip) in [(4, 100), (100, 4)] {
        let n = node_with(|c| {
            c.max_inbound = total;
            c.max_inbound_per_ip = per_ip;
            c.handshake_timeout = Duration::from_secs(60);
        })
        .await;
        let mut open = Vec::new();
        for _ in 0..4 {
            open.push(TcpStream::connect(n.addr).await.unwrap());
        }
        let mut extra = TcpStream::connect(n.addr).await.unwrap();
        assert!(closed(&mut extra).await, "connection 5 was accepted (total {total}, per ip {per_ip})");
        // A slot comes back when a connection ends.
        drop(open.pop());
        let mut again = None;
        for _ in 0..100 {
            let mut s = TcpStream::connect(n.addr).await.unwrap();
            let mut b = [0u8; 1];
            // An accepted connection starts the handshake by sending a hello.
            if matches!(tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await, Ok(Ok(1))) {
                again = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(again.is_some(), "a freed slot was never given back");
    }
}

#[tokio::test]
async fn a_slow_loris_peer_is_timed_out() {
    let n = node().await;
    // Half a hello, then silence.
    let mut s = TcpStream::connect(n.addr).await.unwrap();
    s.write_all(b"kawase-gos").await.unwrap();
    assert!(closed(&mut s).await, "a peer that stopped mid-handshake is still connected");
    // Authenticated, then half a frame.
    let mut s = peer(n.addr).await;
    s.write_all(&[0, 0, 0, 100, 1, 2, 3]).await.unwrap();
    assert!(closed(&mut s).await, "a peer that stopped mid-frame is still connected");
    // Authenticated, then nothing at all (not even keepalives).
    let mut s = peer(n.addr).await;
    assert!(closed(&mut s).await, "a silent peer is still connected");
}

#[tokio::test]
async fn a_peer_sending_bad_signature_txs_is_banned() {
    let mut n = node().await;
    let bad = bad_signatures(&mut n.demo, 20);
    let mut s = peer(n.addr).await;
    s.write_all(&frame(&bad)).await.unwrap();
    assert!(closed(&mut s).await, "a peer that sent bad signatures is still connected");
    // Refused while banned, so its next (valid) tx never arrives.
    assert!(try_peer(n.addr, PEER_SEED).await.is_err(), "a banned peer was let back in");
    assert!(bad.iter().all(|t| !n.pool.contains(&tx_hash(t))));
    let count = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(count(&n.stats.invalid_txs), 3, "the invalid transactions up to the ban (30 points at 10 each)");
    assert_eq!(count(&n.stats.bans), 1, "the ban is counted");
    assert!(count(&n.stats.refused_peers) >= 1, "the banned peer's retry is counted");
}

#[tokio::test]
async fn duplicates_and_stale_sequences_do_not_get_a_peer_banned() {
    let mut n = node().await;
    let first = register(&mut n.demo, "A-1");
    let mut s = peer(n.addr).await;
    s.write_all(&frame(&vec![first.clone(); 50])).await.unwrap();
    assert!(arrives(&n.pool, tx_hash(&first)).await);
    // The sequence `first` used, different content: a wrong sequence now.
    let seq = n.demo.bank_a.sequence;
    let stale: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            n.demo.bank_a.sequence = seq - 1;
            register(&mut n.demo, &format!("B-{i}"))
        })
        .collect();
    n.demo.bank_a.sequence = seq;
    s.write_all(&frame(&stale)).await.unwrap();
    let next = {
        let (bank, b) = (n.demo.bank_a.address(), n.demo.bob.address());
        n.demo.bank_a.sign(CHAIN, vec![msgs::register_account(bank, b, Role::Customer, "A-2")])
    };
    s.write_all(&frame(std::slice::from_ref(&next))).await.unwrap();
    assert!(arrives(&n.pool, tx_hash(&next)).await, "the peer was dropped for honest races");
}

#[tokio::test]
async fn two_authenticated_nodes_gossip_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (chain_b, _) = chain(&dir.path().join("b"));
    let pool_b = Arc::new(Mempool::new(chain_b.app.clone(), MempoolConfig::default(), None));
    let (seed_a, seed_b) = ([21u8; 32], [22u8; 32]);
    let a_as_peer = GossipPeer { id: NodeId::of_seed(seed_a), addr: "127.0.0.1:1".parse().unwrap() };
    let (keep, rx) = tokio::sync::mpsc::unbounded_channel();
    let addr_b = gossip::start(config(seed_b, vec![a_as_peer]), pool_b.clone(), rx, Default::default()).await.unwrap();

    let (chain_a, mut demo) = chain(&dir.path().join("a"));
    let (out, rx) = tokio::sync::mpsc::unbounded_channel();
    let pool_a = Arc::new(Mempool::new(chain_a.app.clone(), MempoolConfig::default(), Some(out)));
    let b_as_peer = GossipPeer { id: NodeId::of_seed(seed_b), addr: addr_b };
    gossip::start(config(seed_a, vec![b_as_peer]), pool_a.clone(), rx, Default::default()).await.unwrap();
    let tx = register(&mut demo, "A-1");
    pool_a.add(tx.clone()).unwrap();
    assert!(arrives(&pool_b, tx_hash(&tx)).await, "B never got A's transaction");
    drop(keep);
}
