//! Errors: the JSON-RPC error a request ends with, and why the server could
//! not start.

use std::fmt::Display;
use std::net::SocketAddr;

/// A JSON-RPC error, with the codes and messages CometBFT uses so clients
/// that match on them keep working. The string is sent as the error's `data`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// -32700: the body is not JSON.
    #[error("parse error: {0}")]
    Parse(String),
    /// -32600: JSON, but not a JSON-RPC request (or the body was too large).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// -32601: no such method (or a websocket-only method over HTTP).
    #[error("method not found: {0}")]
    MethodNotFound(String),
    /// -32602: the parameters do not decode.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// -32603: the call failed; CometBFT also uses this for "not found" and
    /// "height too high" answers from its core functions.
    #[error("internal error: {0}")]
    Internal(String),
    /// -32000: the server cancelled something on its own (e.g. a subscription
    /// of a client too slow to read its events).
    #[error("server error: {0}")]
    Server(String),
}

impl RpcError {
    /// An internal error (-32603) with `data` as the explanation.
    pub fn internal(data: impl Display) -> Self {
        Self::Internal(data.to_string())
    }

    /// An invalid-params error (-32602) with `data` as the explanation.
    pub fn invalid_params(data: impl Display) -> Self {
        Self::InvalidParams(data.to_string())
    }

    /// The JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            Self::Parse(_) => -32700,
            Self::InvalidRequest(_) => -32600,
            Self::MethodNotFound(_) => -32601,
            Self::InvalidParams(_) => -32602,
            Self::Internal(_) => -32603,
            Self::Server(_) => -32000,
        }
    }

    /// The JSON-RPC error message, worded as CometBFT words it.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Parse(_) => "Parse error. Invalid JSON",
            Self::InvalidRequest(_) => "Invalid Request",
            Self::MethodNotFound(_) => "Method not found",
            Self::InvalidParams(_) => "Invalid params",
            Self::Internal(_) => "Internal error",
            Self::Server(_) => "Server error",
        }
    }

    /// The explanation sent as the error's `data`.
    pub fn data(&self) -> &str {
        match self {
            Self::Parse(d)
            | Self::InvalidRequest(d)
            | Self::MethodNotFound(d)
            | Self::InvalidParams(d)
            | Self::Internal(d)
            | Self::Server(d) => d,
        }
    }
}

/// Why [`crate::serve`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The threads for backend calls could not be started.
    #[error("cannot start the RPC threads: {0}")]
    Pool(std::io::Error),
}
