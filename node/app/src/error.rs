use kawase_primitives::ErrorCode;

pub const CODESPACE: &str = "tx";

/// Envelope-level rejections (codespace `tx`). Codes are stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("transaction is {size} bytes, the limit is {limit}")]
    TooLarge { size: usize, limit: u64 },
    #[error("malformed transaction: {0}")]
    Malformed(String),
    #[error("transaction is for chain `{got}`, this is `{expected}`")]
    WrongChainId { expected: String, got: String },
    #[error("signature verification failed (check the key, account number {account_number} and chain id)")]
    InvalidSignature { account_number: u64 },
    #[error("wrong sequence: expected {expected}, got {got}")]
    WrongSequence { expected: u64, got: u64 },
    #[error("unknown message type `{0}`")]
    UnknownMessage(String),
    #[error("message must be signed by {expected}, the transaction is signed by {signer}")]
    SignerMismatch { expected: String, signer: String },
    #[error("transaction carries {count} messages, the limit is {limit}")]
    TooManyMessages { count: usize, limit: u32 },
    #[error("unsupported signing: {0}")]
    UnsupportedSigning(String),
    #[error("transaction timed out at height {timeout}, current height is {height}")]
    TimedOut { timeout: u64, height: u64 },
    #[error("transaction carries no messages")]
    NoMessages,
    #[error("chain is not initialised yet")]
    NotInitialised,
    #[error("internal: {0}")]
    Internal(String),
}

impl ErrorCode for TxError {
    fn codespace(&self) -> &'static str {
        CODESPACE
    }

    fn code(&self) -> u32 {
        match self {
            TxError::Internal(_) => 1,
            TxError::TooLarge { .. } => 2,
            TxError::Malformed(_) => 3,
            TxError::WrongChainId { .. } => 4,
            TxError::InvalidSignature { .. } => 5,
            TxError::WrongSequence { .. } => 6,
            TxError::UnknownMessage(_) => 7,
            TxError::SignerMismatch { .. } => 8,
            TxError::TooManyMessages { .. } => 9,
            TxError::UnsupportedSigning(_) => 10,
            TxError::TimedOut { .. } => 11,
            TxError::NoMessages => 12,
            TxError::NotInitialised => 13,
        }
    }
}

/// Any rejection, flattened to what ABCI reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub codespace: &'static str,
    pub code: u32,
    pub log: String,
    /// A storage failure, not a rejection: block execution halts on it
    /// (see [`ErrorCode::is_storage_fault`]) and never records it as a result.
    pub storage_fault: bool,
}

impl Failure {
    pub fn from_err<E: ErrorCode + std::fmt::Display>(e: &E) -> Self {
        Failure { codespace: e.codespace(), code: e.code(), log: e.to_string(), storage_fault: e.is_storage_fault() }
    }
}

impl From<TxError> for Failure {
    fn from(e: TxError) -> Self {
        Failure::from_err(&e)
    }
}

impl From<kawase_accounts::Error> for Failure {
    fn from(e: kawase_accounts::Error) -> Self {
        Failure::from_err(&e)
    }
}

/// A module's rejection: never a storage failure (those halt; see
/// [`kawase_primitives::ExecError`]).
impl From<kawase_primitives::Rejection> for Failure {
    fn from(r: kawase_primitives::Rejection) -> Self {
        Failure { codespace: r.codespace, code: r.code, log: r.log, storage_fault: false }
    }
}
