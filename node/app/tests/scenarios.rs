//! Whole-application scenarios through the ABCI entry points, on real
//! RocksDB stores in temporary directories.
use kawase_accounts::Role;
use kawase_app::{AppConfig, AppError, Zone};
use kawase_client::{msgs, KeyKind};
use kawase_devkit::{Demo, TestChain, Wallet};
use kawase_primitives::StateRead;

const CHAIN: &str = "kawase-fz-test";

fn new_chain(dir: &tempfile::TempDir, demo: &mut Demo) -> TestChain {
    let mut chain = TestChain::open(AppConfig::new(dir.path().join("state")), CHAIN).expect("open");
    chain.init(&demo.genesis(Zone::Fz)).expect("init");
    demo.set_genesis_numbers();
    chain
}

fn ok(results: &[tendermint_proto::v0_38::abci::ExecTxResult]) {
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.code, 0, "tx {i} failed: {}/{} {}", r.codespace, r.code, r.log);
    }
}

/// Registers alice at bank A and bob at bank B, issues 1,000 to alice.
fn onboard(chain: &mut TestChain, d: &mut Demo) {
    let txs = vec![
        d.bank_a
            .sign(CHAIN, vec![msgs::register_account(d.bank_a.address(), d.alice.address(), Role::Customer, "A-001")]),
        d.bank_b
            .sign(CHAIN, vec![msgs::register_account(d.bank_b.address(), d.bob.address(), Role::Customer, "B-001")]),
    ];
    let (r, _) = chain.block(txs).expect("block");
    ok(&r);
    d.alice.number = chain.account_number(&d.alice.address());
    d.bob.number = chain.account_number(&d.bob.address());
    let (r, _) = chain
        .block(vec![d.bank_a.sign(CHAIN, vec![msgs::issue(d.bank_a.address(), d.alice.address(), 1_000, "dep-1")])])
        .expect("block");
    ok(&r);
}

fn stat(chain: &TestChain, bank: &Wallet, field: &str) -> u128 {
    chain.query_json("/token/bank", &bank.address().to_string())[field].as_str().expect("string").parse().expect("u128")
}

