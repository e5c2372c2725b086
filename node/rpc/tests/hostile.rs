//! Hostile JSON-RPC input, property-based, against an in-process server on
//! 127.0.0.1: random JSON bodies in request shapes (real and unknown methods,
//! params of every JSON type, huge numbers, deep nesting), batches, mutated
//! valid requests and raw bytes, over HTTP POST, URI GET and the websocket;
//! then floods of connections. Every answer is a JSON-RPC response (or
//! nothing, for a notification), and the server keeps serving.
//!
//! `PROPTEST_CASES` sets the number of cases; `KAWASE_FUZZ_SEED` the seed.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use kawase_rpc::tendermint_rpc::Client;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const METHODS: [&str; 17] = [
    "health",
    "status",
    "abci_info",
    "abci_query",
    "broadcast_tx_async",
    "broadcast_tx_sync",
    "broadcast_tx_commit",
    "block",
    "block_results",
    "commit",
    "validators",
    "tx",
    "tx_search",
    "subscribe",
    "unsubscribe",
    "unsubscribe_all",
    "no_such_method",
];
const PARAMS: [&str; 12] =
    ["height", "hash", "tx", "query", "page", "per_page", "order_by", "prove", "path", "data", "id", "x"];

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default_cases);
    let seed: u64 = std::env::var("KAWASE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    eprintln!("rpc hostile: {cases} cases, KAWASE_FUZZ_SEED={seed}");
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 128, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Scalars an attacker likes: huge, negative, fractional, exponent forms,
/// strings that look like numbers, hashes and base64.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
        prop_oneof![
            Just("18446744073709551616".to_string()),
            Just("-1".to_string()),
            Just("9223372036854775808".to_string()),
            Just("1e400".to_string()),
            Just("0x00".to_string()),
            Just("tm.event='Tx' AND tx.height>0".to_string()),
            Just("tx.height=1 AND transfer.amount>=1".to_string()),
            "[0-9]{1,40}",
            "[A-Za-z0-9+/=]{0,88}",
            "[0-9A-F]{64}",
            "\\PC{0,40}",
        ]
        .prop_map(Value::String),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (prop_oneof![proptest::sample::select(PARAMS.to_vec()).prop_map(String::from), "\\PC{0,8}"], inner),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A request-shaped object with each field sometimes missing or wrong.
fn request() -> impl Strategy<Value = Value> {
    let method = prop_oneof![
        8 => proptest::sample::select(METHODS.to_vec()).prop_map(|m| json!(m)),
        1 => any_json(),
    ];
    let params = prop_oneof![
        3 => proptest::collection::btree_map(proptest::sample::select(PARAMS.to_vec()).prop_map(String::from), scalar(), 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => proptest::collection::vec(scalar(), 0..4).prop_map(Value::Array),
        1 => any_json(),
    ];
    let id = prop_oneof![Just(json!(1)), "[a-z0-9-]{0,12}".prop_map(|s| json!(s)), any_json()];
    (
        prop_oneof![4 => Just(json!("2.0")), 1 => any_json()],
        proptest::option::weighted(0.9, id),
        method,
        proptest::option::weighted(0.8, params),
    )
        .prop_map(|(v, id, m, p)| {
            let mut o = serde_json::Map::new();
            o.insert("jsonrpc".into(), v);
            if let Some(id) = id {
                o.insert("id".into(), id);
            }
            o.insert("method".into(), m);
            if let Some(p) = p {
                o.insert("params".into(), p);
            }
            Value::Object(o)
        })
}

#[derive(Clone, Debug)]
enum Body {
    Json(Value),
    Batch(Vec<Value>),
    /// A request's bytes, truncated or with a byte flipped.
    Mutated(Value, usize, u8),
    Raw(Vec<u8>),
    /// `depth` unclosed or balanced brackets around a request.
    Deep(usize, bool),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        6 => request().prop_map(Body::Json),
        2 => proptest::collection::vec(prop_oneof![request(), any_json()], 0..14).prop_map(Body::Batch),
        2 => (request(), any::<usize>(), any::<u8>()).prop_map(|(r, at, b)| Body::Mutated(r, at, b)),
        1 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(Body::Raw),
        1 => (100usize..5_000, any::<bool>()).prop_map(|(d, b)| Body::Deep(d, b)),
        1 => any_json().prop_map(Body::Json),
    ]
}

fn encode(b: &Body) -> Vec<u8> {
    match b {
        Body::Json(v) => v.to_string().into_bytes(),
        Body::Batch(v) => Value::Array(v.clone()).to_string().into_bytes(),
        Body::Mutated(v, at, byte) => {
            let mut s = v.to_string().into_bytes();
            let i = at % s.len();
            if byte % 2 == 0 {
                s.truncate(i);
            } else {
                s[i] = *byte;
            }
            s
        }
        Body::Raw(r) => r.clone(),
        Body::Deep(d, balanced) => {
            let inner = r#"{"jsonrpc":"2.0","id":1,"method":"health"}"#;
            let close = if *balanced { "]".repeat(*d) } else { String::new() };
            format!("{}{inner}{close}", "[".repeat(*d)).into_bytes()
        }
    }
}

/// A JSON-RPC answer: an object with `jsonrpc` "2.0" and exactly one of
/// `result` and `error` (with an integer code), or an array of them.
fn check_answer(text: &str) -> Result<(), TestCaseError> {
    let v: Value = serde_json::from_str(text).map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
    let items = match &v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    for item in items {
        prop_assert_eq!(&item["jsonrpc"], "2.0", "{}", text);
        let has_result = item.get("result").is_some();
        let code = item.get("error").and_then(|e| e.get("code")).and_then(Value::as_i64);
        prop_assert!(has_result != code.is_some(), "result xor error: {}", text);
        if let Some(c) = code {
            prop_assert!((-32768..=-32000).contains(&c), "JSON-RPC error code {}: {}", c, text);
        }
    }
    Ok(())
}

#[test]
fn random_json_rpc_bodies_get_json_rpc_answers_and_the_server_stays_up() {
    let rt = runtime();
    let (server, _) = rt.block_on(start(test_config()));
    let addr = server.local_addr();
    let mut runner = runner(256);
    let r = runner.run(&body(), |b| {
        let bytes = encode(&b);
        let (status, text) = rt.block_on(post(addr, &bytes));
        prop_assert!([200, 400, 500].contains(&status), "status {} for {:?}: {}", status, b, text);
        if !text.is_empty() {
            check_answer(&text)?;
        } else {
            prop_assert_eq!(status, 200, "an empty answer is for notifications only");
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("{e}");
    }
    rt.block_on(async {
        http_client(addr).health().await.unwrap();
        server.shutdown().await;
    });
}

fn uri_query() -> impl Strategy<Value = String> {
    let key = prop_oneof![proptest::sample::select(PARAMS.to_vec()).prop_map(String::from), "[a-z%&=]{0,6}"];
    let value = prop_oneof!["[0-9]{0,25}", "\"[\\PC]{0,10}\"", "0x[0-9A-Fa-fZ]{0,66}", "[%&=+;#?a-z0-9]{0,16}"];
    proptest::collection::vec((key, value), 0..5).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| {
                let v: String = v
                    .bytes()
                    .map(|b| if b.is_ascii_graphic() { (b as char).to_string() } else { format!("%{b:02X}") })
                    .collect();
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

#[test]
fn random_uri_requests_get_json_rpc_answers_and_the_server_stays_up() {
    let rt = runtime();
    let (server, _) = rt.block_on(start(test_config()));
    let addr = server.local_addr();
    let mut runner = runner(192);
    let strategy = (proptest::sample::select(METHODS.to_vec()), uri_query());
    let r = runner.run(&strategy, |(method, query)| {
        let path = format!("/{method}?{query}");
        let (status, text) = rt.block_on(get(addr, &path));
        // A request line the HTTP parser refuses gets a plain 400.
        if status == 400 && serde_json::from_str::<Value>(&text).is_err() {
            return Ok(());
        }
        prop_assert!([200, 404, 500].contains(&status), "{} -> {} {}", path, status, text);
        if status != 404 {
            check_answer(&text)?;
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("{e}");
    }
    rt.block_on(async {
        http_client(addr).health().await.unwrap();
        server.shutdown().await;
    });
}

type RawWs = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Reads answers until the one with `id`; every message before it must be a
/// JSON-RPC answer too.
async fn read_until(ws: &mut RawWs, id: &str) -> Result<(), String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| format!("no answer to {id}"))?
            .ok_or("websocket closed")?
            .map_err(|e| e.to_string())?;
        if let WsMessage::Text(t) = msg {
            check_answer(&t).map_err(|e| format!("{e}"))?;
            let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
            if v["id"] == id {
                return Ok(());
            }
        }
    }
}

#[test]
fn random_websocket_messages_get_json_rpc_answers_on_a_connection_that_stays_open() {
    let rt = runtime();
    let (server, _) = rt.block_on(start(test_config()));
    let addr = server.local_addr();
    let ws = rt.block_on(async { tokio_tungstenite::connect_async(format!("ws://{addr}/websocket")).await.unwrap().0 });
    let ws = std::cell::RefCell::new(ws);
    let n = std::cell::Cell::new(0u64);
    let strategy = (body(), any::<bool>());
    let mut runner = runner(192);
    let r = runner.run(&strategy, |(b, binary)| {
        let bytes = encode(&b);
        let msg = if binary {
            WsMessage::Binary(bytes.into())
        } else {
            WsMessage::Text(String::from_utf8_lossy(&bytes).into_owned().into())
        };
        n.set(n.get() + 1);
        let sentinel = format!("sentinel-{}", n.get());
        let ping = json!({"jsonrpc": "2.0", "id": sentinel, "method": "health"}).to_string();
        let mut ws = ws.borrow_mut();
        rt.block_on(async {
            ws.send(msg).await.map_err(|e| e.to_string())?;
            ws.send(WsMessage::Text(ping.into())).await.map_err(|e| e.to_string())?;
            read_until(&mut ws, &sentinel).await
        })
        .map_err(|e| TestCaseError::fail(format!("{b:?}: {e}")))
    });
    if let Err(e) = r {
        panic!("{e}");
    }
    rt.block_on(async {
        http_client(addr).health().await.unwrap();
        server.shutdown().await;
    });
}

#[test]
fn an_oversized_websocket_message_closes_only_that_connection() {
    let rt = runtime();
    let mut config = test_config();
    config.max_body_bytes = 4_096;
    let (server, _) = rt.block_on(start(config));
    let addr = server.local_addr();
    rt.block_on(async {
        let url = format!("ws://{addr}/websocket");
        let mut big = tokio_tungstenite::connect_async(url.clone()).await.unwrap().0;
        let mut other = tokio_tungstenite::connect_async(url).await.unwrap().0;
        let huge = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{{"tx":"{}"}}}}"#,
            "A".repeat(20_000)
        );
        let _ = big.send(WsMessage::Text(huge.into())).await;
        // The server closes it: the stream ends or errors, with no answer.
        loop {
            match tokio::time::timeout(Duration::from_secs(10), big.next()).await.expect("closed in time") {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => break,
                Some(Ok(WsMessage::Text(t))) => panic!("answered an oversized message: {t}"),
                Some(Ok(_)) => {}
            }
        }
        other.send(WsMessage::Text(r#"{"jsonrpc":"2.0","id":"still","method":"health"}"#.into())).await.unwrap();
        read_until(&mut other, "still").await.unwrap();
        http_client(addr).health().await.unwrap();
        server.shutdown().await;
    });
}

#[test]
fn thousands_of_connections_are_capped_and_the_server_recovers_when_they_go() {
    let rt = runtime();
    let mut config = test_config();
    config.max_open_connections = 300;
    let (server, _) = rt.block_on(start(config));
    let addr = server.local_addr();
    rt.block_on(async {
        // 2,000 connections at once, each a request that never finishes.
        let mut held = Vec::new();
        for _ in 0..2_000 {
            match TcpStream::connect(addr).await {
                Ok(mut s) => {
                    let _ = s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{").await;
                    held.push(s);
                }
                Err(e) => panic!("connect failed after {} connections: {e}", held.len()),
            }
        }
        // At the cap the server answers 503 rather than queueing.
        let (status, _) = get(addr, "/health").await;
        assert_eq!(status, 503, "a request beyond the cap is refused");
        drop(held);
        // The slots come back as the server sees the closes.
        let mut ok = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if get(addr, "/health").await.0 == 200 {
                ok = true;
                break;
            }
        }
        assert!(ok, "the server serves again once the flood is gone");
        // Churn: 3,000 connect-and-drop, half of them mid-request, leak no slot.
        for i in 0..3_000 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            if i % 2 == 0 {
                let _ = s.write_all(b"GET /status HTTP/1.1\r\n").await;
            }
        }
        let mut refill = Vec::new();
        let mut served = 0;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if get(addr, "/health").await.0 == 200 {
                served += 1;
                break;
            }
        }
        assert_eq!(served, 1, "serving after the churn");
        // The full cap is available again: 299 held plus one request.
        for _ in 0..299 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
            refill.push(s);
        }
        let mut ok = false;
        for _ in 0..100 {
            if get(addr, "/health").await.0 == 200 {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "no slot leaked by the churn");
        drop(refill);
        server.shutdown().await;
    });
}
