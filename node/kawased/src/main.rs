//! `kawased`: the Kawase zone node.
mod audit;
mod config;
mod demo;
mod devnet;
mod devnet_preflight;
mod genesis_cmd;
mod home;
mod keys;
mod node_client;
mod output;
mod rejoin;
mod rpc;
mod start;
mod tls;
mod txcmd;
mod txlist;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use kawase_app::{App, AppConfig, Zone};

/// Where a newcomer goes from any help page.
const NEW_HERE: &str = "New here? `kawased devnet` runs a local FZ + BZ + relayer with demo banks and customers \
and prints the next commands to try; README.md's \"A five-minute tour\" goes on from there, \
docs/banks.md walks every transaction and query, docs/operators.md runs a real zone.";

#[derive(Parser)]
#[command(
    name = "kawased",
    version,
    about = "Kawase zone node: tokenized yen deposits on a Financial Zone and Business Zones",
    after_help = NEW_HERE
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ZoneArg {
    Fz,
    Bz,
}

impl From<ZoneArg> for Zone {
    fn from(z: ZoneArg) -> Zone {
        match z {
            ZoneArg::Fz => Zone::Fz,
            ZoneArg::Bz => Zone::Bz,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a node home: config, node and validator keys, an admin key and a single-validator genesis.
    Init {
        #[arg(long)]
        home: PathBuf,
        #[arg(long)]
        chain_id: String,
        #[arg(long, value_enum)]
        zone: ZoneArg,
        #[arg(long, default_value = "node0")]
        moniker: String,
        /// Put the admin key into the encrypted keystore (--keyring-dir, passphrase from
        /// --passphrase-file, KAWASE_PASSPHRASE or the terminal) instead of a plain keys/admin.json.
        #[arg(long)]
        keystore: bool,
        /// The admin key's name in the keystore (with --keystore).
        #[arg(long, default_value = "admin", requires = "keystore")]
        admin_key_name: String,
        #[command(flatten)]
        keyring: keys::KeyringOpts,
    },
    /// Run the zone node: consensus (Malachite), block store, mempool, JSON-RPC and metrics.
    #[command(after_help = NEW_HERE)]
    Start {
        #[arg(long)]
        home: PathBuf,
    },
    /// Create N validator homes under DIR sharing one genesis, peered on loopback ports.
    Testnet {
        #[arg(long, default_value_t = 4)]
        validators: u16,
        #[arg(long)]
        output: PathBuf,
        #[arg(long, default_value = "kawase-testnet")]
        chain_id: String,
        #[arg(long, value_enum, default_value = "fz")]
        zone: ZoneArg,
        /// Node i listens on base+10i (p2p), +1 (rpc), +2 (abci), +3 (gossip), +4 (metrics).
        #[arg(long, default_value_t = 26656)]
        base_port: u16,
        /// BZ only: the chain id of the FZ whose settlement channel this BZ
        /// accepts (genesis `settlement.fz`); without it no channel opens.
        #[arg(long)]
        fz_chain_id: Option<String>,
        /// One host per validator (IP address or DNS name, comma-separated;
        /// a host may repeat): node i listens on hosts[i] and its peers dial
        /// it there. Nodes on separate hosts use the same ports. Default:
        /// all on 127.0.0.1.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// TLS 1.3 on every node's RPC and metrics, with certificates of a
        /// CA made in DIR/tls (kept and reused if it is there). On by
        /// itself when a host is not a loopback address.
        #[arg(long)]
        tls: bool,
        /// Mutual TLS: nodes also require a client certificate of that CA;
        /// DIR/tls/clients/ gets one for an operator and one for a relayer.
        #[arg(long)]
        mutual_tls: bool,
    },
    /// Serve the application to an external CometBFT over the ABCI socket protocol.
    Abci {
        #[arg(long)]
        home: PathBuf,
        /// Listen address; defaults to `[abci] laddr` of config.toml (tcp://127.0.0.1:26658).
        #[arg(long)]
        laddr: Option<String>,
    },
    /// Run a local FZ and BZ (validators, demo banks and customers, relayer) until Ctrl-C.
    #[command(after_help = NEW_HERE)]
    Devnet(devnet::DevnetArgs),
    /// Manage keys in the encrypted keystore.
    #[command(after_help = NEW_HERE)]
    Keys {
        #[command(flatten)]
        out: output::OutputOpts,
        #[command(flatten)]
        keyring: keys::KeyringOpts,
        #[command(subcommand)]
        cmd: keys::KeysCmd,
    },
    /// Sign and send a transaction (waits until it is committed).
    #[command(after_help = NEW_HERE)]
    Tx {
        #[command(flatten)]
        out: output::OutputOpts,
        #[command(flatten)]
        keyring: keys::KeyringOpts,
        #[command(flatten)]
        node: txcmd::NodeOpts,
        #[command(subcommand)]
        cmd: txcmd::TxCmd,
    },
    /// Query a node's state.
    #[command(alias = "q")]
    #[command(after_help = NEW_HERE)]
    Query {
        #[command(flatten)]
        out: output::OutputOpts,
        #[command(flatten)]
        keyring: keys::KeyringOpts,
        #[command(flatten)]
        node: txcmd::NodeOpts,
        #[command(subcommand)]
        cmd: txcmd::QueryCmd,
    },
    /// Build and check genesis files.
    Genesis {
        #[command(flatten)]
        out: output::OutputOpts,
        #[command(subcommand)]
        cmd: genesis_cmd::GenesisCmd,
    },
    /// Check an audit log (a node's, a keystore's).
    Audit {
        #[command(flatten)]
        out: output::OutputOpts,
        #[command(subcommand)]
        cmd: audit::AuditCmd,
    },
    /// Run the payment tour on a local zone state (in-process block driver, real RocksDB).
    Demo {
        /// Where to keep the demo state; a fresh temporary directory by default.
        #[arg(long)]
        home: Option<PathBuf>,
    },
}

/// Logs go to stderr; `RUST_LOG` overrides the default filter, which keeps
/// Malachite's per-step chatter at warn.
fn init_tracing(extra: &str) {
    use std::io::IsTerminal;
    let default = format!("info,informalsystems_malachitebft=warn,libp2p=warn{extra}");
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into()))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    if let Err(e) = run(cli) {
        // One line a user can act on; the chain of causes joined by `: `.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Help and version print as clap renders them; a usage mistake becomes
/// one line (what is wrong, then where to look) and exit code 2.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let what: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect();
    let line = what.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("error: {line} (see --help)");
    std::process::exit(2);
}

/// The CLI's async commands run on a small runtime of their own.
fn block_on<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

/// Peers name a node by this id, so `init` prints it where an operator looks.
fn print_node_id(h: &home::Home) -> Result<()> {
    println!("node id: {} (peers name this node `ID@HOST:PORT` in persistent_peers and gossip_peers)", h.node_id()?);
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keys { out, keyring, cmd } => return keys::run(cmd, &keyring, out.output),
        Command::Tx { out, keyring, node, cmd } => return block_on(txcmd::run_tx(cmd, &keyring, &node, out.output)),
        Command::Query { out, keyring, node, cmd } => {
            return block_on(txcmd::run_query(cmd, &keyring, &node, out.output))
        }
        Command::Genesis { out, cmd } => return genesis_cmd::run(cmd, out.output),
        Command::Audit { out, cmd } => return audit::run(cmd, out.output),
        _ => {}
    }
    // A validator without peers has no one to gossip to; Malachite reports
    // every such publish as an error.
    let solo = match &cli.command {
        Command::Start { home } => {
            home::Home::new(home).load_config().map(|c| c.p2p.persistent_peers.trim().is_empty()).unwrap_or(false)
        }
        _ => false,
    };
    init_tracing(if solo { ",informalsystems_malachitebft_network=off" } else { "" });
    match cli.command {
        Command::Init { home, chain_id, zone, moniker, keystore, admin_key_name, keyring } => {
            let zone: Zone = zone.into();
            let h = home::Home::new(&home);
            if keystore {
                let ks = keyring.keystore()?;
                let pass = keyring.new_passphrase(&format!("the new key `{admin_key_name}`"))?;
                h.init(&chain_id, zone, &moniker, Some((&ks, &admin_key_name, &pass)))?;
                println!("initialised {} zone `{chain_id}` in {}", zone.as_str(), home.display());
                print_node_id(&h)?;
                println!("admin key: `{admin_key_name}` in the keystore {} (encrypted)", ks.dir().display());
            } else {
                h.init(&chain_id, zone, &moniker, None)?;
                println!("initialised {} zone `{chain_id}` in {}", zone.as_str(), home.display());
                print_node_id(&h)?;
                println!(
                    "admin key: {} (plain text, 0600; `kawased init --keystore` encrypts it instead)",
                    h.keys_dir().join("admin.json").display()
                );
            }
            println!("next: kawased start --home {}", home.display());
            Ok(())
        }
        Command::Abci { home, laddr } => {
            let h = home::Home::new(&home);
            let config = h.load_config()?;
            let genesis = h.load_genesis()?;
            let laddr = laddr.unwrap_or(config.abci.laddr);
            let addr = laddr.strip_prefix("tcp://").unwrap_or(&laddr).to_string();
            let mut app_config = AppConfig::new(h.state_dir());
            app_config.keep_recent = (config.storage.keep_recent > 0).then_some(config.storage.keep_recent);
            let app = App::open(app_config).context("opening state")?;
            let committed = app.committed()?;
            tracing::info!(chain_id = %genesis.chain_id, height = committed.height, app_hash = %hex::encode_upper(committed.app_hash), "state opened");
            let server = tendermint_abci::ServerBuilder::default()
                .bind(addr.as_str(), app)
                .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
            // Tests and scripts read this line to learn the bound port.
            println!("abci listening on tcp://{}", server.local_addr());
            server.listen().map_err(|e| anyhow::anyhow!("abci server: {e}"))?;
            Ok(())
        }
        Command::Demo { home } => demo::run(home),
        Command::Devnet(args) => devnet::run(args),
        Command::Keys { .. }
        | Command::Tx { .. }
        | Command::Query { .. }
        | Command::Genesis { .. }
        | Command::Audit { .. } => {
            unreachable!("handled above")
        }
        Command::Start { home } => start::run(&home),
        Command::Testnet { validators, output, chain_id, zone, base_port, fz_chain_id, hosts, tls, mutual_tls } => {
            let beyond_loopback = hosts.iter().any(|h| !tls::is_loopback_host(h));
            let layout = if hosts.is_empty() {
                config::TestnetLayout::loopback(validators, base_port)?
            } else {
                config::TestnetLayout::on_hosts(validators, base_port, &hosts)?
            };
            let homes = home::testnet(&output, &layout, &chain_id, zone.into())?;
            if let Some(fz) = fz_chain_id {
                home::name_fz_counterparty(&homes, &fz)?;
            }
            if tls || mutual_tls || beyond_loopback {
                let hosts: Vec<String> =
                    if hosts.is_empty() { vec!["127.0.0.1".to_owned(); homes.len()] } else { hosts.clone() };
                let pairs: Vec<(&home::Home, &str)> = homes.iter().zip(hosts.iter().map(String::as_str)).collect();
                let clients: &[&str] = if mutual_tls { &["operator", "relayer"] } else { &[] };
                let ca_dir = output.join("tls");
                tls::provision(&ca_dir, &pairs, mutual_tls, clients)?;
                println!(
                    "TLS 1.3{}: CA certificate {} (give it to clients as --ca-file / ca_file)",
                    if mutual_tls { " with client certificates" } else { "" },
                    ca_dir.join("ca.crt").display()
                );
            }
            for h in &homes {
                let c = h.load_config()?;
                println!(
                    "{}  rpc {}  p2p {}  gossip {}",
                    h.root.display(),
                    c.rpc.laddr,
                    c.p2p.laddr,
                    c.mempool.gossip_laddr
                );
            }
            println!("start each with: kawased start --home DIR/nodeN");
            Ok(())
        }
    }
}
