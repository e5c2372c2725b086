//! The validator key with CometBFT's double-sign guard: the last signed
//! height/round/step and sign bytes are written to disk (fsynced) before a
//! signature leaves this module, and a conflicting request is refused.
//! The guard is only as good as its being the one signer on its state: an
//! exclusive lock on `<state>.lock` is held for the signer's lifetime, so a
//! second process (or a second instance) on the same state is refused.
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use malachitebft_core_types::Round;
use serde::{Deserialize, Serialize};

use crate::keys::{PrivateKey, Signature};

/// Consensus steps in signing order within a round.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Propose = 1,
    Prevote = 2,
    Precommit = 3,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrivvalError {
    #[error("refusing to sign at {height}/{round}/{step}: already signed {last_height}/{last_round}/{last_step}")]
    Regression { height: u64, round: i64, step: u8, last_height: u64, last_round: i64, last_step: u8 },
    #[error("refusing to sign conflicting data at {height}/{round}/{step} (double sign)")]
    Conflict { height: u64, round: i64, step: u8 },
    #[error("privval state {path}: {reason}")]
    State { path: String, reason: String },
    #[error("privval state {path} is in use by another signer (another kawased on this home?): refusing to sign")]
    Locked { path: String },
}

/// `data/priv_validator_state.json`, in CometBFT's shape.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct LastSign {
    #[serde(with = "string_u64")]
    height: u64,
    round: i64,
    step: u8,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    signature: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    signbytes: String,
    /// Everything signed earlier at `height` (not in CometBFT's file). A
    /// restarted node replays its consensus WAL and asks again for votes it
    /// signed before its last one (its prevote after its precommit); the same
    /// bytes get the same signature back instead of halting the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    earlier: Vec<Signed>,
    /// `earlier` holds every signature of `height` (this signer saw the
    /// height start and nothing was forgotten), so a step with no record
    /// was never signed at this height.
    #[serde(default)]
    earlier_complete: bool,
}

/// One earlier signature at the current height.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Signed {
    round: i64,
    step: u8,
    signature: String,
    signbytes: String,
}

/// Earlier signatures kept per height (a height rarely needs more than a
/// few rounds; beyond this the oldest are forgotten and such a replay halts).
const MAX_EARLIER: usize = 64;

mod string_u64 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub struct PrivValidator {
    key: PrivateKey,
    path: PathBuf,
    last: Mutex<LastSign>,
    /// The open lock file; the kernel releases the lock when it is closed,
    /// also when the process is killed, so no stale lock survives a crash.
    _lock: fs::File,
}

