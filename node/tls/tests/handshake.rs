//! Real TLS handshakes over loopback sockets: what the listeners accept and
//! refuse, and that a reload takes effect without a restart.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kawase_tls::{ClientId, ClientTls, DevCa, ServerTls, ServerTlsFiles};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const WITHIN: Duration = Duration::from_secs(5);

/// A CA in `dir/<name>/`, a server certificate for 127.0.0.1 and a client
/// certificate named `client-<name>`.
fn pki(dir: &Path, name: &str) -> std::path::PathBuf {
    let d = dir.join(name);
    let ca = DevCa::create(&format!("{name} CA")).expect("ca");
    ca.write(&d).expect("write ca");
    ca.issue_server(&["127.0.0.1".into(), "localhost".into()]).expect("server").write(&d, "node").expect("write");
    ca.issue_client(&format!("client-{name}")).expect("client").write(&d, "client").expect("write");
    d
}

fn files(d: &Path, mutual: bool) -> ServerTlsFiles {
    ServerTlsFiles { cert: d.join("node.crt"), key: d.join("node.key"), client_ca: mutual.then(|| d.join("ca.crt")) }
}

fn client(d: &Path, with_cert: bool) -> ClientTls {
    ClientTls { ca: Some(d.join("ca.crt")), identity: with_cert.then(|| (d.join("client.crt"), d.join("client.key"))) }
}

/// A one-answer HTTP server behind `tls`; each handshake's outcome (the
/// client's identity, or the error) goes to the returned channel.
async fn serve(tls: Arc<ServerTls>) -> (String, mpsc::UnboundedReceiver<Result<Option<ClientId>, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (tls, tx) = (Arc::clone(&tls), tx.clone());
            tokio::spawn(async move {
                match tls.accept(tcp, WITHIN).await {
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                    Ok((mut s, id)) => {
                        let _ = tx.send(Ok(id));
                        let mut buf = vec![0u8; 4096];
                        let mut seen = Vec::new();
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        let _ =
                            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
                        let _ = s.shutdown().await;
                    }
                }
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), rx)
}

async fn get(tls: &ClientTls, url: &str) -> Result<String, String> {
    let c = tls.reqwest(WITHIN).map_err(|e| e.to_string())?;
    let r = c.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    r.text().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_client_trusting_the_consortium_ca_is_served_over_tls() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = pki(dir.path(), "a");
    let (addr, mut outcomes) = serve(ServerTls::load(files(&d, false)).expect("load")).await;
    assert_eq!(get(&client(&d, false), &format!("https://{addr}/")).await.as_deref(), Ok("ok"));
    assert_eq!(outcomes.recv().await, Some(Ok(None)), "no client certificate asked for without mutual TLS");
}

#[tokio::test]
async fn plain_http_to_a_tls_listener_gets_no_answer_and_fails_the_handshake() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = pki(dir.path(), "a");
    let (addr, mut outcomes) = serve(ServerTls::load(files(&d, false)).expect("load")).await;
    let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WITHIN, s.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/"), "a plain-text request must not be answered in plain text");
    let outcome = outcomes.recv().await.expect("outcome");
    assert!(outcome.is_err(), "the handshake fails: {outcome:?}");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_servers_ca_refuses_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let (d, other) = (pki(dir.path(), "a"), pki(dir.path(), "b"));
    let (addr, _outcomes) = serve(ServerTls::load(files(&d, false)).expect("load")).await;
    assert!(get(&client(&other, false), &format!("https://{addr}/")).await.is_err());
    assert!(get(&ClientTls::default(), &format!("https://{addr}/")).await.is_err(), "system roots are not trusted");
}

#[tokio::test]
async fn under_mutual_tls_a_client_without_a_certificate_or_with_another_cas_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let (d, other) = (pki(dir.path(), "a"), pki(dir.path(), "b"));
    let tls = ServerTls::load(files(&d, true)).expect("load");
    assert!(tls.is_mutual());
    let (addr, mut outcomes) = serve(tls).await;
    let url = format!("https://{addr}/");

    assert!(get(&client(&d, false), &url).await.is_err(), "no certificate");
    assert!(outcomes.recv().await.expect("outcome").is_err());

    // Trusts the right server, presents a certificate of another CA.
    let foreign =
        ClientTls { ca: Some(d.join("ca.crt")), identity: Some((other.join("client.crt"), other.join("client.key"))) };
    assert!(get(&foreign, &url).await.is_err(), "another CA's certificate");
    assert!(outcomes.recv().await.expect("outcome").is_err());

    assert_eq!(get(&client(&d, true), &url).await.as_deref(), Ok("ok"));
    let id = outcomes.recv().await.expect("outcome").expect("accepted").expect("an identity");
    assert_eq!(id.common_name.as_deref(), Some("client-a"));
}

#[tokio::test]
async fn a_reload_serves_the_new_certificate_without_a_restart_and_a_bad_one_keeps_the_old() {
    let dir = tempfile::tempdir().expect("tmp");
    let (d, next) = (pki(dir.path(), "a"), pki(dir.path(), "b"));
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).expect("mkdir");
    for f in ["node.crt", "node.key"] {
        std::fs::copy(d.join(f), live.join(f)).expect("copy");
    }
    let tls = ServerTls::load(files(&live, false)).expect("load");
    let (addr, _outcomes) = serve(Arc::clone(&tls)).await;
    let url = format!("https://{addr}/");
    assert!(get(&client(&d, false), &url).await.is_ok());

    // A half-written renewal: the key is garbage. The old files stay in use.
    std::fs::write(live.join("node.key"), "not a key").expect("write");
    let err = tls.reload().expect_err("a bad key is refused");
    assert_eq!(err.code(), "tls/file");
    assert!(get(&client(&d, false), &url).await.is_ok(), "still serving the old certificate");

    for f in ["node.crt", "node.key"] {
        std::fs::copy(next.join(f), live.join(f)).expect("copy");
    }
    tls.reload().expect("reload");
    assert!(get(&client(&next, false), &url).await.is_ok(), "the new certificate is served");
    assert!(get(&client(&d, false), &url).await.is_err(), "the old one is not");
}

#[tokio::test]
async fn a_reloaded_ca_issues_certificates_that_verify_against_the_ca_on_disk() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = pki(dir.path(), "a");
    let again = DevCa::load(&d).expect("load ca");
    again.issue_client("bank-b").expect("issue").write(&d, "late").expect("write");
    let (addr, mut outcomes) = serve(ServerTls::load(files(&d, true)).expect("load")).await;
    let late = ClientTls { ca: Some(d.join("ca.crt")), identity: Some((d.join("late.crt"), d.join("late.key"))) };
    assert_eq!(get(&late, &format!("https://{addr}/")).await.as_deref(), Ok("ok"));
    let id = outcomes.recv().await.expect("outcome").expect("accepted").expect("an identity");
    assert_eq!(id.common_name.as_deref(), Some("bank-b"));
}

#[test]
fn missing_files_are_named_with_a_stable_code() {
    let err = ServerTls::load(ServerTlsFiles {
        cert: "/nonexistent/node.crt".into(),
        key: "/nonexistent/node.key".into(),
        client_ca: None,
    })
    .expect_err("no such file");
    assert_eq!(err.code(), "tls/file");
    assert!(err.to_string().contains("/nonexistent/node.crt"), "{err}");
}
