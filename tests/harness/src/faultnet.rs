//! The fault suite's network: an FZ and a BZ cluster, banks and customers
//! with linked BZ accounts, and relayers whose RPC goes through harness
//! proxies. Setup itself survives a relayer killed mid-handshake.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kawase_accounts::Role;
use kawase_client::{msgs, Key, KeyKind};
use kawase_primitives::Address;

use super::cluster::Cluster;
use super::load::{Actor, Effect, Endpoint, History};
use super::manifest::{Manifest, ZoneName};
use super::process::Launch;
use super::proxy::{Mode, Proxy};
use super::relayer::{key_file, Relayer};

pub const FZ_CHAIN: &str = "kawase-fz";
pub const BZ_CHAIN: &str = "kawase-bz";

/// A customer: FZ key, the BZ key linked to it, and its bank's index.
#[derive(Clone)]
pub struct Customer {
    pub fz: Key,
    pub bz: Key,
    pub bank: usize,
}

/// A relayer with its own directory and key whose only way to the zones is
/// a pair of RPC proxies.
pub struct RelayerProc {
    pub relayer: Relayer,
    /// FZ and BZ RPC proxies.
    pub proxies: [Proxy; 2],
}

impl RelayerProc {
    fn new(dir: &Path, key: &Key, fz_rpc: &str, bz_rpc: &str) -> RelayerProc {
        std::fs::create_dir_all(dir).expect("relayer dir");
        key_file(&dir.join("key.json"), key);
        let addr =
            |rpc: &str| -> std::net::SocketAddr { rpc.trim_start_matches("http://").parse().expect("rpc socket") };
        let proxies = [Proxy::start(addr(fz_rpc)), Proxy::start(addr(bz_rpc))];
        let config = dir.join("relayer.toml");
        std::fs::write(
            &config,
            format!(
                "poll_interval_ms = 200\n\n[fz]\nchain_id = \"{FZ_CHAIN}\"\nrpc = \"http://{}\"\nkey_file = \"key.json\"\n\n\
                 [bz]\nchain_id = \"{BZ_CHAIN}\"\nrpc = \"http://{}\"\nkey_file = \"key.json\"\n",
                proxies[0].addr(),
                proxies[1].addr()
            ),
        )
        .expect("relayer config");
        let relayer = Relayer::with(&config, Launch::relayer(&config).ready_within(Duration::from_secs(60)));
        RelayerProc { relayer, proxies }
    }

    pub fn dir(&self) -> &Path {
        self.relayer.dir()
    }

    pub fn running(&self) -> bool {
        self.relayer.running()
    }

    /// `kawase-relayer start`, waiting (at most 60 s) for `ready`.
    pub fn start(&mut self) -> Result<(), String> {
        self.relayer.try_start()
    }

    /// SIGKILL, mid-relay.
    pub fn kill(&mut self) {
        self.relayer.kill();
    }

    pub fn cut(&self, mode: Mode) {
        for p in &self.proxies {
            p.set(mode);
        }
    }

    /// Whether it died by itself; the log's tail if so.
    pub fn exited(&mut self) -> Option<String> {
        self.relayer.proc.exited()
    }
}

/// Everything one run starts.
pub struct FaultNet {
    pub fz: Cluster,
    pub bz: Cluster,
    pub fz_ep: Endpoint,
    pub bz_ep: Endpoint,
    pub relayers: [RelayerProc; 2],
    pub channel: String,
    pub bz_channel: String,
    pub banks: Vec<Key>,
    pub customers: Vec<Customer>,
    pub history: History,
    /// Perturbation and setup notes (e.g. handshake kills).
    pub notes: Vec<String>,
    pub dir: PathBuf,
}

