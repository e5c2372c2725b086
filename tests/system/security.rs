//! Security of a node, with real processes over real sockets.
//!
//! TLS on the node's listeners: a
//! zone made by `kawased testnet --tls` (or `--mutual-tls`) serves its RPC
//! and metrics only in TLS 1.3, to clients that trust the consortium CA
//! (and, under mutual TLS, present a certificate it issued); plain HTTP is
//! refused; a renewed certificate is served after SIGHUP; a node refuses to
//! start a plain-text listener that other hosts could reach.
//!
//! The audit trail: a node records its start, a TLS reload, failed
//! handshakes and its stop in a hash chain, and `kawased audit verify`
//! names the first record that was edited, removed or reordered.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kawase_testkit::node::{kawased, set_timeouts, write_testnet, QUICK_TIMEOUTS};
use kawase_testkit::process::{Launch, Process};
use kawase_testkit::rpc::Rpc;
use kawase_tls::{ClientTls, DevCa};

const LIMIT: Duration = Duration::from_secs(10);

/// A one-validator zone made with `kawased testnet EXTRA`, started; its
/// process and the CA the testnet made.
fn tls_zone(dir: &Path, extra: &[&str]) -> (Process, PathBuf) {
    let homes = write_testnet(&dir.join("zone"), 1, "kawase-tls", extra);
    set_timeouts(&homes[0], &QUICK_TIMEOUTS);
    let node = Launch::node(&homes[0]).start();
    (node, dir.join("zone/tls/ca.crt"))
}

fn https(node: &Process, what: &str) -> String {
    format!("https://{}", node.addr(what).expect("announced"))
}

fn trusting(ca: &Path) -> ClientTls {
    ClientTls { ca: Some(ca.to_path_buf()), identity: None }
}

