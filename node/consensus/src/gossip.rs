//! Transaction gossip between peers, so a transaction sent to any node
//! reaches every proposer. Malachite's network carries consensus and sync
//! only, so mempools talk over their own TCP port. Each node dials its
//! configured peers and forwards what its mempool newly admitted;
//! duplicates stop at the receiver's mempool, so any connected topology
//! floods without loops.
//!
//! Wire: a fixed-size handshake ([`auth`]) in which both sides prove their
//! node key, then frames of `u32 length | borsh Vec<tx>` from dialer to
//! acceptor (length 0 is a keepalive). Everything a peer can make us spend
//! is bounded: inbound connections (total and per IP, handshakes
//! included), time (handshake, idle, and each started frame), bytes (a
//! frame cap checked before reading, and the body read as it arrives, never
//! allocated from the prefix), and CheckTx work (one frame in flight per
//! peer, on a small shared blocking budget). A peer that relays invalid
//! transactions is scored and banned ([`peers::Reputation`]).
pub mod auth;
pub mod peers;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ed25519_consensus::SigningKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, Semaphore};

pub use auth::{AuthError, NodeId};
use peers::{Reputation, Slots};

use crate::mempool::Mempool;

const BATCH_EVERY: Duration = Duration::from_millis(5);
/// Transactions CheckTx'd together from one received batch: large enough
/// for the app's signature batches (256) on both cores, small enough that a
/// banned peer's remaining transactions are not checked.
const CHECK_SLICE: usize = 512;
/// Largest frame ever allowed, whatever the chain's limits.
pub const MAX_FRAME_CEILING: usize = 4 << 20;

/// A peer to dial: its node id (checked in the handshake) and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipPeer {
    pub id: NodeId,
    pub addr: SocketAddr,
}

/// Gossip settings. Inbound, only the ids of `peers` are accepted.
#[derive(Clone)]
pub struct GossipConfig {
    pub laddr: SocketAddr,
    /// Signed into the handshake, so a proof is only good on this chain.
    pub chain_id: String,
    /// Seed of the node key (`config/node_key.json`).
    pub node_key: [u8; 32],
    pub peers: Vec<GossipPeer>,
    pub max_inbound: usize,
    pub max_inbound_per_ip: usize,
    pub handshake_timeout: Duration,
    /// An idle sender writes a keepalive this often.
    pub keepalive: Duration,
    /// An inbound peer silent for this long is dropped (several keepalives).
    pub idle_timeout: Duration,
    /// A frame whose first byte arrived must be complete within this, and
    /// a write to a peer must finish within it.
    pub frame_timeout: Duration,
    /// Largest frame sent or accepted; see [`frame_limit`].
    pub max_frame: usize,
    /// Frames checked at once across all peers (blocking threads).
    pub check_workers: usize,
    /// Penalty points per relayed invalid transaction, the ban threshold
    /// and how long a ban lasts.
    pub invalid_tx_points: u32,
    pub ban_threshold: u32,
    pub ban_for: Duration,
    /// Counted for the intrusion-detection metrics (shared with them).
    pub stats: Arc<GossipStats>,
}

/// What the gossip listener refused: the intrusion-detection signals of
/// the transaction-gossip port.
#[derive(Debug, Default)]
pub struct GossipStats {
    /// Handshakes from a node id outside `gossip_peers`, or a banned one.
    pub refused_peers: AtomicU64,
    /// Handshakes that failed otherwise (bad proof, wrong chain, timeout).
    pub failed_handshakes: AtomicU64,
    /// Relayed transactions that cannot be valid (bad signature, ...).
    pub invalid_txs: AtomicU64,
    /// Peers banned for what they relayed.
    pub bans: AtomicU64,
}

impl GossipConfig {
    pub fn new(laddr: SocketAddr, chain_id: &str, node_key: [u8; 32], peers: Vec<GossipPeer>) -> GossipConfig {
        GossipConfig {
            laddr,
            chain_id: chain_id.into(),
            node_key,
            peers,
            max_inbound: 64,
            max_inbound_per_ip: 16,
            handshake_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(35),
            frame_timeout: Duration::from_secs(10),
            max_frame: frame_limit(32 << 10, 16 << 20),
            check_workers: 2,
            invalid_tx_points: 10,
            ban_threshold: 100,
            ban_for: Duration::from_secs(600),
            stats: Arc::default(),
        }
    }
}

impl std::fmt::Debug for GossipConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the node key.
        f.debug_struct("GossipConfig").field("laddr", &self.laddr).field("peers", &self.peers).finish_non_exhaustive()
    }
}

/// The frame cap for a chain: no more than one block's worth of bytes
/// (a batch beyond that cannot go into the next block anyway), at least
/// one largest transaction with its framing, never above
/// [`MAX_FRAME_CEILING`].
pub fn frame_limit(max_tx_bytes: usize, max_block_bytes: u64) -> usize {
    let block = usize::try_from(max_block_bytes).unwrap_or(usize::MAX);
    block.min(MAX_FRAME_CEILING).max(max_tx_bytes.saturating_add(8))
}

