//! Every module exports its state as the genesis section it came from, as
//! long as that state has a genesis form; once history exists that a
//! genesis file cannot hold, the export says so instead of guessing.
use kawase_app::{modules, AppConfig, AppState, Zone};
use kawase_devkit::{customer_genesis, Demo, TestChain};

fn world() -> (Demo, AppState) {
    let demo = Demo::new();
    let accounts = kawase_accounts::Genesis {
        admin: demo.admin.address(),
        banks: vec![
            kawase_accounts::BankGenesis { address: demo.bank_a.address(), name: "Bank A".into() },
            kawase_accounts::BankGenesis { address: demo.bank_b.address(), name: "Bank B".into() },
        ],
        accounts: vec![
            customer_genesis(demo.alice.address(), demo.bank_a.address(), "DEP-1"),
            customer_genesis(demo.bob.address(), demo.bank_b.address(), "DEP-2"),
        ],
    };
    let token = kawase_token::Genesis {
        balances: vec![kawase_token::BalanceGenesis { address: demo.alice.address(), amount: "1500".into() }],
    };
    let state = AppState::new(Zone::Fz).with("accounts", &accounts).with("token", &token);
    (demo, state)
}

#[test]
fn a_fresh_chain_exports_exactly_the_genesis_sections_it_started_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, genesis) = world();
    let mut chain = TestChain::open(AppConfig::new(dir.path().join("s")), "exp-1").expect("open");
    chain.init(&genesis).expect("genesis");
    chain.block(vec![]).expect("block 1");
    let exported = modules::standard().export_genesis(&chain.app.storage().latest(), Zone::Fz).expect("exports");
    assert_eq!(exported, genesis.modules);
}

#[test]
fn state_a_genesis_file_cannot_hold_is_reported_not_exported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut demo, genesis) = world();
    let mut chain = TestChain::open(AppConfig::new(dir.path().join("s")), "exp-1").expect("open");
    chain.init(&genesis).expect("genesis");
    demo.set_genesis_numbers();
    demo.alice.number = 3;
    let pay =
        demo.alice.sign("exp-1", vec![kawase_client::msgs::transfer(demo.alice.address(), demo.bob.address(), 1)]);
    let (results, _) = chain.block(vec![pay]).expect("block 1");
    assert_eq!(results[0].code, 0, "{}", results[0].log);
    let err = modules::standard().export_genesis(&chain.app.storage().latest(), Zone::Fz).expect_err("history");
    assert!(err.contains("genesis"), "{err}");
}