#[test]
fn bank_registers_customer_issues_and_customer_pays_across_banks_then_redeems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Demo::new();
    let mut chain = new_chain(&dir, &mut d);
    onboard(&mut chain, &mut d);
    assert_eq!(chain.balance(&d.alice.address()), 1_000);
    assert_eq!(stat(&chain, &d.bank_a, "supply"), 1_000);

    // Alice (bank A) pays Bob (bank B) 300: supply moves, A owes B 300.
    let (r, _) = chain
        .block(vec![d.alice.sign(CHAIN, vec![msgs::transfer(d.alice.address(), d.bob.address(), 300)])])
        .expect("block");
    ok(&r);
    // First who sent it (for indexers), then what it did.
    assert_eq!(r[0].events[0].r#type, "message");
    assert_eq!(r[0].events[0].attributes[0].value, d.alice.address().to_string());
    let ev = &r[0].events[1];
    assert_eq!(ev.r#type, "transfer");
    assert_eq!(chain.balance(&d.alice.address()), 700);
    assert_eq!(chain.balance(&d.bob.address()), 300);
    assert_eq!(stat(&chain, &d.bank_a, "supply"), 700);
    assert_eq!(stat(&chain, &d.bank_b, "supply"), 300);
    let pos = chain.query_json("/token/positions", "");
    assert_eq!(pos.as_array().map(Vec::len), Some(1));
    assert_eq!(pos[0]["debtor"], d.bank_a.address().to_string());
    assert_eq!(pos[0]["creditor"], d.bank_b.address().to_string());
    assert_eq!(pos[0]["amount"], "300");

    // Bob pays 100 back: the position nets to 200.
    let (r, _) = chain
        .block(vec![d.bob.sign(CHAIN, vec![msgs::transfer(d.bob.address(), d.alice.address(), 100)])])
        .expect("block");
    ok(&r);
    assert_eq!(chain.query_json("/token/positions", "")[0]["amount"], "200");

    // Bank B (creditor) records that A settled 200 off chain.
    let (r, _) = chain
        .block(vec![d.bank_b.sign(
            CHAIN,
            vec![msgs::settle_position(d.bank_b.address(), d.bank_a.address(), d.bank_b.address(), 200, "rtgs-1")],
        )])
        .expect("block");
    ok(&r);
    assert_eq!(chain.query_json("/token/positions", "").as_array().map(Vec::len), Some(0));
    assert_eq!(stat(&chain, &d.bank_a, "settled_out"), 200);

    // Bob redeems his 200 through bank B; the event carries the deposit account.
    let (r, _) = chain
        .block(vec![d.bob.sign(CHAIN, vec![msgs::redeem(d.bob.address(), d.bob.address(), 200, "wd-1")])])
        .expect("block");
    ok(&r);
    let ev = r[0].events.iter().find(|e| e.r#type == "redeem").expect("redeem event");
    let attr = |k: &str| ev.attributes.iter().find(|a| a.key == k).map(|a| a.value.clone());
    assert_eq!(attr("deposit_account_ref").as_deref(), Some("B-001"));
    assert_eq!(attr("amount").as_deref(), Some("200"));
    assert_eq!(attr("bank"), Some(d.bank_b.address().to_string()));
    assert_eq!(chain.balance(&d.bob.address()), 0);
    assert_eq!(stat(&chain, &d.bank_b, "supply"), 0);
    assert_eq!(chain.query_json("/token/total_supply", "")["amount"], "800");

    // The tx index answers by hash.
    let tx = d.alice.sign(CHAIN, vec![msgs::transfer(d.alice.address(), d.bob.address(), 1)]);
    let hash = hex::encode(kawase_app::tx::tx_hash(&tx));
    chain.block(vec![tx]).expect("block");
    let rec = chain.query_json("/tx", &hash);
    assert_eq!(rec["code"], 0);
    assert_eq!(rec["height"], chain.height);
    assert_eq!(rec["hash"], hash.to_uppercase());
    assert_eq!(rec["events"][0]["type"], "message");
    assert_eq!(rec["events"][1]["type"], "transfer");
    assert_eq!(rec["events"][1]["attributes"][2], serde_json::json!(["amount", "1"]));
}

/// Everything in verifiable state, for before/after comparisons.
fn dump(chain: &TestChain) -> Vec<(Vec<u8>, Vec<u8>)> {
    chain.app.storage().latest().prefix_raw(b"").expect("scan")
}

struct Case {
    name: &'static str,
    tx: Vec<u8>,
    codespace: &'static str,
    code: u32,
}

#[test]
fn every_rejection_returns_its_own_code_and_leaves_state_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Demo::new();
    let mut chain = new_chain(&dir, &mut d);
    onboard(&mut chain, &mut d);
    // Carol is a frozen customer of bank A.
    let mut carol = Wallet::from_name("carol", KeyKind::Ed25519);
    let (r, _) = chain
        .block(vec![d
            .bank_a
            .sign(CHAIN, vec![msgs::register_account(d.bank_a.address(), carol.address(), Role::Customer, "A-002")])])
        .expect("block");
    ok(&r);
    carol.number = chain.account_number(&carol.address());
    let (r, _) = chain
        .block(vec![d.bank_a.sign(CHAIN, vec![msgs::freeze(d.bank_a.address(), carol.address(), "aml")])])
        .expect("block");
    ok(&r);

    let (a, b) = (d.alice.address(), d.bob.address());
    let mut cases: Vec<Case> = Vec::new();
    let mut push = |name, tx, codespace, code| cases.push(Case { name, tx, codespace, code });

    let mut bad_sig = d.alice.clone();
    let mut tx = bad_sig.sign(CHAIN, vec![msgs::transfer(a, b, 1)]);
    let n = tx.len();
    tx[n - 5] ^= 0x01; // inside the signature, the last field of TxRaw
    push("bad signature", tx, "tx", 5);
    push("wrong chain id", d.alice.clone().sign("other-chain", vec![msgs::transfer(a, b, 1)]), "tx", 4);
    let mut skipped = d.alice.clone();
    skipped.sequence += 1;
    push("skipped sequence", skipped.sign(CHAIN, vec![msgs::transfer(a, b, 1)]), "tx", 6);
    let mut replayed = d.bank_a.clone();
    replayed.sequence -= 1; // bank A has sent four transactions already
    let ba = d.bank_a.address();
    push("replayed sequence", replayed.sign(CHAIN, vec![msgs::issue(ba, a, 1, "replay-1")]), "tx", 6);
    let mut stranger = Wallet::from_name("stranger", KeyKind::Secp256k1);
    push("unknown account", stranger.sign(CHAIN, vec![msgs::transfer(stranger.address(), b, 1)]), "accounts", 3);
    push("frozen sender", carol.clone().sign(CHAIN, vec![msgs::transfer(carol.address(), b, 1)]), "accounts", 4);
    push("malformed protobuf", vec![0xff, 0x01, 0x02, 0x03], "tx", 3);
    let mut big = d.alice.clone();
    let huge_memo = kawase_client::build_tx(
        &big.key,
        &kawase_client::TxParams {
            chain_id: CHAIN.into(),
            account_number: big.number,
            sequence: big.sequence,
            memo: "x".repeat(40_000),
            timeout_height: 0,
        },
        vec![msgs::transfer(a, b, 1)],
    )
    .expect("build");
    big.sequence += 1;
    push("oversized tx", huge_memo, "tx", 2);
    push("signer mismatch", d.alice.clone().sign(CHAIN, vec![msgs::transfer(b, a, 1)]), "tx", 8);
    push(
        "unknown message",
        d.alice.clone().sign(CHAIN, vec![cosmrs::Any { type_url: "/kawase.token.v1.MsgPrint".into(), value: vec![] }]),
        "token",
        9,
    );
    push("zero amount", d.alice.clone().sign(CHAIN, vec![msgs::transfer(a, b, 0)]), "token", 2);
    push(
        "amount beyond u128",
        d.alice.clone().sign(CHAIN, vec![msgs::transfer_raw_amount(a, b, "340282366920938463463374607431768211456")]),
        "token",
        3,
    );
    // Message-level failures: the ante phase passes, so only the signer's
    // sequence moves. They are signed one at a time, as each consumes one.
    type Build = Box<dyn Fn(&mut Demo, &Wallet) -> Vec<u8>>;
    let msg_cases: Vec<(&str, Build, &str, u32)> = vec![
        (
            "insufficient funds",
            Box::new(move |d, _| d.alice.sign(CHAIN, vec![msgs::transfer(a, b, 1_001)])),
            "token",
            4,
        ),
        (
            "frozen receiver",
            Box::new(move |d, c| d.alice.sign(CHAIN, vec![msgs::transfer(a, c.address(), 1)])),
            "accounts",
            4,
        ),
        (
            "non-bank issuing",
            Box::new(move |d, _| d.alice.sign(CHAIN, vec![msgs::issue(a, a, 5, "self")])),
            "accounts",
            7,
        ),
        (
            "bank issuing to another bank's customer",
            Box::new(move |d, _| {
                let ba = d.bank_a.address();
                d.bank_a.sign(CHAIN, vec![msgs::issue(ba, b, 5, "x-1")])
            }),
            "token",
            7,
        ),
        (
            "reused reference id",
            Box::new(move |d, _| {
                let ba = d.bank_a.address();
                d.bank_a.sign(CHAIN, vec![msgs::issue(ba, a, 5, "dep-1")])
            }),
            "token",
            6,
        ),
        (
            "overflowing balance",
            Box::new(move |d, _| {
                let ba = d.bank_a.address();
                d.bank_a.sign(CHAIN, vec![msgs::issue(ba, a, u128::MAX, "big-1")])
            }),
            "token",
            5,
        ),
        (
            "second message fails after the first succeeded",
            Box::new(move |d, _| d.alice.sign(CHAIN, vec![msgs::transfer(a, b, 10), msgs::transfer(a, b, 5_000)])),
            "token",
            4,
        ),
    ];

    for case in cases {
        // CheckTx rejects it with the same code.
        let f = chain.app.check_tx_bytes(&case.tx).expect_err(case.name);
        assert_eq!((f.codespace, f.code), (case.codespace, case.code), "{}: CheckTx said {}", case.name, f.log);
        // A block that includes it anyway (a faulty proposer) changes nothing.
        let before = dump(&chain);
        let before_hash = chain.app.committed().expect("committed").app_hash;
        let (r, after_hash) = chain.block(vec![case.tx.clone()]).expect("block");
        assert_eq!((r[0].codespace.as_str(), r[0].code), (case.codespace, case.code), "{}: {}", case.name, r[0].log);
        assert!(!r[0].log.is_empty(), "{}: a rejection explains itself", case.name);
        assert_eq!(before_hash, after_hash, "{}: app hash moved", case.name);
        assert_eq!(before, dump(&chain), "{}: state moved", case.name);
    }
    for (name, build, codespace, code) in msg_cases {
        let tx = build(&mut d, &carol);
        let f = chain.app.check_tx_bytes(&tx).expect_err(name);
        assert_eq!((f.codespace, f.code), (codespace, code), "{name}: CheckTx said {}", f.log);
        let before = dump(&chain);
        let (r, _) = chain.block(vec![tx]).expect("block");
        assert_eq!((r[0].codespace.as_str(), r[0].code), (codespace, code), "{name}: {}", r[0].log);
        let after = dump(&chain);
        let changed: Vec<_> = after
            .iter()
            .filter(|kv| !before.contains(kv))
            .map(|(k, _)| String::from_utf8_lossy(k).to_string())
            .collect();
        assert_eq!(changed.len(), 1, "{name}: only the signer's sequence may move, saw {changed:?}");
        assert!(changed[0].starts_with("accounts/account/"), "{name}: {changed:?}");
        assert_eq!(before.len(), after.len(), "{name}");
    }
    assert_eq!(chain.balance(&a), 1_000);
    assert_eq!(chain.balance(&b), 0);
    assert_eq!(stat(&chain, &d.bank_a, "supply"), 1_000);
}

#[test]
fn same_genesis_and_blocks_give_identical_app_hashes_on_two_stores_across_a_restart() {
    let (d1, d2) = (tempfile::tempdir().expect("t"), tempfile::tempdir().expect("t"));
    let mut demo = Demo::new();
    let genesis = demo.genesis(Zone::Fz);
    demo.set_genesis_numbers();
    // Build the blocks once.
    let mut w = Demo::new();
    w.set_genesis_numbers();
    let mut blocks: Vec<Vec<Vec<u8>>> = Vec::new();
    blocks.push(vec![
        w.bank_a
            .sign(CHAIN, vec![msgs::register_account(w.bank_a.address(), w.alice.address(), Role::Customer, "A-1")]),
        w.bank_b.sign(
            CHAIN,
            vec![msgs::register_account(w.bank_b.address(), w.bob.address(), Role::BusinessOperator, "B-1")],
        ),
    ]);
    w.alice.number = 3;
    w.bob.number = 4;
    blocks.push(vec![w.bank_a.sign(CHAIN, vec![msgs::issue(w.bank_a.address(), w.alice.address(), 50_000, "i-1")])]);
    for i in 0..6u128 {
        blocks.push(vec![
            w.alice.sign(CHAIN, vec![msgs::transfer(w.alice.address(), w.bob.address(), 100 + i)]),
            w.bob.sign(CHAIN, vec![msgs::transfer(w.bob.address(), w.alice.address(), 7)]),
        ]);
    }
    blocks.push(vec![]);

    let mut one = TestChain::open(AppConfig::new(d1.path().join("s")), CHAIN).expect("open");
    let g1 = one.init(&genesis).expect("init");
    let mut hashes1 = vec![g1];
    for b in &blocks {
        hashes1.push(one.block(b.clone()).expect("block").1);
    }

    let mut two = TestChain::open(AppConfig::new(d2.path().join("s")), CHAIN).expect("open");
    let mut hashes2 = vec![two.init(&genesis).expect("init")];
    let half = blocks.len() / 2;
    for b in &blocks[..half] {
        hashes2.push(two.block(b.clone()).expect("block").1);
    }
    drop(two);
    // Restart: Info reports the last commit and the chain continues.
    let mut two = TestChain::open(AppConfig::new(d2.path().join("s")), CHAIN).expect("reopen");
    assert_eq!(two.height, half as u64);
    assert_eq!(two.app.committed().expect("c").app_hash, hashes2[half]);
    for b in &blocks[half..] {
        hashes2.push(two.block(b.clone()).expect("block").1);
    }
    assert_eq!(hashes1, hashes2);
    // Distinct blocks changed the hash (the comparison is not vacuous).
    assert_ne!(hashes1[1], hashes1[2]);
    // The empty last block leaves the hash as it was.
    assert_eq!(hashes1[hashes1.len() - 1], hashes1[hashes1.len() - 2]);
}

#[test]
fn committed_block_cannot_be_finalized_again_and_restart_reports_last_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Demo::new();
    let mut chain = new_chain(&dir, &mut d);
    onboard(&mut chain, &mut d);
    let committed = chain.app.committed().expect("c");
    let mut stale = chain.block_request(vec![]);
    stale.height = committed.height as i64; // the height already committed
    assert!(matches!(chain.app.try_finalize_block(stale), Err(AppError::WrongHeight { .. })));
    let skip = {
        let mut r = chain.block_request(vec![]);
        r.height += 1;
        r
    };
    assert!(matches!(chain.app.try_finalize_block(skip), Err(AppError::WrongHeight { .. })));
    assert!(matches!(chain.app.try_commit(), Err(AppError::NothingToCommit)));
    drop(chain);
    let reopened = TestChain::open(AppConfig::new(dir.path().join("state")), CHAIN).expect("reopen");
    assert_eq!(reopened.app.committed().expect("c"), committed);
    assert_eq!(reopened.app.chain_id().as_deref(), Some(CHAIN));
    assert!(matches!(reopened.app.try_init_chain(Default::default()), Err(AppError::AlreadyInitialised(_))));
}

