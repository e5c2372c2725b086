//! `kawased`: the Kawase zone node.
mod demo;
mod home;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use kawase_app::{App, AppConfig, Zone};

#[derive(Parser)]
#[command(
    name = "kawased",
    version,
    about = "Kawase zone node: tokenized yen deposits on a Financial Zone and Business Zones"
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
    },
    /// Serve the application to CometBFT over the ABCI socket protocol.
    Abci {
        #[arg(long)]
        home: PathBuf,
        /// Listen address; defaults to `[abci] laddr` of config.toml (tcp://127.0.0.1:26658).
        #[arg(long)]
        laddr: Option<String>,
    },
    /// Run the payment tour on a local zone state (in-process block driver, real RocksDB).
    Demo {
        /// Where to keep the demo state; a fresh temporary directory by default.
        #[arg(long)]
        home: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Init { home, chain_id, zone, moniker } => {
            let zone = match zone {
                ZoneArg::Fz => Zone::Fz,
                ZoneArg::Bz => Zone::Bz,
            };
            let h = home::Home::new(&home);
            h.init(&chain_id, zone, &moniker)?;
            println!("initialised {} zone `{chain_id}` in {}", zone.as_str(), home.display());
            println!("admin key: {}", h.keys_dir().join("admin.json").display());
            println!("next: kawased abci --home {}", home.display());
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
    }
}
