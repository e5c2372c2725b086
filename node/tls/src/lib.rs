//! TLS for every Kawase listener and its clients.
//!
//! One layer, so the JSON-RPC and websocket server, the metrics endpoint and
//! every listener added later are defended the same way:
//! - [`ServerTls`]: TLS 1.3 only, from PEM files named in `config.toml`;
//!   mutual TLS when a client CA is given (client certificates issued by
//!   the consortium's CA); [`ServerTls::reload`] swaps in new files without
//!   a restart (the node calls it on SIGHUP) and keeps the old ones if the
//!   new ones do not load.
//! - [`ClientTls`]: what a client (CLI, relayer, tests) trusts and presents:
//!   only the configured CA, never the system roots.
//! - [`DevCa`]: a throw-away CA for devnets and testnets, which issues the
//!   nodes' server certificates and the callers' client certificates.

mod ca;
mod client;
mod error;
mod server;

pub use ca::{DevCa, Issued};
pub use client::{rpc_client, ClientTls};
pub use error::TlsError;
pub use server::{ClientId, ServerTls, ServerTlsFiles};
pub use tokio_rustls::server::TlsStream;
