use kawase_primitives::{Address, ErrorCode, StateError};

/// Errors of the accounts module. Codes are stable: never renumber.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("internal: {0}")]
    Storage(#[from] StateError),
    #[error("invalid address in `{field}`: {reason}")]
    InvalidAddress { field: &'static str, reason: String },
    #[error("unknown account {0}: register it with its bank first")]
    UnknownAccount(Address),
    #[error("account {0} is frozen")]
    AccountFrozen(Address),
    #[error("account {0} is closed")]
    AccountClosed(Address),
    #[error("account {0} is already registered")]
    AlreadyRegistered(Address),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("account {account} is a customer of bank {bank}, not of the signer")]
    NotYourCustomer { account: Address, bank: Address },
    #[error("invalid role: {0}")]
    InvalidRole(String),
    #[error("invalid field `{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("account {0} still holds funds; redeem or transfer them before closing")]
    HoldsFunds(Address),
    #[error("account {address} is {status}; cannot {action}")]
    InvalidStatus { address: Address, status: &'static str, action: &'static str },
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
}

impl ErrorCode for Error {
    fn codespace(&self) -> &'static str {
        crate::CODESPACE
    }

    fn code(&self) -> u32 {
        match self {
            Error::Storage(_) => 1,
            Error::InvalidAddress { .. } => 2,
            Error::UnknownAccount(_) => 3,
            Error::AccountFrozen(_) => 4,
            Error::AccountClosed(_) => 5,
            Error::AlreadyRegistered(_) => 6,
            Error::Unauthorized(_) => 7,
            Error::NotYourCustomer { .. } => 8,
            Error::InvalidRole(_) => 9,
            Error::InvalidField { .. } => 10,
            Error::HoldsFunds(_) => 11,
            Error::InvalidStatus { .. } => 12,
            Error::InvalidGenesis(_) => 13,
        }
    }

    fn is_storage_fault(&self) -> bool {
        matches!(self, Error::Storage(_))
    }
}
