//! `config/config.toml`: the node's settings, with CometBFT's section
//! names where they exist, their defaults and the parsers of their values.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// `config/config.toml`, with CometBFT's section names where they exist.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub moniker: String,
    #[serde(default)]
    pub rpc: RpcSection,
    #[serde(default)]
    pub p2p: P2pSection,
    #[serde(default)]
    pub mempool: MempoolSection,
    #[serde(default)]
    pub consensus: ConsensusSection,
    #[serde(default)]
    pub instrumentation: InstrumentationSection,
    #[serde(default)]
    pub abci: AbciSection,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub tls: crate::tls::TlsSection,
    #[serde(default)]
    pub audit: crate::audit::AuditSection,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcSection {
    /// CometBFT-compatible JSON-RPC (HTTP and websocket).
    pub laddr: String,
    pub max_body_bytes: usize,
    pub max_open_connections: usize,
    pub timeout_broadcast_tx_commit: String,
    /// Requests per second each caller (client certificate, else source
    /// IP) may send, sustained; 0 turns the rate limit off.
    pub rate_limit_per_second: u32,
    /// Requests a caller may send at once after a quiet period.
    pub rate_limit_burst: u32,
    /// Requests of one caller in flight at once; 0: no cap.
    pub max_in_flight_per_caller: u32,
    /// Also limit callers on a loopback address that present no client
    /// certificate (the node's own tools; a co-located relayer).
    pub rate_limit_loopback: bool,
}