#[test]
fn query_proof_at_a_past_height_verifies_against_that_heights_app_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Demo::new();
    let mut chain = new_chain(&dir, &mut d);
    onboard(&mut chain, &mut d);
    let h = chain.height;
    let app_hash_h = chain.app.committed().expect("c").app_hash;
    // Change the balance afterwards, so the proof at h is of an old value.
    chain.block(vec![d.alice.sign(CHAIN, vec![msgs::transfer(d.alice.address(), d.bob.address(), 1)])]).expect("b");

    let key = format!("token/balance/{}", d.alice.address().to_hex()).into_bytes();
    let r = chain.query("/store", &key, h, true);
    assert_eq!(r.code, 0, "{}", r.log);
    assert_eq!(r.height as u64, h);
    assert_eq!(r.value.as_ref(), 1_000u128.to_be_bytes());
    let op = &r.proof_ops.as_ref().expect("proof").ops[0];
    assert_eq!(op.r#type, "ics23:jmt");
    let proof: ics23::CommitmentProof = prost::Message::decode(op.data.as_slice()).expect("proof decodes");
    let spec = kawase_state::proof_spec();
    // Two layers: the key under the JMT root, the JMT root under the app hash.
    let jmt_root = chain.app.storage().root_hash(h).expect("root");
    let outer = &r.proof_ops.as_ref().expect("proof").ops[1];
    assert_eq!(outer.r#type, "ics23:simple");
    let outer: ics23::CommitmentProof = prost::Message::decode(outer.data.as_slice()).expect("outer decodes");
    assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
        &outer,
        &ics23::tendermint_spec(),
        &app_hash_h.to_vec(),
        kawase_state::COMMITMENT_PREFIX,
        &jmt_root
    ));
    let app_hash_h = jmt_root;
    assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proof,
        &spec,
        &app_hash_h.to_vec(),
        &key,
        &r.value
    ));
    // The same proof does not verify a different value, nor the newer root.
    assert!(!ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proof,
        &spec,
        &app_hash_h.to_vec(),
        &key,
        &999u128.to_be_bytes()
    ));
    let latest = chain.app.storage().root_hash(chain.height).expect("root");
    assert!(!ics23::verify_membership::<ics23::HostFunctionsManager>(&proof, &spec, &latest.to_vec(), &key, &r.value));

    // Absence is provable too.
    let missing = b"token/balance/ffffffffffffffffffffffffffffffffffffffff".to_vec();
    let r = chain.query("/store", &missing, h, true);
    assert_eq!(r.code, 0, "{}", r.log);
    assert!(r.value.is_empty());
    let proof: ics23::CommitmentProof =
        prost::Message::decode(r.proof_ops.expect("proof").ops[0].data.as_slice()).expect("decodes");
    assert!(ics23::verify_non_membership::<ics23::HostFunctionsManager>(&proof, &spec, &app_hash_h.to_vec(), &missing));

    // Typed point queries work at past heights as well.
    let r = chain.query("/token/balance", d.alice.address().to_string().as_bytes(), h, false);
    let v: serde_json::Value = serde_json::from_slice(&r.value).expect("json");
    assert_eq!(v["amount"], "1000");
    // A future height is refused with the query codespace.
    let r = chain.query("/token/balance", d.alice.address().to_string().as_bytes(), chain.height + 5, false);
    assert_eq!((r.codespace.as_str(), r.code), ("query", 5));
}

