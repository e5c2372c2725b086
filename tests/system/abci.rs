//! System tests: real `kawased` processes on loopback sockets.
//!
//! Until embedded consensus lands, the test itself plays CometBFT's part on
//! the ABCI socket (InitChain, FinalizeBlock, Commit, Query, CheckTx) with
//! the `tendermint-abci` client, as CometBFT would.
use std::path::Path;
use std::process::Command;

use kawase_accounts::Role;
use kawase_client::{build_tx, msgs, Key, KeyKind, TxParams};
use tendermint_abci::ClientBuilder;
use tendermint_proto::v0_38::abci::{
    RequestCheckTx, RequestFinalizeBlock, RequestInfo, RequestInitChain, RequestQuery,
};

use kawase_testkit::node::{admin_key, kawased};
use kawase_testkit::process::{Launch, Process};

fn run(args: &[&str]) -> String {
    let out = Command::new(kawased()).args(args).output().expect("run kawased");
    assert!(out.status.success(), "kawased {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kawased abci` on a free loopback port (logging to `HOME/abci.log`),
/// started, and the address it listens on.
fn start_abci(node: &mut Process) -> String {
    node.start();
    node.addr("abci").expect("abci address").to_owned()
}

fn abci_node(home: &Path) -> Process {
    Launch::new(kawased(), home, home.join("abci.log"))
        .args(["abci", "--home", home.to_str().expect("utf8"), "--laddr", "tcp://127.0.0.1:0"])
        .ready_prefix("abci listening on tcp://")
        .announces("abci")
        .stopped()
}

fn sign(key: &Key, number: u64, sequence: u64, msgs: Vec<cosmrs::Any>) -> Vec<u8> {
    let p = TxParams {
        chain_id: "kawase-fz-sys".into(),
        account_number: number,
        sequence,
        memo: String::new(),
        timeout_height: 0,
    };
    build_tx(key, &p, msgs).expect("tx")
}

fn balance(client: &mut tendermint_abci::Client, who: &Key) -> String {
    let q = client
        .query(RequestQuery {
            path: "/token/balance".into(),
            data: who.address().to_string().into_bytes().into(),
            height: 0,
            prove: false,
        })
        .expect("query");
    let v: serde_json::Value = serde_json::from_slice(&q.value).expect("json");
    v["amount"].as_str().expect("amount").to_string()
}

#[test]
fn abci_node_process_serves_blocks_over_the_socket_and_resumes_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("fz");
    let h = home.to_str().expect("utf8");
    run(&["init", "--home", h, "--chain-id", "kawase-fz-sys", "--zone", "fz"]);
    use std::os::unix::fs::PermissionsExt;
    for f in ["config/priv_validator_key.json", "config/node_key.json", "keys/admin.json"] {
        let mode = std::fs::metadata(home.join(f)).expect("key file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f} must be private");
    }
    // A second init must not clobber keys.
    let again =
        Command::new(kawased()).args(["init", "--home", h, "--chain-id", "x", "--zone", "fz"]).output().expect("run");
    assert!(!again.status.success());

    let genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("config/genesis.json")).expect("genesis"))
            .expect("json");
    assert_eq!(genesis["chain_id"], "kawase-fz-sys");
    assert_eq!(genesis["validators"].as_array().map(Vec::len), Some(1));
    let app_state = serde_json::to_vec(&genesis["app_state"]).expect("app state");

    let admin = admin_key(&home);
    let bank = Key::generate(KeyKind::Secp256k1);
    let alice = Key::generate(KeyKind::Ed25519);
    let mut node = abci_node(&home);
    let addr = start_abci(&mut node);
    let mut client = ClientBuilder::default().connect(addr.as_str()).expect("connect");
    let info = client.info(RequestInfo::default()).expect("info");
    assert_eq!(info.last_block_height, 0);
    let init = client
        .init_chain(RequestInitChain {
            chain_id: "kawase-fz-sys".into(),
            app_state_bytes: app_state.into(),
            initial_height: 1,
            ..Default::default()
        })
        .expect("init chain");
    assert_eq!(init.app_hash.len(), 32);

    // Block 1: the admin registers a bank. Block 2: the bank onboards and funds Alice.
    let block = |client: &mut tendermint_abci::Client, height: i64, txs: Vec<Vec<u8>>| {
        for tx in &txs {
            let r = client.check_tx(RequestCheckTx { tx: tx.clone().into(), r#type: 0 }).expect("check");
            assert_eq!(r.code, 0, "CheckTx: {}", r.log);
        }
        let r = client
            .finalize_block(RequestFinalizeBlock {
                txs: txs.into_iter().map(Into::into).collect(),
                height,
                ..Default::default()
            })
            .expect("finalize");
        for t in &r.tx_results {
            assert_eq!(t.code, 0, "{}", t.log);
        }
        client.commit().expect("commit");
        r.app_hash
    };
    block(
        &mut client,
        1,
        vec![sign(&admin, 0, 0, vec![msgs::register_bank(admin.address(), bank.address(), "Socket Bank")])],
    );
    let hash2 = block(
        &mut client,
        2,
        vec![
            sign(&bank, 1, 0, vec![msgs::register_account(bank.address(), alice.address(), Role::Customer, "S-1")]),
            sign(&bank, 1, 1, vec![msgs::issue(bank.address(), alice.address(), 12_345, "s-ref-1")]),
        ],
    );
    assert_eq!(balance(&mut client, &alice), "12345");
    // A replayed transaction is refused over the socket with its code.
    let replay = sign(&bank, 1, 1, vec![msgs::issue(bank.address(), alice.address(), 1, "s-ref-2")]);
    let r = client.check_tx(RequestCheckTx { tx: replay.into(), r#type: 0 }).expect("check");
    assert_eq!((r.codespace.as_str(), r.code), ("tx", 6));

    // SIGKILL the node and start it again on the same home.
    drop(client);
    node.kill();
    let addr = start_abci(&mut node);
    let mut client = ClientBuilder::default().connect(addr.as_str()).expect("reconnect");
    let info = client.info(RequestInfo::default()).expect("info");
    assert_eq!(info.last_block_height, 2);
    assert_eq!(info.last_block_app_hash, hash2);
    assert_eq!(balance(&mut client, &alice), "12345");
}

#[test]
fn demo_command_runs_the_payment_tour_and_checks_invariants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&["demo", "--home", dir.path().join("demo").to_str().expect("utf8")]);
    assert!(out.contains("Alice   70000 yen   Bob   20000 yen"), "{out}");
    assert!(out.contains("invariants hold"), "{out}");
}

#[test]
fn init_with_keystore_writes_no_plain_admin_key_and_a_world_readable_validator_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("fz");
    let keys = dir.path().join("keys");
    let out = Command::new(kawased())
        .args(["init", "--home", home.to_str().expect("utf8"), "--chain-id", "kawase-ks", "--zone", "fz"])
        .args(["--keystore", "--keyring-dir", keys.to_str().expect("utf8")])
        .env("KAWASE_PASSPHRASE", "correct horse battery")
        .output()
        .expect("run");
    assert!(out.status.success(), "init --keystore: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!home.join("keys/admin.json").exists(), "no plain admin key beside an encrypted one");
    let listed = Command::new(kawased())
        .args(["keys", "list", "--keyring-dir", keys.to_str().expect("utf8")])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("admin"), "the admin key is in the keystore");

    // A validator key that others may read is not this node's key any more.
    let pv = home.join("config/priv_validator_key.json");
    std::fs::set_permissions(&pv, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let start = Command::new(kawased()).args(["start", "--home", home.to_str().expect("utf8")]).output().expect("run");
    assert!(!start.status.success(), "start must refuse a 0644 validator key");
    let err = String::from_utf8_lossy(&start.stderr);
    assert!(err.contains("chmod 600"), "the error says how to fix it: {err}");
}
