//! System tests of the zone node: real `kawased start` processes running
//! Malachite consensus among themselves over loopback, queried through
//! their JSON-RPC with tendermint-rpc's own client.
use std::process::Command;
use std::time::Duration;

use kawase_client::{build_tx, msgs, Key, KeyKind, TxParams};
use tendermint_light_client_verifier::options::Options;
use tendermint_light_client_verifier::types::{TrustThreshold, TrustedBlockState, UntrustedBlockState};
use tendermint_light_client_verifier::{ProdVerifier, Verdict, Verifier};

use kawase_testkit::node::{admin_key, free_base, kawased, testnet};
use kawase_testkit::process::{Launch, Process};
use kawase_testkit::rpc::{self, Query, Rpc};

/// The tests run one at a time: each starts up to four validators, and
/// several zones at once would starve a 2-core machine into timeouts.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A `kawased start` process logging at `info` (SIGKILLed when dropped).
fn start(home: &std::path::Path) -> Process {
    Launch::node(home).start()
}

/// A crash and a restart: SIGKILL, then start on the same home.
fn crash_restart(node: &mut Process) {
    node.kill();
    node.start();
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

async fn height(node: &Process) -> Option<u64> {
    match node.client().height().await {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("status from {}: {e}", node.rpc());
            None
        }
    }
}

/// Waits until every node reports at least height `h`.
async fn wait_all(nodes: &[&Process], h: u64, within: Duration) {
    let clients: Vec<Rpc> = nodes.iter().map(|n| n.client()).collect();
    if let Err(hs) = rpc::wait_all(&clients, h, within).await {
        panic!("nodes at heights {hs:?}, wanted {h}");
    }
}

/// All nodes agree on block hash and app hash at every height up to `h`.
async fn assert_agree(nodes: &[&Process], h: u64) {
    for height in 1..=h {
        let mut seen = None;
        for n in nodes {
            let b = n.client().block(height).await.expect("block");
            let got = (b.block_id.hash, b.block.header.app_hash.clone());
            match &seen {
                None => seen = Some(got),
                Some(s) => assert_eq!(s, &got, "nodes disagree at height {height}"),
            }
        }
    }
}

fn register_bank_tx(admin: &Key, chain_id: &str, sequence: u64, bank: &Key, name: &str) -> Vec<u8> {
    let p = TxParams { chain_id: chain_id.into(), account_number: 0, sequence, memo: String::new(), timeout_height: 0 };
    build_tx(admin, &p, vec![msgs::register_bank(admin.address(), bank.address(), name)]).expect("tx")
}

#[test]
fn four_validators_commit_the_same_blocks_and_survive_crashes_of_a_minority() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let homes = testnet(dir.path(), 4, "kawase-zone-4");
    // Three of four are a quorum; the fourth starts late and syncs from height 1.
    let mut nodes: Vec<Process> = homes[..3].iter().map(|h| start(h)).collect();
    rt().block_on(async {
        let first: Vec<&Process> = nodes.iter().collect();
        wait_all(&first, 4, Duration::from_secs(60)).await;
    });
    nodes.push(start(&homes[3]));
    rt().block_on(async {
        let all: Vec<&Process> = nodes.iter().collect();
        let h = height(&nodes[0]).await.expect("h") + 1;
        wait_all(&all, h, Duration::from_secs(60)).await;
        assert_agree(&all, h).await;
    });

    // One validator crashes: three of four keep committing.
    nodes[3].kill();
    let before = rt().block_on(height(&nodes[0])).expect("h");
    rt().block_on(async {
        let live: Vec<&Process> = nodes[..3].iter().collect();
        wait_all(&live, before + 3, Duration::from_secs(60)).await;
    });
    // It comes back, catches up and agrees.
    crash_restart(&mut nodes[3]);
    let target = rt().block_on(height(&nodes[0])).expect("h") + 2;
    rt().block_on(async {
        let all: Vec<&Process> = nodes.iter().collect();
        wait_all(&all, target, Duration::from_secs(90)).await;
        assert_agree(&all, target).await;
    });

    // Two of four stop: no quorum, no commits (and so no fork).
    nodes[2].kill();
    nodes[3].kill();
    let stalled_at = rt().block_on(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let a = height(&nodes[0]).await.expect("h");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let b = height(&nodes[0]).await.expect("h");
        let c = height(&nodes[1]).await.expect("h");
        assert_eq!(a, b, "committed without a quorum");
        assert!(c <= b + 1);
        b
    });
    crash_restart(&mut nodes[2]);
    crash_restart(&mut nodes[3]);
    rt().block_on(async {
        let all: Vec<&Process> = nodes.iter().collect();
        wait_all(&all, stalled_at + 3, Duration::from_secs(120)).await;
        assert_agree(&all, stalled_at + 3).await;
    });
}