#[test]
fn a_batch_of_proofs_answers_each_key_exactly_as_the_single_store_query_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Demo::new();
    let mut chain = new_chain(&dir, &mut d);
    onboard(&mut chain, &mut d);
    let h = chain.height;
    chain.block(vec![d.alice.sign(CHAIN, vec![msgs::transfer(d.alice.address(), d.bob.address(), 1)])]).expect("b");

    // Two present keys and an absent one, under one prefix, at a past height.
    let suffixes = [d.alice.address().to_hex(), d.bob.address().to_hex(), "ff".repeat(20)];
    let req = serde_json::json!({ "prefix": "token/balance/", "keys": suffixes });
    let r = chain.query("/store/proofs", &serde_json::to_vec(&req).expect("json"), h, false);
    assert_eq!(r.code, 0, "{}", r.log);
    assert_eq!(r.height as u64, h);
    let items: Vec<serde_json::Value> = serde_json::from_slice(&r.value).expect("json list");
    assert_eq!(items.len(), 3);
    for (item, suffix) in items.iter().zip(&suffixes) {
        let key = format!("token/balance/{suffix}");
        assert_eq!(item["key"], key.as_str());
        let single = chain.query("/store", key.as_bytes(), h, true);
        assert_eq!(item["value"], hex::encode(&single.value).as_str());
        let ops = single.proof_ops.expect("proof ops");
        let batch_ops: Vec<&str> =
            item["proof_ops"].as_array().expect("ops").iter().map(|o| o.as_str().expect("hex")).collect();
        assert_eq!(
            batch_ops,
            ops.ops
                .iter()
                .map(|o| hex::encode(&o.data))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
    }

    // Bounded: more than the limit, or a field it does not know, is refused.
    let many: Vec<String> = (0..=kawase_app::query::MAX_PROOF_KEYS).map(|i| i.to_string()).collect();
    let too_many = serde_json::json!({ "prefix": "token/balance/", "keys": many });
    let r = chain.query("/store/proofs", &serde_json::to_vec(&too_many).expect("json"), h, false);
    assert_eq!((r.codespace.as_str(), r.code), ("query", 3), "{}", r.log);
    let r = chain.query("/store/proofs", br#"{"prefix":"a","keys":[],"x":1}"#, h, false);
    assert_eq!((r.codespace.as_str(), r.code), ("query", 3), "{}", r.log);
}

#[test]
fn closing_an_account_requires_zero_holdings_and_is_final() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Demo::new();
    let mut chain = new_chain(&dir, &mut d);
    onboard(&mut chain, &mut d);
    let (a, bank) = (d.alice.address(), d.bank_a.address());
    let (r, _) = chain.block(vec![d.bank_a.sign(CHAIN, vec![msgs::close(bank, a)])]).expect("b");
    assert_eq!((r[0].codespace.as_str(), r[0].code), ("accounts", 11));
    // Bank B cannot close bank A's customer.
    let (r, _) = chain.block(vec![d.bank_b.sign(CHAIN, vec![msgs::close(d.bank_b.address(), a)])]).expect("b");
    assert_eq!((r[0].codespace.as_str(), r[0].code), ("accounts", 8));
    let (r, _) = chain.block(vec![d.alice.sign(CHAIN, vec![msgs::redeem(a, a, 1_000, "out")])]).expect("b");
    ok(&r);
    let (r, _) = chain.block(vec![d.bank_a.sign(CHAIN, vec![msgs::close(bank, a)])]).expect("b");
    ok(&r);
    assert_eq!(chain.query_json("/accounts/account", &a.to_string())["status"], "closed");
    let (r, _) = chain
        .block(vec![d.bank_a.sign(CHAIN, vec![msgs::register_account(bank, a, Role::Customer, "again")])])
        .expect("b");
    assert_eq!((r[0].codespace.as_str(), r[0].code), ("accounts", 6));
    let (r, _) = chain.block(vec![d.bank_a.sign(CHAIN, vec![msgs::issue(bank, a, 1, "after-close")])]).expect("b");
    assert_eq!((r[0].codespace.as_str(), r[0].code), ("accounts", 5));
}

