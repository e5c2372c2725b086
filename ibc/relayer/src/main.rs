//! `kawase-relayer`: carries settlement packets between a Financial Zone
//! and a Business Zone. It is untrusted by design: every packet it submits
//! is checked by the receiving zone's light client and a Merkle proof.
//! It keeps no state of its own beyond the path identifiers: what is
//! pending is read from the chains on every pass.
mod chain;
mod metrics;
mod path;
mod relay;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use kawase_client::{Key, KeyKind};

use crate::chain::Chain;
use crate::metrics::Metrics;
use crate::path::PathIds;
use crate::relay::{relay_leg, Leg};

#[derive(Parser)]
#[command(name = "kawase-relayer", version, about = "IBC relayer between a Kawase FZ and BZ")]
struct Cli {
    /// Relayer config file (TOML; see docs/operators.md).
    #[arg(long, short, env = "KAWASE_RELAYER_CONFIG", default_value = "relayer.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create both light clients, the connection and the settlement channel,
    /// and write their identifiers to the path file.
    CreatePath,
    /// Relay packets, acknowledgements and timeouts until stopped.
    Start,
    /// Print the path and its clients' heights.
    ShowPath,
    /// Print the packets each zone has sent and not yet seen acknowledged.
    Pending,
    /// Update both light clients to the counterparty's latest height.
    UpdateClients,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneConfig {
    chain_id: String,
    rpc: String,
    /// JSON key file (`kawased` key format), relative to the config file.
    key_file: PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    fz: ZoneConfig,
    bz: ZoneConfig,
    /// Where `create-path` writes the identifiers (default `path.json`
    /// beside the config).
    #[serde(default)]
    path_file: Option<PathBuf>,
    /// Pause between relay passes when nothing was pending.
    #[serde(default = "default_poll_ms")]
    poll_interval_ms: u64,
    /// Refresh both clients at least this often (client expiry guard).
    #[serde(default = "default_refresh_secs")]
    client_refresh_secs: u64,
    /// Prometheus `/metrics` listen address, e.g. `127.0.0.1:9400`.
    #[serde(default)]
    metrics_laddr: Option<String>,
}

fn default_poll_ms() -> u64 {
    200
}
fn default_refresh_secs() -> u64 {
    3600
}

#[derive(serde::Deserialize)]
struct KeyFile {
    kind: KeyKind,
    secret_hex: String,
}

fn load_key(path: &Path) -> Result<Key> {
    let kf: KeyFile = serde_json::from_str(
        &std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?,
    )
    .with_context(|| format!("key file {}", path.display()))?;
    let seed: [u8; 32] = hex::decode(kf.secret_hex.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .with_context(|| format!("{}: secret_hex must be 64 hex characters", path.display()))?;
    Ok(Key::from_seed(kf.kind, seed)?)
}

struct Setup {
    fz: Chain,
    bz: Chain,
    path_file: PathBuf,
    config: Config,
}

fn setup(config_path: &Path) -> Result<Setup> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading relayer config {}", config_path.display()))?;
    let config: Config = toml::from_str(&text).with_context(|| format!("config {}", config_path.display()))?;
    let dir = config_path.parent().unwrap_or(Path::new("."));
    let fz = Chain::new("fz", config.fz.chain_id.clone(), &config.fz.rpc, load_key(&dir.join(&config.fz.key_file))?)?;
    let bz = Chain::new("bz", config.bz.chain_id.clone(), &config.bz.rpc, load_key(&dir.join(&config.bz.key_file))?)?;
    let path_file = dir.join(config.path_file.clone().unwrap_or_else(|| PathBuf::from("path.json")));
    Ok(Setup { fz, bz, path_file, config })
}

fn read_path(file: &Path) -> Result<PathIds> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {} (run `kawase-relayer create-path` first)", file.display()))?;
    Ok(serde_json::from_str(&text)?)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let Setup { mut fz, mut bz, path_file, config } = setup(&cli.config)?;
    match cli.command {
        Cmd::CreatePath => {
            if path_file.exists() {
                bail!("{} exists: this path was created already (delete it to create a new one)", path_file.display());
            }
            let ids = path::create_path(&mut fz, &mut bz).await?;
            std::fs::write(&path_file, serde_json::to_string_pretty(&ids)? + "\n")?;
            println!("{}", serde_json::to_string_pretty(&ids)?);
        }
        Cmd::ShowPath => {
            let ids = read_path(&path_file)?;
            let fz_client = path::client_height(&fz, &ids.fz_client).await?;
            let bz_client = path::client_height(&bz, &ids.bz_client).await?;
            let out = serde_json::json!({
                "path": ids,
                "fz_client_height_of_bz": fz_client,
                "bz_client_height_of_fz": bz_client,
                "fz_height": fz.height().await?,
                "bz_height": bz.height().await?,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Cmd::Pending => {
            let ids = read_path(&path_file)?;
            let mut out = serde_json::Map::new();
            for (chain, channel) in [(&fz, &ids.fz_channel), (&bz, &ids.bz_channel)] {
                let (v, _) = chain.query("/ibc/packet_commitments", channel.as_bytes().to_vec(), 0).await?;
                let seqs: Vec<u64> = serde_json::from_slice(&v)?;
                out.insert(format!("{}_sent_unacknowledged", chain.name), serde_json::json!(seqs));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Cmd::UpdateClients => {
            let ids = read_path(&path_file)?;
            update_clients(&mut fz, &mut bz, &ids).await?;
            println!("clients updated");
        }
        Cmd::Start => {
            let ids = read_path(&path_file)?;
            let metrics = Metrics::default();
            if let Some(addr) = &config.metrics_laddr {
                let addr: std::net::SocketAddr = addr.parse().context("metrics_laddr")?;
                let listener_metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(e) = metrics::serve(addr, listener_metrics).await {
                        tracing::error!("metrics server: {e:#}");
                    }
                });
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            println!("relaying {} <-> {} on {} / {}", fz.chain_id, bz.chain_id, ids.fz_channel, ids.bz_channel);
            println!("ready");
            relay_forever(&mut fz, &mut bz, &ids, &config, &metrics).await;
        }
    }
    Ok(())
}

async fn update_clients(fz: &mut Chain, bz: &mut Chain, ids: &PathIds) -> Result<()> {
    let target = bz.height().await?;
    if let Some(m) = path::update_client_msg(fz, &ids.fz_client, bz, target).await? {
        fz.submit(vec![m]).await?;
    }
    let target = fz.height().await?;
    if let Some(m) = path::update_client_msg(bz, &ids.bz_client, fz, target).await? {
        bz.submit(vec![m]).await?;
    }
    Ok(())
}

async fn relay_forever(fz: &mut Chain, bz: &mut Chain, ids: &PathIds, config: &Config, metrics: &Metrics) {
    let idle = Duration::from_millis(config.poll_interval_ms);
    let refresh = Duration::from_secs(config.client_refresh_secs);
    let mut refreshed = Instant::now();
    loop {
        metrics.pass();
        let result = async {
            let a = relay_leg(
                Leg {
                    src: fz,
                    dst: bz,
                    src_channel: &ids.fz_channel,
                    dst_channel: &ids.bz_channel,
                    client_on_dst: &ids.bz_client,
                    client_on_src: &ids.fz_client,
                },
                metrics,
            )
            .await?;
            let b = relay_leg(
                Leg {
                    src: bz,
                    dst: fz,
                    src_channel: &ids.bz_channel,
                    dst_channel: &ids.fz_channel,
                    client_on_dst: &ids.fz_client,
                    client_on_src: &ids.bz_client,
                },
                metrics,
            )
            .await?;
            if refreshed.elapsed() >= refresh {
                update_clients(fz, bz, ids).await?;
                refreshed = Instant::now();
            }
            anyhow::Ok((a, b))
        }
        .await;
        match result {
            Ok((a, b)) => {
                if a.received + a.acked + a.timed_out + b.received + b.acked + b.timed_out > 0 {
                    tracing::info!(?a, ?b, "relayed");
                } else {
                    tokio::time::sleep(idle).await;
                }
            }
            Err(e) => {
                metrics.error();
                tracing::warn!("relay pass failed (will retry from chain state): {e:#}");
                tokio::time::sleep(idle.max(Duration::from_millis(500))).await;
            }
        }
    }
}
