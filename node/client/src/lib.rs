//! Client side of Kawase transactions: keys, message builders, signing.
//!
//! Used by the CLI, the tests and the relayer. Transactions are Cosmos SDK
//! `TxRaw` envelopes signed in SIGN_MODE_DIRECT; the chain id travels in the
//! sign doc and, for a precise error, in a critical body extension.
#![deny(clippy::unwrap_used)]

mod key;
pub mod msgs;
mod tx;

pub use cosmrs::Any as CosmosAny;
pub use key::{address_of, Key, KeyError, KeyKind};
pub use tx::{build_tx, chain_id_extension, sign_doc_bytes, ExtensionChainId, TxError, TxParams};
