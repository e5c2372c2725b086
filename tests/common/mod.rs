//! Helpers shared by the system tests and the zone load generator: the
//! `kawased` cargo built, starting it, and the admin key a home holds.
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use kawase_client::{Key, KeyKind};

pub const BIN: &str = env!("CARGO_BIN_EXE_kawased");

/// Starts `kawased start --home HOME` (stderr to `HOME/node.log`) and
/// returns the process with its RPC URL, once it has printed `ready`.
pub fn start_node(home: &Path, rust_log: &str) -> (Child, String) {
    start_node_with_env(home, rust_log, &[])
}

/// [`start_node`] with extra environment (e.g. the test-only crash hook
/// `KAWASE_CRASH_AT`). The log is appended to, so it survives restarts.
pub fn start_node_with_env(home: &Path, rust_log: &str, env: &[(&str, &str)]) -> (Child, String) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(home.join("node.log")).expect("log file");
    let mut child = Command::new(BIN)
        .args(["start", "--home", home.to_str().expect("utf8")])
        .env("RUST_LOG", rust_log)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn kawased start");
    let stdout = child.stdout.take().expect("stdout");
    let mut rpc = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("stdout line");
        if let Some(a) = line.strip_prefix("rpc listening on tcp://") {
            rpc = Some(format!("http://{a}"));
        }
        if line == "ready" {
            break;
        }
    }
    let rpc = rpc.unwrap_or_else(|| {
        let log = std::fs::read_to_string(home.join("node.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
        panic!("{} did not start:\n{}", home.display(), tail.join("\n"))
    });
    (child, rpc)
}

/// The admin key `kawased init`/`testnet` wrote into a home.
pub fn admin_key(home: &Path) -> Key {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("keys/admin.json")).expect("admin key")).expect("json");
    let secret: [u8; 32] =
        hex::decode(v["secret_hex"].as_str().expect("hex")).expect("hex").try_into().expect("32 bytes");
    Key::from_seed(KeyKind::Ed25519, secret).expect("key")
}

/// A base port whose testnet range (`base .. base + 10 n`) is free now.
pub fn free_base(n: u16) -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let seed = (std::process::id() as u16).wrapping_add(NEXT.fetch_add(11, std::sync::atomic::Ordering::Relaxed));
    for attempt in 0..200u16 {
        // Below Linux's ephemeral range (32768..); offset from the other
        // suites' ranges so parallel test binaries rarely probe the same ports.
        let base = 20_030 + ((seed.wrapping_mul(41).wrapping_add(attempt * 83)) % 120) * 100;
        if (0..n * 10).all(|p| TcpListener::bind(("127.0.0.1", base + p)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range");
}

/// `kawased testnet` with `n` validators under `dir` on free loopback ports
/// and short timeouts (quick tests); the validators' homes.
pub fn testnet(dir: &Path, n: u16, chain_id: &str) -> Vec<PathBuf> {
    let base = free_base(n);
    let out = Command::new(BIN)
        .args(["testnet", "--validators", &n.to_string(), "--output"])
        .arg(dir)
        .args(["--chain-id", chain_id, "--base-port", &base.to_string()])
        .output()
        .expect("run kawased testnet");
    assert!(out.status.success(), "testnet: {}", String::from_utf8_lossy(&out.stderr));
    (0..n)
        .map(|i| {
            let home = dir.join(format!("node{i}"));
            let cfg = home.join("config/config.toml");
            let text = std::fs::read_to_string(&cfg).expect("config");
            let text = text
                .replace("timeout_propose = \"3s\"", "timeout_propose = \"1s\"")
                .replace("timeout_prevote = \"1s\"", "timeout_prevote = \"500ms\"")
                .replace("timeout_precommit = \"1s\"", "timeout_precommit = \"500ms\"")
                .replace("timeout_commit = \"500ms\"", "timeout_commit = \"200ms\"");
            std::fs::write(&cfg, text).expect("config");
            home
        })
        .collect()
}
