//! Transaction gossip between peers, so a transaction sent to any node
//! reaches every proposer. Malachite's network carries consensus and sync
//! only, so mempools talk over their own TCP port: frames of
//! `u32 length | borsh Vec<tx>`, batched every few milliseconds. Each node
//! forwards what it newly admitted; duplicates stop at the receiver's
//! mempool, so any connected topology floods without loops.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};

use crate::mempool::Mempool;

/// Largest frame accepted from a peer.
pub const MAX_FRAME: usize = 16 << 20;
const BATCH_EVERY: Duration = Duration::from_millis(5);

/// Starts the listener and one sender per peer. `outbox` receives every
/// transaction the local mempool admitted.
pub async fn start(
    laddr: SocketAddr,
    peers: Vec<SocketAddr>,
    mempool: Arc<Mempool>,
    mut outbox: mpsc::UnboundedReceiver<Vec<u8>>,
    connected: Arc<AtomicU64>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(laddr).await?;
    let bound = listener.local_addr()?;
    let inbound = mempool.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, from)) = listener.accept().await else { continue };
            let mempool = inbound.clone();
            tokio::spawn(async move {
                if let Err(e) = receive(stream, mempool).await {
                    tracing::debug!(%from, error = %e, "gossip peer disconnected");
                }
            });
        }
    });

    let (fanout, _) = broadcast::channel::<Arc<Vec<u8>>>(1024);
    for peer in peers {
        let rx = fanout.subscribe();
        tokio::spawn(send_loop(peer, rx, connected.clone()));
    }
    tokio::spawn(async move {
        let mut batch: Vec<Vec<u8>> = Vec::new();
        loop {
            let first = match outbox.recv().await {
                Some(tx) => tx,
                None => return,
            };
            batch.push(first);
            tokio::time::sleep(BATCH_EVERY).await;
            let mut size = batch[0].len();
            while let Ok(tx) = outbox.try_recv() {
                size += tx.len() + 4;
                batch.push(tx);
                if size > MAX_FRAME / 2 {
                    break;
                }
            }
            match borsh::to_vec(&batch) {
                Ok(frame) => {
                    // No subscribers (no peers) is fine.
                    let _ = fanout.send(Arc::new(frame));
                }
                Err(e) => tracing::warn!(error = %e, "gossip encode"),
            }
            batch.clear();
        }
    });
    Ok(bound)
}

async fn receive(mut stream: TcpStream, mempool: Arc<Mempool>) -> std::io::Result<()> {
    loop {
        let len = stream.read_u32().await? as usize;
        if len > MAX_FRAME {
            return Err(std::io::Error::other(format!("frame of {len} bytes exceeds {MAX_FRAME}")));
        }
        let mut buf = vec![0u8; len];
        stream.read_exact(&mut buf).await?;
        let txs: Vec<Vec<u8>> = borsh::from_slice(&buf).map_err(std::io::Error::other)?;
        let mempool = mempool.clone();
        // CheckTx is CPU work under the app lock; keep it off the reactor.
        tokio::task::spawn_blocking(move || {
            for tx in txs {
                let _ = mempool.add(tx);
            }
        })
        .await
        .map_err(std::io::Error::other)?;
    }
}

async fn send_loop(peer: SocketAddr, mut rx: broadcast::Receiver<Arc<Vec<u8>>>, connected: Arc<AtomicU64>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match TcpStream::connect(peer).await {
            Ok(mut stream) => {
                let _ = stream.set_nodelay(true);
                backoff = Duration::from_millis(100);
                connected.fetch_add(1, Ordering::Relaxed);
                loop {
                    let frame = match rx.recv().await {
                        Ok(f) => f,
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(%peer, skipped = n, "gossip lagging; peer will get them via blocks");
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    let ok =
                        stream.write_u32(frame.len() as u32).await.is_ok() && stream.write_all(&frame).await.is_ok();
                    if !ok {
                        break;
                    }
                }
                connected.fetch_sub(1, Ordering::Relaxed);
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                // Drop what queued up while the peer was away.
                while rx.try_recv().is_ok() {}
            }
        }
    }
}