/// `kawased testnet --hosts`: the layout for validators on separate
/// machines. Four loopback addresses stand in for four machines (Linux
/// answers on all of 127.0.0.0/8): every node uses the same ports, so they
/// only reach each other if each listens on its own host and is dialled there.
#[test]
fn validators_given_separate_hosts_listen_and_are_dialled_there_and_commit_together() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = kawase_testkit::node::free_ports(10);
    let hosts: Vec<String> = (2..6).map(|k| format!("127.0.0.{k}")).collect();
    let out = Command::new(kawased())
        .args(["testnet", "--validators", "4", "--chain-id", "kawase-hosts", "--base-port", &base.to_string()])
        .arg("--output")
        .arg(dir.path())
        .args(["--hosts", &hosts.join(",")])
        .output()
        .expect("run kawased testnet");
    assert!(out.status.success(), "testnet --hosts: {}", String::from_utf8_lossy(&out.stderr));
    let homes: Vec<std::path::PathBuf> = (0..4).map(|i| dir.path().join(format!("node{i}"))).collect();
    for (i, home) in homes.iter().enumerate() {
        let c = kawase_testkit::node::config(home);
        let field = |section: &str, key: &str| c[section][key].as_str().expect("string").to_owned();
        assert_eq!(field("p2p", "laddr"), format!("tcp://{}:{base}", hosts[i]), "node{i} listens on its host");
        assert_eq!(field("rpc", "laddr"), format!("tcp://{}:{}", hosts[i], base + 1));
        for (j, host) in hosts.iter().enumerate().filter(|(j, _)| *j != i) {
            assert!(field("p2p", "persistent_peers").contains(&format!("@{host}:{base}")), "node{i} dials node{j}");
            assert!(field("mempool", "gossip_peers").contains(&format!("@{host}:{}", base + 3)), "gossip to node{j}");
        }
        kawase_testkit::node::set_timeouts(home, &kawase_testkit::node::QUICK_TIMEOUTS);
    }
    let nodes: Vec<Process> = homes.iter().map(|h| start(h)).collect();
    for (i, n) in nodes.iter().enumerate() {
        assert!(n.rpc().contains(&hosts[i]), "node{i} serves RPC on its host: {}", n.rpc());
    }
    rt().block_on(async {
        let all: Vec<&Process> = nodes.iter().collect();
        wait_all(&all, 4, Duration::from_secs(90)).await;
        assert_agree(&all, 4).await;
    });
    let bad = Command::new(kawased())
        .args(["testnet", "--validators", "2", "--hosts", "127.0.0.2", "--output"])
        .arg(dir.path().join("bad"))
        .output()
        .expect("run kawased testnet");
    assert!(!bad.status.success(), "one host for two validators is refused");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("one per validator"));
    assert!(!dir.path().join("bad").exists(), "nothing is written for a refused layout");
}

