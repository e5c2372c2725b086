//! `kawased devnet`: an FZ and a BZ with their validators, two demo banks,
//! demo customers with keys in an encrypted keystore, and the relayer with
//! its path, all as real processes on loopback, until Ctrl-C. A second run
//! on the same data directory resumes the same chains.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use kawase_accounts::{AccountGenesis, BankGenesis, Role};
use kawase_app::Zone;
use kawase_client::{Key, KeyKind, Keystore};
use kawase_primitives::Address;
use kawase_tls::ClientTls;
use serde::{Deserialize, Serialize};
use tendermint_rpc::client::CompatMode;

use crate::config::TestnetLayout;
use crate::devnet_preflight::{check_ports_free, DevnetLock};
use crate::home::{self, Home};

#[derive(Args)]
pub struct DevnetArgs {
    /// Where the chains, keys and logs live.
    #[arg(long, env = "KAWASE_DEVNET_DIR", default_value_os_t = default_dir())]
    pub data_dir: PathBuf,
    /// Validators per zone (each its own process).
    #[arg(long, default_value_t = 1)]
    pub validators: u16,
    /// The FZ's first RPC port (validator i: +10i; p2p is one below, abci, gossip and metrics above).
    #[arg(long, default_value_t = 26657)]
    pub fz_port: u16,
    /// The BZ's first RPC port.
    #[arg(long, default_value_t = 27657)]
    pub bz_port: u16,
    /// Delete the data directory and start new chains.
    #[arg(long)]
    pub reset: bool,
    /// Serve the zones' RPC and metrics in plain HTTP (on 127.0.0.1 only)
    /// instead of TLS 1.3 with the devnet's own CA.
    #[arg(long)]
    pub plaintext: bool,
}

fn default_dir() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".kawase").join("devnet")
}

pub const FZ_CHAIN: &str = "kawase-fz";
pub const BZ_CHAIN: &str = "kawase-bz";

/// What a devnet was created with, so a rerun resumes it as it was.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct Layout {
    validators: u16,
    fz_port: u16,
    bz_port: u16,
    /// Devnets made before TLS have none.
    #[serde(default)]
    tls: bool,
}

impl Layout {
    fn of(args: &DevnetArgs) -> Layout {
        Layout { validators: args.validators, fz_port: args.fz_port, bz_port: args.bz_port, tls: !args.plaintext }
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }
}

/// The demo world: key name, kind, what it is.
const DEMO_KEYS: &[(&str, KeyKind, &str)] = &[
    ("admin", KeyKind::Ed25519, "network admin of both zones"),
    ("bank-a", KeyKind::Ed25519, "Bank A (issuing bank)"),
    ("bank-b", KeyKind::Ed25519, "Bank B (issuing bank)"),
    ("alice", KeyKind::Secp256k1, "customer of Bank A"),
    ("bob", KeyKind::Ed25519, "customer of Bank B"),
    ("carol", KeyKind::Ed25519, "customer of Bank A"),
    ("relayer", KeyKind::Ed25519, "relayer account on both zones"),
];

struct Paths {
    root: PathBuf,
}

impl Paths {
    fn layout(&self) -> PathBuf {
        self.root.join("devnet.json")
    }
    fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    fn passphrase(&self) -> PathBuf {
        self.root.join("passphrase")
    }
    fn zone(&self, zone: Zone) -> PathBuf {
        self.root.join(zone.as_str())
    }
    fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    fn relayer(&self) -> PathBuf {
        self.root.join("relayer")
    }
    /// The devnet's throw-away CA (`ca.crt`, `ca.key`).
    fn tls(&self) -> PathBuf {
        self.root.join("tls")
    }
    fn ca_file(&self) -> PathBuf {
        self.tls().join("ca.crt")
    }
    /// How the devnet's own clients reach its nodes.
    fn client_tls(&self, layout: &Layout) -> ClientTls {
        ClientTls { ca: layout.tls.then(|| self.ca_file()), identity: None }
    }
}

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
///
/// Its stdin is a pipe this process never writes to, and the child is told
/// (`KAWASE_STOP_ON_STDIN_EOF`) to stop when it reads end-of-file there:
/// if the devnet dies without stopping it (SIGKILL), the kernel closes the
/// pipe and the child stops by itself within a second.
struct Proc {
    name: String,
    log: PathBuf,
    child: Child,
}

/// Ties `cmd`'s life to this process's (see [`Proc`]).
fn tie_to_parent(cmd: &mut Command) -> &mut Command {
    cmd.env(kawase_client::STOP_ON_STDIN_EOF, "1").stdin(Stdio::piped())
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Result<Proc> {
        let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = tie_to_parent(&mut cmd)
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc { name: name.into(), log, child })
    }

    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating kawased")?;
    let p = exe.with_file_name(name);
    if !p.exists() {
        bail!("{name} not found next to {} (build both with `cargo build --workspace`)", exe.display());
    }
    Ok(p)
}

