//! Seeded property test of the two-layer money logic: random links,
//! charges, BZ payments, discharges, FZ freezes and BZ freezes and closes, with the "network" between
//! the zones delaying, reordering, and timing out packets and acks. The
//! settlement app's own IBC callbacks handle every packet; the IBC core
//! (light clients, proofs) is exercised by the system tests in
//! `tests/settlement/payments.rs`.
//!
//! After every step: the FZ token invariants and the BZ invariants hold and
//! the FZ's total supply never changes, and no closed BZ account holds or
//! is owed anything (nothing is ever credited to one). At quiescence: for every linked
//! account, FZ reserved = BZ balance + BZ holds.
use std::cell::RefCell;

use kawase_accounts::StateReadExt as _;
use kawase_accounts::{Role, StateWriteExt as _};
use kawase_ibc::ibc::core::channel::types::acknowledgement::Acknowledgement;
use kawase_ibc::ibc::core::channel::types::packet::Packet;
use kawase_ibc::ibc::core::channel::types::timeout::{TimeoutHeight, TimeoutTimestamp};
use kawase_ibc::ibc::core::host::types::identifiers::{ChannelId, PortId};
use kawase_ibc::ibc::core::router::module::Module;
use kawase_ibc::ibc::primitives::Signer;
use kawase_primitives::{Address, Amount, Context, Delta, MemState};
use kawase_settlement::{BzHoldings, Msg, Side, StateReadExt as _, StateWriteExt as _};
use kawase_token::{StateReadExt as _, StateWriteExt as _, TokenHoldings};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const CUSTOMERS: usize = 4;
const ISSUED: u128 = 1_000;

type Zone = RefCell<Delta<MemState>>;

fn addr(tag: u8, i: usize) -> Address {
    let mut a = [tag; 20];
    a[19] = i as u8;
    Address(a)
}

fn admin() -> Address {
    addr(0xAD, 0)
}
fn bank(i: usize) -> Address {
    addr(0xB0, i % 2)
}
fn fz_cust(i: usize) -> Address {
    addr(0xF0, i)
}
fn bz_cust(i: usize) -> Address {
    addr(0xE0, i)
}

fn channel() -> ChannelId {
    ChannelId::new(0)
}

#[derive(Clone, Debug)]
enum Op {
    Link(usize),
    Charge(usize, u128),
    Pay(usize, usize, u128),
    Discharge(usize, u128),
    Freeze(usize),
    Unfreeze(usize),
    /// The BZ admin freezes, unfreezes or closes a BZ account.
    BzFreeze(usize),
    BzUnfreeze(usize),
    BzClose(usize),
    /// Deliver the k-th packet in flight (any order: the channel is unordered).
    Deliver(usize),
    /// Deliver the k-th acknowledgement back to its sender.
    Ack(usize),
    /// Time out the k-th packet in flight (it is then never delivered).
    Timeout(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0..CUSTOMERS;
    prop_oneof![
        2 => i.clone().prop_map(Op::Link),
        3 => (i.clone(), 1u128..400).prop_map(|(i, a)| Op::Charge(i, a)),
        5 => (i.clone(), i.clone(), 1u128..300).prop_map(|(a, b, x)| Op::Pay(a, b, x)),
        2 => (i.clone(), 1u128..300).prop_map(|(i, a)| Op::Discharge(i, a)),
        1 => i.clone().prop_map(Op::Freeze),
        1 => i.clone().prop_map(Op::Unfreeze),
        1 => i.clone().prop_map(Op::BzFreeze),
        1 => i.clone().prop_map(Op::BzUnfreeze),
        1 => i.clone().prop_map(Op::BzClose),
        6 => (0usize..8).prop_map(Op::Deliver),
        5 => (0usize..8).prop_map(Op::Ack),
        2 => (0usize..8).prop_map(Op::Timeout),
    ]
}

struct World {
    fz: Zone,
    bz: Zone,
    /// (sent by, packet) not yet delivered or timed out.
    in_flight: Vec<(Side, Packet)>,
    /// (sent by, packet, ack) not yet delivered to the sender.
    acks: Vec<(Side, Packet, Acknowledgement)>,
    next_seq: [u64; 2],
}

fn ctx(signer: Address) -> Context {
    Context { chain_id: "test".into(), height: 1, block_time_secs: 0, signer }
}

impl World {
    fn new() -> World {
        let mut fz = Delta::new(MemState::default());
        fz.set_admin(&admin());
        fz.create_account(admin(), Role::NetworkAdmin, None, String::new(), "admin".into()).expect("admin");
        for b in 0..2 {
            fz.create_account(bank(b), Role::IssuingBank, Some(bank(b)), String::new(), format!("bank {b}"))
                .expect("bank");
        }
        for i in 0..CUSTOMERS {
            fz.create_account(fz_cust(i), Role::Customer, Some(bank(i)), format!("dep-{i}"), String::new())
                .expect("customer");
            fz.mint(&bank(i), &fz_cust(i), Amount::new(ISSUED)).expect("mint");
        }
        let mut bz = Delta::new(MemState::default());
        bz.set_admin(&admin());
        bz.create_account(admin(), Role::NetworkAdmin, None, String::new(), "admin".into()).expect("admin");
        bz.set_bz_channel(channel().as_str());
        World { fz: RefCell::new(fz), bz: RefCell::new(bz), in_flight: vec![], acks: vec![], next_seq: [1, 1] }
    }

