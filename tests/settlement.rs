//! Two-layer settlement with real processes: an FZ and a BZ (`kawased
//! start`, one validator each) and `kawase-relayer` on loopback. Every
//! balance, reserved amount, hold and position is checked at each step.
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kawase_client::{build_tx, msgs, CosmosAny, Key, KeyKind, TxParams};
use kawase_ibc::ibc_proto::ibc::core::channel::v1::{MsgRecvPacket, Packet};
use kawase_ibc::ibc_proto::ibc::core::client::v1::Height as RawHeight;
use prost::{Message, Name};
use serde_json::Value;
use tendermint_rpc::{Client, HttpClient};

const RELAYER: &str = env!("CARGO_BIN_EXE_kawase-relayer");

/// `kawased`, built beside the relayer by `cargo test --workspace`.
fn kawased() -> PathBuf {
    let p = Path::new(RELAYER).with_file_name("kawased");
    assert!(p.exists(), "{} missing: build the workspace (cargo test --workspace) first", p.display());
    p
}

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_base(n: u16) -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let seed = (std::process::id() as u16).wrapping_add(NEXT.fetch_add(13, std::sync::atomic::Ordering::Relaxed));
    for attempt in 0..200u16 {
        // Below Linux's ephemeral range (32768..).
        let base = 20_050 + ((seed.wrapping_mul(37).wrapping_add(attempt * 89)) % 120) * 100;
        if (0..n * 10).all(|p| TcpListener::bind(("127.0.0.1", base + p)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range");
}

struct Zone {
    chain_id: String,
    home: PathBuf,
    rpc: String,
    node: Option<Proc>,
    admin: Key,
}

fn admin_key(home: &Path) -> Key {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("keys/admin.json")).expect("admin key")).expect("json");
    let secret: [u8; 32] =
        hex::decode(v["secret_hex"].as_str().expect("hex")).expect("hex").try_into().expect("32 bytes");
    Key::from_seed(KeyKind::Ed25519, secret).expect("key")
}

fn start_zone(dir: &Path, chain_id: &str, zone: &str) -> Zone {
    let base = free_base(1);
    let out = Command::new(kawased())
        .args(["testnet", "--validators", "1", "--output"])
        .arg(dir)
        .args(["--chain-id", chain_id, "--zone", zone, "--base-port", &base.to_string()])
        .output()
        .expect("kawased testnet");
    assert!(out.status.success(), "testnet: {}", String::from_utf8_lossy(&out.stderr));
    let home = dir.join("node0");
    let cfg = home.join("config/config.toml");
    let text = std::fs::read_to_string(&cfg)
        .expect("config")
        .replace("timeout_commit = \"500ms\"", "timeout_commit = \"150ms\"");
    std::fs::write(&cfg, text).expect("config");
    let admin = admin_key(&home);
    let mut z = Zone { chain_id: chain_id.into(), home, rpc: String::new(), node: None, admin };
    z.start();
    z
}

