//! CometBFT-compatible JSON-RPC server for the Kawase node.
//!
//! Wallets, relayers and explorers speak CometBFT's RPC; serving the same
//! wire format (0.38 dialect) lets them, and `tendermint-rpc`'s clients,
//! talk to a Kawase node unchanged. Three transports share one set of
//! methods:
//! - JSON-RPC 2.0 over `POST /` (single requests and batches),
//! - URI calls over `GET /<method>?arg=value` (e.g. `/block?height=5`),
//! - JSON-RPC over the websocket at `/websocket`, which also serves
//!   `subscribe`, `unsubscribe` and `unsubscribe_all` for `tm.event='NewBlock'`
//!   and `tm.event='Tx'` queries (with further conditions such as
//!   `tx.hash='..'` or `tx.height=5`).
//!
//! The node implements the synchronous [`Backend`] trait and starts the
//! server with [`serve`].

mod backend;
mod config;
mod error;
mod events;
mod jsonrpc;
mod listener;
mod methods;
mod pool;
mod ratelimit;
pub mod search;
mod server;
mod shutdown;
mod ws;

pub use backend::{Backend, BlockResults, NewBlockEvent, NodeEvent, TxEvent, TxResponse};
pub use config::RpcConfig;
pub use error::{RpcError, ServeError};
/// The TLS layer the listeners run, re-exported for the node.
pub use kawase_tls;
pub use listener::{ListenerLimits, ListenerStats, TlsFailure, RECENT_FAILURES};
pub use ratelimit::{Caller, Limited, RateLimiter, RateLimits, MAX_CALLERS};
pub use search::{Deadline, SearchLimits, TxIndex, TxLocation};
pub use server::{serve, serve_http, serve_with_tls, RpcServer};

/// The tendermint-rpc crate whose types the [`Backend`] uses (e.g.
/// `tendermint_rpc::endpoint::status::Response`), re-exported so the node
/// names the same version.
pub use tendermint_rpc;
