//! Deposit tokens: 1 token = 1 yen, integer [`kawase_primitives::Amount`]s.
//!
//! Every balance is a deposit liability of the holder's bank, so each
//! bank's supply equals the sum of its customers' balances. A transfer
//! across banks moves supply from the sender's bank to the receiver's and
//! records that the sender's bank owes the receiver's (netted per pair);
//! banks later settle positions off chain and record it here.
#![deny(clippy::unwrap_used)]

mod error;
mod genesis;
mod invariants;
mod module;
pub mod msg;
mod state;
pub mod state_key;

pub use error::Error;
pub use genesis::{BalanceGenesis, Genesis};
pub use invariants::check_invariants;
pub use module::Token;
pub use msg::Msg;
pub use state::{BankStats, Position, StateReadExt, StateWriteExt, TokenHoldings};

pub const CODESPACE: &str = "token";

/// Longest reference / settlement id accepted.
pub const MAX_REFERENCE_LEN: usize = 64;