impl Zone {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.home.join("node.log")).expect("log");
        let mut child = Command::new(kawased())
            .args(["start", "--home"])
            .arg(&self.home)
            .env("RUST_LOG", "warn,informalsystems_malachitebft_network=off")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn kawased");
        let stdout = child.stdout.take().expect("stdout");
        let mut rpc = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            if let Some(a) = line.strip_prefix("rpc listening on tcp://") {
                rpc = Some(format!("http://{a}"));
            }
            if line == "ready" {
                break;
            }
        }
        self.rpc = rpc.unwrap_or_else(|| panic!("{} did not start", self.home.display()));
        self.node = Some(Proc(child));
    }

    fn client(&self) -> HttpClient {
        HttpClient::new(self.rpc.as_str()).expect("client")
    }

    async fn query(&self, path: &str, data: &[u8]) -> Result<Value, String> {
        let r = self.client().abci_query(Some(path.into()), data.to_vec(), None, false).await.expect("query");
        if r.code.is_err() {
            return Err(r.log);
        }
        Ok(serde_json::from_slice(&r.value).expect("json"))
    }

    /// Submits `msgs` signed by `key`; `Err((codespace, code, log))` if the
    /// transaction is refused or fails.
    async fn submit(&self, key: &Key, msgs: Vec<CosmosAny>) -> Result<(), (String, u32, String)> {
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

    async fn ok(&self, key: &Key, msgs: Vec<CosmosAny>) {
        if let Err(e) = self.submit(key, msgs).await {
            panic!("{}: transaction failed: {e:?}", self.chain_id);
        }
    }

    async fn balance(&self, a: &Key) -> u128 {
        amount(&self.query("/token/balance", a.address().to_string().as_bytes()).await.expect("balance")["amount"])
    }

    async fn reserved(&self, a: &Key) -> u128 {
        let v = self.query("/settlement/reserved", a.address().to_string().as_bytes()).await.expect("reserved");
        v["reserved"].as_array().expect("list").iter().map(|r| amount(&r["amount"])).sum()
    }

    /// `(balance, held)` of a BZ account, `None` if it does not exist.
    async fn bz(&self, a: &Key) -> Option<(u128, u128)> {
        let v = self.query("/settlement/bz_account", a.address().to_string().as_bytes()).await.ok()?;
        Some((amount(&v["balance"]), amount(&v["held"])))
    }

    async fn owes(&self, debtor: &Key, creditor: &Key) -> u128 {
        let v = self.query("/token/positions", b"").await.expect("positions");
        v.as_array()
            .expect("list")
            .iter()
            .find(|p| p["debtor"] == debtor.address().to_string() && p["creditor"] == creditor.address().to_string())
            .map(|p| amount(&p["amount"]))
            .unwrap_or(0)
    }

    async fn total_supply(&self) -> u128 {
        amount(&self.query("/token/total_supply", b"").await.expect("total")["amount"])
    }
}

fn amount(v: &Value) -> u128 {
    v.as_str().unwrap_or_else(|| panic!("amount string, got {v}")).parse().expect("u128")
}

fn key_file(path: &Path, key: &Key) {
    let v = serde_json::json!({
        "name": "relayer", "kind": "ed25519",
        "address": key.address().to_string(), "secret_hex": hex::encode(key.secret_bytes()),
    });
    std::fs::write(path, serde_json::to_string_pretty(&v).expect("json")).expect("key file");
}

struct Relayer {
    config: PathBuf,
    proc: Option<Proc>,
}

impl Relayer {
    fn run(&self, cmd: &str) -> String {
        let out = Command::new(RELAYER).arg("--config").arg(&self.config).arg(cmd).output().expect("relayer");
        assert!(out.status.success(), "kawase-relayer {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.config.with_file_name("relayer.log"))
            .expect("log");
        let mut child = Command::new(RELAYER)
            .arg("--config")
            .arg(&self.config)
            .arg("start")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn relayer");
        let stdout = child.stdout.take().expect("stdout");
        let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l == "ready");
        assert!(ready, "relayer did not start");
        self.proc = Some(Proc(child));
    }

    /// SIGKILL: no chance to finish anything in flight.
    fn kill(&mut self) {
        self.proc = None;
    }
}

/// Polls `f` until it returns `Some`, for at most `secs`.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
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

struct Net {
    fz: Zone,
    bz: Zone,
    relayer: Relayer,
    bank1: Key,
    bank2: Key,
    /// FZ customers (bank 1, bank 2) and their BZ keys.
    alice: Key,
    bob: Key,
    alice_bz: Key,
    bob_bz: Key,
    channel: String,
    _dir: Option<tempfile::TempDir>,
}

/// Both zones, two banks with a customer each (1,000 and 500 issued), the
/// relayer registered on both zones and the path created.
async fn network() -> Net {
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

    let rdir = dir.path().join("relayer");
    std::fs::create_dir_all(&rdir).expect("dir");
    key_file(&rdir.join("fz-key.json"), &relayer);
    key_file(&rdir.join("bz-key.json"), &relayer);
    let config = rdir.join("relayer.toml");
    std::fs::write(
        &config,
        format!(
            "poll_interval_ms = 100\n\n[fz]\nchain_id = \"kawase-fz\"\nrpc = \"{}\"\nkey_file = \"fz-key.json\"\n\n\
             [bz]\nchain_id = \"kawase-bz\"\nrpc = \"{}\"\nkey_file = \"bz-key.json\"\n",
            fz.rpc, bz.rpc
        ),
    )
    .expect("config");
    let relayer = Relayer { config, proc: None };
    let path: Value = serde_json::from_str(&relayer.run("create-path")).expect("path json");
    let channel = path["fz_channel"].as_str().expect("channel").to_owned();
    // KAWASE_KEEP_TEST_DIRS=1 keeps homes and logs for a post-mortem.
    let dir = if std::env::var_os("KAWASE_KEEP_TEST_DIRS").is_some() {
        let _ = dir.keep();
        None
    } else {
        Some(dir)
    };
    Net { fz, bz, relayer, bank1, bank2, alice, bob, alice_bz: k(), bob_bz: k(), channel, _dir: dir }
}

