//! Two-layer settlement with real processes: an FZ and a BZ (`kawased
//! start`, one validator each) and `kawase-relayer` on loopback. Every
//! balance, reserved amount, hold and position is checked at each step.

use std::time::Duration;

use kawase_client::{msgs, CosmosAny, Key, KeyKind};
use kawase_ibc::ibc_proto::ibc::core::channel::v1::{MsgRecvPacket, Packet};
use kawase_ibc::ibc_proto::ibc::core::client::v1::Height as RawHeight;
use kawase_testkit::misbehaviour::*;
use kawase_testkit::rpc::Query;
use kawase_testkit::zones::*;
use prost::{Message, Name};
use serde_json::Value;

#[test]
fn link_charge_pay_across_banks_and_discharge_settle_exactly_and_payee_waits_for_the_fz() {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let mut net = network().await;
        net.relayer.start();
        net.link_both().await;
        // A BZ account carries its FZ identity and bank.
        let acct = net.bz.query("/accounts/account", net.alice_bz.address().to_string().as_bytes()).await.expect("a");
        assert_eq!(acct["bank"], net.bank1.address().to_string());
        assert_eq!(acct["deposit_account_ref"], net.alice.address().to_string());

        // Charge: free -> reserved on the FZ, credited on the BZ.
        let ch = net.channel.clone();
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, 300, 0)]).await;
        assert_eq!((net.fz.balance(&net.alice).await, net.fz.reserved(&net.alice).await), (700, 300));
        eventually(30, "charge credited", || async {
            (net.bz.bz(&net.alice_bz).await == Some((300, 0))).then_some(())
        })
        .await;
        net.fz.ok(&net.bob, vec![msgs::charge(net.bob.address(), &ch, 100, 0)]).await;
        eventually(30, "bob charged", || async { (net.bz.bz(&net.bob_bz).await == Some((100, 0))).then_some(()) })
            .await;
        net.assert_quiescent_invariant().await;

        // Payment A -> B with the relayer stopped: A's amount is held, B is
        // not credited and nothing moves on the FZ until the FZ settles.
        net.relayer.kill();
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 120, "inv-1", 0)]).await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((180, 120)));
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(net.bz.bz(&net.bob_bz).await, Some((100, 0)), "payee credited before the FZ settled");
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (300, 100));
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, 0);
        let holds = net.bz.query("/settlement/holds", b"").await.expect("holds");
        assert_eq!(holds.as_array().expect("list").len(), 1);
        // A BZ account holding a balance or a hold cannot be closed (its
        // money would be stranded on the FZ's reservation).
        for who in [&net.alice_bz, &net.bob_bz] {
            let err = net.bz.submit(&net.bz.admin, vec![msgs::close(net.bz.admin.address(), who.address())]).await;
            assert_eq!(err.map_err(|(cs, code, _)| (cs, code)), Err(("accounts".to_string(), 11)));
        }

        net.relayer.start();
        eventually(30, "payment settled", || async { (net.bz.bz(&net.bob_bz).await == Some((220, 0))).then_some(()) })
            .await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((180, 0)));
        // Settled on the FZ: reserved moved, bank 1 owes bank 2.
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (180, 220));
        assert_eq!((net.fz.balance(&net.alice).await, net.fz.balance(&net.bob).await), (700, 400));
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, 120);
        net.assert_quiescent_invariant().await;

        // Payment to an account frozen on the FZ: error ack, A refunded,
        // nothing else moves.
        net.fz.ok(&net.bank2, vec![msgs::freeze(net.bank2.address(), net.bob.address(), "court order")]).await;
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 50, "inv-2", 0)]).await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((130, 50)));
        eventually(30, "refund", || async { (net.bz.bz(&net.alice_bz).await == Some((180, 0))).then_some(()) }).await;
        assert_eq!(net.bz.bz(&net.bob_bz).await, Some((220, 0)));
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (180, 220));
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, 120);
        net.assert_quiescent_invariant().await;

        // A payee frozen on the BZ itself: refused at once, nothing held.
        net.fz.ok(&net.bank2, vec![msgs::unfreeze(net.bank2.address(), net.bob.address())]).await;
        net.bz.ok(&net.bz.admin, vec![msgs::freeze(net.bz.admin.address(), net.bob_bz.address(), "BZ review")]).await;
        let refused = net
            .bz
            .submit(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 5, "inv-3", 0)])
            .await;
        assert_eq!(refused.map_err(|(cs, code, _)| (cs, code)), Err(("accounts".to_string(), 4)));
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((180, 0)));
        net.bz.ok(&net.bz.admin, vec![msgs::unfreeze(net.bz.admin.address(), net.bob_bz.address())]).await;

        // Discharge: BZ -> FZ free balance.
        net.bz.ok(&net.bob_bz, vec![msgs::discharge(net.bob_bz.address(), 200, 0)]).await;
        assert_eq!(net.bz.bz(&net.bob_bz).await, Some((20, 200)));
        eventually(30, "discharge", || async { (net.bz.bz(&net.bob_bz).await == Some((20, 0))).then_some(()) }).await;
        assert_eq!((net.fz.balance(&net.bob).await, net.fz.reserved(&net.bob).await), (600, 20));
        let total = net.bz.query("/settlement/bz_total", b"").await.expect("total");
        assert_eq!(amount(&total["amount"]), 200);
        net.assert_quiescent_invariant().await;

        // Nothing left in flight on either side.
        let pending: Value = serde_json::from_str(&net.relayer.run("pending")).expect("json");
        assert_eq!(pending["fz_sent_unacknowledged"], serde_json::json!([]));
        assert_eq!(pending["bz_sent_unacknowledged"], serde_json::json!([]));
    });
}