/// Why an inbound connection ended.
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("frame of {len} bytes exceeds {max}")]
    FrameTooLarge { len: usize, max: usize },
    #[error("undecodable frame")]
    BadFrame,
    #[error("peer {0} is banned for relaying invalid transactions")]
    Banned(NodeId),
}

struct Inbound {
    key: SigningKey,
    chain_id: String,
    allowed: HashSet<NodeId>,
    reputation: Reputation,
    budget: Arc<Semaphore>,
    mempool: Arc<Mempool>,
    config: GossipConfig,
}

/// Starts the listener and one sender per peer. `outbox` receives every
/// transaction the local mempool admitted; `connected` counts peers we
/// currently send to.
pub async fn start(
    config: GossipConfig,
    mempool: Arc<Mempool>,
    outbox: mpsc::UnboundedReceiver<Vec<u8>>,
    connected: Arc<AtomicU64>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(config.laddr).await?;
    let bound = listener.local_addr()?;
    let key = SigningKey::from(config.node_key);
    let inbound = Arc::new(Inbound {
        key: key.clone(),
        chain_id: config.chain_id.clone(),
        allowed: config.peers.iter().map(|p| p.id).collect(),
        reputation: Reputation::new(config.ban_threshold, config.ban_for),
        budget: Arc::new(Semaphore::new(config.check_workers.max(1))),
        mempool,
        config: config.clone(),
    });
    let slots = Slots::new(config.max_inbound, config.max_inbound_per_ip);
    tokio::spawn(accept_loop(listener, slots, inbound));

    let (fanout, _) = broadcast::channel::<Arc<Vec<u8>>>(1024);
    let config = Arc::new(config);
    for peer in config.peers.clone() {
        tokio::spawn(send_loop(peer, fanout.subscribe(), connected.clone(), key.clone(), config.clone()));
    }
    tokio::spawn(batch_loop(outbox, fanout, config.max_frame));
    Ok(bound)
}

async fn accept_loop(listener: TcpListener, slots: Arc<Slots>, inbound: Arc<Inbound>) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "gossip accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = slots.take(from.ip()) else {
            tracing::debug!(%from, "gossip connection refused: connection cap reached");
            continue;
        };
        let inbound = inbound.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = inbound.serve(stream).await {
                tracing::debug!(%from, error = %e, "gossip peer disconnected");
            }
        });
    }
}

impl Inbound {
    async fn serve(self: Arc<Self>, mut stream: TcpStream) -> Result<(), Closed> {
        let c = &self.config;
        let allowed = |id: NodeId| self.allowed.contains(&id) && !self.reputation.is_banned(id);
        let shake =
            tokio::time::timeout(c.handshake_timeout, auth::handshake(&mut stream, &self.key, &self.chain_id, allowed))
                .await;
        let id = match shake {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => {
                let counter = match e {
                    auth::AuthError::NotAllowed(_) => &c.stats.refused_peers,
                    _ => &c.stats.failed_handshakes,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
            Err(_) => {
                c.stats.failed_handshakes.fetch_add(1, Ordering::Relaxed);
                return Err(Closed::Timeout("handshake"));
            }
        };
        loop {
            let frame = match read_frame(&mut stream, c.max_frame, c.idle_timeout, c.frame_timeout).await {
                Err(e @ Closed::FrameTooLarge { .. }) => {
                    self.reputation.penalize(id, c.invalid_tx_points);
                    return Err(e);
                }
                other => other?,
            };
            if frame.is_empty() {
                continue;
            }
            let Ok(txs) = borsh::from_slice::<Vec<Vec<u8>>>(&frame) else {
                self.reputation.penalize(id, c.ban_threshold);
                return Err(Closed::BadFrame);
            };
            drop(frame);
            // One frame in flight per peer (the next is not read until this
            // one is checked) and a bounded number across peers; CheckTx is
            // blocking work, so it runs off the reactor.
            let permit = self.budget.clone().acquire_owned().await.map_err(std::io::Error::other)?;
            let this = self.clone();
            let banned = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                this.check(id, txs)
            })
            .await
            .map_err(std::io::Error::other)?;
            if banned {
                return Err(Closed::Banned(id));
            }
        }
    }

    /// CheckTx for the transactions, [`CHECK_SLICE`] at a time (signatures
    /// verified in batches); true once the peer is banned (the rest of the
    /// batch is then not checked).
    fn check(&self, id: NodeId, mut txs: Vec<Vec<u8>>) -> bool {
        while !txs.is_empty() {
            if self.reputation.is_banned(id) {
                return true;
            }
            let rest = txs.split_off(txs.len().min(CHECK_SLICE));
            for e in self.mempool.add_all(std::mem::replace(&mut txs, rest)).into_iter().filter_map(Result::err) {
                if !e.is_invalid_tx() {
                    continue;
                }
                self.config.stats.invalid_txs.fetch_add(1, Ordering::Relaxed);
                if self.reputation.penalize(id, self.config.invalid_tx_points) {
                    self.config.stats.bans.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(peer = %id, error = %e, "gossip peer banned for relaying invalid transactions");
                    return true;
                }
            }
        }
        self.reputation.is_banned(id)
    }
}

