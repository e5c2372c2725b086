//! `kawased devnet` and the CLI as a new user meets them: the README's tour
//! run literally against a devnet of real processes, the CLI's error paths,
//! and the keystore from the command line.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kawase_testkit::devnet::{devnet_command, free_ports, Devnet, Shell};
use kawase_testkit::node::kawased;

/// One step of the README tour: a command and the lines its output must contain.
struct Step {
    command: String,
    expect: Vec<String>,
}

/// The shell block between `<!-- tour:start -->` and `<!-- tour:end -->`:
/// `$ ` lines are commands, the lines under them their expected output
/// (`…` stands for text that differs between runs, such as addresses).
fn readme_tour() -> Vec<Step> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).expect("README");
    let start = readme.find("<!-- tour:start -->").expect("tour start marker");
    let end = readme.find("<!-- tour:end -->").expect("tour end marker");
    let mut steps: Vec<Step> = Vec::new();
    for line in readme[start..end].lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push(Step { command: cmd.to_string(), expect: Vec::new() });
        } else if line.starts_with("```") || line.starts_with("<!--") || line.trim().is_empty() || line.starts_with('#')
        {
            continue;
        } else if let Some(s) = steps.last_mut() {
            s.expect.push(line.to_string());
        }
    }
    steps
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Does some output line hold every `…`-separated piece of `pattern`, in order?
fn matches(output: &str, pattern: &str) -> bool {
    output.lines().any(|l| {
        let l = squash(l);
        let mut at = 0;
        pattern.split('…').map(squash).filter(|p| !p.is_empty()).all(|p| match l[at..].find(&p) {
            Some(i) => {
                at += i + p.len();
                true
            }
            None => false,
        })
    })
}

fn one_error_line(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what}: expected failure, got success: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: expected one line on stderr, got:\n{err}");
    assert!(lines[0].starts_with("error: "), "{what}: {err}");
    assert!(out.stdout.is_empty(), "{what}: nothing on stdout, got {}", String::from_utf8_lossy(&out.stdout));
    lines[0].to_string()
}