/// Starts both zones, registers banks, customers and two relayer keys,
/// creates the path (killing `create-path` at the manifest's delays
/// first), starts relayer 0, links every customer and charges it.
pub async fn start(m: &Manifest, dir: &Path) -> FaultNet {
    let mut fz = Cluster::create(&dir.join("fz"), m.fz_validators, FZ_CHAIN, "fz", None);
    let mut bz = Cluster::create(&dir.join("bz"), m.bz_validators, BZ_CHAIN, "bz", Some(FZ_CHAIN));
    tokio::task::block_in_place(|| {
        fz.start_all();
        bz.start_all();
    });
    let fz_ep = Endpoint::new(ZoneName::Fz, FZ_CHAIN, fz.rpcs());
    let bz_ep = Endpoint::new(ZoneName::Bz, BZ_CHAIN, bz.rpcs());
    let history = History::default();
    let k = || Key::generate(KeyKind::Ed25519);
    let mut fz_admin = Actor::new(super::node::admin_key(fz.nodes[0].home()));
    let mut bz_admin = Actor::new(super::node::admin_key(bz.nodes[0].home()));
    let banks: Vec<Key> = (0..m.load.banks).map(|_| k()).collect();
    let relayer_keys = [k(), k()];
    let a = fz_admin.key.address();
    let mut reg: Vec<_> =
        banks.iter().enumerate().map(|(i, b)| msgs::register_bank(a, b.address(), &format!("Bank {i}"))).collect();
    for r in &relayer_keys {
        reg.push(msgs::register_account(a, r.address(), Role::Relayer, ""));
    }
    fz_admin.must(&fz_ep, &history, "register_bank", Effect::None, reg).await;
    let b = bz_admin.key.address();
    let reg = relayer_keys.iter().map(|r| msgs::register_account(b, r.address(), Role::Relayer, "")).collect();
    bz_admin.must(&bz_ep, &history, "register_relayer", Effect::None, reg).await;

    let mut customers = Vec::new();
    for (bi, bank) in banks.iter().enumerate() {
        let mut actor = Actor::new(bank.clone());
        let mine: Vec<Customer> =
            (0..m.load.customers_per_bank).map(|_| Customer { fz: k(), bz: k(), bank: bi }).collect();
        let reg = mine
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                msgs::register_account(bank.address(), c.fz.address(), Role::Customer, &format!("{bi}-{ci}"))
            })
            .collect();
        actor.must(&fz_ep, &history, "register", Effect::None, reg).await;
        for (ci, c) in mine.iter().enumerate() {
            let amount = u128::from(m.load.initial_issue);
            let msg = vec![msgs::issue(bank.address(), c.fz.address(), amount, &format!("setup-{ci}"))];
            actor.must(&fz_ep, &history, "issue", Effect::Issue(amount), msg).await;
        }
        customers.extend(mine);
    }

    let relayers = [
        RelayerProc::new(&dir.join("relayer0"), &relayer_keys[0], &fz.nodes[0].rpc(), &bz.nodes[0].rpc()),
        RelayerProc::new(
            &dir.join("relayer1"),
            &relayer_keys[1],
            &fz.nodes[fz.nodes.len() - 1].rpc(),
            &bz.nodes[bz.nodes.len() - 1].rpc(),
        ),
    ];
    let mut notes = Vec::new();
    let path = tokio::task::block_in_place(|| {
        for ms in &m.handshake_kills_ms {
            let done = relayers[0].relayer.run_and_kill(&["create-path"], Duration::from_millis(*ms));
            notes.push(format!("create-path killed after {ms} ms (had finished: {done})"));
        }
        relayers[0].relayer.run_bounded(&["create-path"], Duration::from_secs(240))
    });
    let path = path.unwrap_or_else(|e| panic!("create-path after {} kills: {e}", m.handshake_kills_ms.len()));
    let path: serde_json::Value = serde_json::from_str(&path).expect("path json");
    let channel = path["fz_channel"].as_str().expect("fz_channel").to_owned();
    let bz_channel = path["bz_channel"].as_str().expect("bz_channel").to_owned();
    // The second relayer relays the same path.
    std::fs::copy(relayers[0].dir().join("path.json"), relayers[1].dir().join("path.json")).expect("copy path");
    let mut net = FaultNet {
        fz,
        bz,
        fz_ep,
        bz_ep,
        relayers,
        channel,
        bz_channel,
        banks,
        customers,
        history,
        notes,
        dir: dir.to_path_buf(),
    };
    tokio::task::block_in_place(|| net.relayers[0].start()).unwrap_or_else(|e| panic!("{e}"));
    net.link_and_charge(u128::from(m.load.initial_charge)).await;
    net
}

impl FaultNet {
    async fn link_and_charge(&mut self, charge: u128) {
        let ch = self.channel.clone();
        for c in self.customers.clone() {
            let mut a = Actor::new(c.fz.clone());
            a.must(
                &self.fz_ep,
                &self.history,
                "link",
                Effect::None,
                vec![msgs::link(c.fz.address(), &ch, c.bz.address(), 0)],
            )
            .await;
            a.must(
                &self.fz_ep,
                &self.history,
                "charge",
                Effect::None,
                vec![msgs::charge(c.fz.address(), &ch, charge, 0)],
            )
            .await;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        for c in &self.customers {
            loop {
                let addr = c.bz.address().to_string();
                if let Some(Ok(v)) = self.bz_ep.query("/settlement/bz_account", addr.as_bytes()).await {
                    if super::zones::amount(&v["balance"]) >= charge {
                        break;
                    }
                }
                assert!(Instant::now() < deadline, "BZ account {addr} never linked and charged");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// The validators of `zone`.
    pub fn cluster(&self, zone: ZoneName) -> &Cluster {
        match zone {
            ZoneName::Fz => &self.fz,
            ZoneName::Bz => &self.bz,
        }
    }

    pub fn cluster_mut(&mut self, zone: ZoneName) -> &mut Cluster {
        match zone {
            ZoneName::Fz => &mut self.fz,
            ZoneName::Bz => &mut self.bz,
        }
    }

    pub fn customer_addresses(&self) -> Vec<(Address, usize)> {
        self.customers.iter().map(|c| (c.fz.address(), c.bank)).collect()
    }
}
