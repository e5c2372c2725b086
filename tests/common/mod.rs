//! Helpers shared by the system tests and the zone load generator: the
//! `kawased` cargo built, starting it, and the admin key a home holds.
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use kawase_client::{Key, KeyKind};

pub const BIN: &str = env!("CARGO_BIN_EXE_kawased");

/// Starts `kawased start --home HOME` (stderr to `HOME/node.log`) and
/// returns the process with its RPC URL, once it has printed `ready`.
pub fn start_node(home: &Path, rust_log: &str) -> (Child, String) {
    let log = std::fs::File::create(home.join("node.log")).expect("log file");
    let mut child = Command::new(BIN)
        .args(["start", "--home", home.to_str().expect("utf8")])
        .env("RUST_LOG", rust_log)
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
