//! Two-layer settlement between the Financial Zone and a Business Zone.
//!
//! The money is the FZ deposit token. A holder *charges* a BZ by moving FZ
//! balance into `reserved(holder, channel)`; the BZ credits the linked BZ
//! account. A BZ payment A -> B is an *instruction*: the BZ holds A's amount
//! and sends it to the FZ, which moves `reserved(A) -> reserved(B)` (an
//! interbank position when their banks differ); only the success ack makes
//! the BZ credit B, an error ack or a timeout gives the hold back to A.
//! A discharge moves BZ balance back to FZ free balance the same way.
//!
//! The crate has three parts:
//! - [`Msg`]: the user messages (link and charge on the FZ, pay and
//!   discharge on the BZ), each of which sends one packet;
//! - [`SettlementApp`]: the IBC application bound to port `settlement`
//!   (channel handshake rules, packet receipt, acks, timeouts);
//! - state: FZ links, BZ accounts' balances, holds and links (this crate's
//!   keys), FZ reserved balances (the token module's keys, through its API).
#![deny(clippy::unwrap_used)]

mod app;
mod counterparty;
mod error;
mod module;
mod msg;
pub mod packet;
mod recover;
mod state;
pub mod state_key;

pub use app::{ack_is_success, reserved_of, SettlementApp};
pub use counterparty::{CounterpartyRead, CounterpartyWrite, FzCounterparty, Genesis};
pub use error::Error;
pub use module::{Settlement, SettlementPort};
pub use msg::{Msg, MsgCharge, MsgDischarge, MsgLink, MsgPay, Outgoing};
pub use recover::MsgRecoverClient;
pub use state::{check_bz_invariants, BzAccount, BzHoldings, Hold, HoldKind, LinkStatus, StateReadExt, StateWriteExt};

pub const CODESPACE: &str = "settlement";

/// The channel version both ends must agree on.
pub const VERSION: &str = "kawase-settlement-1";

/// Default packet timeout when a message does not set one.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// Longest packet timeout a message may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// Which side of the settlement a zone is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Fz,
    Bz,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Fz => "fz",
            Side::Bz => "bz",
        }
    }
}
