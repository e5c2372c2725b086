//! A storage failure halts block execution; it never becomes a transaction
//! result. A disk error on one node must not give that node a result the
//! others do not have (here: a failed read of the token module's keys,
//! which the module would otherwise report as `token/1`).
use kawase_accounts::Role;
use kawase_app::exec::{run_tx, BlockInfo, SigCheck, StorageFault};
use kawase_app::tx::DecodedTx;
use kawase_app::{Params, Zone};
use kawase_client::msgs;
use kawase_devkit::Demo;
use kawase_primitives::{Delta, Entries, MemState, StateError, StateRead, StateWrite};

const CHAIN: &str = "kawase-fault-test";

/// A store whose reads under one prefix fail, as a failing disk would.
struct FailingUnder<S> {
    inner: S,
    prefix: &'static [u8],
}

impl<S: StateRead> StateRead for FailingUnder<S> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if key.starts_with(self.prefix) {
            return Err(StateError("injected read failure".into()));
        }
        self.inner.get_raw(key)
    }
    fn prefix_raw(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        if prefix.starts_with(self.prefix) || self.prefix.starts_with(prefix) {
            return Err(StateError("injected read failure".into()));
        }
        self.inner.prefix_raw(prefix)
    }
    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.inner.get_nonverifiable(key)
    }
}

fn block() -> BlockInfo {
    BlockInfo { chain_id: CHAIN.into(), zone: Zone::Fz, height: 2, block_time_secs: 1, block_time_nanos: 1 }
}

fn decode(tx: &[u8]) -> DecodedTx {
    DecodedTx::decode(tx, &Params::standard()).expect("decodes")
}

/// Genesis plus alice registered and issued 100, in memory.
fn funded(d: &mut Demo) -> Delta<MemState> {
    let mut state = Delta::new(MemState::default());
    d.genesis(Zone::Fz).apply(CHAIN, &mut state).expect("genesis");
    d.set_genesis_numbers();
    let bank_a = d.bank_a.address();
    for tx in [
        d.bank_a.sign(CHAIN, vec![msgs::register_account(bank_a, d.alice.address(), Role::Customer, "A-1")]),
        d.bank_a.sign(CHAIN, vec![msgs::register_account(bank_a, d.bob.address(), Role::Customer, "A-2")]),
        d.bank_a.sign(CHAIN, vec![msgs::issue(bank_a, d.alice.address(), 100, "dep-1")]),
    ] {
        let out = run_tx(&kawase_app::modules::standard(), &mut state, &decode(&tx), &block(), SigCheck::Verify)
            .expect("no fault");
        assert_eq!(out.result, Ok(()));
    }
    d.alice.number = 3;
    state
}

#[test]
fn a_failed_read_during_a_message_is_a_storage_fault_not_a_transaction_result() {
    let mut d = Demo::new();
    let funded = funded(&mut d);
    let failing = FailingUnder { inner: funded, prefix: b"token/" };
    let pay = d.alice.sign(CHAIN, vec![msgs::transfer(d.alice.address(), d.bob.address(), 10)]);
    let mut state = Delta::new(&failing);
    let out = run_tx(&kawase_app::modules::standard(), &mut state, &decode(&pay), &block(), SigCheck::Verify);
    assert!(matches!(out, Err(StorageFault(_))), "got a result instead of a halt: {out:?}");
}

#[test]
fn a_failed_read_in_the_ante_phase_is_a_storage_fault_not_a_transaction_result() {
    let mut d = Demo::new();
    let funded = funded(&mut d);
    let failing = FailingUnder { inner: funded, prefix: b"accounts/" };
    let pay = d.alice.sign(CHAIN, vec![msgs::transfer(d.alice.address(), d.bob.address(), 10)]);
    let mut state = Delta::new(&failing);
    let out = run_tx(&kawase_app::modules::standard(), &mut state, &decode(&pay), &block(), SigCheck::Verify);
    assert!(matches!(out, Err(StorageFault(_))), "got a result instead of a halt: {out:?}");
}

#[test]
fn a_failure_a_handler_swallowed_is_still_seen_through_the_overlay_latch() {
    // A handler that turns the read error into its own answer (as ibc-rs
    // and the IBC callbacks do) cannot hide it from the executor.
    let failing = FailingUnder { inner: MemState::default(), prefix: b"x/" };
    let mut state = Delta::new(&failing);
    assert!(state.get_raw(b"x/1").is_err());
    state.put_raw(b"y".to_vec(), b"1".to_vec());
    assert_eq!(state.fault(), Some(&StateError("injected read failure".into())));
    let child = Delta::new(&state);
    let _ = child.get_raw(b"x/2");
    assert!(child.fault().is_some(), "a child overlay latches its parent's failure too");
}
