//! Server limits; the defaults are CometBFT's `[rpc]` defaults.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// RPC server configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcConfig {
    /// Address to listen on; port 0 picks a free port (see
    /// [`crate::RpcServer::local_addr`]).
    pub laddr: SocketAddr,
    /// Largest accepted request body; larger ones get a -32600 error.
    pub max_body_bytes: usize,
    /// Largest accepted request head (request line and headers).
    pub max_header_bytes: usize,
    /// Open connections (HTTP and websocket) beyond this are refused with a
    /// 503 and closed. 0 means no limit.
    pub max_open_connections: usize,
    /// Most requests in one JSON-RPC batch.
    pub max_batch_size: usize,
    /// How long `broadcast_tx_commit` waits for the transaction to be in a
    /// committed block.
    pub timeout_broadcast_tx_commit: Duration,
    /// Bound on reading a request (head and body) and on each backend call;
    /// a call that takes longer is answered with a -32603 error.
    pub request_timeout: Duration,
    /// Most websocket connections with at least one subscription.
    pub max_subscription_clients: usize,
    /// Most subscriptions on one websocket connection.
    pub max_subscriptions_per_client: usize,
    /// Backend calls running at once: the size of the RPC's own thread
    /// pool (0 is taken as 1). Further calls wait (within the request
    /// timeout) for a thread.
    pub max_concurrent_calls: usize,
    /// Per-caller request rate and in-flight quota (off by default here;
    /// `kawased` turns them on).
    pub rate_limits: crate::ratelimit::RateLimits,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            laddr: SocketAddr::from((Ipv4Addr::LOCALHOST, 26657)),
            max_body_bytes: 1_000_000,
            max_header_bytes: 1 << 20,
            max_open_connections: 900,
            max_batch_size: 10,
            timeout_broadcast_tx_commit: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_subscription_clients: 100,
            max_subscriptions_per_client: 5,
            max_concurrent_calls: 4,
            rate_limits: crate::ratelimit::RateLimits::off(),
        }
    }
}
