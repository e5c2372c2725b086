//! A node's files: the binaries cargo built, the admin key a home holds,
//! free loopback port ranges, and testnet homes (`kawased testnet` on free
//! ports, config edits, quick timeouts). Starting one is [`crate::process`].
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use kawase_client::{Key, KeyKind};

/// A binary cargo built into the same profile directory as the running
/// test or bench (`target/<profile>/deps/<exe>` -> `target/<profile>/<name>`):
/// `cargo test --workspace` builds every workspace binary there.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let p = exe.parent().and_then(Path::parent).expect("target/<profile>").join(name);
    assert!(
        p.exists(),
        "{} missing: build the workspace (cargo test --workspace, or the bench script) first",
        p.display()
    );
    p
}

pub fn kawased() -> PathBuf {
    bin("kawased")
}

pub fn relayer_bin() -> PathBuf {
    bin("kawase-relayer")
}

/// The admin key `kawased init`/`testnet` wrote into a home.
pub fn admin_key(home: &Path) -> Key {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("keys/admin.json")).expect("admin key")).expect("json");
    let secret: [u8; 32] =
        hex::decode(v["secret_hex"].as_str().expect("hex")).expect("hex").try_into().expect("32 bytes");
    Key::from_seed(KeyKind::Ed25519, secret).expect("key")
}

/// The first port of a loopback range of `span` ports that is free now and
/// that no other test of this process has been given: ranges are whole
/// 100-port blocks below Linux's ephemeral range (32768..), handed out once
/// each, so tests running side by side in one binary never probe the same
/// ports.
pub fn free_ports(span: u16) -> u16 {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    const FIRST: u16 = 20_000;
    const BLOCKS: u16 = 120;
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let blocks = span.div_ceil(100).max(1);
    assert!(blocks <= BLOCKS, "no port range of {span} ports below the ephemeral range");
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Start where this process's id points, so two test binaries run side by
    // side by hand (cargo runs them one at a time) rarely start together.
    let starts = BLOCKS - blocks + 1;
    let start = (std::process::id() as u16).wrapping_mul(41) % starts;
    for k in (0..starts).map(|i| (start + i) % starts) {
        let mine: Vec<u16> = (k..k + blocks).map(|b| FIRST + b * 100).collect();
        if mine.iter().any(|b| given.contains(b)) {
            continue;
        }
        if (0..span).all(|p| TcpListener::bind(("127.0.0.1", mine[0] + p)).is_ok()) {
            given.extend(&mine);
            return mine[0];
        }
    }
    panic!("no free loopback port range of {span} ports");
}

/// A base port whose testnet range (`base .. base + 10 n`) is free now.
pub fn free_base(n: u16) -> u16 {
    free_ports(n * 10)
}

/// `kawased testnet --validators N --output DIR --chain-id C` with `extra`
/// arguments (e.g. `--zone bz`) on a free loopback port range; the homes
/// (`DIR/node0` ...).
pub fn write_testnet(dir: &Path, n: u16, chain_id: &str, extra: &[&str]) -> Vec<PathBuf> {
    let base = free_base(n);
    let out = Command::new(kawased())
        .args(["testnet", "--validators", &n.to_string(), "--output"])
        .arg(dir)
        .args(["--chain-id", chain_id, "--base-port", &base.to_string()])
        .args(extra)
        .output()
        .expect("run kawased testnet");
    assert!(out.status.success(), "testnet: {}", String::from_utf8_lossy(&out.stderr));
    (0..n).map(|i| dir.join(format!("node{i}"))).collect()
}

/// A home's `config/config.toml`, parsed.
pub fn config(home: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(home.join("config/config.toml")).expect("config")).expect("toml")
}

/// Writes a home's `config/config.toml`.
pub fn write_config(home: &Path, c: &toml::Table) {
    std::fs::write(home.join("config/config.toml"), toml::to_string(c).expect("toml")).expect("config");
}

/// Sets `key = "value"` in `[section]` of a parsed config.
pub fn set(c: &mut toml::Table, section: &str, key: &str, value: &str) {
    let s = c.entry(section.to_owned()).or_insert_with(|| toml::Value::Table(Default::default()));
    s.as_table_mut().expect("section").insert(key.into(), toml::Value::String(value.into()));
}

/// Sets `[consensus]` timeouts (`timeout_commit`, ...) in a home's config.
pub fn set_timeouts(home: &Path, timeouts: &[(&str, &str)]) {
    let mut c = config(home);
    for (k, v) in timeouts {
        set(&mut c, "consensus", k, v);
    }
    write_config(home, &c);
}

/// The quick tests' consensus timeouts (the defaults are 3 s, 1 s, 1 s, 500 ms).
pub const QUICK_TIMEOUTS: [(&str, &str); 4] = [
    ("timeout_propose", "1s"),
    ("timeout_prevote", "500ms"),
    ("timeout_precommit", "500ms"),
    ("timeout_commit", "200ms"),
];

/// `kawased testnet` with `n` validators under `dir` on free loopback ports
/// and [`QUICK_TIMEOUTS`]; the validators' homes.
pub fn testnet(dir: &Path, n: u16, chain_id: &str) -> Vec<PathBuf> {
    let homes = write_testnet(dir, n, chain_id, &[]);
    for home in &homes {
        set_timeouts(home, &QUICK_TIMEOUTS);
    }
    homes
}

/// A zone for the load benches: `kawased testnet` with `n` validators under
/// `dir`, `timeout_commit` set, every node started logging at `warn`; the
/// homes and the running processes.
pub fn start_bench_zone(
    dir: &Path,
    n: u16,
    chain_id: &str,
    timeout_commit: &str,
) -> (Vec<PathBuf>, Vec<crate::process::Process>) {
    // On free ports below the ephemeral range, so outgoing connections cannot take them.
    let homes = write_testnet(dir, n, chain_id, &[]);
    for h in &homes {
        set_timeouts(h, &[("timeout_commit", timeout_commit)]);
    }
    let nodes = homes.iter().map(|h| crate::process::Launch::node(h).rust_log("warn").start()).collect();
    (homes, nodes)
}
