use kawase_primitives::{Address, Amount, ErrorCode, StateError};

/// Errors of the token module. Codes are stable: never renumber.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("internal: {0}")]
    Storage(#[from] StateError),
    #[error("amount must be greater than zero")]
    ZeroAmount,
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    #[error("insufficient funds: {address} has {available}, needs {needed}")]
    InsufficientFunds { address: Address, available: Amount, needed: Amount },
    #[error("amount overflows: {0}")]
    Overflow(&'static str),
    #[error("reference id `{0}` was already used")]
    ReferenceUsed(String),
    #[error("{account} is a customer of bank {bank}; only its own bank may do this")]
    NotYourCustomer { account: Address, bank: Address },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("invalid field `{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("sender and receiver are the same account")]
    SelfTransfer,
    #[error("{debtor} owes {creditor} only {owed}, cannot settle {amount}")]
    PositionExceeded { debtor: Address, creditor: Address, owed: Amount, amount: Amount },
    #[error("settlement id `{0}` was already recorded")]
    SettlementIdUsed(String),
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    #[error("insufficient reserved deposit: {address} has {available} reserved on {channel}, needs {needed}")]
    InsufficientReserved { address: Address, channel: String, available: Amount, needed: Amount },
    /// Deposit tokens live on the FZ; a BZ moves money only as settlement
    /// instructions, so nothing can be minted there without an FZ deposit.
    #[error("token messages run on the Financial Zone only; on a Business Zone use the settlement messages")]
    WrongZone,
    /// An account-level failure (unknown, frozen, closed, wrong role); keeps
    /// the accounts module's codespace and code.
    #[error(transparent)]
    Accounts(#[from] kawase_accounts::Error),
}

impl ErrorCode for Error {
    fn codespace(&self) -> &'static str {
        match self {
            Error::Accounts(e) => e.codespace(),
            _ => crate::CODESPACE,
        }
    }

    fn code(&self) -> u32 {
        match self {
            Error::Storage(_) => 1,
            Error::ZeroAmount => 2,
            Error::InvalidAmount(_) => 3,
            Error::InsufficientFunds { .. } => 4,
            Error::Overflow(_) => 5,
            Error::ReferenceUsed(_) => 6,
            Error::NotYourCustomer { .. } => 7,
            Error::Unauthorized(_) => 8,
            Error::InvalidField { .. } => 9,
            Error::SelfTransfer => 10,
            Error::PositionExceeded { .. } => 11,
            Error::SettlementIdUsed(_) => 12,
            Error::InvalidGenesis(_) => 13,
            Error::InsufficientReserved { .. } => 14,
            Error::WrongZone => 15,
            Error::Accounts(e) => e.code(),
        }
    }

    fn is_storage_fault(&self) -> bool {
        match self {
            Error::Storage(_) => true,
            Error::Accounts(e) => e.is_storage_fault(),
            _ => false,
        }
    }
}
