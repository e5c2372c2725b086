//! Every method through tendermint-rpc's `HttpClient` (CompatMode::V0_38),
//! checking values round-trip, plus the URI (GET) form of the calls.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kawase_rpc::tendermint_rpc::{self, Client, Order, Paging};
use tendermint::abci::Code;
use tendermint::Hash;
use tendermint_rpc::query::Query;

#[tokio::test]
async fn health_status_and_abci_info_round_trip() {
    let (server, _) = start(test_config()).await;
    let client = http_client(server.local_addr());

    client.health().await.unwrap();

    let status = client.status().await.unwrap();
    assert_eq!(status.node_info.network.as_str(), CHAIN_ID);
    assert_eq!(status.node_info.moniker.to_string(), "node0");
    assert_eq!(status.sync_info.latest_block_height.value(), 2);
    assert_eq!(status.sync_info.latest_block_hash, block_id(2).hash);
    assert_eq!(status.sync_info.latest_app_hash, app_hash(1));
    assert!(!status.sync_info.catching_up);
    assert_eq!(status.validator_info.address, validators()[0].address);
    assert_eq!(status.validator_info.pub_key, validators()[0].pub_key);
    assert_eq!(status.validator_info.power(), 99);

    let info = client.abci_info().await.unwrap();
    assert_eq!(info.data, "kawase");
    assert_eq!(info.app_version, 1);
    assert_eq!(info.last_block_height.value(), 2);
    assert_eq!(info.last_block_app_hash, app_hash(2));
    server.shutdown().await;
}

