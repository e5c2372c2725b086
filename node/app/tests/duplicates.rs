//! Repeated transactions from a Byzantine proposer: a committed result is
//! never overwritten in the app's `/tx` index, and proposals that repeat a
//! transaction are refused.
use bytes::Bytes;
use kawase_accounts::Role;
use kawase_client::msgs;
use kawase_devkit::{Demo, TestChain};

const CHAIN: &str = "kawase-dup-test";

fn new_chain(dir: &tempfile::TempDir) -> (TestChain, Demo) {
    TestChain::demo_fz(dir.path(), CHAIN).expect("open")
}

fn register_alice(d: &mut Demo) -> Vec<u8> {
    d.bank_a.sign(CHAIN, vec![msgs::register_account(d.bank_a.address(), d.alice.address(), Role::Customer, "A-1")])
}

fn register_bob(d: &mut Demo) -> Vec<u8> {
    d.bank_a.sign(CHAIN, vec![msgs::register_account(d.bank_a.address(), d.bob.address(), Role::Customer, "A-2")])
}

/// `(height, index, code)` the app's `/tx` query answers for `tx`.
fn indexed(chain: &TestChain, tx: &[u8]) -> (u64, u64, u64) {
    let hash = hex::encode_upper(kawase_app::tx::tx_hash(tx));
    let v = chain.query_json("/tx", &hash);
    (v["height"].as_u64().expect("height"), v["index"].as_u64().expect("index"), v["code"].as_u64().expect("code"))
}

fn bytes(txs: &[&Vec<u8>]) -> Vec<Bytes> {
    txs.iter().map(|t| Bytes::from((*t).clone())).collect()
}

#[test]
fn a_block_repeating_a_committed_tx_leaves_tx_answering_the_original_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut chain, mut d) = new_chain(&dir);
    let tx = register_alice(&mut d);
    let (r, _) = chain.block(vec![tx.clone()]).expect("block 1");
    assert_eq!(r[0].code, 0, "{}", r[0].log);
    // A Byzantine proposer includes it again: it fails (its sequence is used)...
    let (r, _) = chain.block(vec![tx.clone()]).expect("block 2");
    assert_ne!(r[0].code, 0);
    // ...but the index still tells the original, successful result.
    assert_eq!(indexed(&chain, &tx), (1, 0, 0));
}

#[test]
fn a_duplicate_inside_one_block_does_not_overwrite_the_first_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut chain, mut d) = new_chain(&dir);
    let tx = register_alice(&mut d);
    let (r, _) = chain.block(vec![tx.clone(), tx.clone()]).expect("block 1");
    assert_eq!((r[0].code, r[1].code != 0), (0, true));
    assert_eq!(indexed(&chain, &tx), (1, 0, 0));
}

#[test]
fn a_failed_occurrence_is_replaced_by_the_later_success_of_the_same_tx() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut chain, mut d) = new_chain(&dir);
    let first = register_alice(&mut d);
    let second = register_bob(&mut d);
    // `second` before `first` fails on its sequence without using it; after
    // `first` it succeeds: what the chain did is the success.
    let (r, _) = chain.block(vec![second.clone(), first.clone(), second.clone()]).expect("block 1");
    assert_eq!((r[0].code != 0, r[1].code, r[2].code), (true, 0, 0), "{r:?}");
    assert_eq!(indexed(&chain, &second), (1, 2, 0));
    assert_eq!(indexed(&chain, &first), (1, 1, 0));
}

#[test]
fn a_proposal_with_a_tx_twice_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (chain, mut d) = new_chain(&dir);
    let a = register_alice(&mut d);
    let b = register_bob(&mut d);
    assert!(chain.app.proposal_is_valid(&bytes(&[&a, &b])));
    assert!(!chain.app.proposal_is_valid(&bytes(&[&a, &b, &a])));
}

#[test]
fn a_proposal_repeating_a_committed_tx_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut chain, mut d) = new_chain(&dir);
    let a = register_alice(&mut d);
    let b = register_bob(&mut d);
    let (r, _) = chain.block(vec![a.clone()]).expect("block 1");
    assert_eq!(r[0].code, 0);
    assert!(chain.app.proposal_is_valid(&bytes(&[&b])));
    assert!(!chain.app.proposal_is_valid(&bytes(&[&b, &a])));
}

#[test]
fn a_proposal_may_retry_a_tx_whose_earlier_inclusion_failed_without_effect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut chain, mut d) = new_chain(&dir);
    let a = register_alice(&mut d);
    let b = register_bob(&mut d);
    // `b` came too early (wrong sequence): it did nothing, and the honest
    // mempools that hold it again must be able to propose it.
    let (r, _) = chain.block(vec![b.clone()]).expect("block 1");
    assert_ne!(r[0].code, 0);
    let (r, _) = chain.block(vec![a.clone()]).expect("block 2");
    assert_eq!(r[0].code, 0);
    assert!(chain.app.proposal_is_valid(&bytes(&[&b])));
    let (r, _) = chain.block(vec![b.clone()]).expect("block 3");
    assert_eq!(r[0].code, 0, "{}", r[0].log);
    assert_eq!(indexed(&chain, &b), (3, 0, 0));
}
