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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcSection {
    /// CometBFT-compatible JSON-RPC (HTTP and websocket).
    pub laddr: String,
    pub max_body_bytes: usize,
    pub max_open_connections: usize,
    pub timeout_broadcast_tx_commit: String,
}

impl Default for RpcSection {
    fn default() -> Self {
        RpcSection {
            laddr: "tcp://127.0.0.1:26657".into(),
            max_body_bytes: 1_000_000,
            max_open_connections: 900,
            timeout_broadcast_tx_commit: "10s".into(),
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
#[derive(Clone, Copy, Debug)]
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
    pub fn standard() -> Ports {
        Ports { p2p: 26656, rpc: 26657, abci: 26658, gossip: 26659, metrics: 26660 }
    }
}

impl NodeConfig {
    pub fn new(moniker: &str, ports: Ports) -> NodeConfig {
        NodeConfig {
            moniker: moniker.into(),
            rpc: RpcSection { laddr: format!("tcp://127.0.0.1:{}", ports.rpc), ..Default::default() },
            p2p: P2pSection { laddr: format!("tcp://127.0.0.1:{}", ports.p2p), ..Default::default() },
            mempool: MempoolSection { gossip_laddr: format!("tcp://127.0.0.1:{}", ports.gossip), ..Default::default() },
            consensus: ConsensusSection::default(),
            instrumentation: InstrumentationSection {
                prometheus: true,
                prometheus_listen_addr: format!("127.0.0.1:{}", ports.metrics),
            },
            abci: AbciSection { laddr: format!("tcp://127.0.0.1:{}", ports.abci) },
            storage: StorageSection::default(),
        }
    }
}
