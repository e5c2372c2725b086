//! TEMPORARY: the gossip regression tests against today's API, to see them fail.
#![allow(clippy::unwrap_used)]
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kawase_accounts::Role;
use kawase_app::testkit::{Demo, TestChain};
use kawase_app::{AppConfig, Zone};
use kawase_client::msgs;
use kawase_consensus::mempool::{tx_hash, Mempool, MempoolConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHAIN: &str = "kawase-gossip-test";

fn chain(dir: &std::path::Path) -> (TestChain, Demo) {
    let mut d = Demo::new();
    let mut chain = TestChain::open(AppConfig::new(dir.join("s")), CHAIN).unwrap();
    chain.init(&d.genesis(Zone::Fz)).unwrap();
    chain.block(vec![]).unwrap();
    d.set_genesis_numbers();
    (chain, d)
}

async fn start_node(mempool: Arc<Mempool>) -> SocketAddr {
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::mem::forget(_tx);
    kawase_consensus::gossip::start("127.0.0.1:0".parse().unwrap(), vec![], mempool, rx, Default::default())
        .await
        .unwrap()
}

async fn peer(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
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

#[tokio::test]
async fn a_stranger_without_a_handshake_is_disconnected_and_its_txs_never_reach_the_mempool() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, mut d) = chain(dir.path());
    let pool = Arc::new(Mempool::new(chain.app.clone(), MempoolConfig::default(), None));
    let addr = start_node(pool.clone()).await;
    let (bank, a) = (d.bank_a.address(), d.alice.address());
    let tx = d.bank_a.sign(CHAIN, vec![msgs::register_account(bank, a, Role::Customer, "A-1")]);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&frame(&[tx.clone()])).await.unwrap();
    assert!(closed(&mut s).await, "the stranger is still connected");
    assert!(!pool.contains(&tx_hash(&tx)), "a stranger's tx reached the mempool");
}

#[tokio::test]
async fn a_huge_length_prefix_is_refused_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, _) = chain(dir.path());
    let pool = Arc::new(Mempool::new(chain.app.clone(), MempoolConfig::default(), None));
    let addr = start_node(pool).await;
    let mut s = peer(addr).await;
    s.write_all(&(16u32 << 20).to_be_bytes()).await.unwrap();
    assert!(closed(&mut s).await, "a peer announcing a 16 MiB frame is still connected");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, _) = chain(dir.path());
    let pool = Arc::new(Mempool::new(chain.app.clone(), MempoolConfig::default(), None));
    let addr = start_node(pool).await;
    let mut open = Vec::new();
    for _ in 0..64 {
        open.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut extra = TcpStream::connect(addr).await.unwrap();
    assert!(closed(&mut extra).await, "connection 65 was accepted");
}

#[tokio::test]
async fn a_slow_loris_peer_is_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, _) = chain(dir.path());
    let pool = Arc::new(Mempool::new(chain.app.clone(), MempoolConfig::default(), None));
    let addr = start_node(pool).await;
    let mut s = peer(addr).await;
    s.write_all(&[0, 0, 0, 100, 1, 2, 3]).await.unwrap();
    assert!(closed(&mut s).await, "a peer that stopped mid-frame is still connected");
}

#[tokio::test]
async fn a_peer_sending_bad_signature_txs_is_banned() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, mut d) = chain(dir.path());
    let pool = Arc::new(Mempool::new(chain.app.clone(), MempoolConfig::default(), None));
    let addr = start_node(pool.clone()).await;
    let bank = d.bank_a.address();
    let bad: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            let mut t = d.bank_a.sign(CHAIN, vec![msgs::issue(bank, bank, 1, &format!("r{i}"))]);
            *t.last_mut().unwrap() ^= 1;
            t
        })
        .collect();
    let mut s = peer(addr).await;
    s.write_all(&frame(&bad)).await.unwrap();
    assert!(closed(&mut s).await, "a peer that sent bad signatures is still connected");
}