    fn zone(&self, side: Side) -> &Zone {
        match side {
            Side::Fz => &self.fz,
            Side::Bz => &self.bz,
        }
    }

    /// A user message: applied atomically, its packet put in flight.
    fn send(&mut self, side: Side, msg: Msg) {
        let idx = if side == Side::Fz { 0 } else { 1 };
        let seq = self.next_seq[idx];
        let zone = self.zone(side);
        let result = {
            let base = zone.borrow();
            let mut child = Delta::new(&*base);
            msg.apply(&mut child, side, |_| Ok(seq)).map(|out| (out, child.into_changes()))
        };
        if let Ok((out, changes)) = result {
            zone.borrow_mut().apply(changes);
            self.next_seq[idx] += 1;
            let port = PortId::new(kawase_ibc::SETTLEMENT_PORT.into()).expect("port");
            let packet = Packet {
                seq_on_a: out.sequence.into(),
                port_id_on_a: port.clone(),
                chan_id_on_a: out.channel.clone(),
                port_id_on_b: port,
                chan_id_on_b: channel(),
                data: out.instruction.encode(),
                timeout_height_on_b: TimeoutHeight::Never,
                timeout_timestamp_on_b: TimeoutTimestamp::Never,
            };
            self.in_flight.push((side, packet));
        }
    }

    fn other(side: Side) -> Side {
        if side == Side::Fz {
            Side::Bz
        } else {
            Side::Fz
        }
    }