impl Net {
    /// For every linked account: reserved on the FZ = balance + holds on
    /// the BZ; and the FZ's total supply is what was issued.
    async fn assert_quiescent_invariant(&self) {
        for (fz, bz) in [(&self.alice, &self.alice_bz), (&self.bob, &self.bob_bz)] {
            let (bal, held) = self.bz.bz(bz).await.unwrap_or((0, 0));
            assert_eq!(self.fz.reserved(fz).await, bal + held, "reserved != BZ balance + holds for {}", fz.address());
        }
        assert_eq!(self.fz.total_supply().await, 1_500);
    }

    async fn link_both(&self) {
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

#[test]
fn link_charge_pay_across_banks_and_discharge_settle_exactly_and_payee_waits_for_the_fz() {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let mut net = network().await;
        net.relayer.start();
        net.link_both().await;
        // A BZ account carries its FZ identity and bank.
        let acct = net.bz.query("/accounts/account", net.alice_bz.address().to_string().as_bytes()).await.expect("a");
        assert_eq!(acct["bank"], net.bank1.address().to_string());
        assert_eq!(acct["deposit_account_ref"], net.alice.address().to_string());

        // Charge: free -> reserved on the FZ, credited on the BZ.
        let ch = net.channel.clone();
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, 300, 0)]).await;
        assert_eq!((net.fz.balance(&net.alice).await, net.fz.reserved(&net.alice).await), (700, 300));
        eventually(30, "charge credited", || async {
            (net.bz.bz(&net.alice_bz).await == Some((300, 0))).then_some(())
        })
        .await;
        net.fz.ok(&net.bob, vec![msgs::charge(net.bob.address(), &ch, 100, 0)]).await;
        eventually(30, "bob charged", || async { (net.bz.bz(&net.bob_bz).await == Some((100, 0))).then_some(()) })
            .await;
        net.assert_quiescent_invariant().await;

        // Payment A -> B with the relayer stopped: A's amount is held, B is
        // not credited and nothing moves on the FZ until the FZ settles.
        net.relayer.kill();
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 120, "inv-1", 0)]).await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((180, 120)));
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(net.bz.bz(&net.bob_bz).await, Some((100, 0)), "payee credited before the FZ settled");
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (300, 100));
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, 0);
        let holds = net.bz.query("/settlement/holds", b"").await.expect("holds");
        assert_eq!(holds.as_array().expect("list").len(), 1);

        net.relayer.start();
        eventually(30, "payment settled", || async { (net.bz.bz(&net.bob_bz).await == Some((220, 0))).then_some(()) })
            .await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((180, 0)));
        // Settled on the FZ: reserved moved, bank 1 owes bank 2.
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (180, 220));
        assert_eq!((net.fz.balance(&net.alice).await, net.fz.balance(&net.bob).await), (700, 400));
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, 120);
        net.assert_quiescent_invariant().await;

        // Payment to an account frozen on the FZ: error ack, A refunded,
        // nothing else moves.
        net.fz.ok(&net.bank2, vec![msgs::freeze(net.bank2.address(), net.bob.address(), "court order")]).await;
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 50, "inv-2", 0)]).await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((130, 50)));
        eventually(30, "refund", || async { (net.bz.bz(&net.alice_bz).await == Some((180, 0))).then_some(()) }).await;
        assert_eq!(net.bz.bz(&net.bob_bz).await, Some((220, 0)));
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (180, 220));
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, 120);
        net.assert_quiescent_invariant().await;

        // Discharge: BZ -> FZ free balance.
        net.fz.ok(&net.bank2, vec![msgs::unfreeze(net.bank2.address(), net.bob.address())]).await;
        net.bz.ok(&net.bob_bz, vec![msgs::discharge(net.bob_bz.address(), 200, 0)]).await;
        assert_eq!(net.bz.bz(&net.bob_bz).await, Some((20, 200)));
        eventually(30, "discharge", || async { (net.bz.bz(&net.bob_bz).await == Some((20, 0))).then_some(()) }).await;
        assert_eq!((net.fz.balance(&net.bob).await, net.fz.reserved(&net.bob).await), (600, 20));
        let total = net.bz.query("/settlement/bz_total", b"").await.expect("total");
        assert_eq!(amount(&total["amount"]), 200);
        net.assert_quiescent_invariant().await;

        // Nothing left in flight on either side.
        let pending: Value = serde_json::from_str(&net.relayer.run("pending")).expect("json");
        assert_eq!(pending["fz_sent_unacknowledged"], serde_json::json!([]));
        assert_eq!(pending["bz_sent_unacknowledged"], serde_json::json!([]));
    });
}

