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
//! Until the engine redials by itself, this watchdog restarts a node in
//! place (an exec of the same binary with the same arguments, so the new
//! engine dials every peer again) when both hold:
//! - it has committed no block for the wait (`[p2p] rejoin_after`, at least
//!   four rounds' worth of the consensus timeouts, plus a per-node jitter so
//!   validators do not restart in step), and
//! - its engine is connected to fewer peers than accept a TCP connection at
//!   their `persistent_peers` address: a restart would reach more of them.
//!
//! So a chain halted for want of quorum, with every live validator
//! connected to every other, restarts nobody; a node whose peers are down
//! only waits. Each restart without a commit in between doubles the wait
//! (up to 16×; the count travels to the new image in
//! `KAWASE_REJOIN_ATTEMPT`), and a long gap between two looks (the process
//! was stopped) starts the wait again. The exec is a kill as far as the
//! stores are concerned (every thread ends at once), which the crash order
//! in kawase-consensus's commit.rs makes safe; a SIGTERM that arrived first
//! wins (start.rs checks just before the exec).
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Carries the number of restarts without a commit across the exec.
const ATTEMPT_VAR: &str = "KAWASE_REJOIN_ATTEMPT";

/// The wait doubles per restart up to `after << MAX_DOUBLINGS`.
const MAX_DOUBLINGS: u32 = 4;

/// How long a reachability probe of one peer may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A gap this long between two looks means the process was stopped
/// (SIGSTOP, a suspended VM): the wait starts again.
const PAUSE_GAP: Duration = Duration::from_secs(5);

/// The wait before the first restart: `rejoin_after`, but never under four
/// rounds of the consensus timeouts (`round` = propose + prevote +
/// precommit + commit), so a slow but healthy chain is left alone, plus up
/// to a quarter more by `jitter_seed` (any per-node number).
pub fn first_wait(rejoin_after: Duration, round: Duration, jitter_seed: u64) -> Duration {
    let base = rejoin_after.max(round.saturating_mul(4));
    base + base / 4 * (jitter_seed % 1000) as u32 / 1000
}

/// The first wait for this node's configuration (`None`: `rejoin_after` is
/// "0s", the watchdog is off); the jitter comes from the node id.
pub fn configured_wait(rejoin_after: Duration, round: Duration, node_id: &str) -> Option<Duration> {
    let seed = node_id.bytes().fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    (!rejoin_after.is_zero()).then(|| first_wait(rejoin_after, round, seed))
}

/// Resolves (with the restart's attempt number) when the node has gone
/// without a commit for the wait and a restart would reach more peers than
/// the engine has; never, for a node without peers or with the watchdog off.
pub async fn due(shared: Arc<kawase_consensus::Shared>, peers: Vec<SocketAddr>, wait: Option<Duration>) -> u32 {
    let Some(after) = wait.filter(|_| !peers.is_empty()) else {
        return std::future::pending().await;
    };
    let mut w = Watchdog::new(after, attempt_from_env(), shared.status().height, Instant::now());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // After a stop (SIGSTOP), one late look, not a burst of them.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let height = shared.status().height;
        if !w.stalled(height, Instant::now()) {
            continue;
        }
        let Some(connected) = kawase_consensus::metrics::engine_peers() else {
            // Without the engine's peer count a restart could not be told
            // from a halted chain's: never guess.
            tracing::warn!(height, "no block committed, and the engine's peer gauge is missing: not restarting");
            w.keep_waiting(Instant::now());
            continue;
        };
        let reachable = reachable_peers(&peers).await;
        if restart_helps(connected, reachable) {
            let attempt = w.attempt().saturating_add(1);
            tracing::warn!(
                height,
                waited = ?w.wait(),
                connected,
                reachable,
                attempt,
                "no block committed and more peers accept connections than consensus has: restarting in place to dial every persistent peer again (malachite 0.5 dials them only at start)"
            );
            return attempt;
        }
        tracing::info!(
            height,
            connected,
            reachable,
            "no block committed; a restart would reach no more peers: waiting"
        );
        w.keep_waiting(Instant::now());
    }
}

/// The pure part: has this node gone without a commit for long enough?
#[derive(Debug)]
pub struct Watchdog {
    after: Duration,
    attempt: u32,
    height: u64,
    since: Instant,
    last_look: Instant,
}

impl Watchdog {
    /// `attempt` restarts without a commit have happened already; `height`
    /// is the node's committed height at `now`.
    pub fn new(after: Duration, attempt: u32, height: u64, now: Instant) -> Watchdog {
        Watchdog { after, attempt, height, since: now, last_look: now }
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
        let gap = now.saturating_duration_since(self.last_look);
        self.last_look = now;
        if gap >= PAUSE_GAP {
            // Stopped for a while: give the node a full wait to catch up.
            self.since = now;
            return false;
        }
        if height != self.height {
            self.height = height;
            self.since = now;
            self.attempt = 0;
            return false;
        }
        now.saturating_duration_since(self.since) >= self.wait()
    }

    /// A restart would not help (the engine has every reachable peer):
    /// look again after another full wait.
    pub fn keep_waiting(&mut self, now: Instant) {
        self.since = now;
    }
}

