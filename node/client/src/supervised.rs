//! A process supervised by another (`kawased devnet`) stops when its
//! supervisor is gone, however the supervisor ended (a SIGKILL too): the
//! supervisor hands it a pipe as stdin and never writes to it, so
//! end-of-file there means the supervisor has exited. Needs no signal
//! handlers and no unsafe code (Linux's parent-death signal would need both).
use std::io::Read;
use std::time::Duration;

/// Set (to anything) by a supervisor that passes a pipe as stdin.
pub const STOP_ON_STDIN_EOF: &str = "KAWASE_STOP_ON_STDIN_EOF";

/// If [`STOP_ON_STDIN_EOF`] is set, watches stdin on a thread of its own:
/// at end-of-file (or a read error) it calls `stop`, gives the process
/// `grace` to stop by itself, then exits it with status 0. Returns whether
/// it watches.
pub fn stop_when_supervisor_is_gone(grace: Duration, stop: impl FnOnce() + Send + 'static) -> bool {
    if std::env::var_os(STOP_ON_STDIN_EOF).is_none() {
        return false;
    }
    let spawned = std::thread::Builder::new().name("supervisor-watch".into()).spawn(move || {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin().lock();
        // Whatever is written is ignored; only end-of-file counts.
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        stop();
        std::thread::sleep(grace);
        std::process::exit(0);
    });
    spawned.is_ok()
}
