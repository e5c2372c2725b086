//! The Kawase ABCI application.
//!
//! One ordered registry of modules ([`modules::standard`], the only list)
//! runs inside a fixed pipeline: stateless decode and checks by the module
//! owning each message, then the ante phase (account, sequence, signature),
//! then each message on a transactional overlay that is dropped on error.
//! Blocks are committed to the Merkle store and the store root is the app
//! hash. Genesis sections, block hooks, invariants and query routes come
//! from the same registry.
#![deny(clippy::unwrap_used)]

mod abci;
mod error;
pub mod exec;
pub mod genesis;
pub mod modules;
pub mod parallel;
pub mod query;
pub mod registry;
mod results;
pub mod sigverify;
pub mod state_key;
pub mod tx;
pub mod tx_cache;
mod tx_index;

pub use abci::{take_for_proposal, App, AppConfig, AppError, PrecheckedTx};
pub use error::{Failure, TxError};
pub use genesis::{AppState, Params, Zone};
pub use registry::Registry;
pub use tx_index::TxRecord;

/// Every registered module's invariants over a state view (tools, tests).
pub fn check_money_invariants<S: kawase_primitives::StateRead>(state: &S) -> Result<(), String> {
    modules::standard().check_invariants(state)
}