#[test]
fn timed_out_payments_are_refunded_and_never_executed_and_forged_packets_are_rejected() {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let mut net = network().await;
        net.relayer.start();
        net.link_both().await;
        let ch = net.channel.clone();
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, 300, 0)]).await;
        eventually(30, "charge", || async { (net.bz.bz(&net.alice_bz).await == Some((300, 0))).then_some(()) }).await;

        // Relayer down past a 2-second timeout.
        net.relayer.kill();
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 70, "late", 2)]).await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((230, 70)));
        tokio::time::sleep(Duration::from_secs(4)).await;
        net.relayer.start();
        eventually(30, "timeout refund", || async { (net.bz.bz(&net.alice_bz).await == Some((300, 0))).then_some(()) })
            .await;
        // The late packet was never executed on the FZ.
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (300, 0));
        assert_eq!(net.bz.bz(&net.bob_bz).await, Some((0, 0)));
        net.assert_quiescent_invariant().await;

        // Forged packets, submitted straight to the FZ by the relayer's key.
        net.relayer.kill();
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 10, "real", 0)]).await;
        let relayer_key = {
            let v: Value = serde_json::from_str(
                &std::fs::read_to_string(net.relayer.config.with_file_name("fz-key.json")).expect("key"),
            )
            .expect("json");
            let s: [u8; 32] = hex::decode(v["secret_hex"].as_str().expect("hex")).expect("hex").try_into().expect("32");
            Key::from_seed(KeyKind::Ed25519, s).expect("key")
        };
        let bz_channel = "channel-0";
        let seqs: Vec<u64> =
            serde_json::from_value(net.bz.query("/ibc/packet_commitments", bz_channel.as_bytes()).await.expect("q"))
                .expect("seqs");
        let seq = *seqs.last().expect("a pending payment");
        // The real packet's data, from the BZ's send event.
        let q = format!("send_packet.packet_sequence = '{seq}'");
        let found = net.bz.client().tx_search(q.parse::<Query>().expect("query"), 10).await.expect("search");
        let ev = found.txs[0].tx_result.events.iter().find(|e| e.kind == "send_packet").expect("event");
        let get = |k: &str| {
            ev.attributes
                .iter()
                .find(|a| a.key_str().ok() == Some(k))
                .and_then(|a| a.value_str().ok())
                .expect(k)
                .to_owned()
        };
        let packet = Packet {
            sequence: seq,
            source_port: "settlement".into(),
            source_channel: bz_channel.into(),
            destination_port: "settlement".into(),
            destination_channel: net.channel.clone(),
            data: hex::decode(get("packet_data_hex")).expect("hex"),
            timeout_height: Some(RawHeight { revision_number: 0, revision_height: 0 }),
            timeout_timestamp: get("packet_timeout_timestamp").parse().expect("ts"),
        };
        // A genuine proof at a height the FZ's client has a consensus state for.
        let client_height: u64 = {
            let out: Value = serde_json::from_str(&net.relayer.run("show-path")).expect("json");
            out["fz_client_height_of_bz"].as_u64().expect("h")
        };
        let bz_h = client_height - 1;
        let key = format!("commitments/ports/settlement/channels/{bz_channel}/sequences/{seq}");
        let r = net.bz.client().abci_query("/store", key.as_bytes(), Some(bz_h), true).await.expect("proof");
        let proof_of = |ops: &tendermint::merkle::proof::ProofOps| {
            kawase_ibc::ibc_proto::ibc::core::commitment::v1::MerkleProof {
                proofs: ops
                    .ops
                    .iter()
                    .map(|o| kawase_ibc::ibc_proto::ics23::CommitmentProof::decode(o.data.as_slice()).expect("proof"))
                    .collect(),
            }
            .encode_to_vec()
        };
        let real_proof = r.proof.as_ref().map(proof_of).expect("proof");
        let recv = |packet: Packet, proof: Vec<u8>, h: u64| CosmosAny {
            type_url: MsgRecvPacket::type_url(),
            value: MsgRecvPacket {
                packet: Some(packet),
                proof_commitment: proof,
                proof_height: Some(RawHeight { revision_number: 0, revision_height: h }),
                signer: relayer_key.address().to_string(),
            }
            .encode_to_vec(),
        };
        // The commitment may not exist yet at that height: only then is the
        // "genuine" proof a non-membership proof; skip to the forged cases.
        let mut tampered = real_proof.clone();
        let last = tampered.len() - 3;
        tampered[last] ^= 0x5a;
        let mut forged = packet.clone();
        forged.data = msgs_payment_to_self(&forged.data);
        for (what, msg) in [
            ("tampered proof", recv(packet.clone(), tampered, client_height)),
            ("wrong proof height", recv(packet.clone(), real_proof.clone(), client_height + 1000)),
            ("forged data", recv(forged, real_proof.clone(), client_height)),
        ] {
            let err = net.fz.submit(&relayer_key, vec![msg]).await.expect_err(what);
            assert_eq!(err.0, "ibc", "{what}: {err:?}");
        }
        // Nothing moved on the FZ.
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (300, 0));
        // The genuine packet still settles once the relayer is back.
        net.relayer.start();
        eventually(30, "real payment", || async { (net.bz.bz(&net.bob_bz).await == Some((10, 0))).then_some(()) })
            .await;
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (290, 10));
        net.assert_quiescent_invariant().await;
    });
}