#[test]
fn transactions_sent_to_any_node_are_committed_once_and_found_everywhere() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let chain_id = "kawase-zone-tx";
    let homes = testnet(dir.path(), 4, chain_id);
    let nodes: Vec<Process> = homes.iter().map(|h| start(h)).collect();
    let admin = admin_key(&homes[0]);
    rt().block_on(async {
        let all: Vec<&Process> = nodes.iter().collect();
        wait_all(&all, 1, Duration::from_secs(60)).await;
        let mut hashes = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let bank = Key::generate(KeyKind::Ed25519);
            let tx = register_bank_tx(&admin, chain_id, i as u64, &bank, &format!("Bank {i}"));
            let r = node.client().broadcast_tx_commit(tx).await.expect("broadcast_tx_commit");
            assert!(r.check_tx.code.is_ok(), "check_tx: {}", r.check_tx.log);
            assert!(r.tx_result.code.is_ok(), "tx_result: {}", r.tx_result.log);
            hashes.push((r.hash, r.height));
        }
        // A replay of a committed transaction is refused.
        let replay = register_bank_tx(&admin, chain_id, 0, &Key::generate(KeyKind::Ed25519), "Again");
        let r = nodes[1].client().broadcast_tx_sync(replay).await.expect("sync");
        assert!(r.code.is_err(), "a replayed sequence must be rejected");

        let top = hashes.iter().map(|(_, h)| h.value()).max().expect("some");
        wait_all(&all, top, Duration::from_secs(30)).await;
        for node in &nodes {
            for (hash, h) in &hashes {
                let t = node.client().tx(*hash, true).await.expect("tx found on every node");
                assert_eq!(t.height, *h);
                assert!(t.tx_result.code.is_ok());
                let proof = t.proof.expect("proof asked for");
                let blk = node.client().block(h.value()).await.expect("block");
                assert_eq!(Some(proof.root_hash), blk.block.header.data_hash);
            }
            // Each transaction is in exactly one block.
            let found = node
                .client()
                .tx_search(Query::eq("message.sender", admin.address().to_string()), 100)
                .await
                .expect("tx_search");
            assert_eq!(found.total_count, hashes.len() as u32);
        }
    });
}

#[test]
fn headers_and_commits_over_rpc_verify_with_the_tendermint_light_client() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let homes = testnet(dir.path(), 4, "kawase-zone-lc");
    let nodes: Vec<Process> = homes.iter().map(|h| start(h)).collect();
    rt().block_on(async {
        let all: Vec<&Process> = nodes.iter().collect();
        wait_all(&all, 8, Duration::from_secs(90)).await;
        let c = nodes[1].client();
        let fetch = |h: u64| {
            let c = c.clone();
            async move {
                let sh = c.commit(h).await.expect("commit").signed_header;
                let vals = c.validators(h).await.expect("validators");
                let set = tendermint::validator::Set::without_proposer(vals.validators);
                (sh, set)
            }
        };
        let opts = Options {
            trust_threshold: TrustThreshold::ONE_THIRD,
            trusting_period: Duration::from_secs(3600),
            clock_drift: Duration::from_secs(10),
        };
        let now = tendermint::Time::now();
        let (trusted_sh, trusted_set) = fetch(2).await;
        let verify = |sh: &tendermint::block::signed_header::SignedHeader, set: &tendermint::validator::Set| {
            let untrusted = UntrustedBlockState { signed_header: sh, validators: set, next_validators: Some(set) };
            let trusted = TrustedBlockState {
                chain_id: &trusted_sh.header.chain_id,
                header_time: trusted_sh.header.time,
                height: trusted_sh.header.height,
                next_validators: &trusted_set,
                next_validators_hash: trusted_sh.header.next_validators_hash,
            };
            ProdVerifier::default().verify_update_header(untrusted, trusted, &opts, now)
        };
        // Adjacent (2 -> 3) and skipping (2 -> 7) verification.
        for target in [3u64, 7] {
            let (sh, set) = fetch(target).await;
            assert_eq!(verify(&sh, &set), Verdict::Success, "height {target} from 2");
        }
        // A tampered header does not verify.
        let (mut sh, set) = fetch(5).await;
        sh.header.app_hash = tendermint::AppHash::try_from(vec![1u8; 32]).expect("hash");
        assert_ne!(verify(&sh, &set), Verdict::Success);
    });
}

