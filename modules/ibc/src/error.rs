use ibc::core::handler::types::error::HandlerError;
use kawase_primitives::ErrorCode;

pub const CODESPACE: &str = "ibc";

/// Why an IBC message was refused. Codes are stable (see docs/errors.md);
/// the text carries ibc-rs's own reason.
#[derive(Debug, thiserror::Error)]
pub enum IbcError {
    /// The message does not decode into an IBC message.
    #[error("malformed IBC message: {0}")]
    Malformed(String),
    /// Light client: unknown client, bad header or commit, frozen or expired
    /// client, misbehaviour, or a proof that does not verify.
    #[error("client: {0}")]
    Client(String),
    /// Connection handshake refused.
    #[error("connection: {0}")]
    Connection(String),
    /// Channel handshake or packet refused (bad proof, wrong sequence,
    /// timed out, already received, ...).
    #[error("channel: {0}")]
    Channel(String),
    /// No application is bound to the port.
    #[error("router: {0}")]
    Router(String),
    /// The relayer named in the message is not the transaction's signer.
    #[error("message signer {signer} is not the transaction signer")]
    WrongSigner { signer: String },
}

impl From<HandlerError> for IbcError {
    fn from(e: HandlerError) -> Self {
        match e {
            HandlerError::Client(e) => IbcError::Client(e.to_string()),
            HandlerError::Connection(e) => IbcError::Connection(e.to_string()),
            HandlerError::Channel(e) => IbcError::Channel(e.to_string()),
            HandlerError::Router(e) => IbcError::Router(e.to_string()),
        }
    }
}

impl ErrorCode for IbcError {
    fn codespace(&self) -> &'static str {
        CODESPACE
    }
    fn code(&self) -> u32 {
        match self {
            IbcError::Malformed(_) => 1,
            IbcError::Client(_) => 2,
            IbcError::Connection(_) => 3,
            IbcError::Channel(_) => 4,
            IbcError::Router(_) => 5,
            IbcError::WrongSigner { .. } => 6,
        }
    }
}
