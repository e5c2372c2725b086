//! The one interface every state-machine module implements, so the app can
//! take a module from a single registry line instead of edits in eight files.
//!
//! The phases follow Penumbra's components: [`Module::decode`] is the
//! stateless phase (everything that needs no state is checked there, once,
//! outside any lock); [`Message::execute`] is the stateful phase on the
//! transaction's overlay, which the app drops on error. Everything is
//! synchronous and deterministic, as in Malachite's pure transition core:
//! no clock (the block time comes from consensus), no randomness.
//!
//! Errors take two paths that cannot mix: a [`Rejection`] is a transaction
//! result (stable codespace and code, same on every node); a storage failure
//! is [`ExecError::Halt`], which the app never records as a result.
use crate::{Address, ErrorCode, StateError, StateRead, StateWrite};

/// Which zone a chain is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    /// Financial Zone: banks issue deposit tokens here.
    Fz,
    /// Business Zone: payments are instructions settled on the FZ.
    Bz,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Fz => "fz",
            Zone::Bz => "bz",
        }
    }
}

/// Where a transaction runs: the same on every node (consensus data only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    pub chain_id: String,
    pub zone: Zone,
    pub height: u64,
    /// Block time from the header, seconds since the Unix epoch.
    pub block_time_secs: i64,
    /// Header time in nanoseconds since the epoch (IBC timeouts).
    pub block_time_nanos: u64,
}

/// What the begin-block hook sees of the header besides [`BlockInfo`].
#[derive(Clone, Debug)]
pub struct BlockHeader<'a> {
    pub block: &'a BlockInfo,
    /// The app hash in this block's header (the state after the previous block).
    pub last_app_hash: [u8; 32],
    pub next_validators_hash: &'a [u8],
}

/// What a message handler may know about where it runs.
pub struct TxContext<'a> {
    pub block: &'a BlockInfo,
    /// The single account that signed the transaction (checked by the ante
    /// phase against every message's [`Message::signer`]).
    pub signer: Address,
    /// Asks every registered module whether an account holds money there
    /// (an account holding any cannot be closed).
    pub holdings: &'a dyn Holdings,
}

impl TxContext<'_> {
    /// The older, module-local view of the context.
    pub fn legacy(&self) -> crate::Context {
        crate::Context {
            chain_id: self.block.chain_id.clone(),
            height: self.block.height,
            block_time_secs: self.block.block_time_secs,
            signer: self.signer,
        }
    }
}

/// Whether any module holds money for an account.
pub trait Holdings {
    fn holds_funds(&self, state: &dyn StateRead, account: &Address) -> Result<bool, StateError>;
}

/// A transaction result that is not a success: the same on every node.
/// It cannot carry a storage failure (see [`ExecError::Halt`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub codespace: &'static str,
    pub code: u32,
    pub log: String,
}

impl Rejection {
    /// A module error as a transaction result (for an error that is not a
    /// storage failure; see [`ExecError`]'s `From`).
    pub fn of<E: ErrorCode + std::fmt::Display>(e: &E) -> Self {
        Rejection { codespace: e.codespace(), code: e.code(), log: e.to_string() }
    }
}

/// A module's own stateless decode (`None`: not its type URL, an error
/// `none` names) as the registry takes it: a boxed message or a rejection.
pub fn boxed<M, E>(decoded: Option<Result<M, E>>, none: impl FnOnce() -> E) -> Result<Box<dyn Message>, Rejection>
where
    M: Message + 'static,
    E: ErrorCode + std::fmt::Display,
{
    match decoded.unwrap_or_else(|| Err(none())) {
        Ok(m) => Ok(Box::new(m)),
        Err(e) => Err(Rejection::of(&e)),
    }
}

/// Why a message did not execute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// Refused: recorded as the transaction's result.
    Rejected(Rejection),
    /// The store failed underneath (disk, corruption): the node halts rather
    /// than record a result another node's store would not give.
    Halt(StateError),
}

impl<E: ErrorCode + std::fmt::Display> From<E> for ExecError {
    fn from(e: E) -> Self {
        if e.is_storage_fault() {
            ExecError::Halt(StateError(e.to_string()))
        } else {
            ExecError::Rejected(Rejection::of(&e))
        }
    }
}

impl From<StateError> for ExecError {
    fn from(e: StateError) -> Self {
        ExecError::Halt(e)
    }
}

