//! `kawased start`: the zone node in one process: the app on RocksDB,
//! Malachite consensus, the block store, mempool and its gossip, JSON-RPC
//! and metrics.
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use kawase_app::{App, AppConfig};
use kawase_audit::{kind, Event};
use kawase_consensus::mempool::{Mempool, MempoolConfig};
use kawase_consensus::types::{PrivateKey, PublicKey, Validator, ValidatorSet};
use kawase_consensus::NodeSettings;
use malachitebft_app_channel::app::config::TimeoutConfig;

use kawase_consensus::gossip::{frame_limit, GossipConfig};

use crate::config::{parse_duration, parse_gossip_peers, parse_laddr, parse_peers};
use crate::home::Home;

pub fn run(home: &Path) -> Result<()> {
    let h = Home::new(home);
    let config = h.load_config()?;
    let genesis = h.load_genesis()?;
    // Before anything acts: no audit trail, no node.
    let audit = crate::audit::open_node(&h.root, &config.audit)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kawased")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut validators = Vec::new();
        for v in &genesis.validators {
            let Some(pk) = v.pub_key.ed25519() else { bail!("genesis validator {} is not ed25519", v.address) };
            let bytes = <[u8; 32]>::try_from(pk.as_bytes()).context("validator key")?;
            validators.push(Validator::new(PublicKey(bytes), v.power.value()));
        }
        if validators.is_empty() {
            bail!("genesis has no validators");
        }
        let validators = ValidatorSet::new(validators);

        let mut app_config = AppConfig::new(h.state_dir());
        app_config.keep_recent = (config.storage.keep_recent > 0).then_some(config.storage.keep_recent);
        let app = App::open(app_config).context("opening state")?;

        let node_key = h.load_node_key()?;
        let max_block_bytes = genesis.consensus_params.block.max_bytes;
        let (gossip_tx, gossip_rx) = tokio::sync::mpsc::unbounded_channel();
        let mempool = Arc::new(Mempool::new(
            app.clone(),
            MempoolConfig {
                max_txs: config.mempool.size,
                max_bytes: config.mempool.max_txs_bytes,
                max_tx_bytes: config.mempool.max_tx_bytes,
            },
            Some(gossip_tx),
        ));

        let peers = parse_peers(&config.p2p.persistent_peers)?;
        let rejoin_after = parse_duration(&config.p2p.rejoin_after).context("[p2p] rejoin_after")?;
        let node_id = h.node_id()?;
        let c = &config.consensus;
        let timeout_commit = parse_duration(&c.timeout_commit)?;
        let timeouts = TimeoutConfig {
            timeout_propose: parse_duration(&c.timeout_propose)?,
            timeout_prevote: parse_duration(&c.timeout_prevote)?,
            timeout_precommit: parse_duration(&c.timeout_precommit)?,
            ..TimeoutConfig::default()
        };
        let settings = NodeSettings {
            moniker: config.moniker.clone(),
            data_dir: h.root.join("data"),
            chain_id: genesis.chain_id.clone(),
            genesis_time: genesis.genesis_time,
            app_state_bytes: serde_json::to_vec(&genesis.app_state)?,
            consensus_params: genesis.consensus_params.clone(),
            validators,
            validator_key: PrivateKey(h.load_validator_key()?),
            node_key,
            p2p_laddr: parse_laddr(&config.p2p.laddr)?,
            persistent_peers: peers.clone(),
            timeouts,
            timeout_commit,
            max_clock_drift: parse_duration(&c.max_clock_drift)?,
        };
        let running = kawase_consensus::start(settings, app, mempool.clone()).await?;
        let shared = running.shared.clone();

        let m = &config.mempool;
        let mut gossip = GossipConfig::new(
            parse_laddr(&m.gossip_laddr)?,
            genesis.chain_id.as_str(),
            node_key,
            parse_gossip_peers(&m.gossip_peers).context("[mempool] gossip_peers")?,
        );
        gossip.max_inbound = m.gossip_max_connections;
        gossip.max_inbound_per_ip = m.gossip_max_connections_per_ip;
        gossip.max_frame = frame_limit(m.max_tx_bytes, max_block_bytes);
        gossip.stats = shared.metrics.gossip.clone();
        let gossip_addr =
            kawase_consensus::gossip::start(gossip, mempool, gossip_rx, shared.metrics.gossip_peers.clone())
                .await
                .context("binding the mempool gossip port")?;

        let tls = config.tls.server(&h.root)?;
        let scheme = if tls.is_some() { "https" } else { "tcp" };
        let rpc = crate::rpc::serve(&config, shared.clone(), node_id.clone(), tls.clone()).await?;
        let rpc_addr = rpc.local_addr();
        let listener_stats = Arc::new(std::sync::OnceLock::new());
        let mut listeners = vec![("rpc", rpc)];
        if config.instrumentation.prometheus {
            let laddr = parse_laddr(&config.instrumentation.prometheus_listen_addr)?;
            let m = crate::rpc::serve_metrics(
                laddr,
                shared.clone(),
                tls.clone(),
                listener_stats.clone(),
                audit.health.clone(),
            )
            .await?;
            listeners.push(("metrics", m));
        }
        let metrics_addr = listeners.get(1).map(|(_, m)| m.local_addr());
        let _ = listener_stats.set(listeners.iter().map(|(n, l)| (*n, l.stats())).collect());
        let mutual = tls.as_ref().is_some_and(|t| t.is_mutual());
        if let Some(tls) = tls {
            crate::tls::reload_on_hangup(tls, audit.clone())?;
        }
        audit.watch_chain();
        crate::audit::sweep_tls_failures(audit.clone(), listeners.iter().map(|(n, l)| (*n, l.stats())).collect());
        audit.record(
            Event::new(kind::NODE_START, crate::audit::local_actor())
                .detail("chain_id", genesis.chain_id.as_str())
                .detail("moniker", config.moniker.as_str())
                .detail("node_id", node_id.as_str())
                .detail("version", env!("CARGO_PKG_VERSION"))
                .detail("rpc", format!("{scheme}://{rpc_addr}"))
                .detail(
                    "tls",
                    if mutual {
                        "mutual"
                    } else if scheme == "https" {
                        "on"
                    } else {
                        "off"
                    },
                ),
        );
        let stopped = |reason: &str, result: Result<()>| -> Result<()> {
            let mut event = Event::new(kind::NODE_STOP, crate::audit::local_actor()).detail("reason", reason);
            if let Err(e) = &result {
                event = event.failed().detail("error", format!("{e:#}"));
            }
            audit.record(event);
            result
        };
        // Tests and scripts read these lines; whoever reads them may close
        // the pipe afterwards, which must not stop the node.
        let mut lines = vec![
            format!("kawased started: chain {} moniker {}", genesis.chain_id, config.moniker),
            format!("rpc listening on {scheme}://{rpc_addr}"),
            format!("gossip listening on tcp://{gossip_addr}"),
        ];
        if let Some(m) = metrics_addr {
            let scheme = if scheme == "https" { "https" } else { "http" };
            lines.push(format!("metrics listening on {scheme}://{m}/metrics"));
        }
        lines.push("ready".into());
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
            let _ = out.flush();
        }

        use tokio::signal::unix::{signal, SignalKind};
        let (mut term, mut int) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
        let round = timeouts.timeout_propose + timeouts.timeout_prevote + timeouts.timeout_precommit + timeout_commit;
        let rejoin_wait = crate::rejoin::configured_wait(rejoin_after, round, &node_id);
        // Under `kawased devnet`: stop when the devnet is gone, even if it
        // was SIGKILLed (exits anyway after 800 ms; a kill is safe by the
        // crash order in kawase-consensus's commit.rs).
        let (gone_tx, gone_rx) = tokio::sync::oneshot::channel::<()>();
        kawase_client::stop_when_supervisor_is_gone(std::time::Duration::from_millis(800), move || {
            let _ = gone_tx.send(());
        });
        let attempt = tokio::select! {
            // Only a sent value counts: unsupervised, the sender is dropped.
            Ok(()) = gone_rx => {
                tracing::info!("the devnet that started this node is gone; stopping");
                return stopped("supervisor gone", Ok(()))
            }
            r = running.driver => {
                return stopped("consensus ended", match r {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(anyhow::anyhow!("consensus stopped: {e}")),
                    Err(e) => Err(anyhow::anyhow!("consensus task: {e}")),
                })
            }
            attempt = crate::rejoin::due(shared.clone(), peers, rejoin_wait) => attempt,
            _ = int.recv() => { tracing::info!("interrupted; stopping"); return stopped("SIGINT", Ok(())) }
            _ = term.recv() => { tracing::info!("terminated; stopping"); return stopped("SIGTERM", Ok(())) }
        };
        // A stop asked for while the peers were probed wins over the restart.
        tokio::task::yield_now().await;
        let asked = |s: &mut tokio::signal::unix::Signal| {
            use std::task::{Context, Poll};
            matches!(s.poll_recv(&mut Context::from_waker(std::task::Waker::noop())), Poll::Ready(_))
        };
        if asked(&mut term) || asked(&mut int) {
            tracing::info!("terminated; stopping instead of restarting");
            return stopped("SIGTERM", Ok(()));
        }
        let _ = stopped("restart in place to rejoin", Ok(()));
        // No graceful stop first: other threads keep working until the exec
        // ends them all at once, which is a kill as far as the stores are
        // concerned (safe by the crash order), and nothing can slip a
        // signal in between.
        Err(crate::rejoin::restart_in_place(attempt)).context("restarting in place to rejoin")
    })
}
