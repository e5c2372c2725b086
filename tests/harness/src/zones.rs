//! Two zones and a relayer as real processes on loopback: shared by the
//! settlement system tests and the settlement load generator.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kawase_client::{build_tx, msgs, CosmosAny, Key, KeyKind, TxParams};
use serde_json::Value;

pub use crate::node::{admin_key, bin, free_base, kawased, relayer_bin};
use crate::process::{Launch, Process};
pub use crate::relayer::{key_file, Relayer};
use crate::rpc::{QueryError, Rpc};

/// A one-validator zone: its home, admin key and node process.
pub struct Zone {
    pub chain_id: String,
    pub home: PathBuf,
    pub node: Process,
    pub admin: Key,
}

/// `kawased testnet` with one validator of `zone` (`fz`, or `bz` accepting
/// the FZ `kawase-fz`) under `dir`, a 150 ms commit timeout, started.
pub fn start_zone(dir: &Path, chain_id: &str, zone: &str) -> Zone {
    let fz = if zone == "bz" { &["--fz-chain-id", "kawase-fz"][..] } else { &[] };
    let extra: Vec<&str> = ["--zone", zone].into_iter().chain(fz.iter().copied()).collect();
    let home = crate::node::write_testnet(dir, 1, chain_id, &extra).remove(0);
    crate::node::set_timeouts(&home, &[("timeout_commit", "150ms")]);
    let admin = admin_key(&home);
    let node = Launch::node(&home).rust_log("warn,informalsystems_malachitebft_network=off").start();
    Zone { chain_id: chain_id.into(), home, node, admin }
}

impl Zone {
    /// The node's RPC URL.
    pub fn rpc(&self) -> String {
        self.node.rpc()
    }

    pub fn client(&self) -> Rpc {
        self.node.client()
    }

    /// A zone prints `ready` before its first block commits; a query that
    /// early waits for it (up to 30 s) instead of failing.
    pub async fn query(&self, path: &str, data: &[u8]) -> Result<Value, String> {
        for _ in 0..300 {
            match self.client().query(path, data).await {
                Ok(v) => return Ok(v),
                Err(QueryError::Refused { log, .. }) if log.contains("no block committed yet") => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(QueryError::Refused { log, .. }) => return Err(log),
                Err(e) => panic!("query {path}: {e}"),
            }
        }
        Err(format!("{}: no block committed within 30 s", self.chain_id))
    }

    /// Submits `msgs` signed by `key`; `Err((codespace, code, log))` if the
    /// transaction is refused or fails.
    pub async fn submit(&self, key: &Key, msgs: Vec<CosmosAny>) -> Result<(), (String, u32, String)> {
        let acct = self.query("/accounts/account", key.address().to_string().as_bytes()).await.expect("account");
        let p = TxParams {
            chain_id: self.chain_id.clone(),
            account_number: acct["number"].as_u64().expect("number"),
            sequence: acct["sequence"].as_u64().expect("sequence"),
            memo: String::new(),
            timeout_height: 0,
        };
        let tx = build_tx(key, &p, msgs).expect("tx");
        let r = self.client().broadcast_tx_commit(tx).await.expect("broadcast");
        if r.check_tx.code.is_err() {
            return Err((r.check_tx.codespace, r.check_tx.code.value(), r.check_tx.log));
        }
        if r.tx_result.code.is_err() {
            return Err((r.tx_result.codespace, r.tx_result.code.value(), r.tx_result.log));
        }
        Ok(())
    }

    pub async fn ok(&self, key: &Key, msgs: Vec<CosmosAny>) {
        if let Err(e) = self.submit(key, msgs).await {
            panic!("{}: transaction failed: {e:?}", self.chain_id);
        }
    }

    pub async fn balance(&self, a: &Key) -> u128 {
        amount(&self.query("/token/balance", a.address().to_string().as_bytes()).await.expect("balance")["amount"])
    }

    pub async fn reserved(&self, a: &Key) -> u128 {
        let v = self.query("/settlement/reserved", a.address().to_string().as_bytes()).await.expect("reserved");
        v["reserved"].as_array().expect("list").iter().map(|r| amount(&r["amount"])).sum()
    }

    /// `(balance, held)` of a BZ account, `None` if it does not exist.
    pub async fn bz(&self, a: &Key) -> Option<(u128, u128)> {
        let v = self.query("/settlement/bz_account", a.address().to_string().as_bytes()).await.ok()?;
        Some((amount(&v["balance"]), amount(&v["held"])))
    }