#[test]
fn a_single_validator_zone_from_init_commits_and_resumes_after_a_crash() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("solo");
    let out = Command::new(kawased())
        .args(["init", "--home", home.to_str().expect("utf8"), "--chain-id", "kawase-solo", "--zone", "fz"])
        .output()
        .expect("init");
    assert!(out.status.success());
    // Free ports instead of the defaults (other tests run in parallel).
    let base = free_base(1);
    let cfg = home.join("config/config.toml");
    let text = std::fs::read_to_string(&cfg).expect("config");
    let text = text
        .replace("127.0.0.1:26656", &format!("127.0.0.1:{}", base))
        .replace("127.0.0.1:26657", &format!("127.0.0.1:{}", base + 1))
        .replace("127.0.0.1:26658", &format!("127.0.0.1:{}", base + 2))
        .replace("127.0.0.1:26659", &format!("127.0.0.1:{}", base + 3))
        .replace("127.0.0.1:26660", &format!("127.0.0.1:{}", base + 4));
    std::fs::write(&cfg, text).expect("config");
    let mut node = start(&home);
    let admin = admin_key(&home);
    let reached = rt().block_on(async {
        wait_all(&[&node], 2, Duration::from_secs(30)).await;
        let bank = Key::generate(KeyKind::Ed25519);
        let r = node
            .client()
            .broadcast_tx_commit(register_bank_tx(&admin, "kawase-solo", 0, &bank, "Solo Bank"))
            .await
            .expect("commit");
        assert!(r.tx_result.code.is_ok(), "{}", r.tx_result.log);
        height(&node).await.expect("h")
    });
    crash_restart(&mut node);
    rt().block_on(async {
        wait_all(&[&node], reached + 2, Duration::from_secs(30)).await;
        assert_agree(&[&node], reached).await;
        let banks = node.client().abci_query("/accounts/banks", &[], None, false).await.expect("q");
        assert!(String::from_utf8_lossy(&banks.value).contains("Solo Bank"));
    });
    // Metrics are served in Prometheus text format.
    let metrics = kawase_testkit::http::get(&format!("127.0.0.1:{}", base + 4), "/metrics").expect("metrics");
    let height_line = metrics.lines().find(|l| l.starts_with("kawase_height ")).expect("kawase_height metric");
    let h: f64 = height_line["kawase_height ".len()..].trim().parse().expect("number");
    assert!(h >= (reached + 2) as f64, "{height_line}");
    assert!(metrics.contains("kawase_mempool_txs"));
    // Every block the node committed went through each phase it times.
    for phase in ["consensus", "store_decided", "finalize", "commit", "results"] {
        let key = format!("kawase_phase_seconds_count{{phase=\"{phase}\"}} ");
        let line = metrics.lines().find(|l| l.starts_with(&key)).unwrap_or_else(|| panic!("no {key}in\n{metrics}"));
        let n: f64 = line[key.len()..].trim().parse().expect("number");
        assert!(n >= 1.0, "{line}");
    }
}

fn signed(key: &Key, chain_id: &str, number: u64, sequence: u64, msgs: Vec<cosmrs::Any>) -> Vec<u8> {
    let p = TxParams {
        chain_id: chain_id.into(),
        account_number: number,
        sequence,
        memo: String::new(),
        timeout_height: 0,
    };
    build_tx(key, &p, msgs).expect("tx")
}

