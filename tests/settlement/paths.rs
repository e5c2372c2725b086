//! The BZ's one settlement channel with real processes: it opens only to
//! the FZ the BZ's genesis names, survives a frozen light client (the admin
//! recovers it from a substitute), and a relayer killed between any two
//! handshake steps completes the path on its next run.

use kawase_client::msgs;
use kawase_testkit::misbehaviour::*;
use kawase_testkit::zones::*;
use prost::{Message, Name};
use serde_json::Value;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt")
}

/// `kawase-relayer --config CONFIG ARGS` with `env`: (exit code, stderr).
fn relayer_status(r: &Relayer, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = r.output(args, env);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The IBC host's counter of `kind` (`clients`, `connections`, `channels`).
async fn counter(zone: &Zone, kind: &str) -> u64 {
    let key = format!("ibc/counter/{kind}").into_bytes();
    let value = zone.client().store(&key).await.expect("query");
    <[u8; 8]>::try_from(value.as_slice()).map(u64::from_be_bytes).unwrap_or(0)
}

#[test]
fn a_bz_refuses_a_settlement_channel_from_a_client_of_another_chain_and_opens_one_to_its_fz() {
    rt().block_on(async {
        let mut net = network_without_path().await;
        // Another chain, with the relayer key registered: a relayer-role key
        // can create clients and connections on the BZ to anything.
        let fake = start_zone(&net.dir().join("fake"), "kawase-fake", "fz");
        let a = fake.admin.address();
        let reg = msgs::register_account(a, net.relayer_key.address(), kawase_accounts::Role::Relayer, "");
        fake.ok(&fake.admin, vec![reg]).await;
        let rogue = relayer_config(
            &net.dir().join("rogue-relayer"),
            &net.relayer_key,
            ("kawase-fake", &fake.rpc()),
            ("kawase-bz", &net.bz.rpc()),
        );
        let (code, stderr) = relayer_status(&rogue, &["create-path"], &[]);
        assert_eq!(code, Some(1), "the rogue path must not open:\n{stderr}");
        assert!(stderr.contains("channel open try") && stderr.contains("kawase-fake"), "{stderr}");
        let bz = net.bz.client();
        let bound = bz.store(b"settlement/bz/channel").await;
        assert!(bound.expect("query").is_empty(), "the BZ is bound to no channel");

        // The FZ the BZ's genesis names: the path opens and money moves.
        let path: Value = serde_json::from_str(&net.relayer.run("create-path")).expect("path json");
        net.channel = path["fz_channel"].as_str().expect("channel").to_owned();
        assert_eq!(path["bz_client"], "07-tendermint-1", "the rogue client took -0");
        net.relayer.start();
        net.link_both().await;
        net.charge_alice_and_see_it_credited(300).await;
        net.assert_quiescent_invariant().await;
    });
}

#[test]
fn a_frozen_bz_client_recovered_by_the_admin_delivers_what_was_stranded_with_balances_intact() {
    rt().block_on(async {
        let mut net = network().await;
        net.relayer.start();
        net.link_both().await;
        let ch = net.channel.clone();
        net.charge_alice_and_see_it_credited(300).await;
        net.relayer.kill();

        // Money in flight both ways: a BZ payment held, an FZ charge reserved.
        net.bz.ok(&net.alice_bz, vec![msgs::pay(net.alice_bz.address(), net.bob_bz.address(), 120, "", 0)]).await;
        net.fz.ok(&net.alice, vec![msgs::charge(net.alice.address(), &ch, 50, 0)]).await;
        let path: Value = serde_json::from_str(&net.relayer.run("show-path")).expect("json");
        let bz_client = path["path"]["bz_client"].as_str().expect("client").to_owned();
        freeze_bz_client(&net, &bz_client, path["bz_client_height_of_fz"].as_u64().expect("h")).await;

        // ibc-go's own message is not a silent success on our zones.
        let raw = kawase_ibc::ibc_proto::ibc::core::client::v1::MsgRecoverClient {
            subject_client_id: bz_client.clone(),
            substitute_client_id: "07-tendermint-0".into(),
            signer: net.relayer_key.address().to_string(),
        };
        let any = kawase_client::CosmosAny {
            type_url: kawase_ibc::ibc_proto::ibc::core::client::v1::MsgRecoverClient::type_url(),
            value: raw.encode_to_vec(),
        };
        let err = net.bz.submit(&net.relayer_key, vec![any]).await.expect_err("refused");
        assert_eq!((err.0.as_str(), err.1), ("ibc", 2), "{err:?}");
        // Nor may a relayer key recover with ours: only the admin.
        let ours = kawase_settlement::MsgRecoverClient {
            signer: net.relayer_key.address().to_string(),
            subject_client_id: bz_client.clone(),
            substitute_client_id: "07-tendermint-0".into(),
        };
        let any = kawase_client::CosmosAny {
            type_url: kawase_settlement::MsgRecoverClient::type_url(),
            value: ours.encode_to_vec(),
        };
        let err = net.bz.submit(&net.relayer_key, vec![any]).await.expect_err("refused");
        assert_eq!((err.0.as_str(), err.1), ("accounts", 7), "{err:?}");

        let admin_key = net.bz.home.join("keys/admin.json");
        let out = net.relayer.run_args(&[
            "recover-client",
            "--zone",
            "bz",
            "--admin-key-file",
            admin_key.to_str().expect("utf8"),
        ]);
        assert!(out.starts_with(&format!("BZ client {bz_client} (of kawase-fz) recovered from substitute")), "{out}");
        assert_eq!(frozen_height(&net, &bz_client).await, 0, "the subject is active again");
        let clients: Value =
            serde_json::from_str(&net.relayer.run_args(&["clients", "--output", "json"])).expect("json");
        assert_eq!(clients[1]["status"], "Active", "{clients}");
        assert_eq!(net.relayer.path_file()["bz_client"], bz_client.as_str(), "the path keeps its client");

        // The old channel carries on: the payment settles, the charge lands.
        net.relayer.start();
        eventually(60, "payment and charge settled", || async {
            let done =
                net.bz.bz(&net.alice_bz).await == Some((230, 0)) && net.bz.bz(&net.bob_bz).await == Some((120, 0));
            done.then_some(())
        })
        .await;
        assert_eq!(net.fz.reserved(&net.alice).await, 230);
        assert_eq!(net.fz.reserved(&net.bob).await, 120);
        assert_eq!(net.fz.owes(&net.bank1, &net.bank2).await, 120);
        net.assert_quiescent_invariant().await;
    });
}

#[test]
fn a_relayer_killed_between_any_two_handshake_steps_completes_the_path_on_its_next_run() {
    rt().block_on(async {
        let mut net = network_without_path().await;
        let file = net.relayer.config.with_file_name("path.json");
        for step in ["fz-client", "bz-client", "connection-init", "connection-try", "channel-init", "channel-try"] {
            let (code, stderr) =
                relayer_status(&net.relayer, &["create-path"], &[("KAWASE_RELAYER_CRASH_AFTER", step)]);
            assert_eq!(code, Some(86), "killed after {step}:\n{stderr}");
            if step == "connection-try" {
                // A lost path file too: everything is found on the chains.
                std::fs::remove_file(&file).expect("path file");
            }
        }
        let path: Value = serde_json::from_str(&net.relayer.run("create-path")).expect("path json");
        assert_eq!(net.relayer.path_file(), path);
        for (zone, name) in [(&net.fz, "FZ"), (&net.bz, "BZ")] {
            for kind in ["clients", "connections", "channels"] {
                assert_eq!(counter(zone, kind).await, 1, "{name}: one of each was created, none twice ({kind})");
            }
        }
        let paths: Value = serde_json::from_str(&net.relayer.run_args(&["paths", "--output", "json"])).expect("json");
        for zone in ["fz", "bz"] {
            let end = &paths[0][zone];
            assert_eq!((end["connection_state"].as_str(), end["channel_state"].as_str()), (Some("OPEN"), Some("OPEN")));
        }
        net.channel = path["fz_channel"].as_str().expect("channel").to_owned();
        net.relayer.start();
        net.link_both().await;
        let ch = net.channel.clone();
        net.fz.ok(&net.bob, vec![msgs::charge(net.bob.address(), &ch, 70, 0)]).await;
        eventually(30, "charge credited", || async { (net.bz.bz(&net.bob_bz).await == Some((70, 0))).then_some(()) })
            .await;
        net.assert_quiescent_invariant().await;
    });
}