    pub async fn owes(&self, debtor: &Key, creditor: &Key) -> u128 {
        let v = self.query("/token/positions", b"").await.expect("positions");
        v.as_array()
            .expect("list")
            .iter()
            .find(|p| p["debtor"] == debtor.address().to_string() && p["creditor"] == creditor.address().to_string())
            .map(|p| amount(&p["amount"]))
            .unwrap_or(0)
    }

    pub async fn total_supply(&self) -> u128 {
        amount(&self.query("/token/total_supply", b"").await.expect("total")["amount"])
    }
}

pub fn amount(v: &Value) -> u128 {
    v.as_str().unwrap_or_else(|| panic!("amount string, got {v}")).parse().expect("u128")
}

/// Polls `f` until it returns `Some`, for at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct Net {
    pub fz: Zone,
    pub bz: Zone,
    pub relayer: Relayer,
    /// The relayer's key (registered as a relayer on both zones).
    pub relayer_key: Key,
    pub bank1: Key,
    pub bank2: Key,
    /// FZ customers (bank 1, bank 2) and their BZ keys.
    pub alice: Key,
    pub bob: Key,
    pub alice_bz: Key,
    pub bob_bz: Key,
    pub channel: String,
    pub _dir: Option<tempfile::TempDir>,
}

impl Net {
    /// The directory the zones and relayers live under.
    pub fn dir(&self) -> PathBuf {
        self.fz.home.parent().and_then(Path::parent).expect("dir/fz/node0").to_path_buf()
    }

    /// A second relayer on the created path, with a key of its own
    /// registered as a relayer on both zones; not started.
    pub async fn second_relayer(&self) -> Relayer {
        let key = Key::generate(KeyKind::Ed25519);
        let role = kawase_accounts::Role::Relayer;
        self.fz
            .ok(&self.fz.admin, vec![msgs::register_account(self.fz.admin.address(), key.address(), role, "")])
            .await;
        self.bz
            .ok(&self.bz.admin, vec![msgs::register_account(self.bz.admin.address(), key.address(), role, "")])
            .await;
        let dir = self.dir().join("relayer2");
        let second = relayer_config(&dir, &key, ("kawase-fz", &self.fz.rpc()), ("kawase-bz", &self.bz.rpc()));
        std::fs::copy(self.relayer.dir().join("path.json"), dir.join("path.json")).expect("copy path file");
        second
    }
}

/// Both zones, two banks with a customer each (1,000 and 500 issued), the
/// relayer registered on both zones and the path created.
pub async fn network() -> Net {
    let mut net = network_without_path().await;
    let path: Value = serde_json::from_str(&net.relayer.run("create-path")).expect("path json");
    net.channel = path["fz_channel"].as_str().expect("channel").to_owned();
    net
}

/// A relayer config in `dir` for `fz` and `bz` (RPC addresses and chain
/// ids), with `key` on both.
pub fn relayer_config(
    dir: &Path,
    key: &Key,
    (fz_chain, fz_rpc): (&str, &str),
    (bz_chain, bz_rpc): (&str, &str),
) -> Relayer {
    std::fs::create_dir_all(dir).expect("dir");
    key_file(&dir.join("fz-key.json"), key);
    key_file(&dir.join("bz-key.json"), key);
    let config = dir.join("relayer.toml");
    std::fs::write(
        &config,
        format!(
            "poll_interval_ms = 100\n\n[fz]\nchain_id = \"{fz_chain}\"\nrpc = \"{fz_rpc}\"\nkey_file = \"fz-key.json\"\n\n\
             [bz]\nchain_id = \"{bz_chain}\"\nrpc = \"{bz_rpc}\"\nkey_file = \"bz-key.json\"\n"
        ),
    )
    .expect("config");
    Relayer::new(&config)
}

/// Gives `relayer` share `index` of `of` of the path (`share = {...}` goes
/// first: a config's top-level keys come before its tables).
pub fn set_share(relayer: &Relayer, index: u64, of: u64) {
    let text = std::fs::read_to_string(&relayer.config).expect("relayer config");
    let text = format!("share = {{ index = {index}, of = {of} }}\n{text}");
    std::fs::write(&relayer.config, text).expect("relayer config");
}

