//! The one bounded HTTP listener every Kawase server runs on (JSON-RPC, the
//! metrics endpoint, and any later REST or dashboard server): an accept
//! loop with a connection limit, TLS 1.3 when configured (the handshake
//! bounded in time, outside any lock), a header-read timeout, and a drain
//! on shutdown.
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use kawase_tls::ServerTls;
use std::convert::Infallible;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::ratelimit::{Admitted, Caller, Limited, RateLimiter};
use crate::shutdown::wait_shutdown;

/// What bounds a listener.
#[derive(Clone, Debug)]
pub struct ListenerLimits {
    /// Open connections beyond this are refused (a 503 in plain text, a
    /// closed socket under TLS). 0 means no limit.
    pub max_open_connections: usize,
    /// Bound on the TLS handshake and on reading a request head.
    pub request_timeout: Duration,
    pub max_header_bytes: usize,
    /// Per-caller request rate and in-flight quota (`None`: unlimited).
    pub rate: Option<Arc<RateLimiter>>,
}

/// Counts for the intrusion-detection metrics.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections refused at the connection limit.
    pub refused: AtomicU64,
    /// TLS handshakes that failed: plain text to a TLS port, an untrusted
    /// or missing client certificate, a client that said nothing in time.
    pub tls_failures: AtomicU64,
    /// Requests answered 429 by the per-caller limits.
    pub rate_limited: AtomicU64,
    /// The latest failures (peer and reason) for the audit trail, at most
    /// [`RECENT_FAILURES`]: a flood of bad handshakes costs a bounded
    /// amount of memory, and the count above still sees every one.
    recent: std::sync::Mutex<std::collections::VecDeque<TlsFailure>>,
}

/// Failed handshakes kept for [`ListenerStats::take_recent_failures`].
pub const RECENT_FAILURES: usize = 16;

/// One failed TLS handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFailure {
    pub peer: SocketAddr,
    pub reason: String,
}

impl ListenerStats {
    fn tls_failed(&self, peer: SocketAddr, reason: String) {
        self.tls_failures.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RECENT_FAILURES {
            recent.pop_front();
        }
        recent.push_back(TlsFailure { peer, reason });
    }

    /// The failures since the last call (the latest [`RECENT_FAILURES`]).
    pub fn take_recent_failures(&self) -> Vec<TlsFailure> {
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        recent.drain(..).collect()
    }
}

/// Accept on `listener` until `shutdown` becomes true, serving `router` on
/// each connection.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    limits: ListenerLimits,
    tls: Option<Arc<ServerTls>>,
    router: Router,
    shutdown: watch::Receiver<bool>,
    stats: Arc<ListenerStats>,
) {
    let limit = match limits.max_open_connections {
        0 => None,
        n => Some(Arc::new(Semaphore::new(n))),
    };
    let mut stop = shutdown.clone();
    let mut conns = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = wait_shutdown(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let permit = match &limit {
            None => None,
            Some(sem) => match Arc::clone(sem).try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    tracing::debug!(%peer, "connection refused: max_open_connections reached");
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    // Under TLS a plain-text answer would not be read.
                    if tls.is_none() {
                        tokio::spawn(refuse(stream));
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            peer,
            permit,
            router: router.clone(),
            limits: limits.clone(),
            shutdown: shutdown.clone(),
            stats: Arc::clone(&stats),
        };
        conns.spawn(conn.run(stream, tls.clone()));
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.request_timeout, drain).await.is_err() {
        conns.abort_all();
    }
}

/// Tell a client over the connection limit why, then close.
async fn refuse(mut stream: TcpStream) {
    const BODY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\ntoo many open connections (max)\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(BODY).await?;
        stream.shutdown().await
    })
    .await;
}

struct Conn {
    peer: SocketAddr,
    permit: Option<OwnedSemaphorePermit>,
    router: Router,
    limits: ListenerLimits,
    shutdown: watch::Receiver<bool>,
    stats: Arc<ListenerStats>,
}

impl Conn {
    async fn run(self, stream: TcpStream, tls: Option<Arc<ServerTls>>) {
        match tls {
            None => {
                let caller = Caller::Address(self.peer.ip());
                self.serve(stream, caller).await
            }
            Some(tls) => match tls.accept(stream, self.limits.request_timeout).await {
                Ok((stream, client)) => {
                    let caller = match client {
                        Some(client) => {
                            tracing::debug!(peer = %self.peer, %client, "TLS client authenticated");
                            Caller::Certificate(hex::encode(client.fingerprint))
                        }
                        None => Caller::Address(self.peer.ip()),
                    };
                    self.serve(stream, caller).await
                }
                Err(e) => {
                    tracing::info!(peer = %self.peer, error = %e, "TLS handshake failed");
                    self.stats.tls_failed(self.peer, e.to_string());
                }
            },
        }
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, stream: S, caller: Caller) {
        // The permit travels with the socket, so an upgraded websocket keeps
        // counting against the limit for as long as it is open.
        let io = TokioIo::new(Counted { inner: stream, _permit: self.permit });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.request_timeout)
            .max_header_size(self.limits.max_header_bytes);
        let inner = TowerToHyperService::new(self.router);
        let limiter = self.limits.rate.clone().filter(|l| l.applies_to(&caller));
        let stats = Arc::clone(&self.stats);
        let service = hyper::service::service_fn(move |req: Request<Incoming>| -> Reply {
            let admitted: Option<Admitted> = match &limiter {
                None => None,
                Some(l) => match l.admit(&caller, tokio::time::Instant::now()) {
                    Ok(a) => Some(a),
                    Err(limited) => {
                        stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(?caller, code = limited.code(), "request refused by the rate limits");
                        return Box::pin(std::future::ready(Ok(too_many(limited))));
                    }
                },
            };
            let call = hyper::service::Service::call(&inner, req);
            Box::pin(async move {
                let response = call.await;
                drop(admitted);
                response
            })
        });
        let conn = builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let mut shutdown = self.shutdown;
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            () = wait_shutdown(&mut shutdown) => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

type Reply = Pin<Box<dyn std::future::Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// The answer to a request over a caller's limits: HTTP 429, a JSON-RPC
/// error (as CometBFT shapes them: -32000, "Server error") whose data starts
/// with the stable code, and when to retry.
fn too_many(limited: Limited) -> Response<Body> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": -1,
        "error": { "code": -32000, "message": "Server error", "data": limited.to_string() },
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// A stream holding its connection-limit permit.
struct Counted<S> {
    inner: S,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