impl PrivValidator {
    /// Loads (or creates, empty) the sign state at `path`.
    pub fn open(key: PrivateKey, path: &Path) -> Result<PrivValidator, PrivvalError> {
        let err = |reason: String| PrivvalError::State { path: path.display().to_string(), reason };
        // Lock before reading: the state read is then the latest any signer
        // wrote, and nobody else writes it until this signer is gone.
        let lock = lock_exclusive(path)?;
        let last = match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let last = LastSign::default();
                write_state(path, &last).map_err(|e| err(e.to_string()))?;
                last
            }
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(PrivValidator { key, path: path.to_path_buf(), last: Mutex::new(last), _lock: lock })
    }

    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Signs `bytes` for (height, round, step) unless that would contradict
    /// what was signed before. Re-signing identical bytes returns the
    /// earlier signature (a restarted node replaying its WAL).
    pub fn sign(&self, height: u64, round: Round, step: Step, bytes: &[u8]) -> Result<Signature, PrivvalError> {
        let round = round.as_i64();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let hrs = (height, round, step as u8);
        let last_hrs = (last.height, last.round, last.step);
        if hrs < last_hrs {
            let hex_bytes = hex::encode_upper(bytes);
            if height == last.height {
                let same = last.earlier.iter().find(|e| e.round == round && e.step == step as u8);
                if let Some(e) = same {
                    return match decode_signature(&e.signature).filter(|_| e.signbytes == hex_bytes) {
                        Some(sig) => Ok(sig),
                        None => Err(PrivvalError::Conflict { height, round, step: step as u8 }),
                    };
                }
                // Never signed at this (round, step): not a double sign (a
                // proposer restarted after its prevote, say). Recorded as
                // earlier; the last signed step stays what it was.
                if last.earlier_complete && last.earlier.len() < MAX_EARLIER {
                    let signature = self.key.sign(bytes);
                    let mut next = last.clone();
                    next.earlier.push(Signed {
                        round,
                        step: step as u8,
                        signature: hex::encode_upper(signature.0),
                        signbytes: hex_bytes,
                    });
                    write_state(&self.path, &next).map_err(|e| PrivvalError::State {
                        path: self.path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    *last = next;
                    return Ok(signature);
                }
            }
            return Err(PrivvalError::Regression {
                height,
                round,
                step: step as u8,
                last_height: last.height,
                last_round: last.round,
                last_step: last.step,
            });
        }
        if hrs == last_hrs {
            if last.signbytes == hex::encode_upper(bytes) {
                if let Some(sig) = decode_signature(&last.signature) {
                    return Ok(sig);
                }
            }
            return Err(PrivvalError::Conflict { height, round, step: step as u8 });
        }
        let signature = self.key.sign(bytes);
        let same_height = height == last.height;
        let mut earlier = if same_height { last.earlier.clone() } else { Vec::new() };
        let mut earlier_complete = !same_height || last.earlier_complete;
        if height == last.height && !last.signbytes.is_empty() {
            earlier.push(Signed {
                round: last.round,
                step: last.step,
                signature: last.signature.clone(),
                signbytes: last.signbytes.clone(),
            });
        }
        if earlier.len() > MAX_EARLIER {
            earlier.drain(..earlier.len() - MAX_EARLIER);
            earlier_complete = false;
        }
        let next = LastSign {
            height,
            round,
            step: step as u8,
            signature: hex::encode_upper(signature.0),
            signbytes: hex::encode_upper(bytes),
            earlier,
            earlier_complete,
        };
        write_state(&self.path, &next)
            .map_err(|e| PrivvalError::State { path: self.path.display().to_string(), reason: e.to_string() })?;
        *last = next;
        Ok(signature)
    }

    /// Malachite's signing interface cannot fail, and a validator asked to
    /// double-sign must not go on: log and stop the process.
    pub fn sign_or_halt(&self, height: u64, round: Round, step: Step, bytes: &[u8]) -> Signature {
        match self.sign(height, round, step, bytes) {
            Ok(sig) => sig,
            Err(e) => {
                tracing::error!(error = %e, "validator halted to avoid a double sign");
                eprintln!("kawased: {e}; halting to avoid a double sign");
                std::process::exit(70);
            }
        }
    }
}

fn decode_signature(hex_sig: &str) -> Option<Signature> {
    let raw = hex::decode(hex_sig).ok()?;
    <[u8; 64]>::try_from(raw.as_slice()).ok().map(Signature)
}

/// Takes the exclusive, non-blocking `flock` on `<path>.lock`. The lock file
/// is a separate file that is never renamed or deleted: the state file itself
/// is replaced by rename on every write, and a lock on a replaced inode (or
/// on a deleted lock file) would let the next opener lock a different one.
fn lock_exclusive(path: &Path) -> Result<fs::File, PrivvalError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let err = |reason: String| PrivvalError::State { path: lock_path.display().to_string(), reason };
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| err(e.to_string()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(PrivvalError::Locked { path: path.display().to_string() }),
        Err(e) => Err(err(format!("locking: {e}"))),
    }
}

