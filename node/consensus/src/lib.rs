//! Consensus for a Kawase zone: Malachite BFT driving the ABCI application
//! in-process, with CometBFT-compatible blocks, votes and commits, a block
//! store, a bounded mempool with gossip, and a double-sign-safe signer.
#![deny(clippy::unwrap_used)]

mod application;
pub mod block;
mod commit;
pub mod crash;
mod engine;
pub mod gossip;
mod keys;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod privval;
pub mod store;
pub mod streams;
mod tx_proof;
pub mod types;

pub use node::{start, CommittedBlock, ConsensusStatus, NodeError, NodeSettings, Running, Shared};
