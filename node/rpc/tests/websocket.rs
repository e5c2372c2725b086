//! Subscriptions through tendermint-rpc's `WebSocketClient` (V0_38): events
//! the backend publishes arrive in CometBFT's format, filtered by query.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use kawase_rpc::tendermint_rpc::{
    self, client::CompatMode, event::EventData, query::EventType, query::Query, Client, SubscriptionClient,
    WebSocketClient,
};
use kawase_rpc::NodeEvent;
use tendermint_rpc::event::Event;
use tendermint_rpc::Subscription;

async fn ws_client(addr: std::net::SocketAddr) -> WebSocketClient {
    let (client, driver) = WebSocketClient::builder(format!("ws://{addr}/websocket").parse().unwrap())
        .compat_mode(CompatMode::V0_38)
        .build()
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = driver.run().await;
    });
    client
}

async fn next(sub: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("an event in time")
        .expect("subscription open")
        .unwrap()
}

async fn nothing_more(sub: &mut Subscription) {
    let got = tokio::time::timeout(Duration::from_millis(300), sub.next()).await;
    assert!(got.is_err(), "unexpected event: {got:?}");
}

fn publish(events: &tokio::sync::broadcast::Sender<NodeEvent>, event: NodeEvent) {
    events.send(event).unwrap();
}

#[tokio::test]
async fn new_block_and_tx_events_reach_matching_subscriptions() {
    let (server, backend) = start(test_config()).await;
    let client = ws_client(server.local_addr()).await;

    let mut blocks = client.subscribe(EventType::NewBlock.into()).await.unwrap();
    let mut txs = client.subscribe(EventType::Tx.into()).await.unwrap();
    let second_hash = hex::encode_upper(sha(b"second"));
    let mut by_hash =
        client.subscribe(Query::from(EventType::Tx).and_eq("tx.hash", second_hash.clone())).await.unwrap();
    let mut at_five = client.subscribe(Query::from(EventType::Tx).and_eq("tx.height", 5u64)).await.unwrap();

    let block_txs = vec![b"first".to_vec(), b"second".to_vec()];
    publish(&backend.events, new_block_event(4, block_txs.clone()));
    publish(&backend.events, tx_event(4, 0, b"first"));
    publish(&backend.events, tx_event(4, 1, b"second"));

    let ev = next(&mut blocks).await;
    assert_eq!(ev.query, "tm.event = 'NewBlock'");
    let NodeEvent::NewBlock(want) = new_block_event(4, block_txs.clone()) else { unreachable!() };
    match ev.data {
        EventData::NewBlock { block, block_id, result_finalize_block } => {
            assert_eq!(*block.unwrap(), want.block);
            assert_eq!(block_id, want.block_id);
            assert_eq!(result_finalize_block.unwrap(), want.result_finalize_block);
        }
        other => panic!("not a 0.38 NewBlock: {other:?}"),
    }
    let map = ev.events.unwrap();
    assert_eq!(map["tm.event"], ["NewBlock"]);
    assert_eq!(map["mint.height"], ["4"]);

    for (index, tx) in block_txs.iter().enumerate() {
        let ev = next(&mut txs).await;
        assert_eq!(ev.query, "tm.event = 'Tx'");
        let EventData::Tx { tx_result } = ev.data else { panic!("not a Tx event") };
        assert_eq!(tx_result.height, 4);
        assert_eq!(tx_result.index, Some(index as i64));
        assert_eq!(&tx_result.tx, tx);
        let want = exec_result(tx);
        assert_eq!(tx_result.result.log, Some(want.log));
        assert_eq!(tx_result.result.gas_used.as_deref(), Some("150"));
        assert_eq!(tx_result.result.events, want.events);
        let map = ev.events.unwrap();
        assert_eq!(map["tm.event"], ["Tx"]);
        assert_eq!(map["tx.hash"], [hex::encode_upper(sha(tx))]);
        assert_eq!(map["tx.height"], ["4"]);
        assert_eq!(map["transfer.sender"], ["kw1alice"]);
    }

    let ev = next(&mut by_hash).await;
    let EventData::Tx { tx_result } = ev.data else { panic!("not a Tx event") };
    assert_eq!(tx_result.tx, b"second");
    nothing_more(&mut by_hash).await;
    nothing_more(&mut at_five).await;

    publish(&backend.events, tx_event(5, 0, b"third"));
    let ev = next(&mut at_five).await;
    assert_eq!(ev.query, "tm.event = 'Tx' AND tx.height = 5");
    nothing_more(&mut by_hash).await;

    client.close().unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn plain_calls_work_over_the_websocket_too() {
    let (server, _) = start(test_config()).await;
    let client = ws_client(server.local_addr()).await;
    let status = client.status().await.unwrap();
    assert_eq!(status.sync_info.latest_block_height.value(), 2);
    let block = client.block(1u32).await.unwrap();
    assert_eq!(block.block, make_block(1));
    let c = client.broadcast_tx_commit(b"over ws".to_vec()).await.unwrap();
    assert_eq!(c.height.value(), 3);
    assert_eq!(c.tx_result, exec_result(b"over ws"));
    let err = client.block(42u32).await.unwrap_err();
    assert!(err.to_string().contains("not available"), "{err}");
    client.close().unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn unsubscribing_stops_events_for_that_query_only() {
    let (server, backend) = start(test_config()).await;
    let client = ws_client(server.local_addr()).await;
    let mut blocks = client.subscribe(EventType::NewBlock.into()).await.unwrap();
    let _txs = client.subscribe(EventType::Tx.into()).await.unwrap();
    client.unsubscribe(EventType::Tx.into()).await.unwrap();

    publish(&backend.events, tx_event(6, 0, b"ignored"));
    publish(&backend.events, new_block_event(6, vec![]));
    let ev = next(&mut blocks).await;
    assert!(matches!(ev.data, EventData::NewBlock { .. }));
    client.close().unwrap();
    server.shutdown().await;
}

type RawWs = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_ws(addr: std::net::SocketAddr) -> RawWs {
    tokio_tungstenite::connect_async(format!("ws://{addr}/websocket")).await.unwrap().0
}

async fn send(ws: &mut RawWs, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(text.into())).await.unwrap();
}

async fn recv(ws: &mut RawWs) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            return json(&t);
        }
    }
}

