//! The writer: one file, appended to by one [`AuditLog`], every record on
//! disk before [`AuditLog::append`] returns.
//!
//! Crash order: a record is one line, written with a single `write_all` of
//! the whole line and its `'\n'`, then `sync_data` (which also makes the new
//! length durable). So after a crash the file is a run of complete lines and
//! at most one unterminated prefix of the line being written: a record whose
//! append never returned, the one crash case. [`AuditLog::open`] cuts it off,
//! continues from the last complete record, and says so in the log itself (an
//! [`AUDIT_TORN_TAIL_DROPPED`](crate::kind::AUDIT_TORN_TAIL_DROPPED) record
//! with the dropped bytes' length and SHA-256), so dropping it is never
//! silent. Anything else wrong with the tail is an error, never skipped.
use crate::error::{AuditError, BreakKind};
use crate::record::{kind, peek_seq, Event, Record, GENESIS_PREV, LINE_MAX_BYTES};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// An open audit log: append-only (`O_APPEND`) and exclusively locked, so a
/// second writer (another node on the same data directory) cannot fork the
/// chain; the lock goes with the value.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    next_seq: u64,
    last_hash: String,
    /// The file's length after the last durable record: where a failed
    /// append is rolled back to.
    len: u64,
    dropped_tail: Option<DroppedTail>,
    /// An append failed and could not be rolled back.
    unusable: bool,
}

/// The unterminated line [`AuditLog::open`] dropped (also recorded in the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTail {
    /// Where it started, in bytes: the file's length now before the record
    /// that reports it.
    pub offset: u64,
    pub bytes: u64,
    /// Hex SHA-256 of the dropped bytes.
    pub sha256: String,
    /// The seq of the last complete record before it (`None`: there was none).
    pub after_seq: Option<u64>,
}

impl AuditLog {
    /// Opens `path`, creating it and its directory if missing, and continues
    /// its chain from the last complete record. That record is checked on its
    /// own (parses, canonical, own hash), not the whole chain: that is
    /// [`verify`](crate::verify)'s job, and opening stays O(1) in the log's size.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(AuditError::io("creating the directory of", &path))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(AuditError::io("opening", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(AuditError::Locked { path }),
            Err(TryLockError::Error(e)) => return Err(AuditError::io("locking", &path)(e)),
        }
        let io = |op| AuditError::io(op, &path);
        let end = file.metadata().map_err(io("reading the length of"))?.len();

        // A torn tail: everything after the last newline, if the file does
        // not end in one. Found and checked first, removed only once the
        // record before it proved sound.
        let mut torn_at = None;
        if end > 0 && read_range(&mut file, end - 1, end).map_err(io("reading"))? != b"\n" {
            let Some(start) = after_last_newline(&mut file, end, LINE_MAX_BYTES).map_err(io("reading"))? else {
                // Longer than any record: not a torn write of ours.
                let start = after_last_newline(&mut file, end, usize::MAX).map_err(io("reading"))?.unwrap_or(0);
                let line = count_newlines(&mut file, start).map_err(io("reading"))? + 1;
                return Err(AuditError::Torn { line, bytes: end - start });
            };
            torn_at = Some(start);
        }
        let len = torn_at.unwrap_or(end);

        let (next_seq, last_hash) = if len == 0 {
            (0, GENESIS_PREV.to_owned())
        } else {
            let Some(start) = after_last_newline(&mut file, len - 1, LINE_MAX_BYTES).map_err(io("reading"))? else {
                let line = count_newlines(&mut file, len - 1).map_err(io("reading"))? + 1;
                return Err(AuditError::Broken { line, seq: None, reason: BreakKind::Unparsable });
            };
            let line = read_range(&mut file, start, len - 1).map_err(io("reading"))?;
            match Record::from_line(&line) {
                Ok(record) => (record.seq.saturating_add(1), record.hash),
                Err(reason) => {
                    let line_no = count_newlines(&mut file, start).map_err(io("reading"))? + 1;
                    return Err(AuditError::Broken { line: line_no, seq: peek_seq(&line), reason });
                }
            }
        };

        let mut log =
            AuditLog { path: path.clone(), file, next_seq, last_hash, len, dropped_tail: None, unusable: false };
        if let Some(offset) = torn_at {
            let torn = read_range(&mut log.file, offset, end).map_err(io("reading"))?;
            log.file.set_len(offset).map_err(io("truncating the torn tail of"))?;
            log.file.sync_all().map_err(io("syncing"))?;
            let tail = DroppedTail {
                offset,
                bytes: end - offset,
                sha256: hex::encode(Sha256::digest(&torn)),
                after_seq: next_seq.checked_sub(1),
            };
            let prefix: String = String::from_utf8_lossy(&torn).chars().take(256).collect();
            let event = Event::new(kind::AUDIT_TORN_TAIL_DROPPED, "audit")
                .detail("offset", tail.offset)
                .detail("bytes", tail.bytes)
                .detail("sha256", tail.sha256.clone())
                .detail("after_seq", tail.after_seq)
                .detail("prefix", prefix);
            log.append(event)?;
            log.dropped_tail = Some(tail);
        }
        Ok(log)
    }

    /// Seals `event` as the next record and makes it durable (see the crash
    /// order above). The event is bounded first (strings clipped, `detail`
    /// capped at [`DETAIL_MAX_BYTES`](crate::DETAIL_MAX_BYTES)). On failure
    /// whatever reached the file is cut off again, so the log stays a chain;
    /// if even that fails, the log refuses further appends until reopened.
    pub fn append(&mut self, event: Event) -> Result<Record, AuditError> {
        if self.unusable {
            return Err(AuditError::Unusable { path: self.path.clone() });
        }
        let record = Record::seal(self.next_seq, self.last_hash.clone(), event.bounded());
        let mut line = record.to_line();
        line.push('\n');
        if let Err(e) = self.file.write_all(line.as_bytes()).and_then(|()| self.file.sync_data()) {
            if self.file.set_len(self.len).and_then(|()| self.file.sync_all()).is_err() {
                self.unusable = true;
            }
            return Err(AuditError::io("appending to", &self.path)(e));
        }
        self.len += line.len() as u64;
        self.next_seq = self.next_seq.saturating_add(1);
        self.last_hash.clone_from(&record.hash);
        Ok(record)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq the next record gets (= the number of records).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The last record's hash ([`GENESIS_PREV`] for an empty log).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// What [`AuditLog::open`] dropped, if the file ended in a torn line.
    pub fn dropped_tail(&self) -> Option<&DroppedTail> {
        self.dropped_tail.as_ref()
    }
}

