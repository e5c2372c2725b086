//! The node's audit trail: a tamper-evident, append-only log of what
//! operators and peers did (node start and stop, TLS reloads and failed
//! handshakes, key import and export, admin transactions, failed
//! authentication), one JSON object per line, ready for a SIEM to tail.
//!
//! Tamper-evident because each [`Record`] carries its `seq` (0-based,
//! consecutive) and the previous record's hash, and is sealed by a SHA-256
//! over both and its [`Event`]: [`verify`] names the first line that was
//! edited, removed, reordered or replaced ([`BreakKind`]). The chain has no
//! secret and cannot show records cut from the end, so [`Verified`] (count and
//! last hash) is what to forward as an anchor, checked with
//! [`verify_against`].
//!
//! - [`AuditLog`]: the single writer; [`AuditLog::open`] continues the chain
//!   and recovers from a crash mid-write (see `log.rs` for the crash order),
//!   [`AuditLog::append`] returns once the record is on disk.
//! - [`SharedAudit`]: the clonable handle tasks report events through; a
//!   failed write is logged, never a panic.
//! - Every event is bounded before it is written (`detail` at most
//!   [`DETAIL_MAX_BYTES`]), so no input can blow a line up.
//! - Lines are canonical JSON (keys sorted, no whitespace, integers only), so
//!   another tool can recompute a hash: see [`Record::hash`].
//!
//! ```
//! use kawase_audit::{kind, verify, AuditLog, Event};
//! # let dir = tempfile::tempdir().expect("temp dir");
//! # let path = dir.path().join("audit.jsonl");
//! let mut log = AuditLog::open(&path)?;
//! log.append(Event::new(kind::TLS_HANDSHAKE_FAILED, "10.0.0.7:50312").failed().detail("reason", "unknown ca"))?;
//! assert_eq!(verify(&path)?.records, 1);
//! # Ok::<(), kawase_audit::AuditError>(())
//! ```

mod canon;
mod error;
mod log;
mod record;
#[cfg(test)]
mod tests;
mod verify;

pub use error::{AuditError, BreakKind};
pub use log::{AuditLog, DroppedTail, SharedAudit};
pub use record::{kind, outcome, Event, Record, DETAIL_MAX_BYTES, GENESIS_PREV, LINE_MAX_BYTES};
pub use verify::{verify, verify_against, Verified};
