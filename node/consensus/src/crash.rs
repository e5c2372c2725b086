//! Test-only crash hook: `KAWASE_CRASH_AT=<point>[:<height>]` makes the node
//! abort (as abruptly as a SIGKILL: no destructors, no flush) the first time
//! it reaches the named point at or above that height. The crash-order system
//! test (`tests/system/crash.rs`) uses it to kill a node between each pair of
//! persistent writes. It is read once, at the first point reached; unset (as
//! in every real deployment) the hook is one load of a cached `None`.
use std::sync::OnceLock;

/// The named points, in the order a height passes them (see the crash
/// order in `commit.rs`).
pub const POINTS: &[&str] = &[
    // Proposer: block stored as pending, before it is remembered as ours.
    "after-pending",
    // Proposer: own proposal recorded (fsync), before it is streamed.
    "after-own-proposal",
    // A vote's sign state is fsynced, before the vote leaves the signer.
    "after-vote-signed",
    // Decided block + certificate in the block store (fsync), before the app runs it.
    "after-decided",
    // FinalizeBlock ran (in memory), before Commit.
    "after-finalize",
    // The app committed the block (one atomic batch), before the block store has its results.
    "after-app-commit",
    // Results and tx/event indexes in the block store, before the mempool recheck.
    "after-results",
    // Mempool rechecked, before subscribers hear of the block.
    "after-recheck",
];

struct Target {
    point: String,
    height: u64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var("KAWASE_CRASH_AT").ok()?;
            let (point, height) = match spec.split_once(':') {
                Some((p, h)) => (p.to_owned(), h.parse().unwrap_or(0)),
                None => (spec, 0),
            };
            if !POINTS.contains(&point.as_str()) {
                tracing::error!(%point, "KAWASE_CRASH_AT names no crash point; ignored");
                return None;
            }
            tracing::warn!(%point, height, "KAWASE_CRASH_AT is set: this node will abort there (tests only)");
            Some(Target { point, height })
        })
        .as_ref()
}

/// Logs the configured crash point, if any (called once at start).
pub fn announce() {
    let _ = target();
}

/// Aborts the process if `KAWASE_CRASH_AT` names `point` at or below `height`.
pub fn point(point: &'static str, height: u64) {
    if let Some(t) = target() {
        if t.point == point && height >= t.height {
            eprintln!("kawased: KAWASE_CRASH_AT={point}:{height} reached; aborting");
            std::process::abort();
        }
    }
}
