//! Client side of Kawase transactions: keys, message builders, signing, and
//! the encrypted keystore the CLI keeps account keys in.
//!
//! Used by the CLI, the tests and the relayer. Transactions are Cosmos SDK
//! `TxRaw` envelopes signed in SIGN_MODE_DIRECT; the chain id travels in the
//! sign doc and, for a precise error, in a critical body extension.
#![deny(clippy::unwrap_used)]

mod key;
mod keystore;
mod mnemonic;
pub mod msgs;
mod signer;
mod supervised;
mod tx;

pub use cosmrs::Any as CosmosAny;
pub use key::{address_of, Key, KeyError, KeyKind};
pub use keystore::{KeyInfo, Keystore, KeystoreError, FORMAT_VERSION as KEYSTORE_FORMAT_VERSION, MIN_PASSPHRASE_CHARS};
pub use mnemonic::{generate_mnemonic, key_from_mnemonic, MnemonicError, ED25519_HD_PATH, SECP256K1_HD_PATH};
pub use signer::{SignError, Signer};
pub use supervised::{stop_when_supervisor_is_gone, STOP_ON_STDIN_EOF};
pub use tx::{build_tx, chain_id_extension, sign_doc_bytes, ExtensionChainId, TxError, TxParams};
