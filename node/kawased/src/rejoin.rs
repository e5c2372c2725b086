//! Rejoining the consensus network after a partition.
//!
//! Malachite 0.5 dials `persistent_peers` once, when its network starts,
//! and never again (its discovery, which could, is off and retries five
//! times at most). A validator whose consensus connections all closed (a
//! partition, a network blip between sites) stays alone for good although
//! every peer is up and reachable: found by the first soak (FZ node 1 stuck
//! at height 1066 while the others went on to 1554), kept as the fault
//! profile tests/faults/partition.toml.
//!
//! Until the engine redials by itself, this watchdog notices a node that
//! has committed no block for `[p2p] rejoin_after` while at least one
//! persistent peer accepts a TCP connection, and restarts the node in place:
//! the graceful stop `kawased start` does on SIGTERM, then an exec of the
//! same binary with the same arguments, so the new engine dials every peer
//! again. Nothing else about the restart is new: it is the stop-and-start
//! the fault suite runs, and a kill at any point of it is safe by the crash
//! order in kawase-consensus's commit.rs. A node whose peers all refuse
//! connections (down, not partitioned) does not restart: a restart cannot
//! help it. Each restart without a commit in between doubles the wait (up
//! to 16 × `rejoin_after`), so a node on a network that is halted for good
//! restarts rarely; the count travels to the new image in
//! `KAWASE_REJOIN_ATTEMPT`.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Carries the number of restarts without a commit across the exec.
pub const ATTEMPT_VAR: &str = "KAWASE_REJOIN_ATTEMPT";

/// The wait doubles per restart up to `after << MAX_DOUBLINGS`.
const MAX_DOUBLINGS: u32 = 4;

/// How long a reachability probe of one peer may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The pure part: has this node gone without a commit for long enough?
#[derive(Debug)]
pub struct Watchdog {
    after: Duration,
    attempt: u32,
    height: u64,
    since: Instant,
}

impl Watchdog {
    /// `attempt` restarts without a commit have happened already; `height`
    /// is the node's committed height at `now`.
    pub fn new(after: Duration, attempt: u32, height: u64, now: Instant) -> Watchdog {
        Watchdog { after, attempt, height, since: now }
    }

    /// The restarts without a commit so far (0 once a block commits).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How long without a commit before the next restart.
    pub fn wait(&self) -> Duration {
        self.after.saturating_mul(1 << self.attempt.min(MAX_DOUBLINGS))
    }

    /// Records the committed height at `now`; true when the node has gone
    /// `wait()` without a commit (time to probe the peers).
    pub fn stalled(&mut self, height: u64, now: Instant) -> bool {
        if height != self.height {
            self.height = height;
            self.since = now;
            self.attempt = 0;
            return false;
        }
        now.saturating_duration_since(self.since) >= self.wait()
    }

    /// No peer answered: look again after another full wait.
    pub fn no_peer_reachable(&mut self, now: Instant) {
        self.since = now;
    }
}

/// True when some peer accepts a TCP connection within the probe timeout
/// (it is up; our engine is just not connected to it).
pub async fn some_peer_reachable(peers: &[SocketAddr]) -> bool {
    for p in peers {
        if let Ok(Ok(_)) = tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(p)).await {
            return true;
        }
    }
    false
}

/// Replaces this process with a fresh image of the same binary and
/// arguments (its sockets, locks and threads all go, as at an exit).
/// Returns only if the exec failed.
pub fn restart_in_place(attempt: u32) -> std::io::Error {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "kawased".into());
    // /proc/self/exe is the image running now, even if the file was
    // replaced since: a rejoin restart must not upgrade the node by stealth.
    std::process::Command::new("/proc/self/exe").arg0(argv0).args(args).env(ATTEMPT_VAR, attempt.to_string()).exec()
}

/// The attempt count this image was started with.
pub fn attempt_from_env() -> u32 {
    std::env::var(ATTEMPT_VAR).ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_node_that_commits_is_never_stalled() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 0, 10, t0);
        for i in 1..100u64 {
            assert!(!w.stalled(10 + i, t0 + 29 * S * i as u32));
        }
    }

    #[test]
    fn a_node_without_a_commit_for_the_wait_is_stalled() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 0, 10, t0);
        assert!(!w.stalled(10, t0 + 29 * S));
        assert!(w.stalled(10, t0 + 30 * S));
    }

    #[test]
    fn the_wait_doubles_per_restart_without_a_commit_up_to_sixteen_times() {
        let t0 = Instant::now();
        let waits: Vec<u64> = (0..7).map(|a| Watchdog::new(30 * S, a, 1, t0).wait().as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 480, 480]);
        let mut w = Watchdog::new(30 * S, 3, 1, t0);
        assert!(!w.stalled(1, t0 + 239 * S));
        assert!(w.stalled(1, t0 + 240 * S));
    }

    #[test]
    fn a_commit_resets_the_count_and_the_clock() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 4, 1, t0);
        assert!(!w.stalled(2, t0 + 5 * S));
        assert_eq!(w.attempt(), 0);
        assert!(!w.stalled(2, t0 + 34 * S));
        assert!(w.stalled(2, t0 + 35 * S));
    }

    #[test]
    fn no_reachable_peer_means_waiting_another_full_period() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 0, 1, t0);
        assert!(w.stalled(1, t0 + 30 * S));
        w.no_peer_reachable(t0 + 31 * S);
        assert!(!w.stalled(1, t0 + 60 * S));
        assert!(w.stalled(1, t0 + 61 * S));
    }

    #[tokio::test]
    async fn a_listening_peer_is_reachable_and_a_closed_port_is_not() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let open = l.local_addr().expect("addr");
        let closed = {
            let c = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            c.local_addr().expect("addr")
        };
        assert!(!some_peer_reachable(&[closed]).await);
        assert!(some_peer_reachable(&[closed, open]).await);
    }
}