/// [`network`] without the path: the relayer is configured but has created
/// nothing (`channel` is empty).
pub async fn network_without_path() -> Net {
    let dir = tempfile::tempdir().expect("tmp");
    eprintln!("zones and relayer under {}", dir.path().display());
    let fz = start_zone(&dir.path().join("fz"), "kawase-fz", "fz");
    let bz = start_zone(&dir.path().join("bz"), "kawase-bz", "bz");
    let k = || Key::generate(KeyKind::Ed25519);
    let (bank1, bank2, alice, bob, relayer) = (k(), k(), k(), k(), k());
    let a = fz.admin.address();
    fz.ok(
        &fz.admin,
        vec![
            msgs::register_bank(a, bank1.address(), "Bank One"),
            msgs::register_bank(a, bank2.address(), "Bank Two"),
            msgs::register_account(a, relayer.address(), kawase_accounts::Role::Relayer, ""),
        ],
    )
    .await;
    fz.ok(
        &bank1,
        vec![msgs::register_account(bank1.address(), alice.address(), kawase_accounts::Role::Customer, "A-1")],
    )
    .await;
    fz.ok(&bank2, vec![msgs::register_account(bank2.address(), bob.address(), kawase_accounts::Role::Customer, "B-1")])
        .await;
    fz.ok(&bank1, vec![msgs::issue(bank1.address(), alice.address(), 1_000, "dep-a")]).await;
    fz.ok(&bank2, vec![msgs::issue(bank2.address(), bob.address(), 500, "dep-b")]).await;
    bz.ok(
        &bz.admin,
        vec![msgs::register_account(bz.admin.address(), relayer.address(), kawase_accounts::Role::Relayer, "")],
    )
    .await;

    let relayer_key = relayer;
    let relayer =
        relayer_config(&dir.path().join("relayer"), &relayer_key, ("kawase-fz", &fz.rpc()), ("kawase-bz", &bz.rpc()));
    let channel = String::new();
    // KAWASE_KEEP_TEST_DIRS=1 keeps homes and logs for a post-mortem.
    let dir = if std::env::var_os("KAWASE_KEEP_TEST_DIRS").is_some() {
        let _ = dir.keep();
        None
    } else {
        Some(dir)
    };
    Net { fz, bz, relayer, relayer_key, bank1, bank2, alice, bob, alice_bz: k(), bob_bz: k(), channel, _dir: dir }
}

impl Net {
    /// For every linked account: reserved on the FZ = balance + holds on
    /// the BZ; and the FZ's total supply is what was issued.
    pub async fn assert_quiescent_invariant(&self) {
        for (fz, bz) in [(&self.alice, &self.alice_bz), (&self.bob, &self.bob_bz)] {
            let (bal, held) = self.bz.bz(bz).await.unwrap_or((0, 0));
            assert_eq!(self.fz.reserved(fz).await, bal + held, "reserved != BZ balance + holds for {}", fz.address());
        }
        assert_eq!(self.fz.total_supply().await, 1_500);
    }

    /// Alice charges `amount` from the FZ to her BZ account (her first
    /// charge: nothing held there yet) and it is credited there.
    pub async fn charge_alice_and_see_it_credited(&self, amount: u128) {
        let ch = self.channel.clone();
        self.fz.ok(&self.alice, vec![msgs::charge(self.alice.address(), &ch, amount, 0)]).await;
        eventually(30, "charge credited", || async {
            (self.bz.bz(&self.alice_bz).await == Some((amount, 0))).then_some(())
        })
        .await;
    }

    pub async fn link_both(&self) {
        let ch = self.channel.clone();
        self.fz.ok(&self.alice, vec![msgs::link(self.alice.address(), &ch, self.alice_bz.address(), 0)]).await;
        self.fz.ok(&self.bob, vec![msgs::link(self.bob.address(), &ch, self.bob_bz.address(), 0)]).await;
        eventually(30, "BZ accounts", || async {
            (self.bz.bz(&self.alice_bz).await.is_some() && self.bz.bz(&self.bob_bz).await.is_some()).then_some(())
        })
        .await;
        // The link ack makes the FZ side active.
        eventually(30, "links active", || async {
            let v = self.fz.query("/settlement/links", b"").await.ok()?;
            let all = v.as_array()?.iter().all(|l| l["status"] == "active");
            (all && v.as_array()?.len() == 2).then_some(())
        })
        .await;
    }
}
