//! A zone of N validators as real `kawased start` processes for the fault
//! suite: homes from `kawased testnet`, every peer connection (consensus
//! p2p and transaction gossip) routed through a harness proxy per ordered
//! pair of nodes so a validator can be partitioned, and signals for
//! kill / pause / graceful restart. Processes are SIGKILLed when dropped,
//! also on panic.
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::node::{start_logged, tail, Ready, START_LIMIT};
use super::proxy::{Mode, Proxy};

/// How long a SIGTERMed node may take to exit before it is SIGKILLed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// One validator process and its home.
pub struct Node {
    pub home: PathBuf,
    pub rpc: String,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    fn pid(&self) -> Option<Pid> {
        self.child.as_ref().map(|c| Pid::from_raw(c.id() as i32))
    }

    /// Starts `kawased start` and waits (bounded) for `ready`; `Err` with
    /// the log's tail if it exits or hangs instead.
    pub fn start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "{} already running", self.home.display());
        let mut cmd = Command::new(super::zones::kawased());
        cmd.args(["start", "--home"])
            .arg(&self.home)
            .env("RUST_LOG", std::env::var("KAWASE_FAULTS_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null());
        let log_path = self.home.join("node.log");
        match start_logged(&mut cmd, &log_path, START_LIMIT) {
            Ok(Ready { child, rpc: Some(rpc) }) => {
                self.rpc = rpc;
                self.child = Some(child);
                self.paused = false;
                Ok(())
            }
            Ok(Ready { mut child, rpc: None }) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("{} announced no RPC address:\n{}", self.home.display(), tail(&log_path, 15)))
            }
            Err(e) => Err(format!("{} {e}", self.home.display())),
        }
    }

    /// SIGKILL: nothing gets to finish.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused = false;
    }

    /// SIGTERM and wait for a clean exit; `false` if it needed SIGKILL.
    pub fn stop_gracefully(&mut self) -> bool {
        self.resume();
        let Some(mut c) = self.child.take() else { return true };
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub fn pause(&mut self) {
        if let Some(p) = self.pid() {
            let _ = kill(p, Signal::SIGSTOP);
            self.paused = true;
        }
    }

    pub fn resume(&mut self) {
        if let (Some(p), true) = (self.pid(), self.paused) {
            let _ = kill(p, Signal::SIGCONT);
        }
        self.paused = false;
    }

    /// Whether the process died on its own (a crash, not a perturbation).
    pub fn exited(&mut self) -> Option<String> {
        let c = self.child.as_mut()?;
        match c.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(format!(
                    "{} exited by itself ({status}):\n{}",
                    self.home.display(),
                    tail(&self.home.join("node.log"), 15)
                ))
            }
            _ => None,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a log file.
/// A zone: its validators and the proxies on every directed peer link.
pub struct Cluster {
    pub chain_id: String,
    pub nodes: Vec<Node>,
    /// `(from, to)` -> proxies for consensus p2p and transaction gossip.
    links: BTreeMap<(usize, usize), [Proxy; 2]>,
}

fn socket(laddr: &str) -> SocketAddr {
    laddr.trim_start_matches("tcp://").parse().expect("loopback socket address")
}

impl Cluster {
    /// Writes `n` homes with `kawased testnet` under `dir`, quick
    /// timeouts, and each node's peers pointing at the proxies.
    /// `fz_chain_id`: for a BZ, the FZ whose settlement channel it accepts.
    pub fn create(dir: &Path, n: u16, chain_id: &str, zone: &str, fz_chain_id: Option<&str>) -> Cluster {
        let base = super::zones::free_base(n);
        let out = Command::new(super::zones::kawased())
            .args(["testnet", "--validators", &n.to_string(), "--output"])
            .arg(dir)
            .args(["--chain-id", chain_id, "--zone", zone, "--base-port", &base.to_string()])
            .args(fz_chain_id.map(|fz| ["--fz-chain-id", fz]).iter().flatten())
            .output()
            .expect("kawased testnet");
        assert!(out.status.success(), "testnet: {}", String::from_utf8_lossy(&out.stderr));
        let homes: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("node{i}"))).collect();
        let configs: Vec<toml::Table> = homes
            .iter()
            .map(|h| {
                toml::from_str(&std::fs::read_to_string(h.join("config/config.toml")).expect("config")).expect("toml")
            })
            .collect();
        let field = |c: &toml::Table, section: &str, key: &str| -> String {
            c[section][key].as_str().expect("string field").to_owned()
        };
        // Node ids as testnet wrote them (`id@addr` in the others' peer lists).
        let mut ids = vec![String::new(); n as usize];
        for c in &configs {
            for peer in field(c, "p2p", "persistent_peers").split(',').filter(|p| !p.is_empty()) {
                if let Some((id, addr)) = peer.split_once('@') {
                    for (j, cj) in configs.iter().enumerate() {
                        if socket(&field(cj, "p2p", "laddr")) == socket(addr) {
                            ids[j] = id.to_owned();
                        }
                    }
                }
            }
        }
        let mut links = BTreeMap::new();
        for i in 0..n as usize {
            for (j, cj) in configs.iter().enumerate() {
                if i != j {
                    let p2p = Proxy::start(socket(&field(cj, "p2p", "laddr")));
                    let gossip = Proxy::start(socket(&field(cj, "mempool", "gossip_laddr")));
                    links.insert((i, j), [p2p, gossip]);
                }
            }
        }
        for (i, (home, mut c)) in homes.iter().zip(configs).enumerate() {
            let others = (0..n as usize).filter(|j| *j != i);
            let peers: Vec<String> = others
                .clone()
                .map(|j| {
                    let id = ids[j].clone();
                    let at = links[&(i, j)][0].addr();
                    if id.is_empty() {
                        at.to_string()
                    } else {
                        format!("{id}@{at}")
                    }
                })
                .collect();
            // Gossip peers are named by the same node id as consensus peers.
            let gossip: Vec<String> = others.map(|j| format!("{}@{}", ids[j], links[&(i, j)][1].addr())).collect();
            set(&mut c, "p2p", "persistent_peers", peers.join(","));
            set(&mut c, "mempool", "gossip_peers", gossip.join(","));
            for (k, v) in [
                ("timeout_propose", "1s"),
                ("timeout_prevote", "500ms"),
                ("timeout_precommit", "500ms"),
                ("timeout_commit", "200ms"),
            ] {
                if c.get("consensus").and_then(|s| s.get(k)).is_some() {
                    set(&mut c, "consensus", k, v.into());
                }
            }
            std::fs::write(home.join("config/config.toml"), toml::to_string(&c).expect("toml")).expect("config");
        }
        let nodes =
            homes.into_iter().map(|home| Node { home, rpc: String::new(), child: None, paused: false }).collect();
        Cluster { chain_id: chain_id.into(), nodes, links }
    }

    /// Starts every node (each waits for `ready`, which needs no quorum).
    pub fn start_all(&mut self) {
        for n in &mut self.nodes {
            if let Err(e) = n.start() {
                panic!("{e}");
            }
        }
    }

    pub fn rpcs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.rpc.clone()).collect()
    }

    /// Each link cut if either end is in `cut`, else stalled if either end
    /// is in `stall`, else forwarding.
    pub fn set_links(&self, cut: &BTreeSet<usize>, stall: &BTreeSet<usize>) {
        for ((from, to), proxies) in &self.links {
            let any = |s: &BTreeSet<usize>| s.contains(from) || s.contains(to);
            let mode = if any(cut) {
                Mode::Cut
            } else if any(stall) {
                Mode::Stall
            } else {
                Mode::Pass
            };
            for p in proxies {
                if p.mode() != mode {
                    p.set(mode);
                }
            }
        }
    }

    /// Every link forwarding again, every process running and not paused;
    /// errors of nodes that could not start again.
    pub fn heal(&mut self) -> Vec<String> {
        for proxies in self.links.values() {
            for p in proxies {
                p.set(Mode::Pass);
            }
        }
        let mut errs = Vec::new();
        for n in &mut self.nodes {
            n.resume();
            if !n.running() {
                if let Err(e) = n.start() {
                    errs.push(e);
                }
            }
        }
        errs
    }

    /// Connections the proxies have carried (a partition is only a test if
    /// traffic went through them).
    pub fn proxied_connections(&self) -> u64 {
        self.links.values().flat_map(|p| p.iter()).map(Proxy::accepted).sum()
    }
}

fn set(c: &mut toml::Table, section: &str, key: &str, value: String) {
    let s = c.entry(section.to_owned()).or_insert_with(|| toml::Value::Table(Default::default()));
    s.as_table_mut().expect("section").insert(key.into(), toml::Value::String(value));
}