fn random_passphrase() -> String {
    let mut b = [0u8; 18];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

/// First run: keys, both zones' homes and genesis, relayer config.
fn create(p: &Paths, args: &DevnetArgs) -> Result<()> {
    let pass = random_passphrase();
    home::write_private(&p.passphrase(), format!("{pass}\n").as_bytes())?;
    let ks = Keystore::open(p.keys())?;
    let mut keys = std::collections::BTreeMap::new();
    for (name, kind, _) in DEMO_KEYS {
        let key = Key::generate(*kind);
        ks.import_key(name, &key, &pass)?;
        keys.insert(*name, key);
    }
    let addr = |n: &str| keys[n].address();
    let fz_accounts = kawase_accounts::Genesis {
        admin: addr("admin"),
        banks: vec![
            BankGenesis { address: addr("bank-a"), name: "Bank A".into() },
            BankGenesis { address: addr("bank-b"), name: "Bank B".into() },
        ],
        accounts: vec![
            customer(addr("alice"), addr("bank-a"), "A-0001"),
            customer(addr("bob"), addr("bank-b"), "B-0001"),
            customer(addr("carol"), addr("bank-a"), "A-0002"),
            AccountGenesis {
                address: addr("relayer"),
                role: Role::Relayer,
                bank: None,
                deposit_account_ref: String::new(),
            },
        ],
    };
    let bz_accounts = kawase_accounts::Genesis {
        admin: addr("admin"),
        banks: Vec::new(),
        accounts: vec![AccountGenesis {
            address: addr("relayer"),
            role: Role::Relayer,
            bank: None,
            deposit_account_ref: String::new(),
        }],
    };
    for (zone, chain, port, accounts) in
        [(Zone::Fz, FZ_CHAIN, args.fz_port, fz_accounts), (Zone::Bz, BZ_CHAIN, args.bz_port, bz_accounts)]
    {
        let base = port.checked_sub(1).context("ports must be above 1")?;
        let layout = TestnetLayout::loopback(args.validators, base)?;
        let homes = home::testnet_with(&p.zone(zone), &layout, chain, zone, Some(&keys["admin"]))?;
        for h in &homes {
            let mut genesis = h.load_genesis()?;
            genesis.app_state.set("accounts", &accounts);
            if zone == Zone::Bz {
                // The BZ accepts its settlement channel only from this FZ.
                genesis.app_state.set("settlement", &kawase_settlement::Genesis::bz_of(FZ_CHAIN));
            }
            h.write_genesis(&genesis)?;
            // Quick blocks make the tour snappy; a real zone keeps the default.
            let mut config = h.load_config()?;
            config.consensus.timeout_commit = "200ms".into();
            fs::write(h.config_file(), toml::to_string_pretty(&config)?)?;
        }
        if !args.plaintext {
            // One CA for both zones; each node a certificate for 127.0.0.1.
            let pairs: Vec<(&Home, &str)> = homes.iter().map(|h| (h, "127.0.0.1")).collect();
            crate::tls::provision(&p.tls(), &pairs, false, &[])?;
        }
    }
    fs::create_dir_all(p.relayer())?;
    let layout = Layout::of(args);
    let rpc = |port: u16| format!("{}://127.0.0.1:{port}", layout.scheme());
    let ca = if layout.tls { "ca_file = \"../tls/ca.crt\"\n" } else { "" };
    // The relayer's /metrics in TLS too, with a certificate of the same CA.
    let metrics_tls = if layout.tls {
        let issued =
            kawase_tls::DevCa::load(&p.tls())?.issue_server(&["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        issued.write(&p.relayer(), "metrics")?;
        "metrics_cert_file = \"metrics.crt\"\nmetrics_key_file = \"metrics.key\"\n"
    } else {
        ""
    };
    // The relayer unlocks its key from the keystore with the devnet's
    // passphrase file, as an operator's service would.
    fs::write(
        p.relayer().join("relayer.toml"),
        format!(
            "poll_interval_ms = 200\nmetrics_laddr = \"127.0.0.1:{}\"\n{metrics_tls}\n\
             [fz]\nchain_id = \"{FZ_CHAIN}\"\nrpc = \"{}\"\nkey_file = \"../keys/relayer.json\"\npassphrase_file = \"../passphrase\"\n{ca}\n\
             [bz]\nchain_id = \"{BZ_CHAIN}\"\nrpc = \"{}\"\nkey_file = \"../keys/relayer.json\"\npassphrase_file = \"../passphrase\"\n{ca}",
            args.fz_port + 5,
            rpc(args.fz_port),
            rpc(args.bz_port)
        ),
    )?;
    fs::write(p.layout(), serde_json::to_string_pretty(&layout)? + "\n")?;
    Ok(())
}

fn customer(address: Address, bank: Address, deposit: &str) -> AccountGenesis {
    AccountGenesis { address, role: Role::Customer, bank: Some(bank), deposit_account_ref: deposit.into() }
}

/// Waits until the node at `port` has committed a block.
fn wait_for_block(port: u16, layout: &Layout, tls: &ClientTls, procs: &mut [Proc], what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("{}://127.0.0.1:{port}", layout.scheme());
    let client = kawase_tls::rpc_client(url.parse()?, tls, Duration::from_secs(2), CompatMode::default())
        .with_context(|| format!("TLS client of {url}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    loop {
        if let Ok(status) = rt.block_on(tendermint_rpc::Client::status(&client)) {
            if status.sync_info.latest_block_height.value() >= 1 {
                return Ok(());
            }
        }
        check_alive(procs)?;
        if Instant::now() > deadline {
            bail!(
                "{what} did not produce a block within 60 s (logs in {})",
                procs[0].log.parent().map(Path::display).map(|d| d.to_string()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn check_alive(procs: &mut [Proc]) -> Result<()> {
    for p in procs.iter_mut() {
        if let Ok(Some(status)) = p.child.try_wait() {
            bail!("{} exited ({status}); see {}", p.name, p.log.display());
        }
    }
    Ok(())
}

pub fn run(args: DevnetArgs) -> Result<()> {
    if args.validators == 0 || args.validators > 16 {
        bail!("--validators must be between 1 and 16");
    }
    let p = Paths { root: args.data_dir.clone() };
    // Refuse a folder that is not ours before writing anything into it.
    if p.root.exists() && !p.layout().exists() {
        let foreign = fs::read_dir(&p.root)?.filter_map(|e| e.ok()).any(|e| e.file_name() != "devnet.lock");
        if foreign {
            if args.reset {
                bail!("{} does not look like a devnet (no devnet.json); not deleting it", p.root.display());
            }
            bail!("{} exists and is not a devnet; pick another --data-dir", p.root.display());
        }
    }
    fs::create_dir_all(&p.root).with_context(|| format!("creating {}", p.root.display()))?;
    fs::set_permissions(&p.root, fs::Permissions::from_mode(0o700))?;
    // Held until this process ends, however it ends.
    let _lock = DevnetLock::take(&p.root)?;
    if args.reset && p.layout().exists() {
        for entry in fs::read_dir(&p.root)? {
            let entry = entry?;
            if entry.file_name() == "devnet.lock" {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) }
                .with_context(|| format!("removing {}", path.display()))?;
        }
        println!("reset: removed the chains in {}", p.root.display());
    }
    let resumed = p.layout().exists();
    if resumed {
        let saved: Layout = serde_json::from_str(&fs::read_to_string(p.layout())?).context("reading devnet.json")?;
        if saved != Layout::of(&args) {
            bail!(
                "{} was created with {} validator(s) on ports {}/{}{}; rerun with those or pass --reset to start over",
                p.root.display(),
                saved.validators,
                saved.fz_port,
                saved.bz_port,
                if saved.tls { "" } else { " in plain text (--plaintext)" }
            );
        }
    }
    // Before creating anything, so a busy port never leaves a devnet made
    // with ports it cannot use.
    check_ports_free(args.validators, args.fz_port, args.bz_port)?;
    if !resumed {
        create(&p, &args)?;
    }
    let kawased = std::env::current_exe().context("locating kawased")?;
    let relayer_bin = sibling("kawase-relayer")?;
    fs::create_dir_all(p.logs())?;

    let mut procs: Vec<Proc> = Vec::new();
    for zone in [Zone::Fz, Zone::Bz] {
        for i in 0..args.validators {
            let home = Home::new(p.zone(zone).join(format!("node{i}")));
            let mut cmd = Command::new(&kawased);
            cmd.arg("start").arg("--home").arg(&home.root);
            let name = format!("{} node{i}", zone.as_str().to_uppercase());
            procs.push(Proc::spawn(&name, cmd, p.logs().join(format!("{}-node{i}.log", zone.as_str())))?);
        }
    }
    let layout = Layout::of(&args);
    let tls = p.client_tls(&layout);
    wait_for_block(args.fz_port, &layout, &tls, &mut procs, "the FZ")?;
    wait_for_block(args.bz_port, &layout, &tls, &mut procs, "the BZ")?;

    let config = p.relayer().join("relayer.toml");
    let path_file = p.relayer().join("path.json");
    if !path_file.exists() {
        println!("creating the IBC path (clients, connection, channel)...");
        let mut cmd = Command::new(&relayer_bin);
        cmd.arg("--config").arg(&config).arg("create-path");
        let mut child = tie_to_parent(&mut cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running kawase-relayer create-path")?;
        // Kept open until it is done: closing it tells the child we are gone.
        let stdin = child.stdin.take();
        let out = child.wait_with_output().context("running kawase-relayer create-path")?;
        drop(stdin);
        fs::write(p.logs().join("create-path.log"), [&out.stdout[..], &out.stderr[..]].concat())?;
        if !out.status.success() {
            bail!("creating the path failed; see {}", p.logs().join("create-path.log").display());
        }
    }
    let path: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path_file)?).context("reading path.json")?;
    let mut cmd = Command::new(&relayer_bin);
    cmd.arg("--config").arg(&config).arg("start");
    let relayer_log = p.logs().join("relayer.log");
    procs.push(Proc::spawn("relayer", cmd, relayer_log.clone())?);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fs::read_to_string(&relayer_log).unwrap_or_default().lines().any(|l| l == "ready") {
        check_alive(&mut procs)?;
        if Instant::now() > deadline {
            bail!("the relayer did not start within 30 s; see {}", relayer_log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    banner(&p, &args, &layout, &path, resumed);
    wait_for_stop(&mut procs)
}

fn banner(p: &Paths, args: &DevnetArgs, layout: &Layout, path: &serde_json::Value, resumed: bool) {
    let dir = p.root.display();
    let scheme = layout.scheme();
    let ch = path["fz_channel"].as_str().unwrap_or("channel-0");
    let v = args.validators;
    println!();
    println!("Kawase devnet {} (data in {dir})", if resumed { "resumed" } else { "created" });
    println!(
        "  FZ  {FZ_CHAIN}  {scheme}://127.0.0.1:{}  ({v} validator{})",
        args.fz_port,
        if v > 1 { "s" } else { "" }
    );
    println!(
        "  BZ  {BZ_CHAIN}  {scheme}://127.0.0.1:{}  ({v} validator{})",
        args.bz_port,
        if v > 1 { "s" } else { "" }
    );
    if layout.tls {
        println!("  TLS 1.3, certificates of the devnet's own CA: {}", p.ca_file().display());
    } else {
        println!("  plain HTTP on 127.0.0.1 (--plaintext)");
    }
    println!(
        "  relayer: FZ {ch} <-> BZ {}, metrics {scheme}://127.0.0.1:{}/metrics",
        path["bz_channel"].as_str().unwrap_or("?"),
        args.fz_port + 5
    );
    println!("  logs: {}", p.logs().display());
    println!("  keys in {} (encrypted; passphrase in {}):", p.keys().display(), p.passphrase().display());
    for (name, _, what) in DEMO_KEYS {
        println!("    {name:<8} {what}");
    }
    println!();
    println!("Try next, in another shell:");
    let ca = if layout.tls { format!(" KAWASE_CA_FILE={}", p.ca_file().display()) } else { String::new() };
    println!(
        "  export KAWASE_KEYRING_DIR={} KAWASE_PASSPHRASE_FILE={}{ca} FZ={scheme}://127.0.0.1:{} BZ={scheme}://127.0.0.1:{}",
        p.keys().display(),
        p.passphrase().display(),
        args.fz_port,
        args.bz_port
    );
    println!("  kawased tx token issue --from bank-a --to alice --amount 100000 --reference-id dep-0001 --node $FZ");
    println!("  kawased query token balance alice --node $FZ");
    println!("  kawased tx settlement link --from alice --channel {ch} --bz-address alice --node $FZ");
    println!("  (the README's tour goes on from there)");
    println!();
    println!("Ctrl-C stops the devnet; `kawased devnet` again resumes it, `--reset` starts over.");
    println!("devnet ready");
}

/// Runs until SIGINT/SIGTERM, or until a process dies; then stops the rest
/// (relayer first, so it doesn't chase nodes that are going away).
fn wait_for_stop(procs: &mut Vec<Proc>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let watched = &mut *procs;
    let result: Result<()> = rt.block_on(async move {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(()),
                _ = int.recv() => return Ok(()),
                _ = tick.tick() => check_alive(watched)?,
            }
        }
    });
    println!("stopping...");
    while let Some(mut proc) = procs.pop() {
        proc.stop();
    }
    result?;
    println!("stopped; `kawased devnet` resumes these chains");
    Ok(())
}