/// The height through a client of `tls`, waiting for the first block.
async fn height(url: &str, tls: &ClientTls) -> Result<u64, String> {
    let rpc = Rpc::with_tls(url, tls, LIMIT).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rpc.height().await {
            Ok(h) if h >= 1 => return Ok(h),
            Ok(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            Ok(h) => return Err(format!("still at height {h}")),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What a plain-HTTP request to `addr` gets back (empty when the server
/// closed the connection without answering in HTTP).
fn plain_http(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(LIMIT)).expect("timeout");
    s.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("write");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// A CA nobody in the zone trusts, with a client certificate of its own.
fn foreign_ca(dir: &Path) -> (PathBuf, ClientTls) {
    let ca = DevCa::create("someone else's CA").expect("ca");
    ca.write(dir).expect("write ca");
    ca.issue_client("mallory").expect("client").write(dir, "mallory").expect("write client");
    let tls = ClientTls { ca: None, identity: Some((dir.join("mallory.crt"), dir.join("mallory.key"))) };
    (dir.join("ca.crt"), tls)
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_zone_answers_clients_that_trust_its_ca_and_refuses_plain_http_and_other_cas() {
    let dir = tempfile::tempdir().expect("tmp");
    let (node, ca) = tls_zone(dir.path(), &["--tls"]);
    let url = https(&node, "rpc");
    assert!(height(&url, &trusting(&ca)).await.is_ok(), "a client trusting the zone's CA is answered");

    // Plain HTTP gets no HTTP answer, and the node counts the failed handshake.
    let answer = plain_http(node.addr("rpc").expect("rpc"));
    assert!(!answer.starts_with("HTTP/"), "plain HTTP to the TLS port was answered: {answer}");
    let plain = Rpc::new(&format!("http://{}", node.addr("rpc").expect("rpc")));
    assert!(plain.status().await.is_err(), "an http:// client is refused");

    // The system roots are never trusted, nor another CA.
    let err = height(&url, &ClientTls::default()).await.expect_err("no CA configured");
    assert!(err.to_lowercase().contains("certificate") || err.contains("tls"), "{err}");
    let (other_ca, _) = foreign_ca(&dir.path().join("other"));
    assert!(height(&url, &trusting(&other_ca)).await.is_err(), "a certificate of another CA is refused");

    // Metrics are served over TLS too and show the refusals.
    let client = trusting(&ca).reqwest(LIMIT).expect("client");
    let text = client
        .get(format!("{}/metrics", https(&node, "metrics")))
        .send()
        .await
        .expect("metrics over TLS")
        .text()
        .await
        .expect("body");
    assert!(metric(&text, "kawase_tls_handshake_failures_total{listener=\"rpc\"}") >= 3, "{text}");
    assert_eq!(metric(&text, "kawase_audit_chain_ok"), 1, "{text}");
    // Every metric the alert rules use is one the node (or the relayer) exports.
    let rules = include_str!("../../deploy/prometheus/kawase-alerts.yml");
    let relayer = include_str!("../../ibc/relayer/src/metrics.rs");
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some(rest) = word.strip_prefix("kawase_") {
            let exported = if rest.starts_with("relayer_") { relayer.contains(word) } else { text.contains(word) };
            assert!(exported, "deploy/prometheus/kawase-alerts.yml uses {word}, which nothing exports");
            named += 1;
        }
    }
    assert!(named >= 10, "the alert rules name their metrics ({named})");

    // The CLI speaks https with --ca-file, and says what is missing without it.
    let address = kawase_testkit::node::admin_key(node.home()).address().to_string();
    let cli = |ca: Option<&Path>| {
        let mut cmd = Command::new(kawased());
        cmd.args(["query", "token", "balance", &address, "--node", &url, "-o", "json"]).env_remove("KAWASE_CA_FILE");
        if let Some(ca) = ca {
            cmd.arg("--ca-file").arg(ca);
        }
        cmd.output().expect("kawased query")
    };
    let out = cli(Some(&ca));
    assert!(out.status.success(), "CLI over https: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["amount"], "0");
    let out = cli(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca-file"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn under_mutual_tls_only_a_client_certificate_of_the_consortium_ca_is_let_in() {
    let dir = tempfile::tempdir().expect("tmp");
    let (node, ca) = tls_zone(dir.path(), &["--mutual-tls"]);
    let url = https(&node, "rpc");
    let clients = dir.path().join("zone/tls/clients");
    let operator = ClientTls {
        ca: Some(ca.clone()),
        identity: Some((clients.join("operator.crt"), clients.join("operator.key"))),
    };
    assert!(height(&url, &operator).await.is_ok(), "the operator's certificate is let in");

    assert!(height(&url, &trusting(&ca)).await.is_err(), "a client without a certificate is refused");
    let (_, mut mallory) = foreign_ca(&dir.path().join("other"));
    mallory.ca = Some(ca.clone());
    assert!(height(&url, &mallory).await.is_err(), "a client certificate of another CA is refused");
    let answer = plain_http(node.addr("rpc").expect("rpc"));
    assert!(!answer.starts_with("HTTP/"), "plain HTTP was answered: {answer}");

    // The CLI with its client certificate.
    let address = kawase_testkit::node::admin_key(node.home()).address().to_string();
    let cli = |with_cert: bool| {
        let mut cmd = Command::new(kawased());
        cmd.args(["query", "token", "balance", &address, "--node", &url, "--ca-file"]).arg(&ca);
        if with_cert {
            cmd.arg("--client-cert").arg(clients.join("operator.crt"));
            cmd.arg("--client-key").arg(clients.join("operator.key"));
        }
        cmd.env_remove("KAWASE_CLIENT_CERT").env_remove("KAWASE_CLIENT_KEY").output().expect("kawased query")
    };
    let out = cli(true);
    assert!(out.status.success(), "CLI under mutual TLS: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!cli(false).status.success(), "the CLI without a client certificate is refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_after_sighup_and_a_broken_one_keeps_the_old() {
    let dir = tempfile::tempdir().expect("tmp");
    let (node, old_ca) = tls_zone(dir.path(), &["--tls"]);
    let url = https(&node, "rpc");
    assert!(height(&url, &trusting(&old_ca)).await.is_ok());
    let pid = nix::unistd::Pid::from_raw(node.pid().expect("running") as i32);
    let tls_dir = node.home().join("config/tls");
    let hup = || nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");

    // A broken renewal: the node logs it and keeps serving the old certificate.
    let good_cert = std::fs::read(tls_dir.join("node.crt")).expect("cert");
    std::fs::write(tls_dir.join("node.crt"), b"not a certificate").expect("break it");
    hup();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(height(&url, &trusting(&old_ca)).await.is_ok(), "the old certificate is still served");
    assert!(node.running(), "a bad renewal does not stop the node");
    std::fs::write(tls_dir.join("node.crt"), good_cert).expect("restore");

    // A certificate from a new CA, picked up without a restart.
    let new_dir = dir.path().join("new-ca");
    let new_ca = DevCa::create("renewed CA").expect("ca");
    new_ca.write(&new_dir).expect("write");
    new_ca.issue_server(&["127.0.0.1".to_owned()]).expect("issue").write(&tls_dir, "node").expect("write");
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while height(&url, &trusting(&new_dir.join("ca.crt"))).await.is_err() {
        assert!(Instant::now() < deadline, "the renewed certificate was not served after SIGHUP");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(height(&url, &trusting(&old_ca)).await.is_err(), "the old certificate is no longer served");
}

#[test]
fn a_node_refuses_to_serve_plain_text_where_other_hosts_can_reach_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let homes = write_testnet(&dir.path().join("zone"), 1, "kawase-plain", &[]);
    let mut config = kawase_testkit::node::config(&homes[0]);
    let port = kawase_testkit::node::free_ports(1);
    kawase_testkit::node::set(&mut config, "rpc", "laddr", &format!("tcp://0.0.0.0:{port}"));
    kawase_testkit::node::write_config(&homes[0], &config);
    let err = Launch::node(&homes[0]).try_start().err().expect("the node refuses to start");
    let log = std::fs::read_to_string(homes[0].join("node.log")).unwrap_or_default();
    assert!(log.contains("plain text") || err.contains("plain text"), "{err}\n{log}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on {port}");
}

/// `kawased audit verify FILE`: exit status and its one line of output.
fn audit_verify(file: &Path) -> (bool, String) {
    let out = Command::new(kawased()).args(["audit", "verify"]).arg(file).output().expect("kawased audit verify");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_audits_its_life_and_audit_verify_names_an_edited_a_removed_and_a_reordered_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut node, ca) = tls_zone(dir.path(), &["--tls"]);
    let url = https(&node, "rpc");
    assert!(height(&url, &trusting(&ca)).await.is_ok());
    // A failed handshake and a reload, then a clean stop.
    let _ = plain_http(node.addr("rpc").expect("rpc"));
    let pid = nix::unistd::Pid::from_raw(node.pid().expect("running") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    let log = node.home().join("audit.log");
    let kinds = |log: &Path| -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["event"]["kind"].to_string())
            .collect()
    };
    // The failed handshakes are swept into the log every few seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kinds(&log).iter().any(|k| k.contains("tls_handshake_failed")) {
        assert!(Instant::now() < deadline, "no tls_handshake_failed record: {:?}", kinds(&log));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    node.stop();
    let kinds = kinds(&log);
    for k in ["node_start", "tls_reload", "tls_handshake_failed", "node_stop"] {
        assert!(kinds.iter().any(|x| x.contains(k)), "no {k} record in {kinds:?}");
    }
    let (ok, text) = audit_verify(&log);
    assert!(ok && text.contains(&format!("{} records", kinds.len())), "{text}");

    let lines: Vec<String> = std::fs::read_to_string(&log).expect("log").lines().map(str::to_owned).collect();
    let tampered = |name: &str, lines: Vec<String>| {
        let p = dir.path().join(name);
        std::fs::write(&p, lines.join("\n") + "\n").expect("write");
        audit_verify(&p)
    };
    let mut edited = lines.clone();
    edited[1] = edited[1].replacen("\"outcome\":\"", "\"outcome\":\"x", 1);
    let (ok, text) = tampered("edited.log", edited);
    assert!(!ok && text.contains("line 2") && text.contains("edited") && text.contains("audit/broken"), "{text}");

    let mut removed = lines.clone();
    removed.remove(1);
    let (ok, text) = tampered("removed.log", removed);
    assert!(!ok && text.contains("line 2") && text.contains("removed"), "{text}");

    let mut reordered = lines.clone();
    reordered.swap(1, 2);
    let (ok, text) = tampered("reordered.log", reordered);
    assert!(!ok && text.contains("line 2") && text.contains("reordered"), "{text}");
}

/// The median of `samples` (milliseconds).
fn p50(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// `n` `status` calls of `rpc`, one every 100 ms (well under its limit):
/// their latencies in ms, and how many failed.
async fn paced_status(rpc: &Rpc, n: usize) -> (Vec<f64>, usize) {
    let (mut latencies, mut failed) = (Vec::new(), 0);
    for _ in 0..n {
        let t = Instant::now();
        match rpc.status().await {
            Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
            Err(_) => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (latencies, failed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_caller_is_limited_while_another_callers_latency_holds() {
    let dir = tempfile::tempdir().expect("tmp");
    let homes = write_testnet(&dir.path().join("zone"), 1, "kawase-limits", &["--mutual-tls"]);
    set_timeouts(&homes[0], &QUICK_TIMEOUTS);
    let mut config = kawase_testkit::node::config(&homes[0]);
    let rpc_section = config.get_mut("rpc").and_then(|v| v.as_table_mut()).expect("[rpc]");
    rpc_section.insert("rate_limit_per_second".into(), toml::Value::Integer(50));
    rpc_section.insert("rate_limit_burst".into(), toml::Value::Integer(50));
    rpc_section.insert("max_in_flight_per_caller".into(), toml::Value::Integer(2));
    kawase_testkit::node::write_config(&homes[0], &config);
    let node = Launch::node(&homes[0]).start();
    let url = https(&node, "rpc");
    let (ca, clients) = (dir.path().join("zone/tls/ca.crt"), dir.path().join("zone/tls/clients"));
    let identity = |name: &str| ClientTls {
        ca: Some(ca.clone()),
        identity: Some((clients.join(format!("{name}.crt")), clients.join(format!("{name}.key")))),
    };
    let (flooder, quiet) = (identity("operator"), identity("relayer"));
    assert!(height(&url, &quiet).await.is_ok());
    let quiet_rpc = Rpc::with_tls(&url, &quiet, LIMIT).expect("client");
    let (before, failed_before) = paced_status(&quiet_rpc, 30).await;
    assert_eq!(failed_before, 0);

    // 16 loops of back-to-back requests under one certificate.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut floods = Vec::new();
    for _ in 0..16 {
        let (client, url, stop) = (flooder.reqwest(LIMIT).expect("client"), url.clone(), stop.clone());
        floods.push(tokio::spawn(async move {
            let (mut ok, mut limited, mut codes) = (0u64, 0u64, std::collections::BTreeSet::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(resp) = client.get(format!("{url}/status")).send().await else { continue };
                if resp.status() == 429 {
                    limited += 1;
                    let text = resp.text().await.expect("body");
                    let body: serde_json::Value = serde_json::from_str(&text).expect("a JSON-RPC error");
                    codes.insert(
                        body["error"]["data"].as_str().unwrap_or("").split(':').next().unwrap_or("").to_owned(),
                    );
                } else {
                    ok += u64::from(resp.status().is_success());
                }
            }
            (ok, limited, codes)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (during, failed_during) = paced_status(&quiet_rpc, 30).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut limited, mut codes) = (0, 0, std::collections::BTreeSet::new());
    for f in floods {
        let (o, l, c) = f.await.expect("flood task");
        (ok, limited) = (ok + o, limited + l);
        codes.extend(c);
    }
    let (b, d) = (p50(before), p50(during));
    println!(
        "rate limits: flooder {ok} answered, {limited} refused ({codes:?}); quiet caller p50 {b:.1} ms unloaded, \
         {d:.1} ms during the flood ({:.2}x; the aim is under 2x)",
        d / b
    );
    assert!(limited > 0, "the flooding caller was never limited ({ok} answered)");
    assert!(codes.iter().all(|c| c == "rpc/rate_limited" || c == "rpc/too_many_in_flight"), "{codes:?}");
    assert_eq!(failed_during, 0, "the quiet caller was refused during the flood");

    let text = flooder
        .reqwest(LIMIT)
        .expect("client")
        .get(format!("{}/metrics", https(&node, "metrics")))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(metric(&text, "kawase_rate_limited_total{listener=\"rpc\"}") >= limited, "{text}");
}