/// The same packet bytes with the amount changed (a relayer forging data).
fn msgs_payment_to_self(data: &[u8]) -> Vec<u8> {
    let mut d = kawase_settlement::packet::PacketData::decode(data).expect("packet data");
    if let Some(kawase_settlement::packet::Kind::Payment(p)) = d.kind.as_mut() {
        p.amount = "999999".into();
    }
    d.encode_to_vec()
}

#[test]
fn relayer_killed_again_and_again_mid_batch_settles_every_payment_exactly_once() {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let mut net = network().await;
        net.relayer.start();
        net.link_both().await;
        let ch = net.channel.clone();
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, 1_000, 0)]).await;
        eventually(30, "charge", || async { (net.bz.bz(&net.alice_bz).await == Some((1_000, 0))).then_some(()) }).await;

        // 300 payments in transactions of 25, while the relayer is killed
        // (SIGKILL) and restarted three times.
        let amounts: Vec<u128> = (0..300u128).map(|i| i % 3 + 1).collect();
        let sum: u128 = amounts.iter().sum();
        let (a, b) = (net.alice_bz.address(), net.bob_bz.address());
        let submit = async {
            for chunk in amounts.chunks(25) {
                let batch = chunk.iter().map(|x| msgs::pay(a, b, *x, "batch", 0)).collect();
                net.bz.ok(&net.alice_bz, batch).await;
            }
        };
        let relayer = &mut net.relayer;
        let chaos = async {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(900)).await;
                relayer.kill();
                tokio::time::sleep(Duration::from_millis(300)).await;
                relayer.start();
            }
        };
        tokio::join!(submit, chaos);

        eventually(120, "every payment settled", || async {
            (net.bz.bz(&net.bob_bz).await == Some((sum, 0))).then_some(())
        })
        .await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((1_000 - sum, 0)));
        assert_eq!((net.fz.reserved(&net.alice).await, net.fz.reserved(&net.bob).await), (1_000 - sum, sum));
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, sum);
        let holds = net.bz.query("/settlement/holds", b"").await.expect("holds");
        assert_eq!(holds, serde_json::json!([]));
        net.assert_quiescent_invariant().await;
    });
}

