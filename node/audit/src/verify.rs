//! Checking a whole log: every record intact, consecutive and chained, and
//! naming the first line that is not.
//!
//! What no check of the file alone can see: records removed from its end
//! (what is left is still a valid chain), or a tail rewritten by someone who
//! recomputed every hash after their edit (the chain is plain SHA-256, with
//! no secret). Both need an anchor kept away from the node: forward each
//! [`Verified`] (count and last hash) to the SIEM, and check the log against
//! an earlier one with [`verify_against`].
//!
//! Reading a live log is fine (nothing is locked), but the line being written
//! at that moment may show up as [`AuditError::Torn`]: verify again.
use crate::error::{AuditError, BreakKind};
use crate::record::{peek_seq, Record, GENESIS_PREV, LINE_MAX_BYTES};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// A log that verified: how many records it has and the last one's hash
/// ([`GENESIS_PREV`] when empty). Also the anchor for [`verify_against`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub records: u64,
    pub last_hash: String,
}

/// Verifies the whole log at `path`; the error names the first break.
pub fn verify(path: impl AsRef<Path>) -> Result<Verified, AuditError> {
    walk(path.as_ref(), 0).map(|(verified, _)| verified)
}

/// [`verify`], and also that the log still holds the record `anchor` ended
/// at, with the same hash: it has not lost records from its end, nor been
/// rewritten up to there, since the anchor was taken.
pub fn verify_against(path: impl AsRef<Path>, anchor: &Verified) -> Result<Verified, AuditError> {
    let (verified, anchored) = walk(path.as_ref(), anchor.records)?;
    let found = match anchored {
        Some(hash) => hash,
        None if anchor.records == 0 => GENESIS_PREV.to_owned(),
        None => {
            return Err(AuditError::Anchor(format!(
                "the log has {} records, fewer than the {} anchored: records were removed from its end",
                verified.records, anchor.records
            )))
        }
    };
    if found != anchor.last_hash {
        return Err(AuditError::Anchor(format!(
            "the anchored record (seq {}) has hash {found}, the anchor says {}: the log was rewritten up to there",
            anchor.records.saturating_sub(1),
            anchor.last_hash
        )));
    }
    Ok(verified)
}

/// Walks the log; also returns the hash after `anchor_at` records, if reached.
fn walk(path: &Path, anchor_at: u64) -> Result<(Verified, Option<String>), AuditError> {
    let file = File::open(path).map_err(AuditError::io("opening", path))?;
    let mut lines = Lines { reader: BufReader::new(file), buf: Vec::new(), number: 0 };
    let mut next_seq = 0u64;
    let mut last_hash = GENESIS_PREV.to_owned();
    let mut anchored = None;
    while let Some(line) = lines.next().map_err(AuditError::io("reading", path))? {
        let number = lines.number;
        let broken = |seq, reason| AuditError::Broken { line: number, seq, reason };
        let record = match line {
            Line::Torn(bytes) => return Err(AuditError::Torn { line: number, bytes }),
            Line::TooLong => return Err(broken(None, BreakKind::Unparsable)),
            Line::Complete => match Record::from_line(&lines.buf) {
                Ok(record) => record,
                Err(reason) => return Err(broken(peek_seq(&lines.buf), reason)),
            },
        };
        // An intact record in the wrong place: a seq jumping forward is a
        // removal unless the skipped seq turns up later (then records were
        // moved, as by a swap).
        if record.seq != next_seq {
            let moved =
                record.seq < next_seq || lines.rest_has_seq(next_seq).map_err(AuditError::io("reading", path))?;
            return Err(broken(Some(record.seq), if moved { BreakKind::Reordered } else { BreakKind::Removed }));
        }
        if record.prev != last_hash {
            return Err(broken(Some(record.seq), BreakKind::ChainMismatch));
        }
        last_hash = record.hash;
        next_seq += 1;
        if next_seq == anchor_at {
            anchored = Some(last_hash.clone());
        }
    }
    Ok((Verified { records: next_seq, last_hash }, anchored))
}

enum Line {
    /// In `buf`, without its newline.
    Complete,
    /// The last line, with no newline: this many bytes.
    Torn(u64),
    /// Longer than any record; skipped unread.
    TooLong,
}

/// Lines read with a bound, so a hostile multi-gigabyte line is not read
/// into memory.
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    /// 1-based number of the line last read.
    number: u64,
}

impl<R: BufRead> Lines<R> {
    fn next(&mut self) -> io::Result<Option<Line>> {
        self.buf.clear();
        let n = (&mut self.reader).take(LINE_MAX_BYTES as u64 + 1).read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            return Ok(Some(Line::Complete));
        }
        if n > LINE_MAX_BYTES {
            self.skip_rest_of_line()?;
            return Ok(Some(Line::TooLong));
        }
        Ok(Some(Line::Torn(n as u64)))
    }

    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            if let Some(i) = buf.iter().position(|&b| b == b'\n') {
                self.reader.consume(i + 1);
                return Ok(());
            }
            let n = buf.len();
            self.reader.consume(n);
        }
    }

    /// Whether any later line is a record with this seq (intact or not).
    fn rest_has_seq(&mut self, seq: u64) -> io::Result<bool> {
        while let Some(line) = self.next()? {
            if matches!(line, Line::Complete) && peek_seq(&self.buf) == Some(seq) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