#[test]
fn timed_out_payments_are_refunded_and_never_executed_and_forged_packets_are_rejected() {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let mut net = network().await;
        net.relayer.start();
        net.link_both().await;
        let ch = net.channel.clone();
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, 300, 0)]).await;
        eventually(30, "charge", || async { (net.bz.bz(&net.alice_bz).await == Some((300, 0))).then_some(()) }).await;

        // Relayer down past a 2-second timeout.
        net.relayer.kill();
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 70, "late", 2)]).await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((230, 70)));
        tokio::time::sleep(Duration::from_secs(4)).await;
        net.relayer.start();
        eventually(30, "timeout refund", || async { (net.bz.bz(&net.alice_bz).await == Some((300, 0))).then_some(()) })
            .await;
        // The late packet was never executed on the FZ.
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (300, 0));
        assert_eq!(net.bz.bz(&net.bob_bz).await, Some((0, 0)));
        net.assert_quiescent_invariant().await;

        // Forged packets, submitted straight to the FZ by the relayer's key.
        net.relayer.kill();
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 10, "real", 0)]).await;
        let relayer_key = {
            let v: Value = serde_json::from_str(
                &std::fs::read_to_string(net.relayer.config.with_file_name("fz-key.json")).expect("key"),
            )
            .expect("json");
            let s: [u8; 32] = hex::decode(v["secret_hex"].as_str().expect("hex")).expect("hex").try_into().expect("32");
            Key::from_seed(KeyKind::Ed25519, s).expect("key")
        };
        let bz_channel = "channel-0";
        let seqs: Vec<u64> =
            serde_json::from_value(net.bz.query("/ibc/packet_commitments", bz_channel.as_bytes()).await.expect("q"))
                .expect("seqs");
        let seq = *seqs.last().expect("a pending payment");
        // The real packet's data, from the BZ's send event.
        let q = format!("send_packet.packet_sequence = '{seq}'");
        let found = net
            .bz
            .client()
            .tx_search(q.parse().expect("query"), false, 1, 10, tendermint_rpc::Order::Ascending)
            .await
            .expect("search");
        let ev = found.txs[0].tx_result.events.iter().find(|e| e.kind == "send_packet").expect("event");
        let get = |k: &str| {
            ev.attributes
                .iter()
                .find(|a| a.key_str().ok() == Some(k))
                .and_then(|a| a.value_str().ok())
                .expect(k)
                .to_owned()
        };
        let packet = Packet {
            sequence: seq,
            source_port: "settlement".into(),
            source_channel: bz_channel.into(),
            destination_port: "settlement".into(),
            destination_channel: net.channel.clone(),
            data: hex::decode(get("packet_data_hex")).expect("hex"),
            timeout_height: Some(RawHeight { revision_number: 0, revision_height: 0 }),
            timeout_timestamp: get("packet_timeout_timestamp").parse().expect("ts"),
        };
        // A genuine proof at a height the FZ's client has a consensus state for.
        let client_height: u64 = {
            let out: Value = serde_json::from_str(&net.relayer.run("show-path")).expect("json");
            out["fz_client_height_of_bz"].as_u64().expect("h")
        };
        let bz_h = client_height - 1;
        let key = format!("commitments/ports/settlement/channels/{bz_channel}/sequences/{seq}");
        let r = net
            .bz
            .client()
            .abci_query(Some("/store".into()), key.as_bytes().to_vec(), Some(bz_h.try_into().expect("h")), true)
            .await
            .expect("proof");
        let proof_of = |ops: &tendermint::merkle::proof::ProofOps| {
            kawase_ibc::ibc_proto::ibc::core::commitment::v1::MerkleProof {
                proofs: ops
                    .ops
                    .iter()
                    .map(|o| kawase_ibc::ibc_proto::ics23::CommitmentProof::decode(o.data.as_slice()).expect("proof"))
                    .collect(),
            }
            .encode_to_vec()
        };
        let real_proof = r.proof.as_ref().map(proof_of).expect("proof");
        let recv = |packet: Packet, proof: Vec<u8>, h: u64| CosmosAny {
            type_url: MsgRecvPacket::type_url(),
            value: MsgRecvPacket {
                packet: Some(packet),
                proof_commitment: proof,
                proof_height: Some(RawHeight { revision_number: 0, revision_height: h }),
                signer: relayer_key.address().to_string(),
            }
            .encode_to_vec(),
        };
        // The commitment may not exist yet at that height: only then is the
        // "genuine" proof a non-membership proof; skip to the forged cases.
        let mut tampered = real_proof.clone();
        let last = tampered.len() - 3;
        tampered[last] ^= 0x5a;
        let mut forged = packet.clone();
        forged.data = msgs_payment_to_self(&forged.data);
        for (what, msg) in [
            ("tampered proof", recv(packet.clone(), tampered, client_height)),
            ("wrong proof height", recv(packet.clone(), real_proof.clone(), client_height + 1000)),
            ("forged data", recv(forged, real_proof.clone(), client_height)),
        ] {
            let err = net.fz.submit(&relayer_key, vec![msg]).await.expect_err(what);
            assert_eq!(err.0, "ibc", "{what}: {err:?}");
        }
        // Nothing moved on the FZ.
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (300, 0));
        // The genuine packet still settles once the relayer is back.
        net.relayer.start();
        eventually(30, "real payment", || async { (net.bz.bz(&net.bob_bz).await == Some((10, 0))).then_some(()) })
            .await;
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (290, 10));
        net.assert_quiescent_invariant().await;
    });
}