#[tokio::test]
async fn events_on_the_wire_have_cometbft_038_shape_and_the_subscribe_id() {
    let (server, backend) = start(test_config()).await;
    let mut ws = raw_ws(server.local_addr()).await;

    send(&mut ws, r#"{"jsonrpc":"2.0","id":"sub-1","method":"subscribe","params":{"query":"tm.event='Tx'"}}"#).await;
    assert_eq!(recv(&mut ws).await, serde_json::json!({"jsonrpc":"2.0","id":"sub-1","result":{}}));
    send(&mut ws, r#"{"jsonrpc":"2.0","id":7,"method":"subscribe","params":["tm.event = 'NewBlock'"]}"#).await;
    assert_eq!(recv(&mut ws).await["result"], serde_json::json!({}));

    publish(&backend.events, tx_event(4, 1, b"second"));
    let v = recv(&mut ws).await;
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], "sub-1");
    let r = &v["result"];
    assert_eq!(r["query"], "tm.event='Tx'");
    assert_eq!(r["data"]["type"], "tendermint/event/Tx");
    let info = &r["data"]["value"]["TxResult"];
    assert_eq!(info["height"], "4");
    assert_eq!(info["index"], 1);
    assert_eq!(info["tx"], "c2Vjb25k");
    assert_eq!(info["result"]["gas_wanted"], "200");
    assert_eq!(r["events"]["tx.hash"][0], hex::encode_upper(sha(b"second")));
    assert_eq!(r["events"]["tx.height"][0], "4");

    publish(&backend.events, new_block_event(4, vec![b"second".to_vec()]));
    let v = recv(&mut ws).await;
    assert_eq!(v["id"], 7);
    let r = &v["result"];
    assert_eq!(r["data"]["type"], "tendermint/event/NewBlock");
    assert_eq!(r["data"]["value"]["block"]["header"]["height"], "4");
    assert!(r["data"]["value"]["block_id"]["hash"].is_string());
    assert_eq!(r["data"]["value"]["result_finalize_block"]["events"][0]["type"], "mint");
    assert_eq!(r["events"]["tm.event"][0], "NewBlock");
    server.shutdown().await;
}

