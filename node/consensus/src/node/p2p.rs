//! Malachite's p2p configuration from the node's settings: listen address,
//! persistent peers, and message size limits large enough for a block.
use malachitebft_app_channel::app::config::{P2pConfig, PubSubProtocol};

use super::{NodeError, NodeSettings};

fn to_multiaddr(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v4) => format!("/ip4/{}/tcp/{}", v4.ip(), v4.port()),
        std::net::SocketAddr::V6(v6) => format!("/ip6/{}/tcp/{}", v6.ip(), v6.port()),
    }
}

pub(super) fn p2p_config(settings: &NodeSettings) -> Result<P2pConfig, NodeError> {
    let bad = |e: String| NodeError::Engine(format!("p2p address: {e}"));
    let max_block = settings.consensus_params.block.max_bytes;
    Ok(P2pConfig {
        listen_addr: to_multiaddr(&settings.p2p_laddr)
            .parse::<multiaddr::Multiaddr>()
            .map_err(|e| bad(e.to_string()))?,
        persistent_peers: settings
            .persistent_peers
            .iter()
            .map(|p| to_multiaddr(p).parse::<multiaddr::Multiaddr>().map_err(|e| bad(e.to_string())))
            .collect::<Result<_, _>>()?,
        protocol: PubSubProtocol::default(),
        // Sync responses carry whole blocks.
        rpc_max_size: bytesize::ByteSize::b(max_block + (4 << 20)),
        pubsub_max_size: bytesize::ByteSize::mib(4),
        ..P2pConfig::default()
    })
}
