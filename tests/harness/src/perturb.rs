//! Applies a run's perturbations on schedule while the load runs (on a
//! plain thread: starting a node blocks), watches for processes that die
//! by themselves, and heals everything at the end.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::faultnet::FaultNet;
use super::manifest::{Kind, Perturbation, ZoneName};
use super::process::Stopped;
use super::proxy::Mode;

/// What the perturbations did, and what went wrong by itself.
#[derive(Default, Debug)]
pub struct Applied {
    pub by_kind: BTreeMap<String, u32>,
    /// Restarts after a process died by itself, per process (capped).
    pub self_restarts: BTreeMap<String, u32>,
    /// Processes that crashed, failed to restart or to stop: each a finding.
    pub findings: Vec<String>,
    pub log: Vec<String>,
}

impl Applied {
    pub fn total(&self) -> u32 {
        self.by_kind.values().sum()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Edge {
    Begin,
    End,
}

/// Link state per zone: nodes cut off and nodes stalled.
#[derive(Default)]
struct Links {
    cut: [BTreeSet<usize>; 2],
    stall: [BTreeSet<usize>; 2],
}

fn zi(z: ZoneName) -> usize {
    match z {
        ZoneName::Fz => 0,
        ZoneName::Bz => 1,
    }
}

/// Runs `schedule` (times relative to now) to its last edge.
pub fn run(net: &mut FaultNet, schedule: &[Perturbation]) -> Applied {
    let start = Instant::now();
    let mut edges: Vec<(f64, Edge, usize)> = Vec::new();
    for (i, p) in schedule.iter().enumerate() {
        edges.push((p.at_secs, Edge::Begin, i));
        if p.kind != Kind::Restart {
            edges.push((p.at_secs + p.for_secs, Edge::End, i));
        }
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Applied::default();
    let mut links = Links::default();
    for (at, edge, i) in edges {
        let when = start + Duration::from_secs_f64(at);
        while Instant::now() < when {
            watch(net, &mut out);
            std::thread::sleep(Duration::from_millis(200).min(when.saturating_duration_since(Instant::now())));
        }
        let p = &schedule[i];
        if edge == Edge::Begin {
            *out.by_kind.entry(format!("{:?}", p.kind)).or_default() += 1;
        }
        out.log.push(format!(
            "{:>7.2}s {edge:?} {:?} {:?} node {}",
            start.elapsed().as_secs_f64(),
            p.kind,
            p.zone,
            p.node
        ));
        apply(net, p, edge, &mut links, &mut out);
    }
    out
}

fn apply(net: &mut FaultNet, p: &Perturbation, edge: Edge, links: &mut Links, out: &mut Applied) {
    let z = zi(p.zone);
    match (p.kind, edge) {
        (Kind::Kill, Edge::Begin) => net.cluster_mut(p.zone).nodes[p.node].kill(),
        (Kind::Kill, Edge::End) => start_node(net.cluster_mut(p.zone), p.node, out),
        (Kind::Pause, Edge::Begin) => net.cluster_mut(p.zone).nodes[p.node].pause(),
        (Kind::Pause, Edge::End) => net.cluster_mut(p.zone).nodes[p.node].resume(),
        (Kind::Restart, _) => {
            let c = net.cluster_mut(p.zone);
            if c.nodes[p.node].running() && c.nodes[p.node].stop() == Stopped::Killed {
                out.findings.push(format!("{:?} node {} did not exit within 30 s of SIGTERM", p.zone, p.node));
            }
            start_node(c, p.node, out);
        }
        (Kind::Partition | Kind::Stall, e) => {
            let set = if p.kind == Kind::Partition { &mut links.cut[z] } else { &mut links.stall[z] };
            if e == Edge::Begin {
                set.insert(p.node);
            } else {
                set.remove(&p.node);
            }
            net.cluster_mut(p.zone).set_links(&links.cut[z], &links.stall[z]);
        }
        (Kind::PartitionRelayer, Edge::Begin) => net.relayers[0].cut(Mode::Cut),
        (Kind::PartitionRelayer, Edge::End) => net.relayers[0].cut(Mode::Pass),
        (Kind::KillRelayer, Edge::Begin) => net.relayers[0].kill(),
        (Kind::KillRelayer, Edge::End) => start_relayer(net, 0, out),
        (Kind::SecondRelayer, Edge::Begin) => start_relayer(net, 1, out),
        (Kind::SecondRelayer, Edge::End) => net.relayers[1].kill(),
    }
}

fn start_node(c: &mut Cluster, i: usize, out: &mut Applied) {
    let n = &mut c.nodes[i];
    n.resume();
    if n.running() {
        return;
    }
    if let Err(e) = n.try_start() {
        out.findings.push(format!("{} node {i} could not start again: {e}", c.chain_id));
    }
}

fn start_relayer(net: &mut FaultNet, i: usize, out: &mut Applied) {
    if net.relayers[i].running() {
        return;
    }
    if let Err(e) = net.relayers[i].start() {
        out.findings.push(format!("relayer {i}: {e}"));
    }
}

/// A process that keeps dying by itself is started again at most this
/// often per run (a crash loop is one finding, not a busy loop).
const MAX_SELF_RESTARTS: u32 = 3;

/// Records processes that died without being told to, and starts them
/// again (a few times) so the run can go on.
fn watch(net: &mut FaultNet, out: &mut Applied) {
    for z in [ZoneName::Fz, ZoneName::Bz] {
        let c = net.cluster_mut(z);
        for i in 0..c.nodes.len() {
            if let Some(e) = c.nodes[i].exited() {
                let name = format!("{} node {i}", c.chain_id);
                let n = out.self_restarts.entry(name.clone()).or_default();
                *n += 1;
                if *n <= MAX_SELF_RESTARTS {
                    out.findings.push(e);
                    start_node(c, i, out);
                } else if *n == MAX_SELF_RESTARTS + 1 {
                    out.findings.push(format!("{name} keeps dying by itself; left down"));
                }
            }
        }
    }
    for i in 0..2 {
        if let Some(e) = net.relayers[i].exited() {
            let n = out.self_restarts.entry(format!("relayer {i}")).or_default();
            *n += 1;
            if *n <= MAX_SELF_RESTARTS {
                out.findings.push(e);
                start_relayer(net, i, out);
            }
        }
    }
}

/// Everything back: links forwarding, processes resumed or started, the
/// second relayer stopped, the first running.
pub fn heal(net: &mut FaultNet, out: &mut Applied) {
    watch(net, out);
    for z in [ZoneName::Fz, ZoneName::Bz] {
        let c = net.cluster_mut(z);
        c.set_links(&BTreeSet::new(), &BTreeSet::new());
        for e in c.heal() {
            out.findings.push(e);
        }
    }
    net.relayers[0].cut(Mode::Pass);
    net.relayers[1].kill();
    start_relayer(net, 0, out);
}