#[tokio::test]
async fn subscription_mistakes_and_limits_get_cometbft_errors() {
    let mut config = test_config();
    config.max_subscriptions_per_client = 2;
    let (server, _) = start(config).await;
    let mut ws = raw_ws(server.local_addr()).await;

    let sub = |id: u32, q: &str| {
        serde_json::json!({"jsonrpc":"2.0","id":id,"method":"subscribe","params":{"query":q}}).to_string()
    };
    let error_of = |v: serde_json::Value| {
        (v["error"]["code"].as_i64().unwrap(), v["error"]["data"].as_str().unwrap_or_default().to_owned())
    };

    send(&mut ws, &sub(1, "tm.event = 'Tx' AND")).await;
    let (code, data) = error_of(recv(&mut ws).await);
    assert_eq!(code, -32603);
    assert!(data.contains("failed to parse query"), "{data}");

    send(&mut ws, &sub(2, "tm.event = 'Tx'")).await;
    assert_eq!(recv(&mut ws).await["id"], 2);
    send(&mut ws, &sub(3, "tm.event = 'Tx'")).await;
    assert_eq!(error_of(recv(&mut ws).await).1, "already subscribed");
    send(&mut ws, &sub(4, "tm.event = 'NewBlock'")).await;
    assert_eq!(recv(&mut ws).await["result"], serde_json::json!({}));
    send(&mut ws, &sub(5, "tx.height = 3")).await;
    assert_eq!(error_of(recv(&mut ws).await).1, "max_subscriptions_per_client 2 reached");
    send(&mut ws, &sub(6, &"x".repeat(600))).await;
    assert_eq!(error_of(recv(&mut ws).await).1, "maximum query length exceeded");

    send(&mut ws, r#"{"jsonrpc":"2.0","id":8,"method":"unsubscribe","params":{"query":"tm.event = 'Nope'"}}"#).await;
    assert_eq!(error_of(recv(&mut ws).await).1, "subscription not found");
    send(&mut ws, r#"{"jsonrpc":"2.0","id":9,"method":"unsubscribe_all"}"#).await;
    assert_eq!(recv(&mut ws).await["result"], serde_json::json!({}));
    send(&mut ws, r#"{"jsonrpc":"2.0","id":10,"method":"unsubscribe_all"}"#).await;
    assert_eq!(error_of(recv(&mut ws).await).1, "subscription not found");

    send(&mut ws, "{not json").await;
    assert_eq!(error_of(recv(&mut ws).await).0, -32700);
    send(&mut ws, r#"{"jsonrpc":"2.0","id":11,"method":"teleport"}"#).await;
    assert_eq!(error_of(recv(&mut ws).await).0, -32601);
    send(&mut ws, r#"{"jsonrpc":"2.0","id":12,"method":"health"}"#).await;
    assert_eq!(recv(&mut ws).await["result"], serde_json::json!({}));
    server.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_cancelled_with_a_server_error() {
    let (server, backend) = start(test_config()).await;
    let mut ws = raw_ws(server.local_addr()).await;
    send(&mut ws, r#"{"jsonrpc":"2.0","id":"s","method":"subscribe","params":{"query":"tm.event='Tx'"}}"#).await;
    assert_eq!(recv(&mut ws).await["result"], serde_json::json!({}));

    // More events than the channel holds, published without yielding (the
    // test runtime is single-threaded), so this subscriber lags for sure.
    for i in 0..200u32 {
        publish(&backend.events, tx_event(9, i, format!("tx{i}").as_bytes()));
    }
    let v = recv(&mut ws).await;
    assert_eq!(v["id"], "s");
    assert_eq!(v["error"]["code"], -32000);
    let data = v["error"]["data"].as_str().unwrap();
    assert!(data.starts_with("subscription was canceled (reason: slow client"), "{data}");

    // The connection stays usable and can subscribe again.
    send(&mut ws, r#"{"jsonrpc":"2.0","id":"s2","method":"subscribe","params":{"query":"tm.event='Tx'"}}"#).await;
    assert_eq!(recv(&mut ws).await["id"], "s2");
    publish(&backend.events, tx_event(10, 0, b"after"));
    let v = recv(&mut ws).await;
    assert_eq!(v["result"]["data"]["value"]["TxResult"]["height"], "10");
    server.shutdown().await;
}