/// A stable error code of a module, for the registry's checks and the docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorDoc {
    pub code: u32,
    pub name: &'static str,
}

/// A statelessly valid message of some module.
pub trait Message: std::fmt::Debug + Send + Sync {
    /// The account that must sign the transaction; `None` when the module
    /// checks a signer field itself (IBC messages, checked by ibc-rs's host).
    fn signer(&self) -> Option<Address>;
    /// Stateful phase, on the transaction's overlay.
    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), ExecError>;
}

/// Why a query was refused (codespace `query`). Codes are stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("internal: {0}")]
    Internal(String),
    #[error("unknown query path `{0}`")]
    UnknownPath(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("height unavailable: {0}")]
    HeightUnavailable(String),
}

/// Codespace of [`QueryError`].
pub const QUERY_CODESPACE: &str = "query";

impl ErrorCode for QueryError {
    fn codespace(&self) -> &'static str {
        QUERY_CODESPACE
    }
    fn code(&self) -> u32 {
        match self {
            QueryError::Internal(_) => 1,
            QueryError::UnknownPath(_) => 2,
            QueryError::BadRequest(_) => 3,
            QueryError::NotFound(_) => 4,
            QueryError::HeightUnavailable(_) => 5,
        }
    }
}

impl QueryError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        QueryError::Internal(e.to_string())
    }
}

/// A query answer as JSON.
pub fn json_answer<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, QueryError> {
    serde_json::to_vec(v).map_err(QueryError::internal)
}

/// A bech32 address in a query's data.
pub fn query_address(data: &[u8]) -> Result<Address, QueryError> {
    let s = std::str::from_utf8(data).map_err(|_| QueryError::BadRequest("address must be UTF-8 bech32".into()))?;
    s.trim().parse::<Address>().map_err(|e| QueryError::BadRequest(e.to_string()))
}

/// A state-machine module. Every method without a default is a duty: a
/// module that cannot say how its genesis is checked, what its invariants
/// are or which error codes it owns does not compile.
pub trait Module: Send + Sync + 'static {
    /// Unique name: its genesis section (`app_state.<name>`), its query
    /// paths (`/<name>/…`) and, as a rule, the codespace of its errors.
    fn name(&self) -> &'static str;

    /// Type URLs of the messages this module decodes, for routing and the CLI.
    fn type_urls(&self) -> Vec<String>;

    /// Whether `type_url` is one of this module's (or in its namespace, so
    /// an unknown message of the module gets the module's own error).
    fn owns(&self, type_url: &str) -> bool;

    /// Stateless phase; called only for a type URL the module owns.
    fn decode(&self, type_url: &str, value: &[u8]) -> Result<Box<dyn Message>, Rejection>;

    /// The stable error codes of the module's codespace.
    fn error_codes(&self) -> &'static [ErrorDoc];

    /// Checks the module's genesis section without state (`Null` when the
    /// file has none).
    fn validate_genesis(&self, section: &serde_json::Value, zone: Zone) -> Result<(), String>;

    /// Writes the genesis section, after [`Module::validate_genesis`] and the
    /// modules before this one.
    fn init_genesis(&self, section: &serde_json::Value, zone: Zone, state: &mut dyn StateWrite) -> Result<(), String>;

    /// The module's state as a genesis section, or why it cannot be one
    /// (state a genesis file cannot express, such as a frozen account).
    fn export_genesis(&self, state: &dyn StateRead, zone: Zone) -> Result<serde_json::Value, String>;

    /// Runs before the block's transactions.
    fn begin_block(&self, _state: &mut dyn StateWrite, _header: &BlockHeader<'_>) -> Result<(), StateError> {
        Ok(())
    }

    /// Runs after the block's transactions.
    fn end_block(&self, _state: &mut dyn StateWrite, _block: &BlockInfo) -> Result<(), StateError> {
        Ok(())
    }

    /// The module's invariants over a whole state (end of every block in
    /// debug builds, after genesis, and in the property tests).
    fn check_invariants(&self, state: &dyn StateRead) -> Result<(), String>;

    /// Answers `/<name>/<path>`; `None` if the path is not the module's.
    fn query(&self, path: &str, data: &[u8], state: &dyn StateRead) -> Option<Result<Vec<u8>, QueryError>>;

    /// Whether `account` holds money in this module.
    fn holds_funds(&self, _state: &dyn StateRead, _account: &Address) -> Result<bool, StateError> {
        Ok(false)
    }
}