#[test]
fn proposals_over_the_block_limits_or_with_undecodable_txs_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Demo::new();
    let mut chain = new_chain(&dir, &mut d);
    onboard(&mut chain, &mut d);
    let good = d.alice.clone().sign(CHAIN, vec![msgs::transfer(d.alice.address(), d.bob.address(), 1)]);
    assert!(chain.app.proposal_is_valid(&[good.clone().into()]));
    assert!(!chain.app.proposal_is_valid(&[good.clone().into(), vec![1u8, 2, 3].into()]));
    // PrepareProposal drops undecodable txs and respects the byte budget.
    let req = tendermint_proto::v0_38::abci::RequestPrepareProposal {
        max_tx_bytes: (good.len() * 2) as i64,
        txs: vec![vec![9u8; 10].into(), good.clone().into(), good.clone().into(), good.clone().into()],
        ..Default::default()
    };
    let picked = chain.app.select_txs(&req);
    assert_eq!(picked.len(), 2);
}

#[test]
fn a_large_block_verified_on_all_cores_ends_where_small_sequential_blocks_end() {
    // Blocks of 64+ txs are decoded and verified by worker threads before
    // the sequential pass; smaller ones are not. Both must agree exactly, also on
    // failures (a bad signature, a replay, an overdraft) mixed in.
    let mut d = Demo::new();
    let (d1, d2) = (tempfile::tempdir().expect("t"), tempfile::tempdir().expect("t"));
    let mut big = new_chain(&d1, &mut d);
    let mut w = Demo::new();
    let mut small = new_chain(&d2, &mut w);
    onboard(&mut big, &mut d);
    onboard(&mut small, &mut w);
    let (a, b) = (d.alice.address(), d.bob.address());
    let mut txs: Vec<Vec<u8>> = Vec::new();
    for i in 0..150u128 {
        let mut tx = match i % 3 {
            0 | 1 => d.alice.sign(CHAIN, vec![msgs::transfer(a, b, 1 + i % 7)]),
            _ => d.bob.sign(CHAIN, vec![msgs::transfer(b, a, 1)]),
        };
        if i == 40 {
            let n = tx.len();
            tx[n - 3] ^= 0x10; // bad signature: alice's later txs then fail on sequence
        }
        if i == 90 {
            tx = txs[10].clone(); // replay
        }
        txs.push(tx);
    }
    txs.push(d.alice.sign(CHAIN, vec![msgs::transfer(a, b, 1_000_000)]));
    let (r_big, h_big) = big.block(txs.clone()).expect("big block");
    let mut r_small = Vec::new();
    let mut h_small = [0u8; 32];
    for chunk in txs.chunks(50) {
        let (r, h) = small.block(chunk.to_vec()).expect("small block");
        r_small.extend(r);
        h_small = h;
    }
    let codes = |r: &[tendermint_proto::v0_38::abci::ExecTxResult]| {
        r.iter().map(|x| (x.codespace.clone(), x.code)).collect::<Vec<_>>()
    };
    assert_eq!(codes(&r_big), codes(&r_small));
    assert!(r_big.iter().any(|x| x.code == 5) && r_big.iter().any(|x| x.code == 6), "failures were mixed in");
    assert!(r_big.iter().filter(|x| x.code == 0).count() > 50);
    // The JMT root depends only on the resulting key-value set.
    assert_eq!(h_big, h_small);
}
