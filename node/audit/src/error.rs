//! Why the audit log could not be opened, written or verified, each with a
//! stable code (for the node's own logs, alerts and scripts).
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file system refused (open, read, write, fsync, truncate).
    #[error("audit/io: {op} `{}`: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another [`AuditLog`](crate::AuditLog) (this process or another) has
    /// the file: two writers would interleave lines and fork the chain.
    #[error("audit/locked: `{}` is open for writing elsewhere", path.display())]
    Locked { path: PathBuf },
    /// The log is damaged at `line` (1-based): the first break found.
    #[error("audit/broken: line {line}{}: {reason}", seq.map(|s| format!(" (seq {s})")).unwrap_or_default())]
    Broken { line: u64, seq: Option<u64>, reason: BreakKind },
    /// The last line has no trailing newline. [`verify`](crate::verify)
    /// reports it (it is read-only); [`AuditLog::open`](crate::AuditLog::open)
    /// drops it when it is no longer than one record (a write torn by a
    /// crash) and refuses when it is longer (that is no torn write of ours).
    #[error("audit/torn: line {line} is unterminated ({bytes} bytes, no trailing newline)")]
    Torn { line: u64, bytes: u64 },
    /// The log does not reach an anchor taken earlier, or differs from it:
    /// records were removed from its end, or its history was rewritten.
    #[error("audit/anchor: {0}")]
    Anchor(String),
    /// An earlier append failed and could not be rolled back, so the file may
    /// end in a partial line; reopening drops it and records that.
    #[error("audit/unusable: `{}`: an earlier append failed and was not rolled back; reopen the log", path.display())]
    Unusable { path: PathBuf },
}

impl AuditError {
    /// Stable code for logs, alerts and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::Io { .. } => "audit/io",
            AuditError::Locked { .. } => "audit/locked",
            AuditError::Broken { .. } => "audit/broken",
            AuditError::Torn { .. } => "audit/torn",
            AuditError::Anchor(_) => "audit/anchor",
            AuditError::Unusable { .. } => "audit/unusable",
        }
    }

    /// A closure for `map_err` naming the operation and the file.
    pub(crate) fn io<'p>(
        op: &'static str,
        path: &'p std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> AuditError + 'p {
        move |source| AuditError::Io { op, path: path.to_path_buf(), source }
    }
}

/// How a line breaks the chain. Checked in this order, so a swap of two
/// intact records is `Reordered`, not `Edited` or `Removed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// Not a complete audit record (not JSON, a field missing, too long).
    Unparsable,
    /// The record's own hash does not match its content, or the line is not
    /// the canonical encoding of it (an added field, a duplicated key).
    Edited,
    /// Its seq jumps forward and the skipped seq appears nowhere later: the
    /// records before it are missing.
    Removed,
    /// Its seq goes backward or repeats, or jumps forward to a seq whose
    /// predecessors come later in the file.
    Reordered,
    /// Its seq is the next one but its `prev` is not the previous record's
    /// hash: a record was replaced by one hashed anew, or inserted.
    ChainMismatch,
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakKind::Unparsable => "unparsable — not a complete audit record",
            BreakKind::Edited => "record edited — its hash does not match its content",
            BreakKind::Removed => "records removed before it — its seq jumps forward",
            BreakKind::Reordered => "records reordered — its seq is out of order",
            BreakKind::ChainMismatch => "chain broken — its prev is not the previous record's hash",
        })
    }
}
