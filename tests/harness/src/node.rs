//! One node: the binaries cargo built, starting `kawased`, the admin key a
//! home holds, free loopback port ranges, and a quick multi-validator testnet.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

/// A child process killed when the test ends, however it ends.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kawased start --home HOME` (stderr to `HOME/node.log`) and
/// returns the process with its RPC URL, once it has printed `ready`.
pub fn start_node(home: &Path, rust_log: &str) -> (Child, String) {
    start_node_with_env(home, rust_log, &[])
}

/// [`start_node`] with extra environment (e.g. the test-only crash hook
/// `KAWASE_CRASH_AT`). The log is appended to, so it survives restarts.
pub fn start_node_with_env(home: &Path, rust_log: &str, env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(kawased());
    cmd.args(["start", "--home"]).arg(home).env("RUST_LOG", rust_log).envs(env.iter().copied());
    let ready = start_logged(&mut cmd, &home.join("node.log"), START_LIMIT)
        .unwrap_or_else(|e| panic!("{} did not start: {e}", home.display()));
    let rpc = ready.rpc.unwrap_or_else(|| panic!("{} announced no RPC address", home.display()));
    (ready.child, rpc)
}

/// How long a starting node or relayer may take to print `ready`.
pub const START_LIMIT: Duration = Duration::from_secs(120);

/// A process that printed `ready`, and the RPC address it announced
/// (`rpc listening on tcp://ADDR`), if it did.
pub struct Ready {
    pub child: Child,
    pub rpc: Option<String>,
}

/// How every node and relayer of the harness starts: `cmd` with stdout
/// piped and stderr appended to `log` (so it survives restarts), waiting up
/// to `limit` for `ready` on stdout. Stdout is read to its end on a thread
/// and copied into `log` as `[stdout] ...` lines, so the child never blocks
/// on a full pipe. If the child exits or is too slow it is killed, and the
/// error holds the log's last lines.
pub fn start_logged(cmd: &mut Command, log: &Path, limit: Duration) -> Result<Ready, String> {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::from(file)).spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let copy = log.to_path_buf();
    std::thread::spawn(move || {
        let mut rpc = None;
        let mut sent = false;
        let mut sink = std::fs::OpenOptions::new().create(true).append(true).open(copy).ok();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("rpc listening on tcp://") {
                rpc = Some(format!("http://{a}"));
            }
            if !sent && line == "ready" {
                let _ = tx.send(Some(rpc.clone()));
                sent = true;
            }
            if let Some(f) = sink.as_mut() {
                let _ = writeln!(f, "[stdout] {line}");
            }
        }
        if !sent {
            let _ = tx.send(None);
        }
    });
    match rx.recv_timeout(limit) {
        Ok(Some(rpc)) => Ok(Ready { child, rpc }),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            let why = if other.is_err() { "did not become ready in time" } else { "exited before ready" };
            Err(format!("{why}:\n{}", tail(log, 15)))
        }
    }
}

/// The last `n` lines of a log.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The admin key `kawased init`/`testnet` wrote into a home.
pub fn admin_key(home: &Path) -> Key {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("keys/admin.json")).expect("admin key")).expect("json");
    let secret: [u8; 32] =
        hex::decode(v["secret_hex"].as_str().expect("hex")).expect("hex").try_into().expect("32 bytes");
    Key::from_seed(KeyKind::Ed25519, secret).expect("key")
}

/// The first port of a loopback range of `span` ports (at most 100) that is
/// free now and that no other test of this process has been given: ranges
/// are 100-port blocks below Linux's ephemeral range (32768..), handed out
/// once each, so tests running side by side in one binary never probe the
/// same ports.
pub fn free_ports(span: u16) -> u16 {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    const FIRST: u16 = 20_000;
    const BLOCKS: u16 = 120;
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    assert!(span <= 100, "a port range is at most 100 ports");
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Start where this process's id points, so two test binaries run side by
    // side by hand (cargo runs them one at a time) rarely start together.
    let start = (std::process::id() as u16).wrapping_mul(41) % BLOCKS;
    for k in (0..BLOCKS).map(|i| (start + i) % BLOCKS) {
        let base = FIRST + k * 100;
        if given.contains(&base) {
            continue;
        }
        if (0..span).all(|p| TcpListener::bind(("127.0.0.1", base + p)).is_ok()) {
            given.insert(base);
            return base;
        }
    }
    panic!("no free loopback port range of {span} ports");
}

/// A base port whose testnet range (`base .. base + 10 n`) is free now.
pub fn free_base(n: u16) -> u16 {
    free_ports(n * 10)
}

/// `kawased testnet` with `n` validators under `dir` on free loopback ports
/// and short timeouts (quick tests); the validators' homes.
pub fn testnet(dir: &Path, n: u16, chain_id: &str) -> Vec<PathBuf> {
    let base = free_base(n);
    let out = Command::new(kawased())
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