#[test]
fn two_valid_conflicting_headers_freeze_the_light_client_and_stop_its_packets() {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let mut net = network().await;
        net.relayer.start();
        net.link_both().await;
        net.relayer.kill();
        let path: Value = serde_json::from_str(&net.relayer.run("show-path")).expect("json");
        let bz_client = path["path"]["bz_client"].as_str().expect("client").to_owned();
        let h = path["bz_client_height_of_fz"].as_u64().expect("h");

        assert_eq!(frozen_height(&net, &bz_client).await, 0, "client starts unfrozen");
        // Accepted as evidence: the client is frozen, not updated.
        freeze_bz_client(&net, &bz_client, h).await;
        assert!(frozen_height(&net, &bz_client).await > 0, "client frozen after misbehaviour");
        let clients: Value =
            serde_json::from_str(&net.relayer.run_args(&["clients", "--output", "json"])).expect("json");
        assert_eq!((clients[0]["status"].as_str(), clients[1]["status"].as_str()), (Some("Active"), Some("Frozen")));
        assert!(clients[1]["frozen_height"].as_u64() > Some(0), "{clients}");

        // Nothing from the FZ is accepted any more: a charge stays in flight.
        let ch = net.channel.clone();
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, 100, 0)]).await;
        net.relayer.start();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(net.bz.bz(&net.alice_bz).await, Some((0, 0)), "a frozen client must not deliver packets");
        let log = std::fs::read_to_string(net.relayer.config.with_file_name("relayer.log")).unwrap_or_default();
        assert!(log.to_lowercase().contains("frozen"), "relayer reports the frozen client:\n{log}");
    });
}