    fn step(&mut self, op: &Op) {
        let relayer = Signer::from("relayer".to_string());
        match op {
            Op::Link(i) => self.send(
                Side::Fz,
                Msg::Link { signer: fz_cust(*i), channel: channel(), bz: bz_cust(*i), timeout_secs: 600 },
            ),
            Op::Charge(i, a) => self.send(
                Side::Fz,
                Msg::Charge { signer: fz_cust(*i), channel: channel(), amount: Amount::new(*a), timeout_secs: 600 },
            ),
            Op::Pay(a, b, x) if a != b => self.send(
                Side::Bz,
                Msg::Pay {
                    signer: bz_cust(*a),
                    to: bz_cust(*b),
                    amount: Amount::new(*x),
                    memo: String::new(),
                    timeout_secs: 600,
                },
            ),
            Op::Pay(..) => {}
            Op::Discharge(i, a) => {
                self.send(Side::Bz, Msg::Discharge { signer: bz_cust(*i), amount: Amount::new(*a), timeout_secs: 600 })
            }
            Op::Freeze(i) | Op::Unfreeze(i) => {
                let m = if matches!(op, Op::Freeze(_)) {
                    kawase_accounts::Msg::Freeze { signer: admin(), address: fz_cust(*i), reason: "test".into() }
                } else {
                    kawase_accounts::Msg::Unfreeze { signer: admin(), address: fz_cust(*i) }
                };
                let changes = {
                    let base = self.fz.borrow();
                    let mut child = Delta::new(&*base);
                    m.execute(&mut child, &ctx(admin()), &TokenHoldings).ok().map(|_| child.into_changes())
                };
                if let Some(c) = changes {
                    self.fz.borrow_mut().apply(c);
                }
            }
            Op::BzFreeze(i) | Op::BzUnfreeze(i) | Op::BzClose(i) => {
                let (signer, address) = (admin(), bz_cust(*i));
                let m = match op {
                    Op::BzFreeze(_) => kawase_accounts::Msg::Freeze { signer, address, reason: "test".into() },
                    Op::BzUnfreeze(_) => kawase_accounts::Msg::Unfreeze { signer, address },
                    _ => kawase_accounts::Msg::Close { signer, address },
                };
                let _ = self.bz_admin(m);
            }
            Op::Deliver(k) if !self.in_flight.is_empty() => {
                let (from, packet) = self.in_flight.remove(k % self.in_flight.len());
                let to = Self::other(from);
                let mut app = kawase_settlement::SettlementApp::new(self.zone(to), to);
                let (_, ack) = app.on_recv_packet_execute(&packet, &relayer);
                self.acks.push((from, packet, ack.expect("the settlement app always acknowledges")));
            }
            Op::Ack(k) if !self.acks.is_empty() => {
                let (from, packet, ack) = self.acks.remove(k % self.acks.len());
                let mut app = kawase_settlement::SettlementApp::new(self.zone(from), from);
                let (_, r) = app.on_acknowledgement_packet_execute(&packet, &ack, &relayer);
                r.expect("acknowledgements of our own packets are always accepted");
            }
            Op::Timeout(k) if !self.in_flight.is_empty() => {
                let (from, packet) = self.in_flight.remove(k % self.in_flight.len());
                let mut app = kawase_settlement::SettlementApp::new(self.zone(from), from);
                let (_, r) = app.on_timeout_packet_execute(&packet, &relayer);
                r.expect("timeouts of our own packets are always accepted");
            }
            Op::Deliver(_) | Op::Ack(_) | Op::Timeout(_) => {}
        }
    }

    /// An accounts message on the BZ, signed by the admin; applied only if
    /// it succeeds (with the BZ's own holdings check, as the node runs it).
    fn bz_admin(&self, m: kawase_accounts::Msg) -> Result<(), kawase_accounts::Error> {
        let changes = {
            let base = self.bz.borrow();
            let mut child = Delta::new(&*base);
            m.execute(&mut child, &ctx(admin()), &BzHoldings).map(|_| child.into_changes())
        }?;
        self.bz.borrow_mut().apply(changes);
        Ok(())
    }

    fn check_always(&self) -> Result<(), String> {
        let bz = self.bz.borrow();
        for i in 0..CUSTOMERS {
            let closed = bz
                .account(&bz_cust(i))
                .map_err(|e| e.to_string())?
                .is_some_and(|a| a.status == kawase_accounts::Status::Closed);
            if closed {
                let (b, h) = (bz.bz_balance(&bz_cust(i)), bz.bz_held(&bz_cust(i)));
                let (b, h) = (b.map_err(|e| e.to_string())?, h.map_err(|e| e.to_string())?);
                let incoming = bz.holds().map_err(|e| e.to_string())?.iter().any(|h| h.to == Some(bz_cust(i)));
                if b != 0 || h != 0 || incoming {
                    return Err(format!("closed BZ account {i}: balance {b}, held {h}, payment in flight {incoming}"));
                }
            }
        }
        drop(bz);
        let fz = self.fz.borrow();
        kawase_token::check_invariants(&*fz)?;
        let total = fz.total_supply().map_err(|e| e.to_string())?;
        if total != ISSUED * CUSTOMERS as u128 {
            return Err(format!("FZ total supply changed to {total}"));
        }
        kawase_settlement::check_bz_invariants(&*self.bz.borrow())
    }

