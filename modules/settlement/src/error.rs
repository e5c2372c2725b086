use kawase_primitives::{Address, Amount, ErrorCode, StateError};

/// Errors of the settlement module. Codes are stable: never renumber.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("internal: {0}")]
    Storage(#[from] StateError),
    #[error("invalid field `{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("this message belongs on the {expected} zone")]
    WrongZone { expected: &'static str },
    #[error("{0} is not linked on this channel")]
    NotLinked(Address),
    #[error("{0} is already linked (or a link is in flight)")]
    AlreadyLinked(Address),
    #[error("channel `{0}` is not an open settlement channel")]
    UnknownChannel(String),
    #[error("insufficient BZ balance: {address} has {available}, needs {needed}")]
    InsufficientBalance { address: Address, available: Amount, needed: Amount },
    #[error("malformed packet data: {0}")]
    MalformedPacket(String),
    #[error("channel refused: {0}")]
    ChannelRefused(String),
    #[error("amount overflows: {0}")]
    Overflow(&'static str),
    #[error("sending the packet failed: {0}")]
    Send(String),
    #[error("sender and receiver are the same account")]
    SelfPayment,
    #[error("client recovery refused: {0}")]
    Recover(String),
    /// A token-level failure (insufficient funds, reserved); keeps the
    /// token module's codespace and code.
    #[error(transparent)]
    Token(#[from] kawase_token::Error),
    /// An account-level failure (unknown, frozen, closed); keeps the
    /// accounts module's codespace and code.
    #[error(transparent)]
    Accounts(#[from] kawase_accounts::Error),
}

impl ErrorCode for Error {
    fn codespace(&self) -> &'static str {
        match self {
            Error::Token(e) => e.codespace(),
            Error::Accounts(e) => e.codespace(),
            _ => crate::CODESPACE,
        }
    }

    fn code(&self) -> u32 {
        match self {
            Error::Storage(_) => 1,
            Error::InvalidField { .. } => 2,
            Error::WrongZone { .. } => 3,
            Error::NotLinked(_) => 4,
            Error::AlreadyLinked(_) => 5,
            Error::UnknownChannel(_) => 6,
            Error::InsufficientBalance { .. } => 7,
            Error::MalformedPacket(_) => 8,
            Error::ChannelRefused(_) => 9,
            Error::Overflow(_) => 10,
            Error::Send(_) => 11,
            Error::SelfPayment => 12,
            Error::Recover(_) => 13,
            Error::Token(e) => e.code(),
            Error::Accounts(e) => e.code(),
        }
    }

    fn is_storage_fault(&self) -> bool {
        match self {
            Error::Storage(_) => true,
            Error::Token(e) => e.is_storage_fault(),
            Error::Accounts(e) => e.is_storage_fault(),
            _ => false,
        }
    }
}

impl Error {
    /// The text of an error acknowledgement: stable code first, so the
    /// sending zone (and people reading it) can tell why.
    pub fn ack_text(&self) -> String {
        format!("{}/{}: {}", self.codespace(), self.code(), self)
    }
}