/// One frame: the first byte may take up to `idle`, the rest of the frame
/// must follow within `within`. The length is checked against `max` before
/// anything is read, and the body buffer grows only with bytes received.
async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    idle: Duration,
    within: Duration,
) -> Result<Vec<u8>, Closed> {
    let mut len = [0u8; 4];
    tokio::time::timeout(idle, r.read_exact(&mut len[..1])).await.map_err(|_| Closed::Timeout("idle peer"))??;
    tokio::time::timeout(within, async {
        r.read_exact(&mut len[1..]).await?;
        let n = u32::from_be_bytes(len) as usize;
        if n > max {
            return Err(Closed::FrameTooLarge { len: n, max });
        }
        let mut buf = Vec::new();
        (&mut *r).take(n as u64).read_to_end(&mut buf).await?;
        if buf.len() != n {
            return Err(Closed::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok::<_, Closed>(buf)
    })
    .await
    .map_err(|_| Closed::Timeout("frame"))?
}

/// Collects admitted transactions into frames of at most `max_frame` bytes.
async fn batch_loop(
    mut outbox: mpsc::UnboundedReceiver<Vec<u8>>,
    fanout: broadcast::Sender<Arc<Vec<u8>>>,
    max_frame: usize,
) {
    let mut carry: Option<Vec<u8>> = None;
    loop {
        let first = match carry.take() {
            Some(tx) => tx,
            None => match outbox.recv().await {
                Some(tx) => tx,
                None => return,
            },
        };
        // borsh: u32 count, then u32 length + bytes per transaction.
        let mut size = 4 + 4 + first.len();
        if size > max_frame {
            tracing::warn!(bytes = first.len(), max_frame, "transaction too large to gossip");
            continue;
        }
        let mut batch = vec![first];
        tokio::time::sleep(BATCH_EVERY).await;
        while let Ok(tx) = outbox.try_recv() {
            if size + 4 + tx.len() > max_frame {
                carry = Some(tx);
                break;
            }
            size += 4 + tx.len();
            batch.push(tx);
        }
        match borsh::to_vec(&batch) {
            // No subscribers (no peers) is fine.
            Ok(frame) => {
                let _ = fanout.send(Arc::new(frame));
            }
            Err(e) => tracing::warn!(error = %e, "gossip encode"),
        }
    }
}

async fn send_loop(
    peer: GossipPeer,
    mut rx: broadcast::Receiver<Arc<Vec<u8>>>,
    connected: Arc<AtomicU64>,
    key: SigningKey,
    config: Arc<GossipConfig>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match dial(&peer, &key, &config).await {
            Ok(mut stream) => {
                backoff = Duration::from_millis(100);
                connected.fetch_add(1, Ordering::Relaxed);
                let open = send_frames(&mut stream, &mut rx, &config).await;
                connected.fetch_sub(1, Ordering::Relaxed);
                if !open {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(peer = %peer.addr, error = %e, "gossip dial failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                // Drop what queued up while the peer was away.
                while rx.try_recv().is_ok() {}
            }
        }
    }
}

async fn dial(peer: &GossipPeer, key: &SigningKey, config: &GossipConfig) -> Result<TcpStream, Closed> {
    let expected = peer.id;
    tokio::time::timeout(config.handshake_timeout, async {
        let mut stream = TcpStream::connect(peer.addr).await?;
        let _ = stream.set_nodelay(true);
        auth::handshake(&mut stream, key, &config.chain_id, |id| id == expected).await?;
        Ok::<_, Closed>(stream)
    })
    .await
    .map_err(|_| Closed::Timeout("handshake"))?
}

/// Streams frames until the connection fails (false: the node is shutting
/// down and the fanout closed).
async fn send_frames(stream: &mut TcpStream, rx: &mut broadcast::Receiver<Arc<Vec<u8>>>, c: &GossipConfig) -> bool {
    loop {
        let frame = tokio::select! {
            r = rx.recv() => match r {
                Ok(f) => Some(f),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "gossip lagging; peers will get them via blocks");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return false,
            },
            () = tokio::time::sleep(c.keepalive) => None,
        };
        let write = async {
            match &frame {
                Some(f) => {
                    stream.write_u32(f.len() as u32).await?;
                    stream.write_all(f).await
                }
                None => stream.write_u32(0).await,
            }
        };
        if !matches!(tokio::time::timeout(c.frame_timeout, write).await, Ok(Ok(()))) {
            return true;
        }
    }
}