/// Write-then-rename with fsync, so a crash leaves the old or the new state.
fn write_state(path: &Path, last: &LastSign) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(last).map_err(std::io::Error::other)?;
    {
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key() -> PrivateKey {
        PrivateKey(ed25519_consensus::SigningKey::from([7u8; 32]))
    }

    #[test]
    fn a_conflicting_vote_at_the_same_step_is_refused_even_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("priv_validator_state.json");
        let pv = PrivValidator::open(key(), &path).unwrap();
        let a = pv.sign(5, Round::new(0), Step::Prevote, b"block A").unwrap();
        // The same request again (WAL replay) gets the same signature.
        assert_eq!(pv.sign(5, Round::new(0), Step::Prevote, b"block A").unwrap(), a);
        assert!(matches!(pv.sign(5, Round::new(0), Step::Prevote, b"block B"), Err(PrivvalError::Conflict { .. })));
        drop(pv);

        let pv = PrivValidator::open(key(), &path).unwrap();
        assert!(matches!(pv.sign(5, Round::new(0), Step::Prevote, b"block B"), Err(PrivvalError::Conflict { .. })));
        assert_eq!(pv.sign(5, Round::new(0), Step::Prevote, b"block A").unwrap(), a);
        assert!(matches!(pv.sign(4, Round::new(3), Step::Precommit, b"x"), Err(PrivvalError::Regression { .. })));
        // Never proposed at 5/0: a first proposal there is no double sign.
        pv.sign(5, Round::new(0), Step::Propose, b"x").unwrap();
        pv.sign(5, Round::new(0), Step::Precommit, b"block A").unwrap();
        pv.sign(5, Round::new(1), Step::Propose, b"block C").unwrap();
        pv.sign(6, Round::new(0), Step::Prevote, b"block D").unwrap();
    }

    #[test]
    fn a_restarted_validator_replaying_its_wal_gets_its_earlier_votes_of_the_height_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("priv_validator_state.json");
        let pv = PrivValidator::open(key(), &path).unwrap();
        pv.sign(157, Round::new(0), Step::Prevote, b"prevote A").unwrap();
        let precommit = pv.sign(157, Round::new(0), Step::Precommit, b"precommit A").unwrap();
        drop(pv);

        // The WAL replay asks for the prevote again, after the precommit.
        let pv = PrivValidator::open(key(), &path).unwrap();
        let prevote = pv.sign(157, Round::new(0), Step::Prevote, b"prevote A").unwrap();
        assert_eq!(prevote, key().sign(b"prevote A"));
        assert_eq!(pv.sign(157, Round::new(0), Step::Precommit, b"precommit A").unwrap(), precommit);
        // A different earlier vote is still a double sign.
        assert!(matches!(pv.sign(157, Round::new(0), Step::Prevote, b"prevote B"), Err(PrivvalError::Conflict { .. })));
        // A step never signed at this height (the proposer restarted after
        // its prevote) is signed once, and then holds like any other.
        let proposal = pv.sign(157, Round::new(0), Step::Propose, b"proposal").unwrap();
        drop(pv);
        let pv = PrivValidator::open(key(), &path).unwrap();
        assert_eq!(pv.sign(157, Round::new(0), Step::Propose, b"proposal").unwrap(), proposal);
        assert!(matches!(pv.sign(157, Round::new(0), Step::Propose, b"other"), Err(PrivvalError::Conflict { .. })));
        // The next height starts a fresh history.
        pv.sign(158, Round::new(0), Step::Prevote, b"prevote C").unwrap();
        assert!(matches!(
            pv.sign(157, Round::new(0), Step::Prevote, b"prevote A"),
            Err(PrivvalError::Regression { .. })
        ));
    }

    #[test]
    fn the_state_file_is_owner_only_and_cometbft_shaped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("priv_validator_state.json");
        let pv = PrivValidator::open(key(), &path).unwrap();
        pv.sign(3, Round::new(1), Step::Precommit, b"bytes").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["height"], "3");
        assert_eq!(v["round"], 1);
        assert_eq!(v["step"], 3);
    }
}
