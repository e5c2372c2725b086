//! Shared primitives for Kawase state-machine modules.
//!
//! Modules are pure functions over the [`StateRead`]/[`StateWrite`] interface;
//! they never see RocksDB. Transactions run on a [`Delta`] that is merged into
//! its parent only on success, so a failing message leaves nothing behind.
#![deny(clippy::unwrap_used)]

mod address;
mod amount;
pub mod commitment;
mod context;
mod envelope;
mod event;
mod module;
mod state;

pub use address::{Address, AddressError, ADDRESS_PREFIX};
pub use amount::{parse_amount, Amount, AmountError};
pub use context::Context;
pub use envelope::{chain_id_extension, ed25519_address, secp256k1_address, sign_doc_bytes, ExtensionChainId};
pub use event::Event;
pub use module::{
    boxed, json_answer, query_address, BlockHeader, BlockInfo, ErrorDoc, ExecError, Holdings, Message, Module,
    QueryError, Rejection, TxContext, Zone, QUERY_CODESPACE,
};
pub use state::{
    write_changes, Changes, Delta, Entries, MemState, StateError, StateRead, StateReadTyped, StateWrite,
    StateWriteTyped,
};

/// Every module error maps to a stable `(codespace, code)` pair that clients
/// can match on; codes are never reused for another meaning.
pub trait ErrorCode {
    /// ABCI codespace, e.g. `"token"`.
    fn codespace(&self) -> &'static str;
    /// Non-zero code, stable across releases.
    fn code(&self) -> u32;
    /// A storage failure (disk, corrupt or inconsistent state), not a
    /// property of the transaction: the node halts instead of recording it
    /// as a result, since another node's store may not fail the same way.
    fn is_storage_fault(&self) -> bool {
        false
    }
}

/// Implements `prost::Name` so a message's type URL is `/<package>.<Name>`.
#[macro_export]
macro_rules! proto_name {
    ($ty:ty, $package:literal, $name:literal) => {
        impl ::prost::Name for $ty {
            const NAME: &'static str = $name;
            const PACKAGE: &'static str = $package;
        }
    };
}

/// Parses a bech32 address field of a message, naming the field on error.
pub fn parse_address_field(field: &'static str, s: &str) -> Result<Address, (&'static str, String)> {
    s.parse::<Address>().map_err(|e| (field, e.to_string()))
}
