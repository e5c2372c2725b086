//! `kawase-relayer`: carries settlement packets between a Financial Zone
//! and a Business Zone. It is untrusted by design: every packet it submits
//! is checked by the receiving zone's light client and a Merkle proof.
//! It keeps no state of its own beyond the path identifiers: what is
//! pending is read from the chains on every pass.
mod chain;
mod keys;
mod lookup;
mod metrics;
mod path;
mod recover;
mod relay;
mod report;
mod resume;
mod share;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Parser, Subcommand};
use kawase_client::{Key, KeyKind};
use kawase_tls::ClientTls;

use crate::chain::Chain;
use crate::metrics::Metrics;
use crate::path::{Outcome, PathFile, PathIds};
use crate::report::Output;

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
    /// Create (or finish creating) the whole path: `create-clients`,
    /// `create-connection` and `create-channel` in turn. Prints the
    /// identifiers as JSON.
    CreatePath,
    /// Step 1: the FZ's light client of the BZ and the BZ's of the FZ.
    CreateClients,
    /// Step 2: the connection between the two clients.
    CreateConnection,
    /// Step 3: the settlement channel on the connection.
    CreateChannel,
    /// List the paths: identifiers and each end's state on chain.
    Paths {
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Status, latest height and expiry of both light clients.
    Clients {
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Relay packets, acknowledgements and timeouts until stopped.
    Start,
    /// Print the path and its clients' heights.
    ShowPath {
        #[arg(long, short, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
    /// Print the packets each zone has sent and not yet seen acknowledged.
    Pending {
        #[arg(long, short, value_enum, default_value_t = Output::Json)]
        output: Output,
    },
    /// Update the light client living on one zone to the counterparty's
    /// latest height.
    UpdateClient {
        /// The zone whose client to update.
        #[arg(long, value_enum)]
        zone: ZoneName,
    },
    /// Update both light clients to the counterparty's latest height.
    UpdateClients,
    /// Revive the path's expired or frozen client on one zone: create a
    /// substitute client with the relayer key, then recover the path's
    /// client from it with the zone admin's key (docs/operators.md).
    RecoverClient {
        /// The zone whose client to recover.
        #[arg(long, value_enum)]
        zone: ZoneName,
        /// That zone's admin key (keystore file or plain key file).
        #[arg(long)]
        admin_key_file: PathBuf,
        /// First line unlocks an encrypted admin key file.
        #[arg(long)]
        admin_passphrase_file: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ZoneName {
    Fz,
    Bz,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneConfig {
    chain_id: String,
    rpc: String,
    /// Key file, relative to the config file: a keystore file of
    /// `kawased keys` (encrypted; needs `passphrase_file` or
    /// KAWASE_PASSPHRASE[_FILE]), or a plain `kawased init` key file.
    key_file: PathBuf,
    /// File whose first line unlocks an encrypted `key_file`.
    #[serde(default)]
    passphrase_file: Option<PathBuf>,
    /// CA certificate (PEM) that issued the zone's TLS certificate, for an
    /// `https://` rpc; relative to the config file.
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for a zone that requires mutual TLS.
    #[serde(default)]
    client_cert: Option<PathBuf>,
    #[serde(default)]
    client_key: Option<PathBuf>,
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
    /// TLS for `/metrics` (PEM, relative to the config file); required
    /// when `metrics_laddr` is not a loopback address.
    #[serde(default)]
    metrics_cert_file: Option<PathBuf>,
    #[serde(default)]
    metrics_key_file: Option<PathBuf>,
    /// Mutual TLS for `/metrics`: scrapers need a certificate of this CA.
    #[serde(default)]
    metrics_client_ca_file: Option<PathBuf>,
    /// This relayer's share of the path when several relay it (each with
    /// its own key): `share = { index = 0, of = 2 }` and `{ index = 1, of =
    /// 2 }`. Default: everything.
    #[serde(default)]
    share: share::Share,
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

/// The first line of a passphrase file, else KAWASE_PASSPHRASE_FILE, else KAWASE_PASSPHRASE.
fn passphrase(file: Option<&Path>) -> Result<String> {
    let env_file = std::env::var_os("KAWASE_PASSPHRASE_FILE").map(PathBuf::from);
    if let Some(f) = file.map(Path::to_path_buf).or(env_file) {
        let text = std::fs::read_to_string(&f).with_context(|| format!("reading passphrase file {}", f.display()))?;
        return Ok(text.lines().next().unwrap_or("").to_string());
    }
    std::env::var("KAWASE_PASSPHRASE")
        .context("the key file is encrypted: set `passphrase_file` in the config, or KAWASE_PASSPHRASE_FILE")
}

fn load_key(path: &Path, passphrase_file: Option<&Path>) -> Result<Key> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading key file {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("key file {}", path.display()))?;
    if v["type"] == "kawase-key" {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path.file_stem().and_then(|s| s.to_str()).context("key file name")?;
        let pass = passphrase(passphrase_file)?;
        return kawase_client::Keystore::open(dir)?
            .load(name, &pass)
            .with_context(|| format!("key file {}", path.display()));
    }
    let kf: KeyFile = serde_json::from_value(v).with_context(|| format!("key file {}", path.display()))?;
    let seed: [u8; 32] = hex::decode(kf.secret_hex.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .with_context(|| format!("{}: secret_hex must be 64 hex characters", path.display()))?;
    Ok(Key::from_seed(kf.kind, seed)?)
}

/// The metrics listener's TLS, if the config gives it.
fn metrics_tls(config: &Config, dir: &Path) -> Result<Option<std::sync::Arc<kawase_tls::ServerTls>>> {
    match (&config.metrics_cert_file, &config.metrics_key_file) {
        (None, None) if config.metrics_client_ca_file.is_none() => Ok(None),
        (Some(cert), Some(key)) => {
            let files = kawase_tls::ServerTlsFiles {
                cert: dir.join(cert),
                key: dir.join(key),
                client_ca: config.metrics_client_ca_file.as_ref().map(|c| dir.join(c)),
            };
            Ok(Some(kawase_tls::ServerTls::load(files).map_err(|e| anyhow!("metrics TLS: {e}"))?))
        }
        _ => bail!("relayer config: metrics_cert_file and metrics_key_file go together"),
    }
}

struct Setup {
    fz: Chain,
    bz: Chain,
    path_file: PathFile,
    config: Config,
}

/// A TOML error on one line: `line N: message`.
fn toml_error(file: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let msg = e.message().trim();
    match line {
        Some(l) => anyhow!("relayer config {}, line {l}: {msg}", file.display()),
        None => anyhow!("relayer config {}: {msg}", file.display()),
    }
}

fn setup(config_path: &Path) -> Result<Setup> {
    let text = match std::fs::read_to_string(config_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no relayer config at {}: pass --config FILE or set KAWASE_RELAYER_CONFIG (see docs/operators.md)",
            config_path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("reading relayer config {}", config_path.display())),
    };
    let config: Config = toml::from_str(&text).map_err(|e| toml_error(config_path, &text, &e))?;
    config.share.check().map_err(|e| anyhow!("relayer config {}: {e}", config_path.display()))?;
    let dir = config_path.parent().unwrap_or(Path::new("."));
    let key =
        |z: &ZoneConfig| load_key(&dir.join(&z.key_file), z.passphrase_file.as_ref().map(|p| dir.join(p)).as_deref());
    let tls = |z: &ZoneConfig, name: &str| -> Result<ClientTls> {
        let identity = match (&z.client_cert, &z.client_key) {
            (Some(c), Some(k)) => Some((dir.join(c), dir.join(k))),
            (None, None) => None,
            _ => bail!("relayer config {}: [{name}] needs both client_cert and client_key", config_path.display()),
        };
        Ok(ClientTls { ca: z.ca_file.as_ref().map(|p| dir.join(p)), identity })
    };
    let fz = Chain::new("fz", config.fz.chain_id.clone(), &config.fz.rpc, &tls(&config.fz, "fz")?, key(&config.fz)?)?;
    let bz = Chain::new("bz", config.bz.chain_id.clone(), &config.bz.rpc, &tls(&config.bz, "bz")?, key(&config.bz)?)?;
    let path_file = PathFile(dir.join(config.path_file.clone().unwrap_or_else(|| PathBuf::from("path.json"))));
    Ok(Setup { fz, bz, path_file, config })
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    // Under `kawased devnet`: exit when the devnet is gone (the relayer's
    // progress is on the chains, so stopping at any point is safe).
    kawase_client::stop_when_supervisor_is_gone(std::time::Duration::ZERO, || {});
    if let Err(e) = run(cli).await {
        // One line, whatever the error's sources print.
        let msg = format!("{e:#}");
        let line: Vec<&str> = msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        eprintln!("error: {}", line.join(" "));
        std::process::exit(1);
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let Setup { mut fz, mut bz, path_file, config } = setup(&cli.config)?;
    let config_dir = cli.config.parent().unwrap_or(Path::new("."));
    let file = path_file.path().display().to_string();
    match cli.command {
        Cmd::CreatePath => {
            let ids = path::create_path(&mut fz, &mut bz, &path_file).await?;
            print_json(&ids)?;
        }
        Cmd::CreateClients => {
            let mut ids = path_file.load_or_default()?;
            let o = path::create_clients(&mut fz, &mut bz, &mut ids, &path_file).await?;
            let what = if o == Outcome::Existing { "clients exist already" } else { "clients created" };
            println!(
                "{what}: {} on the FZ (of {}), {} on the BZ (of {}); recorded in {file}",
                ids.fz_client, bz.chain_id, ids.bz_client, fz.chain_id
            );
        }
        Cmd::CreateConnection => {
            let mut ids = path_file.load_or_default()?;
            let o = path::create_connection(&mut fz, &mut bz, &mut ids, &path_file).await?;
            let what = if o == Outcome::Existing { "connection exists already" } else { "connection open" };
            println!(
                "{what}: {} on the FZ, {} on the BZ (clients {} / {}); recorded in {file}",
                ids.fz_connection, ids.bz_connection, ids.fz_client, ids.bz_client
            );
        }
        Cmd::CreateChannel => {
            let mut ids = path_file.load_or_default()?;
            let o = path::create_channel(&mut fz, &mut bz, &mut ids, &path_file).await?;
            let what = if o == Outcome::Existing { "channel exists already" } else { "channel open" };
            println!(
                "{what}: {port}/{} on the FZ, {port}/{} on the BZ (connections {} / {}); recorded in {file}",
                ids.fz_channel,
                ids.bz_channel,
                ids.fz_connection,
                ids.bz_connection,
                port = kawase_ibc::SETTLEMENT_PORT
            );
        }
        Cmd::Paths { output } => {
            let ids = path_file.load()?;
            let paths = vec![report::path_report(&fz, &bz, &ids, path_file.path()).await?];
            match output {
                Output::Json => print_json(&paths)?,
                Output::Text => println!("{}", report::paths_text(&paths)),
            }
        }
        Cmd::Clients { output } => {
            let ids = path_file.load_clients()?;
            let clients = vec![
                report::client_report(&fz, &ids.fz_client).await?,
                report::client_report(&bz, &ids.bz_client).await?,
            ];
            match output {
                Output::Json => print_json(&clients)?,
                Output::Text => println!("{}", report::clients_text(&clients)),
            }
        }
        Cmd::ShowPath { output } => {
            let ids = path_file.load_complete()?;
            let fz_client = path::client_height(&fz, &ids.fz_client).await?;
            let bz_client = path::client_height(&bz, &ids.bz_client).await?;
            let (fz_height, bz_height) = (fz.height().await?, bz.height().await?);
            match output {
                Output::Json => print_json(&serde_json::json!({
                    "path": ids,
                    "fz_client_height_of_bz": fz_client,
                    "bz_client_height_of_fz": bz_client,
                    "fz_height": fz_height,
                    "bz_height": bz_height,
                }))?,
                Output::Text => {
                    let row = |c: &Chain, h: u64, client: &str, ch: u64, conn: &str, chan: &str| {
                        vec![
                            c.label(),
                            c.chain_id.clone(),
                            h.to_string(),
                            client.to_owned(),
                            ch.to_string(),
                            conn.to_owned(),
                            chan.to_owned(),
                        ]
                    };
                    println!("path file {file}");
                    println!(
                        "{}",
                        report::table(
                            &["ZONE", "CHAIN ID", "HEIGHT", "CLIENT", "CLIENT HEIGHT", "CONNECTION", "CHANNEL"],
                            &[
                                row(&fz, fz_height, &ids.fz_client, fz_client, &ids.fz_connection, &ids.fz_channel),
                                row(&bz, bz_height, &ids.bz_client, bz_client, &ids.bz_connection, &ids.bz_channel),
                            ],
                        )
                    );
                }
            }
        }
        Cmd::Pending { output } => {
            let ids = path_file.load_complete()?;
            let mut out = serde_json::Map::new();
            let mut rows = Vec::new();
            for (chain, channel) in [(&fz, &ids.fz_channel), (&bz, &ids.bz_channel)] {
                let (v, _) = chain.query("/ibc/packet_commitments", channel.as_bytes().to_vec(), 0).await?;
                let seqs: Vec<u64> = serde_json::from_slice(&v)?;
                let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
                rows.push(vec![chain.label(), channel.clone(), seqs.len().to_string(), list.join(" ")]);
                out.insert(format!("{}_sent_unacknowledged", chain.name), serde_json::json!(seqs));
            }
            match output {
                Output::Json => print_json(&out)?,
                Output::Text => {
                    println!("{}", report::table(&["ZONE", "CHANNEL", "SENT, NOT ACKNOWLEDGED", "SEQUENCES"], &rows))
                }
            }
        }
        Cmd::UpdateClient { zone } => {
            let ids = path_file.load_clients()?;
            let (dst, client, src) = match zone {
                ZoneName::Fz => (&mut fz, &ids.fz_client, &bz),
                ZoneName::Bz => (&mut bz, &ids.bz_client, &fz),
            };
            update_one(dst, client, src).await?;
        }
        Cmd::UpdateClients => {
            let ids = path_file.load_clients()?;
            update_one(&mut fz, &ids.fz_client, &bz).await?;
            update_one(&mut bz, &ids.bz_client, &fz).await?;
        }
        Cmd::RecoverClient { zone, admin_key_file, admin_passphrase_file } => {
            let ids = path_file.load_clients()?;
            let admin = load_key(&admin_key_file, admin_passphrase_file.as_deref())?;
            let (host, subject, tracked) = match zone {
                ZoneName::Fz => (&mut fz, &ids.fz_client, &bz),
                ZoneName::Bz => (&mut bz, &ids.bz_client, &fz),
            };
            let substitute = recover::recover_client(host, subject, tracked, admin).await?;
            println!(
                "{} client {subject} (of {}) recovered from substitute {substitute}",
                host.label(),
                tracked.chain_id
            );
        }
        Cmd::Start => {
            let ids = path_file.load_complete()?;
            let metrics = Metrics::default();
            // Kept for the life of the process.
            let _metrics_server = match &config.metrics_laddr {
                Some(addr) => {
                    let addr: std::net::SocketAddr = addr.parse().context("metrics_laddr")?;
                    let tls = metrics_tls(&config, config_dir)?;
                    Some(metrics::serve(addr, tls, metrics.clone()).await.context("metrics listener")?)
                }
                None => None,
            };
            println!("relaying {} <-> {} on {} / {}", fz.chain_id, bz.chain_id, ids.fz_channel, ids.bz_channel);
            println!("ready");
            relay_forever(&fz, &bz, &ids, &config, &metrics).await;
        }
    }
    Ok(())
}

/// Updates `dst`'s client of `src` and says what it did.
async fn update_one(dst: &mut Chain, client: &str, src: &Chain) -> Result<()> {
    let (before, after) = path::update_client(dst, client, src).await?;
    let rev = path::revision(&src.chain_id)?;
    if after > before {
        println!("{} client {client} (of {}) updated: {rev}-{before} -> {rev}-{after}", dst.label(), src.chain_id);
    } else {
        println!("{} client {client} (of {}) is up to date at {rev}-{before}", dst.label(), src.chain_id);
    }
    Ok(())
}

/// Both lanes side by side until the process ends: the FZ's (what the FZ
/// must receive, and acks and timeouts of its own packets) and the BZ's.
async fn relay_forever(fz: &Chain, bz: &Chain, ids: &PathIds, config: &Config, metrics: &Metrics) {
    let idle = Duration::from_millis(config.poll_interval_ms);
    let refresh = Duration::from_secs(config.client_refresh_secs);
    // Packets each zone sent that the other lane found expired.
    let (expired_fz, expired_bz) = (relay::Expired::default(), relay::Expired::default());
    let fz_lane = relay::Lane {
        home: fz,
        away: bz,
        home_channel: &ids.fz_channel,
        away_channel: &ids.bz_channel,
        client_on_home: &ids.fz_client,
    };
    let bz_lane = relay::Lane {
        home: bz,
        away: fz,
        home_channel: &ids.bz_channel,
        away_channel: &ids.fz_channel,
        client_on_home: &ids.bz_client,
    };
    tokio::join!(
        relay::run(fz_lane, config.share, &expired_bz, &expired_fz, idle, refresh, metrics),
        relay::run(bz_lane, config.share, &expired_fz, &expired_bz, idle, refresh, metrics),
    );
}
