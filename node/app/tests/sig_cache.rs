//! The signature cache never changes a result: a signature checked against
//! an account number that a mempool view assumed (a registration that then
//! commits in another order) must not be reused once the account has a
//! different number. Two apps play two validators that saw different
//! mempools, as happens when two nodes receive registrations at once.
use kawase_accounts::Role;
use kawase_app::{AppConfig, Zone};
use kawase_client::{msgs, KeyKind};
use kawase_devkit::{Demo, TestChain, Wallet};

const CHAIN: &str = "kawase-sigcache-test";

fn validator(dir: &std::path::Path, name: &str, d: &Demo) -> TestChain {
    let mut chain = TestChain::open(AppConfig::new(dir.join(name)), CHAIN).expect("open");
    chain.init(&d.genesis(Zone::Fz)).expect("init");
    chain
}

#[test]
fn a_signature_checked_against_a_mempool_account_number_is_not_reused_after_the_number_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Demo::new();
    d.set_genesis_numbers();
    let mut a = validator(dir.path(), "a", &d);
    let mut b = validator(dir.path(), "b", &d);
    let mut carol = Wallet::from_name("carol", KeyKind::Ed25519);
    let bank_a = d.bank_a.address();

    // Node A's mempool: bank A registers alice and carol (account numbers 3
    // and 4 in A's view), issues to alice, and alice pays carol, signed with
    // the number A's view gave her.
    let register = d.bank_a.sign(
        CHAIN,
        vec![
            msgs::register_account(bank_a, d.alice.address(), Role::Customer, "A-1"),
            msgs::register_account(bank_a, carol.address(), Role::Customer, "A-2"),
        ],
    );
    let issue = d.bank_a.sign(CHAIN, vec![msgs::issue(bank_a, d.alice.address(), 100, "dep-1")]);
    d.alice.number = 3;
    carol.number = 4;
    let pay = d.alice.sign(CHAIN, vec![msgs::transfer(d.alice.address(), carol.address(), 10)]);
    for tx in [&register, &issue, &pay] {
        a.app.check_tx_bytes(tx).expect("valid in A's mempool view");
    }

    // Node B proposed first: bank B's registration of bob takes number 3.
    let bob =
        d.bank_b.sign(CHAIN, vec![msgs::register_account(d.bank_b.address(), d.bob.address(), Role::Customer, "B-1")]);
    b.app.check_tx_bytes(&bob).expect("valid in B's mempool view");
    let (ra, ha) = a.block(vec![bob.clone()]).expect("block 1 on A");
    let (rb, hb) = b.block(vec![bob]).expect("block 1 on B");
    assert_eq!((ra, ha), (rb, hb));

    // A rechecks its mempool: alice now gets number 4, so her payment's
    // signature (over number 3) is no longer valid.
    a.app.recheck_tx_bytes(&register).expect("still valid");
    a.app.recheck_tx_bytes(&issue).expect("still valid");
    let recheck = a.app.recheck_tx_bytes(&pay);
    assert_eq!(recheck.map_err(|f| (f.codespace, f.code)), Err(("tx", 5)), "recheck must verify again");

    // Even if a proposer includes it, every validator computes the same result.
    let block = vec![register, issue, pay];
    let (ra, ha) = a.block(block.clone()).expect("block 2 on A");
    let (rb, hb) = b.block(block).expect("block 2 on B");
    assert_eq!(a.account_number(&d.alice.address()), 4);
    assert_eq!((rb[2].codespace.as_str(), rb[2].code), ("tx", 5), "B refuses the stale signature");
    assert_eq!(
        (ra[2].codespace.as_str(), ra[2].code),
        (rb[2].codespace.as_str(), rb[2].code),
        "A and B disagree on the payment"
    );
    assert_eq!(ha, hb, "app hashes diverged");
}