    /// Delivers everything still in flight and every ack.
    fn drain(&mut self) {
        while !self.in_flight.is_empty() || !self.acks.is_empty() {
            if !self.in_flight.is_empty() {
                self.step(&Op::Deliver(0));
            } else {
                self.step(&Op::Ack(0));
            }
        }
    }

    fn check_quiescent(&self) -> Result<(), String> {
        let fz = self.fz.borrow();
        let bz = self.bz.borrow();
        let mut reserved_sum = 0u128;
        for i in 0..CUSTOMERS {
            let reserved = fz.reserved(channel().as_str(), &fz_cust(i)).map_err(|e| e.to_string())?;
            reserved_sum += reserved.get();
            let on_bz = match bz.bz_account(&bz_cust(i)).map_err(|e| e.to_string())? {
                Some(a) => a.balance.get() + a.held.get(),
                None => 0,
            };
            if reserved != on_bz {
                return Err(format!("customer {i}: FZ reserved {reserved} != BZ balance + holds {on_bz}"));
            }
            let linked = fz.fz_link(channel().as_str(), &fz_cust(i)).map_err(|e| e.to_string())?.is_some();
            if linked != bz.bz_link(&bz_cust(i)).map_err(|e| e.to_string())?.is_some() {
                return Err(format!("customer {i}: linked on one zone only"));
            }
        }
        let total = bz.bz_total().map_err(|e| e.to_string())?;
        if total != reserved_sum {
            return Err(format!("BZ total {total} != FZ reserved {reserved_sum}"));
        }
        if !bz.holds().map_err(|e| e.to_string())?.is_empty() {
            return Err("holds left at quiescence".into());
        }
        Ok(())
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut w = World::new();
    for (n, op) in ops.iter().enumerate() {
        w.step(op);
        w.check_always().map_err(|e| TestCaseError::fail(format!("after step {n} {op:?}: {e}")))?;
    }
    w.drain();
    w.check_always().map_err(|e| TestCaseError::fail(format!("after draining: {e}")))?;
    w.check_quiescent().map_err(|e| TestCaseError::fail(format!("at quiescence: {e}")))?;
    Ok(())
}

#[test]
fn random_interleavings_of_settlement_keep_both_zones_consistent() {
    // Seeded: the same cases every run, so a failure reproduces.
    let config = Config { cases: 200, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = proptest::collection::vec(op(), 1..120);
    if let Err(e) = runner.run(&strategy, |ops| run(&ops)) {
        panic!("{e}");
    }
}

#[test]
fn payment_to_a_frozen_payee_is_refused_and_refunded() {
    let mut w = World::new();
    for op in [Op::Link(0), Op::Link(1), Op::Deliver(0), Op::Deliver(0), Op::Ack(0), Op::Ack(0)] {
        w.step(&op);
    }
    w.step(&Op::Charge(0, 500));
    w.drain();
    w.step(&Op::Freeze(1));
    w.step(&Op::Pay(0, 1, 200));
    assert_eq!(
        w.bz.borrow().bz_account(&bz_cust(0)).expect("a").map(|a| (a.balance.get(), a.held.get())),
        Some((300, 200))
    );
    w.step(&Op::Deliver(0));
    // The FZ refused: nothing moved there.
    assert_eq!(w.fz.borrow().reserved(channel().as_str(), &fz_cust(1)).expect("r"), 0);
    w.step(&Op::Ack(0));
    assert_eq!(
        w.bz.borrow().bz_account(&bz_cust(0)).expect("a").map(|a| (a.balance.get(), a.held.get())),
        Some((500, 0))
    );
    assert_eq!(w.bz.borrow().bz_account(&bz_cust(1)).expect("b").map(|a| a.balance.get()), Some(0));
    w.check_always().expect("invariants");
    w.check_quiescent().expect("quiescent");
}

#[test]
fn a_payment_credits_the_payee_only_on_the_fz_acknowledgement() {
    let mut w = World::new();
    for op in [Op::Link(0), Op::Link(1)] {
        w.step(&op);
    }
    w.drain();
    w.step(&Op::Charge(0, 400));
    w.drain();
    w.step(&Op::Pay(0, 1, 150));
    w.step(&Op::Deliver(0));
    // Settled on the FZ (reserved moved, across banks: a position) ...
    assert_eq!(w.fz.borrow().reserved(channel().as_str(), &fz_cust(1)).expect("r"), 150);
    assert_eq!(w.fz.borrow().owes(&bank(0), &bank(1)).expect("owes"), 150);
    // ... but the payee is not credited until the ack arrives.
    assert_eq!(w.bz.borrow().bz_balance(&bz_cust(1)).expect("b"), 0);
    w.step(&Op::Ack(0));
    assert_eq!(w.bz.borrow().bz_balance(&bz_cust(1)).expect("b"), 150);
    w.check_quiescent().expect("quiescent");
}

/// Links customers 0 and 1 and charges 500 to customer 0's BZ account.
fn linked_and_charged() -> World {
    let mut w = World::new();
    for op in [Op::Link(0), Op::Link(1)] {
        w.step(&op);
    }
    w.drain();
    w.step(&Op::Charge(0, 500));
    w.drain();
    w
}

#[test]
fn a_bz_account_with_a_payment_in_flight_to_it_cannot_be_closed() {
    let mut w = linked_and_charged();
    w.step(&Op::Pay(0, 1, 200));
    w.step(&Op::Deliver(0));
    // The FZ has settled: reserved(0) -> reserved(1). Refunding the payer on
    // the BZ now would break the cross-zone invariant, so the payee must
    // stay open until the ack credits it.
    assert_eq!(w.fz.borrow().reserved(channel().as_str(), &fz_cust(1)).expect("r"), 200);
    let close = kawase_accounts::Msg::Close { signer: admin(), address: bz_cust(1) };
    assert_eq!(w.bz_admin(close.clone()), Err(kawase_accounts::Error::HoldsFunds(bz_cust(1))));
    w.step(&Op::Ack(0));
    assert_eq!(w.bz.borrow().bz_balance(&bz_cust(1)).expect("b"), 200);
    w.check_always().expect("invariants");
    w.check_quiescent().expect("quiescent");
    // Once the money has arrived it is a balance: still not closable.
    assert_eq!(w.bz_admin(close), Err(kawase_accounts::Error::HoldsFunds(bz_cust(1))));
}

#[test]
fn a_payment_to_a_payee_frozen_on_the_bz_after_sending_still_credits_it_on_the_ack() {
    let mut w = linked_and_charged();
    w.step(&Op::Pay(0, 1, 200));
    w.step(&Op::BzFreeze(1));
    w.drain();
    // The FZ settled, so the money is the payee's: credited (frozen, not lost).
    assert_eq!(w.bz.borrow().bz_account(&bz_cust(1)).expect("b").map(|a| a.balance.get()), Some(200));
    w.check_always().expect("invariants");
    w.check_quiescent().expect("quiescent");
}

#[test]
fn a_charge_to_a_bz_account_closed_in_flight_is_refused_and_refunded_on_the_fz() {
    let mut w = World::new();
    w.step(&Op::Link(0));
    w.drain();
    w.step(&Op::Charge(0, 300));
    assert_eq!(w.fz.borrow().reserved(channel().as_str(), &fz_cust(0)).expect("r"), 300);
    w.bz_admin(kawase_accounts::Msg::Close { signer: admin(), address: bz_cust(0) }).expect("an empty account closes");
    w.step(&Op::Deliver(0));
    assert_eq!(w.bz.borrow().bz_balance(&bz_cust(0)).expect("b"), 0, "nothing credited to a closed account");
    w.step(&Op::Ack(0));
    let fz = w.fz.borrow();
    assert_eq!(fz.reserved(channel().as_str(), &fz_cust(0)).expect("r"), 0);
    assert_eq!(fz.balance(&fz_cust(0)).expect("balance"), ISSUED);
    drop(fz);
    w.check_always().expect("invariants");
    w.check_quiescent().expect("quiescent");
}
