//! A zone of N validators as real `kawased start` processes for the fault
//! suite: homes from `kawased testnet`, every peer connection (consensus
//! p2p and transaction gossip) routed through a harness proxy per ordered
//! pair of nodes so a validator can be partitioned, and signals for
//! kill / pause / graceful restart. Processes are SIGKILLed when dropped,
//! also on panic.
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::node::{config, set, write_config, write_testnet, QUICK_TIMEOUTS};
use super::process::{Launch, Process};
use super::proxy::{Mode, Proxy};

/// A zone: its validators and the proxies on every directed peer link.
pub struct Cluster {
    pub chain_id: String,
    /// Validator processes (`kawased start`, RUST_LOG from
    /// `KAWASE_FAULTS_LOG`, default `warn`), not started by [`Cluster::create`].
    pub nodes: Vec<Process>,
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
        let extra: Vec<&str> = ["--zone", zone]
            .into_iter()
            .chain(fz_chain_id.map(|fz| ["--fz-chain-id", fz]).into_iter().flatten())
            .collect();
        let homes: Vec<PathBuf> = write_testnet(dir, n, chain_id, &extra);
        let configs: Vec<toml::Table> = homes.iter().map(|h| config(h)).collect();
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
            set(&mut c, "p2p", "persistent_peers", &peers.join(","));
            set(&mut c, "mempool", "gossip_peers", &gossip.join(","));
            for (k, v) in QUICK_TIMEOUTS {
                if c.get("consensus").and_then(|s| s.get(k)).is_some() {
                    set(&mut c, "consensus", k, v);
                }
            }
            write_config(home, &c);
        }
        let log = std::env::var("KAWASE_FAULTS_LOG").unwrap_or_else(|_| "warn".into());
        let nodes = homes.iter().map(|home| Launch::node(home).rust_log(&log).stopped()).collect();
        Cluster { chain_id: chain_id.into(), nodes, links }
    }

    /// Starts every node (each waits for `ready`, which needs no quorum).
    pub fn start_all(&mut self) {
        for n in &mut self.nodes {
            n.start();
        }
    }

    pub fn rpcs(&self) -> Vec<String> {
        self.nodes.iter().map(Process::rpc).collect()
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
                if let Err(e) = n.try_start() {
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