/// The same packet bytes with the amount changed (a relayer forging data).
fn msgs_payment_to_self(data: &[u8]) -> Vec<u8> {
    let mut d = kawase_settlement::packet::PacketData::decode(data).expect("packet data");
    if let Some(kawase_settlement::packet::Kind::Payment(p)) = d.kind.as_mut() {
        p.amount = "999999".into();
    }
    d.encode_to_vec()
}

#[test]
fn relayer_killed_again_and_again_mid_batch_settles_every_payment_exactly_once() {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let mut net = network().await;
        net.relayer.start();
        net.link_both().await;
        let ch = net.channel.clone();
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, 1_000, 0)]).await;
        eventually(30, "charge", || async { (net.bz.bz(&net.alice_bz).await == Some((1_000, 0))).then_some(()) }).await;

        // 300 payments in transactions of 25, while the relayer is killed
        // (SIGKILL) and restarted three times.
        let amounts: Vec<u128> = (0..300u128).map(|i| i % 3 + 1).collect();
        let sum: u128 = amounts.iter().sum();
        let (a, b) = (net.alice_bz.address(), net.bob_bz.address());
        let submit = async {
            for chunk in amounts.chunks(25) {
                let batch = chunk.iter().map(|x| msgs::pay(a, b, *x, "batch", 0)).collect();
                net.bz.ok(&net.alice_bz, batch).await;
            }
        };
        let relayer = &mut net.relayer;
        let chaos = async {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(900)).await;
                relayer.kill();
                tokio::time::sleep(Duration::from_millis(300)).await;
                relayer.start();
            }
        };
        tokio::join!(submit, chaos);

        eventually(120, "every payment settled", || async {
            (net.bz.bz(&net.bob_bz).await == Some((sum, 0))).then_some(())
        })
        .await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((1_000 - sum, 0)));
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (1_000 - sum, sum));
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, sum);
        let holds = net.bz.query("/settlement/holds", b"").await.expect("holds");
        assert_eq!(holds, serde_json::json!([]));
        net.assert_quiescent_invariant().await;
    });
}