/// One [`AuditLog`] shared by every task that reports events; cheap to clone.
/// Appends are serialized and each waits for its fsync: events are rare
/// (operator actions, failures), so call it from async code as is, or from
/// `spawn_blocking` on a hot path.
#[derive(Debug, Clone)]
pub struct SharedAudit {
    inner: Arc<Mutex<AuditLog>>,
}

impl SharedAudit {
    pub fn new(log: AuditLog) -> SharedAudit {
        SharedAudit { inner: Arc::new(Mutex::new(log)) }
    }

    pub fn open(path: impl AsRef<Path>) -> Result<SharedAudit, AuditError> {
        AuditLog::open(path).map(SharedAudit::new)
    }

    /// Appends `event`. A poisoned lock is taken over: the log changes its
    /// state only after a durable write, so a panic elsewhere cannot leave it
    /// half-updated.
    pub fn try_record(&self, event: Event) -> Result<Record, AuditError> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).append(event)
    }

    /// Appends `event`; a failure is logged (`tracing::warn`, with its code)
    /// rather than returned: losing an audit record must not stop the node.
    pub fn record(&self, event: Event) -> Option<Record> {
        let kind = event.kind.clone();
        match self.try_record(event) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(code = e.code(), kind = %kind, "audit record not written: {e}");
                None
            }
        }
    }
}

/// The bytes in `[from, to)`.
fn read_range(file: &mut File, from: u64, to: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; usize::try_from(to.saturating_sub(from)).map_err(io::Error::other)?];
    file.seek(SeekFrom::Start(from))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// The offset just after the last `'\n'` before `end` (0 if there is none),
/// looking back at most `limit` bytes; `None` if the line is longer.
fn after_last_newline(file: &mut File, end: u64, limit: usize) -> io::Result<Option<u64>> {
    let mut buf = vec![0; 8192];
    let mut pos = end;
    while pos > 0 {
        if end - pos > limit as u64 {
            return Ok(None);
        }
        let n = pos.min(buf.len() as u64);
        let start = pos - n;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n as usize])?;
        if let Some(i) = buf[..n as usize].iter().rposition(|&b| b == b'\n') {
            let after = start + i as u64 + 1;
            return Ok((end - after <= limit as u64).then_some(after));
        }
        pos = start;
    }
    Ok((end <= limit as u64).then_some(0))
}

/// How many `'\n'` the file has before `upto` (only on error paths: it reads
/// the whole prefix, to name the line).
fn count_newlines(file: &mut File, upto: u64) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut count = 0;
    let mut buf = vec![0; 64 * 1024];
    let mut left = upto;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        count += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        left -= n as u64;
    }
    Ok(count)
}