#[test]
fn relayer_lists_paths_and_client_expiry() {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let net = network().await;
        let ids = net.relayer.path_file();
        let id = |k: &str| ids[k].as_str().unwrap_or_else(|| panic!("{k} in path.json")).to_owned();

        // paths: one path, both ends open, the identifiers of path.json.
        let paths: Value = serde_json::from_str(&net.relayer.run_args(&["paths", "--output", "json"])).expect("json");
        let paths = paths.as_array().expect("a list of paths");
        assert_eq!(paths.len(), 1);
        for (zone, chain) in [("fz", "kawase-fz"), ("bz", "kawase-bz")] {
            let end = &paths[0][zone];
            assert_eq!(end["chain_id"], chain, "{zone}");
            assert_eq!(end["client_id"], id(&format!("{zone}_client")), "{zone}");
            assert_eq!(end["connection_id"], id(&format!("{zone}_connection")), "{zone}");
            assert_eq!(end["channel_id"], id(&format!("{zone}_channel")), "{zone}");
            assert_eq!(end["port_id"], "settlement", "{zone}");
            assert_eq!((end["connection_state"].as_str(), end["channel_state"].as_str()), (Some("OPEN"), Some("OPEN")));
        }
        let text = net.relayer.run("paths");
        assert!(text.starts_with("PATH ") && text.lines().count() == 3, "paths table:\n{text}");

        // clients: both active, expiring a trusting period after their
        // latest consensus state, which is seconds old.
        let clients = || async {
            let v: Value = serde_json::from_str(&net.relayer.run_args(&["clients", "--output", "json"])).expect("json");
            v.as_array().expect("a list of clients").clone()
        };
        let before = clients().await;
        assert_eq!(before.len(), 2);
        let time = |v: &Value| tendermint::Time::parse_from_rfc3339(v.as_str().expect("time")).expect("rfc 3339");
        for (c, zone, tracked) in [(&before[0], "fz", "kawase-bz"), (&before[1], "bz", "kawase-fz")] {
            assert_eq!(c["zone"], zone);
            assert_eq!(c["client_id"], id(&format!("{zone}_client")), "{zone}");
            assert_eq!(c["tracked_chain_id"], tracked, "{zone}");
            assert_eq!(c["status"], "Active", "{zone}: {c}");
            assert_eq!((c["refresh_soon"].as_bool(), c["frozen_height"].is_null()), (Some(false), true), "{zone}");
            let trusting = c["trusting_period_secs"].as_u64().expect("secs");
            assert_eq!(trusting, 14 * 24 * 3600);
            let (consensus, expires, host) =
                (time(&c["consensus_time"]), time(&c["expires_at"]), time(&c["host_time"]));
            assert_eq!(expires.duration_since(consensus).expect("after"), Duration::from_secs(trusting), "{zone}");
            let left = expires.duration_since(host).expect("expiry in the future").as_secs();
            assert!(left <= trusting && left + 300 > trusting, "{zone}: {left} s left of {trusting}");
            assert_eq!(c["time_left_secs"].as_u64(), Some(left), "{zone}");
        }
        let text = net.relayer.run("clients");
        assert!(text.starts_with("ZONE ") && text.matches("Active").count() == 2, "clients table:\n{text}");

        // update-client --zone bz: only the BZ's client of the FZ moves.
        let bz_before = before[1]["latest_height"].as_u64().expect("h");
        eventually(10, "FZ past the BZ client's height", || async {
            let h = net.fz.client().height().await.ok()?;
            (h > bz_before).then_some(())
        })
        .await;
        let out = net.relayer.run_args(&["update-client", "--zone", "bz"]);
        assert!(out.starts_with("BZ client") && out.contains("updated"), "{out}");
        let after = clients().await;
        assert!(after[1]["latest_height"].as_u64().expect("h") > bz_before, "{out}");
        assert_eq!(after[0]["latest_height"], before[0]["latest_height"], "the FZ's client was left alone");
        assert_eq!(after[1]["status"], "Active");

        // Creating what exists is a no-op that names it.
        let out = net.relayer.run("create-channel");
        assert!(out.starts_with("channel exists already") && out.contains(&id("fz_channel")), "{out}");
        let again: Value = serde_json::from_str(&net.relayer.run("create-path")).expect("json");
        assert_eq!(again, ids, "create-path again keeps the path");
        assert_eq!(net.relayer.path_file(), ids);

        // A node that does not answer: one line on stderr, non-zero exit.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let config = std::fs::read_to_string(&net.relayer.config)
            .expect("config")
            .replace(&net.fz.rpc(), &format!("http://127.0.0.1:{port}"));
        let dead = net.relayer.config.with_file_name("dead-fz.toml");
        std::fs::write(&dead, config).expect("config");
        let out = Relayer::new(&dead).output(&["pending"], &[("RUST_LOG", "info")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "pending against a dead node succeeded");
        assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
        assert!(
            stderr.starts_with(&format!("error: cannot reach the FZ at http://127.0.0.1:{port}: is it running?")),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    });
}
