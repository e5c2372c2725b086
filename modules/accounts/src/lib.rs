//! The accounts module: who may act on a zone.
//!
//! The network admin registers banks and relayers; a bank registers its own
//! customers (KYC done off chain, the account records the bank and the linked
//! deposit account), freezes and closes them. Only registered, active
//! accounts may sign, send or receive.
#![deny(clippy::unwrap_used)]

mod error;
mod genesis;
mod module;
pub mod msg;
mod state;
pub mod state_key;

pub use error::Error;
pub use genesis::{AccountGenesis, BankGenesis, Genesis};
pub use module::Accounts;
pub use msg::Msg;
pub use state::{Account, Role, StateReadExt, StateWriteExt, Status};

/// Codespace of this module's errors.
pub const CODESPACE: &str = "accounts";

/// Whether an account's holdings are zero, asked of the modules that hold
/// money (token) before an account may be closed. Keeps this module from
/// reading another module's keys.
pub trait HoldingsCheck<S: ?Sized> {
    fn holds_funds(&self, state: &S, address: &kawase_primitives::Address) -> Result<bool, Error>;
}