impl Default for RpcSection {
    fn default() -> Self {
        RpcSection {
            laddr: "tcp://127.0.0.1:26657".into(),
            max_body_bytes: 1_000_000,
            max_open_connections: 900,
            timeout_broadcast_tx_commit: "10s".into(),
            rate_limit_per_second: 1000,
            rate_limit_burst: 2000,
            max_in_flight_per_caller: 64,
            rate_limit_loopback: false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pSection {
    /// Consensus and block sync (libp2p over TCP).
    pub laddr: String,
    /// Comma-separated `node_id@host:port` (CometBFT's form; the id is
    /// informational, libp2p authenticates peers itself).
    pub persistent_peers: String,
    /// A validator that commits nothing for this long, while more persistent
    /// peers accept connections than its engine has, restarts in place to
    /// dial them again (see rejoin.rs). "0s" turns it off.
    pub rejoin_after: String,
}

impl Default for P2pSection {
    fn default() -> Self {
        P2pSection {
            laddr: "tcp://127.0.0.1:26656".into(),
            persistent_peers: String::new(),
            rejoin_after: "30s".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolSection {
    /// Most transactions held.
    pub size: usize,
    pub max_txs_bytes: usize,
    pub max_tx_bytes: usize,
    /// Transaction gossip between mempools.
    pub gossip_laddr: String,
    /// Comma-separated `node_id@host:port` of peers' `gossip_laddr` (the id
    /// is the peer's node id, as in `persistent_peers`). The handshake
    /// checks it, and only these ids may connect inbound.
    pub gossip_peers: String,
    /// Inbound gossip connections held at once, in total and per IP.
    pub gossip_max_connections: usize,
    pub gossip_max_connections_per_ip: usize,
}

impl Default for MempoolSection {
    fn default() -> Self {
        MempoolSection {
            size: 50_000,
            max_txs_bytes: 256 << 20,
            max_tx_bytes: 32 << 10,
            gossip_laddr: "tcp://127.0.0.1:26659".into(),
            gossip_peers: String::new(),
            gossip_max_connections: 64,
            gossip_max_connections_per_ip: 16,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSection {
    pub timeout_propose: String,
    pub timeout_prevote: String,
    pub timeout_precommit: String,
    /// Pause after a commit before the next height (collects transactions).
    pub timeout_commit: String,
    /// How far ahead of our clock a proposed block's time may be.
    pub max_clock_drift: String,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection {
            timeout_propose: "3s".into(),
            timeout_prevote: "1s".into(),
            timeout_precommit: "1s".into(),
            timeout_commit: "500ms".into(),
            max_clock_drift: "10s".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstrumentationSection {
    pub prometheus: bool,
    pub prometheus_listen_addr: String,
}

impl Default for InstrumentationSection {
    fn default() -> Self {
        InstrumentationSection { prometheus: true, prometheus_listen_addr: "127.0.0.1:26660".into() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbciSection {
    /// Where `kawased abci` listens for an external CometBFT (its `proxy_app`).
    pub laddr: String,
}

impl Default for AbciSection {
    fn default() -> Self {
        AbciSection { laddr: "tcp://127.0.0.1:26658".into() }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Versions of state kept queryable and provable; 0 keeps all (archive).
    #[serde(default)]
    pub keep_recent: u64,
}

/// Parses CometBFT-style durations: `250ms`, `3s`, `1m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("duration `{s}`: expected e.g. 500ms, 3s, 1m"))?;
    Ok(match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" | "" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n * 60),
        _ => bail!("duration `{s}`: unknown unit `{unit}` (use ms, s or m)"),
    })
}

/// `tcp://host:port` or `host:port` to a socket address.
pub fn parse_laddr(s: &str) -> Result<std::net::SocketAddr> {
    let a = s.trim().strip_prefix("tcp://").unwrap_or(s.trim());
    use std::net::ToSocketAddrs;
    a.to_socket_addrs()
        .with_context(|| format!("address `{s}`"))?
        .next()
        .with_context(|| format!("address `{s}` resolves to nothing"))
}

/// Comma-separated peers, each `host:port` or `id@host:port`.
pub fn parse_peers(s: &str) -> Result<Vec<std::net::SocketAddr>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| parse_laddr(p.rsplit('@').next().unwrap_or(p)))
        .collect()
}

/// Comma-separated gossip peers, each `node_id@host:port`: gossip is
/// authenticated, so a peer without its id cannot be dialled or accepted.
pub fn parse_gossip_peers(s: &str) -> Result<Vec<kawase_consensus::gossip::GossipPeer>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let Some((id, addr)) = p.split_once('@') else {
                bail!("gossip peer `{p}`: expected node_id@host:port (the id is what `kawased init` printed as `node id`, or `node_info.id` of the peer's /status)")
            };
            let id = id.parse().with_context(|| format!("gossip peer `{p}`"))?;
            Ok(kawase_consensus::gossip::GossipPeer { id, addr: parse_laddr(addr)? })
        })
        .collect()
}

/// Ports of one node of a local testnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub p2p: u16,
    pub rpc: u16,
    pub abci: u16,
    pub gossip: u16,
    pub metrics: u16,
}

impl Ports {
    /// Node `i` of a testnet whose first node uses `base`.
    pub fn testnet(base: u16, i: u16) -> Ports {
        let b = base + i * 10;
        Ports { p2p: b, rpc: b + 1, abci: b + 2, gossip: b + 3, metrics: b + 4 }
    }
    /// [`Ports::testnet`], or an error where a port would pass 65535.
    pub fn checked(base: u16, i: u16) -> Result<Ports> {
        i.checked_mul(10)
            .and_then(|o| base.checked_add(o))
            .filter(|b| b.checked_add(4).is_some())
            .map(|_| Ports::testnet(base, i))
            .with_context(|| format!("node {i} of a testnet from base port {base} would need a port above 65535"))
    }
    pub fn standard() -> Ports {
        Ports { p2p: 26656, rpc: 26657, abci: 26658, gossip: 26659, metrics: 26660 }
    }
}

/// Where each node of a testnet listens and is dialled: its host, and the
/// ports [`Ports::testnet`] gives it by its place among the nodes on the
/// same host. Nodes on separate machines therefore all use the same five
/// ports (one firewall rule set), and nodes sharing a host never collide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestnetLayout {
    /// One per node: an IPv4 or IPv6 address or a DNS name.
    hosts: Vec<String>,
    base_port: u16,
}

impl TestnetLayout {
    /// Every node on 127.0.0.1 (one machine).
    pub fn loopback(n: u16, base_port: u16) -> Result<TestnetLayout> {
        TestnetLayout::on_hosts(n, base_port, &vec!["127.0.0.1".to_owned(); usize::from(n)])
    }

    /// Node `i` on `hosts[i]` (`--hosts`): checked for count, syntax and
    /// port range, so a bad list fails before any home is written.
    pub fn on_hosts(n: u16, base_port: u16, hosts: &[String]) -> Result<TestnetLayout> {
        if hosts.len() != usize::from(n) {
            bail!("--hosts names {} hosts for {n} validators: give one per validator (a host may repeat)", hosts.len());
        }
        let hosts = hosts.iter().map(|h| host_for_address(h)).collect::<Result<Vec<_>>>()?;
        let layout = TestnetLayout { hosts, base_port };
        for i in 0..usize::from(n) {
            layout.try_node(i)?;
        }
        Ok(layout)
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Node `i`'s host (as it goes before `:port`) and ports.
    pub fn node(&self, i: usize) -> (&str, Ports) {
        self.try_node(i).expect("TestnetLayout::on_hosts checked every node's ports")
    }

    fn try_node(&self, i: usize) -> Result<(&str, Ports)> {
        let host = &self.hosts[i];
        let before = self.hosts[..i].iter().filter(|h| *h == host).count();
        let slot = u16::try_from(before).context("too many nodes on one host")?;
        Ok((host, Ports::checked(self.base_port, slot)?))
    }
}

/// `host` as it is written before `:port`: an IPv6 address in brackets; a
/// DNS name only of letters, digits, `-` and `.`.
fn host_for_address(host: &str) -> Result<String> {
    let h = host.trim();
    if let Ok(ip) = h.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        return Ok(match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if h.len() <= 253 && h.split('.').all(label_ok) {
        return Ok(h.to_ascii_lowercase());
    }
    bail!("host `{host}`: expected an IP address or a DNS name")
}

impl NodeConfig {
    /// A node listening on 127.0.0.1 only.
    pub fn new(moniker: &str, ports: Ports) -> NodeConfig {
        NodeConfig::on_host(moniker, "127.0.0.1", ports)
    }

    /// A node whose listeners all bind `host` (a testnet's `--hosts`).
    pub fn on_host(moniker: &str, host: &str, ports: Ports) -> NodeConfig {
        NodeConfig {
            moniker: moniker.into(),
            rpc: RpcSection { laddr: format!("tcp://{host}:{}", ports.rpc), ..Default::default() },
            p2p: P2pSection { laddr: format!("tcp://{host}:{}", ports.p2p), ..Default::default() },
            mempool: MempoolSection { gossip_laddr: format!("tcp://{host}:{}", ports.gossip), ..Default::default() },
            consensus: ConsensusSection::default(),
            instrumentation: InstrumentationSection {
                prometheus: true,
                prometheus_listen_addr: format!("{host}:{}", ports.metrics),
            },
            abci: AbciSection { laddr: format!("tcp://{host}:{}", ports.abci) },
            storage: StorageSection::default(),
            tls: crate::tls::TlsSection::default(),
            audit: crate::audit::AuditSection::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_on_separate_hosts_share_ports_and_nodes_on_one_host_do_not() {
        let hosts: Vec<String> = ["10.0.0.1", "10.0.0.2", "10.0.0.1", "fz-3.bank.example"].map(String::from).into();
        let layout = TestnetLayout::on_hosts(4, 26656, &hosts).expect("layout");
        assert_eq!(layout.node(0), ("10.0.0.1", Ports::testnet(26656, 0)));
        assert_eq!(layout.node(1), ("10.0.0.2", Ports::testnet(26656, 0)));
        assert_eq!(layout.node(2), ("10.0.0.1", Ports::testnet(26656, 1)), "the second node on 10.0.0.1 moves up");
        assert_eq!(layout.node(3), ("fz-3.bank.example", Ports::testnet(26656, 0)));
        let loopback = TestnetLayout::loopback(3, 30_000).expect("loopback");
        assert_eq!(loopback.node(2), ("127.0.0.1", Ports::testnet(30_000, 2)));
    }

    #[test]
    fn an_ipv6_host_is_bracketed_and_bad_host_lists_are_refused_before_any_home_is_written() {
        let layout = TestnetLayout::on_hosts(1, 26656, &["fd00::1".into()]).expect("ipv6");
        assert_eq!(layout.node(0).0, "[fd00::1]");
        assert!(TestnetLayout::on_hosts(2, 26656, &["10.0.0.1".into()]).is_err(), "one host for two validators");
        assert!(TestnetLayout::on_hosts(1, 26656, &["10.0.0.1:80".into()]).is_err(), "a port in a host");
        assert!(TestnetLayout::on_hosts(1, 26656, &["a@b".into()]).is_err(), "not a host name");
        assert!(TestnetLayout::on_hosts(1, 65_532, &["10.0.0.1".into()]).is_err(), "ports above 65535");
        assert!(TestnetLayout::loopback(2, 65_530).is_err(), "the second node's ports pass 65535");
    }
}