/// Whether restarting would reach more peers than the engine has now.
pub fn restart_helps(connected: u64, reachable: usize) -> bool {
    (reachable as u64) > connected
}

/// How many of `peers` accept a TCP connection within the probe timeout
/// (probed together, so the look takes one timeout at most).
pub async fn reachable_peers(peers: &[SocketAddr]) -> usize {
    let probes = peers.iter().map(|p| tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(*p)));
    let mut n = 0;
    for probe in probes.map(tokio::spawn).collect::<Vec<_>>() {
        if let Ok(Ok(Ok(_))) = probe.await {
            n += 1;
        }
    }
    n
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
fn attempt_from_env() -> u32 {
    std::env::var(ATTEMPT_VAR).ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_node_that_commits_is_never_stalled() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 0, 0, t0);
        for s in 1..3000u32 {
            assert!(!w.stalled(u64::from(s / 29), t0 + s * S), "stalled at {s} s");
        }
    }

    #[test]
    fn the_wait_doubles_per_restart_without_a_commit_up_to_sixteen_times() {
        let t0 = Instant::now();
        let waits: Vec<u64> = (0..7).map(|a| Watchdog::new(30 * S, a, 1, t0).wait().as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 480, 480]);
        let mut w = Watchdog::new(30 * S, 3, 1, t0);
        assert!(!look(&mut w, t0, 1, 1, 239));
        assert!(look(&mut w, t0, 1, 240, 240));
    }

    #[test]
    fn a_commit_resets_the_count_and_the_clock() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 4, 1, t0);
        assert!(!look(&mut w, t0, 1, 1, 4));
        assert!(!w.stalled(2, t0 + 5 * S));
        assert_eq!(w.attempt(), 0);
        assert!(!look(&mut w, t0, 2, 6, 34));
        assert!(look(&mut w, t0, 2, 35, 35));
    }

    /// Looks once a second from `from` to `to` (seconds after t0).
    fn look(w: &mut Watchdog, t0: Instant, height: u64, from: u32, to: u32) -> bool {
        let mut stalled = false;
        for s in from..=to {
            stalled = w.stalled(height, t0 + s * S);
        }
        stalled
    }

    #[test]
    fn a_node_without_a_commit_for_the_wait_is_stalled_when_looked_at_every_second() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 0, 10, t0);
        assert!(!look(&mut w, t0, 10, 1, 29));
        assert!(look(&mut w, t0, 10, 30, 30));
    }

    #[test]
    fn when_a_restart_would_not_help_the_node_waits_another_full_period() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 0, 1, t0);
        assert!(look(&mut w, t0, 1, 1, 30));
        w.keep_waiting(t0 + 31 * S);
        assert!(!look(&mut w, t0, 1, 31, 60));
        assert!(look(&mut w, t0, 1, 61, 61));
    }

    #[test]
    fn a_process_stopped_for_a_while_gets_a_full_wait_after_it_resumes() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(30 * S, 0, 1, t0);
        assert!(!look(&mut w, t0, 1, 1, 10));
        // SIGSTOP at 10 s, SIGCONT at 70 s: no restart on the first look.
        assert!(!w.stalled(1, t0 + 70 * S));
        assert!(!look(&mut w, t0, 1, 71, 99));
        assert!(look(&mut w, t0, 1, 100, 100));
    }

    #[test]
    fn a_restart_helps_only_when_more_peers_answer_than_the_engine_has() {
        assert!(restart_helps(0, 3), "alone, three peers up: restart");
        assert!(restart_helps(1, 3), "an island of two: restart");
        assert!(!restart_helps(3, 3), "a halted chain with everyone connected: wait");
        assert!(!restart_helps(1, 1), "two peers down, the live one connected: wait");
        assert!(!restart_helps(0, 0), "everyone down: wait");
    }

    #[test]
    fn rejoin_after_zero_turns_the_watchdog_off() {
        assert_eq!(configured_wait(Duration::ZERO, 5 * S, "id"), None);
        assert!(configured_wait(30 * S, 5 * S, "id").is_some());
    }

    #[test]
    fn the_first_wait_covers_four_rounds_and_spreads_nodes_apart() {
        assert_eq!(first_wait(30 * S, 5 * S, 0), 30 * S);
        assert_eq!(first_wait(30 * S, 20 * S, 0), 80 * S, "slow consensus: four rounds");
        assert_eq!(first_wait(30 * S, 5 * S, 500), 30 * S + 30 * S / 8);
        assert!(first_wait(30 * S, 5 * S, 999) < 30 * S + 30 * S / 4);
    }

    #[tokio::test]
    async fn listening_peers_are_counted_and_closed_ports_are_not() {
        let l1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let l2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let closed = {
            let c = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            c.local_addr().expect("addr")
        };
        let open = [l1.local_addr().expect("addr"), l2.local_addr().expect("addr")];
        assert_eq!(reachable_peers(&[closed]).await, 0);
        assert_eq!(reachable_peers(&[closed, open[0], open[1]]).await, 2);
    }
}