/// Two nodes whose mempools saw registrations in different orders (gossip
/// off, so each keeps its own): node 0 admits a payment signed with the
/// account number its view gave the payer, node 1's registration commits
/// first and the payer gets another number. The payment must then fail the
/// same way everywhere; a signature cached against the old number would
/// make node 0 alone accept it and split the zone.
#[test]
fn a_registration_race_between_two_mempools_never_splits_the_zone() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let chain_id = "kawase-zone-race";
    let homes = testnet(dir.path(), 2, chain_id);
    for home in &homes {
        let cfg = home.join("config/config.toml");
        let text = std::fs::read_to_string(&cfg).expect("config");
        let text: String = text
            .lines()
            .map(|l| if l.trim_start().starts_with("gossip_peers") { "gossip_peers = \"\"" } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&cfg, text).expect("config");
    }
    let nodes: Vec<Process> = homes.iter().map(|h| start(h)).collect();
    let admin = admin_key(&homes[0]);
    rt().block_on(async {
        let all: Vec<&Process> = nodes.iter().collect();
        wait_all(&all, 1, Duration::from_secs(60)).await;
        let (bank1, bank2) = (Key::generate(KeyKind::Ed25519), Key::generate(KeyKind::Ed25519));
        for (i, bank) in [&bank1, &bank2].into_iter().enumerate() {
            let r = nodes[0]
                .client()
                .broadcast_tx_commit(register_bank_tx(&admin, chain_id, i as u64, bank, &format!("Bank {i}")))
                .await
                .expect("commit");
            assert!(r.tx_result.code.is_ok(), "{}", r.tx_result.log);
        }
        let number = |k: &Key| {
            let k = k.address().to_string();
            let n = &nodes[0];
            async move {
                n.client().query("/accounts/account", k.as_bytes()).await.expect("query")["number"]
                    .as_u64()
                    .expect("number")
            }
        };
        let (n1, n2) = (number(&bank1).await, number(&bank2).await);
        let (mut seq1, mut seq2) = (0u64, 0u64);
        let mut races = 0;
        for attempt in 0..10 {
            let (x, c, y) =
                (Key::generate(KeyKind::Ed25519), Key::generate(KeyKind::Ed25519), Key::generate(KeyKind::Ed25519));
            // Next account number, as both nodes see it now.
            let next = n2 + 1 + 3 * attempt as u64;
            let register = signed(
                &bank1,
                chain_id,
                n1,
                seq1,
                vec![
                    msgs::register_account(bank1.address(), x.address(), kawase_accounts::Role::Customer, "X"),
                    msgs::register_account(bank1.address(), c.address(), kawase_accounts::Role::Customer, "C"),
                ],
            );
            let issue = signed(
                &bank1,
                chain_id,
                n1,
                seq1 + 1,
                vec![msgs::issue(bank1.address(), x.address(), 5, &format!("d{attempt}"))],
            );
            seq1 += 2;
            let pay = signed(&x, chain_id, next, 0, vec![msgs::transfer(x.address(), c.address(), 1)]);
            let other = signed(
                &bank2,
                chain_id,
                n2,
                seq2,
                vec![msgs::register_account(bank2.address(), y.address(), kawase_accounts::Role::Customer, "Y")],
            );
            seq2 += 1;
            let (c0, c1) = (nodes[0].client(), nodes[1].client());
            tokio::join!(
                async {
                    for tx in [register.clone(), issue.clone(), pay.clone()] {
                        let r = c0.broadcast_tx_sync(tx).await.expect("sync");
                        assert!(r.code.is_ok(), "node 0 admits: {}", r.log);
                    }
                },
                async {
                    let r = c1.broadcast_tx_sync(other.clone()).await.expect("sync");
                    assert!(r.code.is_ok(), "node 1 admits: {}", r.log);
                }
            );
            // Wait until both registrations committed, then a few blocks.
            let start = height(&nodes[0]).await.unwrap_or(0);
            wait_all(&all, start + 6, Duration::from_secs(60)).await;
            let top = height(&nodes[0]).await.unwrap_or(0).min(height(&nodes[1]).await.unwrap_or(0));
            assert_agree(&all, top).await;
            // Did node 1's registration win the race (x got another number)?
            if number(&x).await != next {
                races += 1;
                for n in &nodes {
                    let t = n.client().tx(tendermint::Hash::Sha256(sha256(&pay)), false).await;
                    assert!(
                        t.map(|t| t.tx_result.code.is_err()).unwrap_or(true),
                        "a stale signature committed as a success"
                    );
                }
            }
            if races >= 2 {
                break;
            }
        }
        assert!(races >= 1, "the race never happened in 10 attempts: the test proves nothing");
    });
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}
