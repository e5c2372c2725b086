//! The Kawase ABCI application.
//!
//! One ordered list of modules ([`exec::dispatch`]) runs inside a fixed
//! pipeline: stateless decode and checks, then the ante phase (account,
//! sequence, signature), then each message on a transactional overlay that
//! is dropped on error. Blocks are committed to the Merkle store and the
//! store root is the app hash.
#![deny(clippy::unwrap_used)]

mod abci;
mod error;
pub mod exec;
pub mod genesis;
pub mod query;
mod results;
pub mod state_key;
pub mod testkit;
pub mod tx;

pub use abci::{App, AppConfig, AppError, PrecheckedTx};
pub use error::{Failure, TxError};
pub use genesis::{AppState, Params, Zone};

/// The money invariants over a state view (re-exported for tools).
pub fn check_money_invariants<S: kawase_primitives::StateRead>(state: &S) -> Result<(), String> {
    kawase_token::check_invariants(state)
}