#[test]
fn readme_tour_runs_against_devnet_and_every_printed_balance_matches() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("devnet");
    let ports = free_ports(1);
    let mut devnet = Devnet::start(&data, ports, &[]);
    // TLS by default: the banner's URLs are https and the exports name the CA.
    assert!(
        devnet.banner.iter().any(|l| l.contains(&format!("https://127.0.0.1:{}", ports.0))),
        "{:#?}",
        devnet.banner
    );
    assert!(devnet.banner.iter().any(|l| l.contains(&format!("https://127.0.0.1:{}", ports.1))));
    assert!(devnet.shell.env.contains_key("KAWASE_CA_FILE"), "{:#?}", devnet.banner);

    // Keys are encrypted at rest and private.
    for entry in std::fs::read_dir(data.join("keys")).expect("keys dir") {
        let mode = entry.expect("entry").metadata().expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key files are 0600");
    }

    let steps = readme_tour();
    assert!(steps.len() >= 15, "the tour has its steps ({})", steps.len());
    for step in &steps {
        let is_query = step.command.contains(" query ");
        // A query may run before the relayer has carried a packet: retry
        // it (as the README tells the reader) until its answer is there.
        let deadline = Instant::now() + Duration::from_secs(if is_query { 40 } else { 0 });
        loop {
            let out = devnet.sh(&step.command);
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let missing: Vec<&String> = step.expect.iter().filter(|e| !matches(&stdout, e)).collect();
            if out.status.success() && missing.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                panic!(
                    "README step `{}`: missing {missing:?}\nstdout:\n{stdout}\nstderr:\n{}",
                    step.command,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    // The error paths a new user walks into: one line on stderr, non-zero exit.
    let cases: Vec<(&str, String, &str)> = vec![
        ("missing flag", "kawased tx token transfer --to bob --amount 5 --node $FZ".into(), "--from"),
        ("unknown key", "kawased tx token transfer --from mallory --to bob --amount 5 --node $FZ".into(), "mallory"),
        ("unknown payee", "kawased tx token transfer --from alice --to zed --amount 5 --node $FZ".into(), "zed"),
        ("node down", "kawased tx token transfer --from alice --to bob --amount 5 --node http://127.0.0.1:9".into(), "cannot reach"),
        ("wrong chain id", "kawased tx token transfer --from alice --to bob --amount 5 --node $FZ --chain-id kawase-bz".into(), "wrong chain id"),
        ("insufficient funds", "kawased tx token transfer --from carol --to bob --amount 5 --node $FZ".into(), "token/4"),
        ("bad amount", "kawased tx token transfer --from alice --to bob --amount 1.5 --node $FZ".into(), "whole yen"),
        ("unregistered signer", "kawased tx settlement pay --from carol --to bob --amount 5 --node $BZ".into(), "no account"),
        ("query node down", "kawased query token balance alice --node http://127.0.0.1:9".into(), "cannot reach"),
        ("wrong passphrase", "KAWASE_PASSPHRASE_FILE=/dev/null KAWASE_PASSPHRASE=nope kawased tx token transfer --from alice --to bob --amount 5 --node $FZ".into(), "passphrase"),
    ];
    for (what, cmd, needle) in cases {
        let line = one_error_line(&devnet.sh(&cmd), what);
        assert!(line.contains(needle), "{what}: `{line}` should mention `{needle}`");
    }
    // A refused transaction moved nothing: carol still has nothing, alice what the tour left.
    let out = devnet.sh("kawased query token balance carol --node $FZ -o json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["amount"], "0");

    // Ctrl-C stops everything cleanly; a rerun resumes the same chains.
    let alice_before = devnet.sh("kawased query token balance alice --node $FZ -o json").stdout;
    let status = devnet.interrupt();
    assert!(status.success(), "devnet exits 0 on Ctrl-C: {status}");
    for p in [ports.0, ports.1] {
        assert!(std::net::TcpStream::connect(("127.0.0.1", p)).is_err(), "port {p} closed after stop");
    }
    let devnet = Devnet::start(&data, ports, &[]);
    assert!(devnet.banner.iter().any(|l| l.contains("resumed")), "{:#?}", devnet.banner);
    let alice_after = devnet.sh("kawased query token balance alice --node $FZ -o json").stdout;
    assert_eq!(
        String::from_utf8_lossy(&alice_before),
        String::from_utf8_lossy(&alice_after),
        "state survives a restart"
    );
    drop(devnet);

    // --reset starts new chains.
    let devnet = Devnet::start(&data, ports, &["--reset"]);
    assert!(devnet.banner.iter().any(|l| l.contains("created")), "{:#?}", devnet.banner);
    let out = devnet.sh("kawased query token balance alice --node $FZ -o json");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["amount"], "0", "a reset devnet starts from genesis");
}

#[test]
fn keystore_from_the_cli_refuses_wrong_passphrases_and_loose_permissions_and_round_trips_exports() {
    let dir = tempfile::tempdir().expect("tmp");
    let ring = dir.path().join("keys");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        Command::new(kawased())
            .args(args)
            .env("KAWASE_KEYRING_DIR", &ring)
            .env_remove("KAWASE_PASSPHRASE_FILE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("kawased")
    };
    let pass = [("KAWASE_PASSPHRASE", "correct horse battery")];
    let out = run(&["keys", "add", "treasury", "--kind", "secp256k1", "-o", "json"], &pass);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let address = added["address"].as_str().expect("address").to_string();
    assert_eq!(added["mnemonic"].as_str().expect("mnemonic").split_whitespace().count(), 24);

    let file = ring.join("treasury.json");
    assert_eq!(std::fs::metadata(&file).expect("key file").permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(!text.contains(&added["mnemonic"].as_str().expect("m").split(' ').take(3).collect::<Vec<_>>().join(" ")));

    // Wrong passphrase: one clear line, nothing written.
    let before = std::fs::read(&file).expect("read");
    let e = one_error_line(
        &run(
            &["keys", "export", "treasury"],
            &[("KAWASE_PASSPHRASE", "wrong"), ("KAWASE_EXPORT_PASSPHRASE", "export pass 1")],
        ),
        "wrong passphrase",
    );
    assert!(e.contains("passphrase"), "{e}");
    assert_eq!(std::fs::read(&file).expect("read"), before);

    // A key file others can read is refused.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = one_error_line(
        &run(&["keys", "export", "treasury"], &[pass[0], ("KAWASE_EXPORT_PASSPHRASE", "export pass 1")]),
        "loose permissions",
    );
    assert!(e.contains("600"), "{e}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // Export, import under a new name: the same key.
    let export = dir.path().join("treasury.export");
    let out = run(
        &["keys", "export", "treasury", "--out", export.to_str().expect("utf8")],
        &[pass[0], ("KAWASE_EXPORT_PASSPHRASE", "export pass 1")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&export).expect("export").permissions().mode() & 0o777, 0o600);
    let e = one_error_line(
        &run(
            &["keys", "import", "copy", export.to_str().expect("utf8")],
            &[pass[0], ("KAWASE_EXPORT_PASSPHRASE", "not it")],
        ),
        "wrong export passphrase",
    );
    assert!(e.contains("passphrase"), "{e}");
    let out = run(
        &["keys", "import", "copy", export.to_str().expect("utf8"), "-o", "json"],
        &[("KAWASE_PASSPHRASE", "another passphrase"), ("KAWASE_EXPORT_PASSPHRASE", "export pass 1")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let imported: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(imported["address"].as_str(), Some(address.as_str()));

    // Recover from the phrase: the same address again.
    let mut child = Command::new(kawased())
        .args(["keys", "add", "recovered", "--recover", "--kind", "secp256k1", "-o", "json"])
        .env("KAWASE_KEYRING_DIR", &ring)
        .env("KAWASE_PASSPHRASE", "yet another one")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    writeln!(child.stdin.take().expect("stdin"), "{}", added["mnemonic"].as_str().expect("m")).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let recovered: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(recovered["address"].as_str(), Some(address.as_str()));

    // A plain key file from `kawased init` comes in too.
    let home = dir.path().join("home");
    let out = Command::new(kawased())
        .args(["init", "--home", home.to_str().expect("utf8"), "--chain-id", "kawase-x", "--zone", "fz"])
        .output()
        .expect("init");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plain: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("keys/admin.json")).expect("admin.json"))
            .expect("json");
    let out = run(
        &["keys", "import", "node-admin", home.join("keys/admin.json").to_str().expect("utf8"), "-o", "json"],
        &pass,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["address"], plain["address"]);
    run(&["keys", "delete", "node-admin", "--yes"], &[]);

    let out = run(&["keys", "list", "-o", "json"], &[]);
    let names: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        .expect("json")
        .iter()
        .map(|k| k["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["copy", "recovered", "treasury"]);
    let out = run(&["keys", "delete", "copy", "--yes"], &[]);
    assert!(out.status.success());
    one_error_line(&run(&["keys", "show", "copy"], &[]), "deleted key");
    one_error_line(&run(&["keys", "add", "treasury"], &pass), "duplicate name");
}

/// `scripts/localnet.sh`: 4 + 4 validators and the relayer in the
/// background; a cross-zone payment settles through them; `stop` ends every
/// process.
#[test]
fn localnet_script_runs_four_validators_per_zone_and_settles_a_payment() {
    let dir = tempfile::tempdir().expect("tmp");
    let ports = free_ports(4);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = |cmd: &str| {
        Command::new("bash")
            .arg(root.join("scripts/localnet.sh"))
            .arg(cmd)
            .env("LOCALNET_DIR", dir.path())
            .env("FZ_PORT", ports.0.to_string())
            .env("BZ_PORT", ports.1.to_string())
            .env("VALIDATORS", "4")
            .env("KAWASED", kawased())
            .output()
            .expect("localnet.sh")
    };
    // Stops the localnet however the test ends.
    struct Stop<F: Fn(&str) -> Output>(F);
    impl<F: Fn(&str) -> Output> Drop for Stop<F> {
        fn drop(&mut self) {
            let _ = (self.0)("stop");
        }
    }
    let out = script("start");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "start: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let guard = Stop(script);
    assert!(stdout.contains("(4 validators)"), "{stdout}");
    let net = dir.path().join("net");
    let devnet = Shell {
        env: [
            ("KAWASE_KEYRING_DIR".to_string(), net.join("keys").display().to_string()),
            ("KAWASE_PASSPHRASE_FILE".to_string(), net.join("passphrase").display().to_string()),
            ("KAWASE_CA_FILE".to_string(), net.join("tls/ca.crt").display().to_string()),
            ("FZ".to_string(), format!("https://127.0.0.1:{}", ports.0)),
            ("BZ".to_string(), format!("https://127.0.0.1:{}", ports.1)),
            // Any validator answers: send the BZ payment to the last one.
            ("BZ3".to_string(), format!("https://127.0.0.1:{}", ports.1 + 30)),
        ]
        .into_iter()
        .collect(),
    };
    let ok = |cmd: &str| {
        let out = devnet.sh(cmd);
        assert!(out.status.success(), "`{cmd}`: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let eventually = |cmd: &str, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = devnet.sh(cmd);
            let s = String::from_utf8_lossy(&out.stdout).to_string();
            if matches(&s, want) {
                return;
            }
            assert!(Instant::now() < deadline, "`{cmd}` never showed `{want}`: {s}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    ok("kawased tx token issue --from bank-a --to alice --amount 1000 --reference-id ln-1 --node $FZ");
    ok("kawased tx settlement link --from alice --channel channel-0 --bz-address alice --node $FZ");
    ok("kawased tx settlement link --from bob --channel channel-0 --bz-address bob --node $FZ");
    eventually("kawased query settlement bz-account bob --node $BZ", "balance 0");
    eventually("kawased query settlement bz-account alice --node $BZ", "balance 0");
    ok("kawased tx settlement charge --from alice --channel channel-0 --amount 600 --node $FZ");
    eventually("kawased query settlement bz-account alice --node $BZ3", "balance 600");
    ok("kawased tx settlement pay --from alice --to bob --amount 250 --node $BZ3");
    eventually("kawased query settlement reserved bob --node $FZ", "reserved[0].amount 250");
    eventually("kawased query settlement bz-account bob --node $BZ", "balance 250");
    eventually("kawased query settlement bz-account alice --node $BZ", "balance 350");

    let status = String::from_utf8_lossy(&script("status").stdout).to_string();
    assert_eq!(status.lines().filter(|l| l.contains(" node") && !l.ends_with("height -")).count(), 8, "{status}");
    drop(guard);
    for p in [ports.0, ports.0 + 30, ports.1, ports.1 + 30] {
        assert!(std::net::TcpStream::connect(("127.0.0.1", p)).is_err(), "port {p} closed after stop");
    }
}

/// The live (not zombie) processes whose parent is `pid`: (pid, name).
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(state), Some(ppid)) = (fields.first(), fields.get(1)) else { continue };
        if *ppid == pid.to_string() && *state != "Z" {
            let name = head.split_once('(').map(|(_, n)| n.to_string()).unwrap_or_default();
            kids.push((child, name));
        }
    }
    kids
}

/// Is `pid` still the process `name` it was, and not a zombie?
fn still_running(pid: u32, name: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next().map(str::to_string));
            stat.contains(&format!("({name})")) && state.as_deref() != Some("Z")
        }
        Err(_) => false,
    }
}

#[test]
fn a_devnet_killed_with_sigkill_leaves_no_node_or_relayer_running_and_a_second_devnet_is_told_why_it_cannot_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("devnet");
    let ports = free_ports(1);
    let mut devnet = Devnet::start(&data, ports, &[]);

    // A second devnet on the same data directory: one line naming the first.
    let again = devnet_command(&data, ports).output().expect("run");
    let line = one_error_line(&again, "same data dir");
    assert!(line.contains("a devnet is already running from"), "{line}");
    assert!(line.contains(&format!("pid {}", devnet.pid())), "{line}");
    // Another data directory on the same ports: the port and the flag.
    let beside = devnet_command(&dir.path().join("other"), ports).output().expect("run");
    let line = one_error_line(&beside, "same ports");
    assert!(line.contains("(FZ node0 ") && line.contains(") is in use") && line.contains("--fz-port"), "{line}");

    let kids = children_of(devnet.pid());
    let names: Vec<&str> = kids.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == "kawased").count(), 2, "{kids:?}");
    assert_eq!(names.iter().filter(|n| **n == "kawase-relayer").count(), 1, "{kids:?}");
    devnet.proc.kill();
    let killed = Instant::now();
    loop {
        let left: Vec<&(u32, String)> = kids.iter().filter(|(pid, name)| still_running(*pid, name)).collect();
        if left.is_empty() {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(2), "still running 2 s after the devnet's SIGKILL: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("all {} children gone {:?} after the SIGKILL", kids.len(), killed.elapsed());

    // The lock went with the process: the next run resumes the same chains.
    let resumed = Devnet::start(&data, ports, &[]);
    assert!(resumed.banner.iter().any(|l| l.contains("Kawase devnet resumed")), "{:#?}", resumed.banner);
}

#[test]
fn a_devnet_whose_port_is_taken_says_which_port_and_which_flag_moves_it_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let ports = free_ports(1);
    let _held = std::net::TcpListener::bind(("127.0.0.1", ports.1)).expect("hold the BZ's RPC port");
    let out = devnet_command(&dir.path().join("devnet"), ports).output().expect("run");
    let line = one_error_line(&out, "busy port");
    assert!(line.contains(&format!("port {} (BZ node0 RPC) is in use", ports.1)), "{line}");
    assert!(line.contains("move this devnet with --bz-port"), "{line}");
    assert!(!dir.path().join("devnet/devnet.json").exists(), "a devnet was created on a busy port");
}

#[test]
fn the_help_pages_lead_a_newcomer_to_the_devnet_and_the_tour() {
    for args in [&["--help"][..], &["tx", "--help"], &["query", "--help"], &["keys", "--help"], &["devnet", "--help"]] {
        let out = Command::new(kawased()).args(args).output().expect("run");
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("New here? `kawased devnet`") && text.contains("five-minute tour"), "{args:?}:\n{text}");
    }
}
