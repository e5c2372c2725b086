//! Malachite's context for a Kawase zone.
//!
//! Consensus runs on small values: a [`ValueId`] is a CometBFT block id plus
//! the header time. The block itself travels as proposal parts and is kept by
//! the node, so votes, proposals and the WAL stay a few hundred bytes however
//! large the block is. Every signature is over CometBFT canonical sign bytes,
//! so a decided certificate is a `tendermint::block::Commit` in another shape.
//!
//! One file per concern: the context, heights and addresses
//! (`context.rs`), the validator set (`validators.rs`), the value
//! (`value.rs`), signed messages (`messages.rs`), the signing provider
//! (`signer.rs`) and the codec (`codec.rs`). The keys and signing scheme
//! live in `crate::keys`, below `privval`, and are re-exported here.
mod codec;
mod context;
mod messages;
mod signer;
mod validators;
mod value;

pub use codec::{BorshCodec, CodecError};
pub use context::{Address, Height, ZoneContext};
pub use messages::{height_to_tm, round_to_tm, Proposal, ProposalInit, ProposalPart, Vote};
pub use signer::Signer;
pub use validators::{Validator, ValidatorSet};
pub use value::{time_from_nanos, time_to_nanos, Value, ValueId};

pub use crate::keys::{Ed25519, PrivateKey, PublicKey, Signature, SignatureLength};