#[tokio::test]
async fn abci_query_passes_path_data_height_and_prove_and_returns_the_proof() {
    let (server, _) = start(test_config()).await;
    let client = http_client(server.local_addr());

    let q = client.abci_query(Some("/kawase/balance".into()), vec![1, 2, 3], Some(1u32.into()), true).await.unwrap();
    assert_eq!(q.code, Code::Ok);
    assert_eq!(q.log, "/kawase/balance");
    assert_eq!(q.key, vec![1, 2, 3]);
    assert_eq!(q.value, vec![3, 2, 1]);
    assert_eq!(q.height.value(), 1);
    let proof = q.proof.unwrap();
    assert_eq!(proof.ops.len(), 1);
    assert_eq!(proof.ops[0].field_type, "ics23:jmt");
    assert_eq!(proof.ops[0].data, vec![1, 2, 3]);

    let latest = client.abci_query(None, vec![9], None, false).await.unwrap();
    assert_eq!(latest.height.value(), 2);
    assert!(latest.proof.is_none());

    let err = client.abci_query(Some("/fail".into()), vec![], None, false).await.unwrap_err();
    assert!(err.to_string().contains("the app is unavailable"), "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn blocks_results_and_commits_round_trip_by_height_and_latest() {
    let (server, _) = start(test_config()).await;
    let client = http_client(server.local_addr());

    for h in 1..=2u32 {
        let got = client.block(h).await.unwrap();
        assert_eq!(got.block_id, block_id(h.into()));
        assert_eq!(got.block, make_block(h.into()));
    }
    let latest = client.latest_block().await.unwrap();
    assert_eq!(latest.block, make_block(2));
    assert_eq!(latest.block.data.len(), 2);
    assert_eq!(latest.block.last_commit, Some(commit_for(1)));

    let missing = client.block(99u32).await.unwrap_err();
    assert!(missing.to_string().contains("not available"), "{missing}");
    let zero = client.block(0u32).await.unwrap_err();
    assert!(zero.to_string().contains("height must be greater than 0"), "{zero}");

    let results = client.block_results(2u32).await.unwrap();
    let want = block_results(2);
    assert_eq!(results.height.value(), 2);
    assert_eq!(results.txs_results, Some(want.txs_results));
    assert_eq!(results.finalize_block_events, want.finalize_block_events);
    assert_eq!(results.validator_updates, want.validator_updates);
    assert_eq!(results.consensus_param_updates, None);
    assert_eq!(results.app_hash, app_hash(2));
    assert!(results.begin_block_events.is_none());
    let latest_results = client.latest_block_results().await.unwrap();
    assert_eq!(latest_results.height.value(), 2);

    let commit = client.commit(1u32).await.unwrap();
    assert!(commit.canonical);
    assert_eq!(commit.signed_header.header, header(1, &block_txs(1)));
    assert_eq!(commit.signed_header.commit, commit_for(1));
    let latest_commit = client.latest_commit().await.unwrap();
    assert!(!latest_commit.canonical);
    assert_eq!(latest_commit.signed_header.commit.height.value(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn validators_are_paged_like_cometbft() {
    let (server, _) = start(test_config()).await;
    let client = http_client(server.local_addr());
    let all = validators();

    let everything = client.validators(2u32, Paging::All).await.unwrap();
    assert_eq!(everything.block_height.value(), 2);
    assert_eq!(everything.total, 3);
    assert_eq!(everything.validators.len(), 3);
    for (got, want) in everything.validators.iter().zip(&all) {
        assert_eq!(got.address, want.address);
        assert_eq!(got.pub_key, want.pub_key);
        assert_eq!(got.power, want.power);
    }

    let page2 =
        client.validators(1u32, Paging::Specific { page_number: 2usize.into(), per_page: 2u8.into() }).await.unwrap();
    assert_eq!(page2.block_height.value(), 1);
    assert_eq!(page2.total, 3);
    assert_eq!(page2.validators.len(), 1);
    assert_eq!(page2.validators[0].address, all[2].address);

    let beyond = client
        .validators(1u32, Paging::Specific { page_number: 3usize.into(), per_page: 2u8.into() })
        .await
        .unwrap_err();
    assert!(beyond.to_string().contains("page should be within [1, 2] range"), "{beyond}");
    server.shutdown().await;
}

#[tokio::test]
async fn tx_by_hash_with_proof_and_tx_search_with_paging_and_order() {
    let (server, _) = start(test_config()).await;
    let client = http_client(server.local_addr());
    let txs = all_txs();

    let t = &txs[2];
    let got = client.tx(Hash::Sha256(t.hash), true).await.unwrap();
    assert_eq!(got.hash, Hash::Sha256(t.hash));
    assert_eq!(got.height.value(), 2);
    assert_eq!(got.index, 1);
    assert_eq!(got.tx, t.tx);
    assert_eq!(got.tx_result, t.tx_result);
    assert_eq!(got.proof, Some(tx_proof(2, 1, &t.tx)));
    let no_proof = client.tx(Hash::Sha256(t.hash), false).await.unwrap();
    assert!(no_proof.proof.is_none());

    let unknown = client.tx(Hash::Sha256([7; 32]), false).await.unwrap_err();
    assert!(unknown.to_string().contains("not found"), "{unknown}");

    let q = Query::eq("tx.height", 2u64);
    let asc = client.tx_search(q.clone(), false, 1, 10, Order::Ascending).await.unwrap();
    assert_eq!(asc.total_count, 2);
    assert_eq!(asc.txs.iter().map(|t| t.index).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(asc.txs[0].tx_result, txs[1].tx_result);
    let desc = client.tx_search(q, true, 1, 10, Order::Descending).await.unwrap();
    assert_eq!(desc.txs.iter().map(|t| t.index).collect::<Vec<_>>(), [1, 0]);
    assert!(desc.txs[0].proof.is_some());

    let all_q = Query::eq("tm.event", "Tx");
    let page2 = client.tx_search(all_q.clone(), false, 2, 2, Order::Ascending).await.unwrap();
    assert_eq!(page2.total_count, 3);
    assert_eq!(page2.txs.len(), 1);
    assert_eq!(page2.txs[0].hash, Hash::Sha256(txs[2].hash));
    let too_far = client.tx_search(all_q, false, 3, 2, Order::Ascending).await.unwrap_err();
    assert!(too_far.to_string().contains("page should be within"), "{too_far}");
    server.shutdown().await;
}

#[tokio::test]
async fn broadcasts_return_check_tx_and_commit_waits_for_the_tx_event() {
    let (server, _) = start(test_config()).await;
    let client = http_client(server.local_addr());

    let tx = b"pay carol 3".to_vec();
    let hash = Hash::Sha256(sha(&tx));

    let a = client.broadcast_tx_async(tx.clone()).await.unwrap();
    assert_eq!(a.code, Code::Ok);
    assert_eq!(a.hash, hash);

    let s = client.broadcast_tx_sync(tx.clone()).await.unwrap();
    assert_eq!(s.code, Code::Ok);
    assert_eq!(s.log, "accepted");
    assert_eq!(s.data.as_ref(), b"\x01\x02");
    assert_eq!(s.hash, hash);

    let rejected = client.broadcast_tx_sync(b"bad tx".to_vec()).await.unwrap();
    assert_eq!(rejected.code.value(), 7);
    assert_eq!(rejected.codespace, "kawase");
    assert_eq!(rejected.log, "signature verification failed");

    let c = client.broadcast_tx_commit(tx.clone()).await.unwrap();
    assert_eq!(c.check_tx.code, Code::Ok);
    assert_eq!(c.check_tx.gas_wanted, 300);
    assert_eq!(c.tx_result, exec_result(&tx));
    assert_eq!(c.hash, hash);
    assert_eq!(c.height.value(), 3);

    let bad = client.broadcast_tx_commit(b"bad tx".to_vec()).await.unwrap();
    assert_eq!(bad.check_tx.code.value(), 7);
    assert_eq!(bad.height.value(), 0);
    assert_eq!(bad.tx_result, Default::default());

    let full = client.broadcast_tx_sync(b"fail".to_vec()).await.unwrap_err();
    assert!(full.to_string().contains("mempool is full"), "{full}");
    server.shutdown().await;
}

#[tokio::test]
async fn broadcast_tx_commit_times_out_with_cometbfts_error() {
    let mut config = test_config();
    config.timeout_broadcast_tx_commit = std::time::Duration::from_millis(300);
    let (server, _) = start(config).await;
    let client = http_client(server.local_addr());
    let err = client.broadcast_tx_commit(b"stuck forever".to_vec()).await.unwrap_err();
    assert!(err.to_string().contains("timed out waiting for tx to be included in a block"), "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn uri_calls_take_cometbft_style_arguments() {
    let (server, _) = start(test_config()).await;
    let addr = server.local_addr();

    let (status, body) = get(addr, "/block?height=1").await;
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["id"], -1);
    assert_eq!(v["result"]["block"]["header"]["height"], "1");
    assert_eq!(v["result"]["block"]["header"]["chain_id"], CHAIN_ID);

    let (_, body) = get(addr, "/block?height=%222%22").await;
    assert_eq!(json(&body)["result"]["block"]["header"]["height"], "2");

    let t = &all_txs()[0];
    let (status, body) = get(addr, &format!("/tx?hash=0x{}&prove=true", hex::encode(t.hash))).await;
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["result"]["hash"], hex::encode_upper(t.hash));
    assert_eq!(v["result"]["height"], "1");
    assert!(v["result"]["proof"].is_object());

    let (_, body) = get(addr, "/abci_query?path=%22/a/b%22&data=0x0102&prove=true").await;
    let v = json(&body);
    assert_eq!(v["result"]["response"]["log"], "/a/b");
    assert_eq!(v["result"]["response"]["value"], "AgE=");
    // CometBFT's field name and op shape, next to tendermint-rpc's.
    assert_eq!(v["result"]["response"]["proof_ops"]["ops"][0]["type"], "ics23:jmt");

    let (_, body) = get(addr, "/validators?height=2&per_page=2").await;
    let v = json(&body);
    assert_eq!(v["result"]["count"], "2");
    assert_eq!(v["result"]["total"], "3");
    assert_eq!(v["result"]["validators"][0]["voting_power"], "99");
    assert_eq!(v["result"]["validators"][0]["proposer_priority"], "-10");

    let (_, body) = get(addr, "/tx_search?query=%22tx.height%3D1%22&order_by=%22desc%22").await;
    let v = json(&body);
    assert_eq!(v["result"]["total_count"], "1");

    let (_, body) = get(addr, "/broadcast_tx_sync?tx=%22bad%22").await;
    assert_eq!(json(&body)["result"]["code"], 7);

    let (status, body) = get(addr, "/block?height=abc").await;
    assert_eq!(status, 500);
    assert_eq!(json(&body)["error"]["code"], -32602);

    let (status, body) = get(addr, "/subscribe?query=%22tm.event%3D%27Tx%27%22").await;
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error"]["code"], -32601);

    let (status, _) = get(addr, "/no_such_method").await;
    assert_eq!(status, 404);

    let (status, body) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("Available endpoints") && body.contains("/block?height=_"));
    server.shutdown().await;
}

#[tokio::test]
async fn events_and_results_use_cometbft_field_shapes() {
    let (server, _) = start(test_config()).await;
    let addr = server.local_addr();

    let (_, body) = get(addr, "/block_results?height=2").await;
    let r = &json(&body)["result"];
    assert!(r.get("begin_block_events").is_none());
    assert_eq!(r["finalize_block_events"][0]["type"], "mint");
    assert_eq!(r["txs_results"][0]["gas_used"], "150");
    assert_eq!(r["txs_results"][0]["events"][0]["attributes"][0]["key"], "sender");

    let (_, body) = get(addr, "/status").await;
    let s = &json(&body)["result"];
    assert_eq!(s["validator_info"]["voting_power"], "99");
    assert_eq!(s["sync_info"]["latest_block_height"], "2");
    server.shutdown().await;
}
