//! The payment tour on a local zone state, driven block by block through
//! the application's ABCI entry points. It stands in for `kawased devnet`
//! until the consensus and settlement issues land.
use std::path::PathBuf;

use anyhow::{bail, Result};
use kawase_accounts::Role;
use kawase_app::{AppConfig, Zone};
use kawase_client::msgs;
use kawase_devkit::{Demo, TestChain};

const CHAIN: &str = "kawase-fz-demo";

pub fn run(home: Option<PathBuf>) -> Result<()> {
    let dir = match home {
        Some(h) => h,
        None => std::env::temp_dir().join(format!("kawase-demo-{}", std::process::id())),
    };
    if dir.join("state").exists() {
        bail!("{} already holds a demo state; pick another --home", dir.display());
    }
    std::fs::create_dir_all(&dir)?;
    println!("Kawase demo: Financial Zone `{CHAIN}`, state in {}", dir.display());
    let mut d = Demo::new();
    let mut chain = TestChain::open(AppConfig::new(dir.join("state")), CHAIN)?;
    chain.init(&d.genesis(Zone::Fz))?;
    d.set_genesis_numbers();
    let (a, b, ba, bb) = (d.alice.address(), d.bob.address(), d.bank_a.address(), d.bank_b.address());

    let step = |chain: &mut TestChain, what: &str, txs: Vec<Vec<u8>>| -> Result<()> {
        let (results, app_hash) = chain.block(txs)?;
        for r in &results {
            if r.code != 0 {
                bail!("{what}: rejected {}/{}: {}", r.codespace, r.code, r.log);
            }
        }
        println!("block {:>2}  {what:<52} app hash {}", chain.height, &hex::encode_upper(app_hash)[..16]);
        Ok(())
    };
    step(
        &mut chain,
        "Bank A registers Alice, Bank B registers Bob",
        vec![
            d.bank_a.sign(CHAIN, vec![msgs::register_account(ba, a, Role::Customer, "A-0001")]),
            d.bank_b.sign(CHAIN, vec![msgs::register_account(bb, b, Role::Customer, "B-0001")]),
        ],
    )?;
    d.alice.number = chain.account_number(&a);
    d.bob.number = chain.account_number(&b);
    step(
        &mut chain,
        "Bank A issues 100,000 yen to Alice",
        vec![d.bank_a.sign(CHAIN, vec![msgs::issue(ba, a, 100_000, "core-7731")])],
    )?;
    step(
        &mut chain,
        "Alice pays Bob 30,000 yen (across banks)",
        vec![d.alice.sign(CHAIN, vec![msgs::transfer(a, b, 30_000)])],
    )?;
    let pos = chain.query_json("/token/positions", "");
    let field = |k: &str| pos[0][k].as_str().unwrap_or("?").to_string();
    let name = |addr: String| {
        if addr == ba.to_string() {
            "Bank A"
        } else if addr == bb.to_string() {
            "Bank B"
        } else {
            "?"
        }
    };
    println!("          position: {} owes {} {} yen", name(field("debtor")), name(field("creditor")), field("amount"));
    step(
        &mut chain,
        "Bank B records Bank A's settlement of 30,000",
        vec![d.bank_b.sign(CHAIN, vec![msgs::settle_position(bb, ba, bb, 30_000, "rtgs-0001")])],
    )?;
    step(
        &mut chain,
        "Bob redeems 10,000 yen to his deposit account",
        vec![d.bob.sign(CHAIN, vec![msgs::redeem(b, b, 10_000, "wd-0001")])],
    )?;
    println!();
    println!("Alice {:>7} yen   Bob {:>7} yen", chain.balance(&a), chain.balance(&b));
    for (name, bank) in [("Bank A", ba), ("Bank B", bb)] {
        let s = chain.query_json("/token/bank", &bank.to_string());
        println!(
            "{name} supply {:>7}   minted {:>7}   burned {:>7}",
            s["supply"].as_str().unwrap_or("?"),
            s["minted"].as_str().unwrap_or("?"),
            s["burned"].as_str().unwrap_or("?")
        );
    }
    kawase_token_invariants(&chain)?;
    println!("invariants hold: every bank's supply equals its customers' balances, positions reconcile");
    Ok(())
}

fn kawase_token_invariants(chain: &TestChain) -> Result<()> {
    let snapshot = chain.app.storage().latest();
    kawase_app::check_money_invariants(&snapshot).map_err(|e| anyhow::anyhow!("invariant violated: {e}"))
}
