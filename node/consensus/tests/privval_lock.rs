//! The double-sign guard holds across processes: while one signer has the
//! signing state open, a second (another `kawased` on the same home, an
//! operator's copy-paste) is refused, and a killed holder leaves no stale
//! lock behind.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use kawase_consensus::privval::{PrivValidator, PrivvalError, Step};
use kawase_consensus::types::PrivateKey;
use malachitebft_core_types::Round;

const CHILD_ENV: &str = "KAWASE_PRIVVAL_CHILD_STATE";

fn key() -> PrivateKey {
    PrivateKey(ed25519_consensus::SigningKey::from([7u8; 32]))
}

fn state_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("priv_validator_state.json")
}

#[test]
fn a_second_signer_on_the_same_state_file_is_refused_while_the_first_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let first = PrivValidator::open(key(), &path).unwrap();
    match PrivValidator::open(key(), &path) {
        Ok(second) => {
            // Each instance trusts its own in-memory copy of the last sign
            // state, so both sign the same height/round/step.
            let a = first.sign(5, Round::new(0), Step::Prevote, b"block A");
            let b = second.sign(5, Round::new(0), Step::Prevote, b"block B");
            panic!("a second signer opened the same state file: first signed {a:?}, second signed {b:?}");
        }
        Err(e) => assert!(matches!(e, PrivvalError::Locked { .. }), "{e}"),
    }
    first.sign(5, Round::new(0), Step::Prevote, b"block A").unwrap();
    drop(first);
    // Closing releases the guard: the restarted signer still refuses the
    // conflicting vote from the state on disk.
    let again = PrivValidator::open(key(), &path).unwrap();
    assert!(matches!(again.sign(5, Round::new(0), Step::Prevote, b"block B"), Err(PrivvalError::Conflict { .. })));
}

/// Runs in the child process: holds the signing state, says so, and waits
/// to be killed.
#[test]
#[ignore = "helper: run by the cross-process test in a child process"]
fn child_holds_the_signing_state_until_killed() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let pv = PrivValidator::open(key(), Path::new(&path)).unwrap();
    pv.sign(3, Round::new(0), Step::Prevote, b"child").unwrap();
    println!("KAWASE-CHILD-LOCKED");
    loop {
        std::thread::park();
    }
}

#[test]
fn another_process_cannot_sign_while_one_holds_the_state_and_a_killed_holder_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(&dir);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_holds_the_signing_state_until_killed", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut child = Kill(child);
    let mut lines = BufReader::new(stdout).lines();
    assert!(
        lines.by_ref().map_while(Result::ok).any(|l| l.contains("KAWASE-CHILD-LOCKED")),
        "the child took the signing state"
    );
    match PrivValidator::open(key(), &path) {
        Ok(pv) => {
            let r = pv.sign(3, Round::new(0), Step::Prevote, b"parent");
            panic!("this process opened the state another process is signing with; sign gave {r:?}");
        }
        Err(e) => assert!(matches!(e, PrivvalError::Locked { .. }), "{e}"),
    }
    // SIGKILL: the kernel drops the lock with the process.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let pv = PrivValidator::open(key(), &path).unwrap();
    assert!(matches!(pv.sign(3, Round::new(0), Step::Prevote, b"parent"), Err(PrivvalError::Conflict { .. })));
    pv.sign(3, Round::new(0), Step::Precommit, b"parent").unwrap();
}
