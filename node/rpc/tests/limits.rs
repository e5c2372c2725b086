//! Malformed input, unknown methods, bad params, oversized bodies, batches
//! and the connection limit, over raw HTTP: errors come back as CometBFT's
//! JSON-RPC errors and the server keeps serving.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use kawase_rpc::tendermint_rpc::Client;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let (server, _) = start(test_config()).await;
    let (status, body) = post(server.local_addr(), b"{\"jsonrpc\":\"2.0\",").await;
    assert_eq!(status, 500);
    let v = json(&body);
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], serde_json::Value::Null);
    assert_eq!(v["error"]["code"], -32700);
    assert_eq!(v["error"]["message"], "Parse error. Invalid JSON");
    assert!(v["error"]["data"].as_str().unwrap().contains("error unmarshaling request"));
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_method_is_method_not_found_with_the_request_id() {
    let (server, _) = start(test_config()).await;
    let (status, body) =
        post(server.local_addr(), br#"{"jsonrpc":"2.0","id":"abc","method":"no_such_method","params":{}}"#).await;
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(v["id"], "abc");
    assert_eq!(v["error"]["code"], -32601);
    assert_eq!(v["error"]["message"], "Method not found");

    // Subscriptions need the websocket.
    let (_, body) = post(
        server.local_addr(),
        br#"{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"query":"tm.event='Tx'"}}"#,
    )
    .await;
    assert_eq!(json(&body)["error"]["code"], -32601);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_params_are_invalid_params() {
    let (server, _) = start(test_config()).await;
    let addr = server.local_addr();
    for (req, code) in [
        (r#"{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":"tall"}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":[1]}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"block","params":"height"}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"block","params":[1,2]}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tx","params":{"hash":"not base64!"}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tx","params":{"hash":"AAEC"}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tx","params":{}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{"tx":7}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"abci_query","params":{"data":"zz"}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"validators","params":{"page":"x"}}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":"-3"}}"#, -32603),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tx_search","params":{"query":"tx.height=1","order_by":"up"}}"#, -32603),
        (r#"{"jsonrpc":"1.0","id":1,"method":"status"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"status"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":1,"method":["status"]}"#, -32600),
        (r#"[]"#, -32600),
        (r#"42"#, -32600),
    ] {
        let (status, body) = post(addr, req.as_bytes()).await;
        assert_eq!(status, 200, "{req} -> {body}");
        let v = json(&body);
        assert_eq!(v["error"]["code"], code, "{req} -> {body}");
        assert!(v["error"]["data"].is_string(), "{req} -> {body}");
    }
    // Positional params work like named ones.
    let (_, body) = post(addr, br#"{"jsonrpc":"2.0","id":5,"method":"block","params":["1"]}"#).await;
    assert_eq!(json(&body)["result"]["block"]["header"]["height"], "1");
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_body_is_refused_with_an_error_and_the_server_keeps_serving() {
    let mut config = test_config();
    config.max_body_bytes = 1_000;
    let (server, _) = start(config).await;
    let addr = server.local_addr();

    let big =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"broadcast_tx_sync","params":{{"tx":"{}"}}}}"#, "A".repeat(4_000));
    let (status, body) = post(addr, big.as_bytes()).await;
    assert_eq!(status, 400);
    let v = json(&body);
    assert_eq!(v["error"]["code"], -32600);
    assert!(v["error"]["data"].as_str().unwrap().contains("max_body_bytes is 1000"));

    // Same without a Content-Length: chunked, still cut off.
    let mut chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..10 {
        chunked.extend_from_slice(b"200\r\n");
        chunked.extend_from_slice(&[b' '; 0x200]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw_http(addr, &chunked).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["error"]["code"], -32600);

    http_client(addr).health().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn batches_answer_each_request_skip_notifications_and_are_capped() {
    let (server, _) = start(test_config()).await;
    let addr = server.local_addr();

    let (status, body) = post(
        addr,
        br#"[{"jsonrpc":"2.0","id":1,"method":"health"},
             {"jsonrpc":"2.0","method":"health"},
             {"jsonrpc":"2.0","id":2,"method":"block","params":{"height":"1"}},
             {"jsonrpc":"2.0","id":3,"method":"nope"}]"#,
    )
    .await;
    assert_eq!(status, 200);
    let v = json(&body);
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["id"], 1);
    assert_eq!(items[0]["result"], serde_json::json!({}));
    assert_eq!(items[1]["result"]["block"]["header"]["height"], "1");
    assert_eq!(items[2]["error"]["code"], -32601);

    // A lone notification gets no JSON-RPC answer.
    let (status, body) = post(addr, br#"{"jsonrpc":"2.0","method":"health"}"#).await;
    assert_eq!((status, body.as_str()), (200, ""));

    let eleven = format!("[{}]", [r#"{"jsonrpc":"2.0","id":1,"method":"health"}"#; 11].join(","));
    let (_, body) = post(addr, eleven.as_bytes()).await;
    let v = json(&body);
    assert_eq!(v[0]["error"]["code"], -32600);
    assert!(v[0]["error"]["data"].as_str().unwrap().contains("batch request exceeds maximum (10)"));
    server.shutdown().await;
}

#[tokio::test]
async fn junk_input_never_takes_the_server_down() {
    let (server, _) = start(test_config()).await;
    let addr = server.local_addr();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"null".to_vec(),
        br#"{"id":2}"#.to_vec(),
        b"[1,2,3]".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        deep.into_bytes(),
        br#"{"id":1e400,"method":"status"}"#.to_vec(),
        br#"{"id":18446744073709551616,"method":"block","params":{"height":18446744073709551616}}"#.to_vec(),
        br#"{"id":1,"method":"block","params":{"height":9223372036854775807}}"#.to_vec(),
        br#"{"id":1,"method":"validators","params":{"page":"99999999999999999999","per_page":"-1"}}"#.to_vec(),
        br#"{"id":1,"method":"tx_search","params":{"query":"","page":"0"}}"#.to_vec(),
        br#"{"id":1,"method":"tx_search","params":{"query":"tx.height=1","page":"-1","per_page":"1000"}}"#.to_vec(),
        br#"{"id":1,"method":"abci_query","params":{"height":"-1"}}"#.to_vec(),
    ];
    for body in &bodies {
        let (status, text) = post(addr, body).await;
        assert!(status == 200 || status == 500, "{status}: {text}");
        let v = json(&text);
        let v = if v.is_array() { v[0].clone() } else { v };
        assert!(v["error"]["code"].is_i64() || v.get("result").is_some(), "{text}");
    }
    for path in [
        "/block?height=%ff%fe",
        "/block?height=%",
        "/tx?hash=0xZZ",
        "/tx?hash=%22%E3%81%82%22",
        "/abci_query?data=%22%22&path=0x",
        "/tx_search?query=&page=&per_page=",
        "/validators?page=-5",
        "/block?&&==&height",
    ] {
        let (status, text) = get(addr, path).await;
        assert!(status == 200 || status == 500, "{path}: {status} {text}");
        json(&text);
    }
    // Not HTTP at all.
    let (status, _) = raw_http(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n").await;
    assert!(status == 0 || status == 400, "{status}");
    http_client(addr).health().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_until_one_closes() {
    let mut config = test_config();
    config.max_open_connections = 2;
    let (server, _) = start(config).await;
    let addr = server.local_addr();

    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // Start a request and stall, holding the connection open.
        s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = get(addr, "/health").await;
    assert_eq!(status, 503, "{body}");

    drop(held.pop());
    // The server notices the close and frees the slot.
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, _) = get(addr, "/health").await;
        if status == 200 {
            ok = true;
            break;
        }
    }
    assert!(ok, "a slot was freed when a connection closed");
    // A stalled request would hold shutdown until the header timeout.
    drop(held);
    server.shutdown().await;
}

#[tokio::test]
async fn the_bound_address_is_reported_and_shutdown_stops_listening() {
    let (server, _) = start(test_config()).await;
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    http_client(addr).health().await.unwrap();
    server.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}
