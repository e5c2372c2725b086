//! Hostile settlement packets, property-based: random packet data bytes,
//! valid instructions with one field replaced by junk (addresses, amounts,
//! memo, channel), instructions sent to the wrong zone, and random
//! acknowledgement bytes for real packets, all handed to the settlement
//! app's IBC callbacks on two linked, charged zones.
//!
//! Whatever arrives: no panic; every receipt is acknowledged (success or
//! error); an error acknowledgement leaves the receiving zone's state as it
//! was; an acknowledgement callback that fails changes nothing; the FZ
//! total supply never changes and the FZ token and BZ invariants hold after
//! every step. (Packets are proof-checked by the IBC core before these
//! callbacks run; this tests the application behind that check.)
//!
//! `PROPTEST_CASES` sets the number of cases; `KAWASE_FUZZ_SEED` the seed.
use std::cell::RefCell;

use kawase_accounts::{Role, StateWriteExt as _};
use kawase_ibc::ibc::core::channel::types::acknowledgement::Acknowledgement;
use kawase_ibc::ibc::core::channel::types::packet::Packet;
use kawase_ibc::ibc::core::channel::types::timeout::{TimeoutHeight, TimeoutTimestamp};
use kawase_ibc::ibc::core::host::types::identifiers::{ChannelId, PortId};
use kawase_ibc::ibc::core::router::module::Module;
use kawase_ibc::ibc::primitives::Signer;
use kawase_primitives::{Address, Amount, Delta, MemState, StateRead};
use kawase_settlement::packet::{Instruction, Kind, PacketData};
use kawase_settlement::{ack_is_success, Msg, Side, StateWriteExt as _};
use kawase_token::{StateReadExt as _, StateWriteExt as _};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use prost::Message;

const CUSTOMERS: usize = 3;
const ISSUED: u128 = 1_000;
const CHARGED: u128 = 600;

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
fn port() -> PortId {
    PortId::new(kawase_ibc::SETTLEMENT_PORT.into()).expect("port")
}
fn relayer() -> Signer {
    Signer::from("relayer".to_string())
}

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default_cases);
    let seed: u64 = std::env::var("KAWASE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    eprintln!("hostile_packets: {cases} cases, KAWASE_FUZZ_SEED={seed}");
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn packet(seq: u64, chan: ChannelId, data: Vec<u8>) -> Packet {
    Packet {
        seq_on_a: seq.into(),
        port_id_on_a: port(),
        chan_id_on_a: chan.clone(),
        port_id_on_b: port(),
        chan_id_on_b: chan,
        data,
        timeout_height_on_b: TimeoutHeight::Never,
        timeout_timestamp_on_b: TimeoutTimestamp::Never,
    }
}

fn dump(z: &Zone) -> Vec<(Vec<u8>, Vec<u8>)> {
    z.borrow().prefix_raw(b"").expect("scan")
}

struct World {
    fz: Zone,
    bz: Zone,
    next_seq: [u64; 2],
    /// Hostile packets use sequences far from the real ones.
    hostile_seq: u64,
}

impl World {
    fn zone(&self, side: Side) -> &Zone {
        match side {
            Side::Fz => &self.fz,
            Side::Bz => &self.bz,
        }
    }

    /// A user message, applied atomically; returns the packet it sent.
    fn send(&mut self, side: Side, msg: Msg) -> Option<Packet> {
        let idx = usize::from(side == Side::Bz);
        let seq = self.next_seq[idx];
        let zone = self.zone(side);
        let result = {
            let base = zone.borrow();
            let mut child = Delta::new(&*base);
            msg.apply(&mut child, side, |_| Ok(seq)).map(|out| (out, child.into_changes()))
        };
        let (out, changes) = result.ok()?;
        zone.borrow_mut().apply(changes);
        self.next_seq[idx] += 1;
        Some(packet(out.sequence, out.channel.clone(), out.instruction.encode()))
    }

    fn recv(&self, to: Side, p: &Packet) -> Acknowledgement {
        let mut app = kawase_settlement::SettlementApp::new(self.zone(to), to);
        let (_, ack) = app.on_recv_packet_execute(p, &relayer());
        ack.expect("the settlement app always acknowledges")
    }

    /// The IBC core's view of an ack: validate, then execute on an overlay
    /// that is kept only if execution succeeds.
    fn ack(&self, sender: Side, p: &Packet, ack: &Acknowledgement) -> bool {
        let zone = self.zone(sender);
        let changes = {
            let base = zone.borrow();
            let cell = RefCell::new(Delta::new(&*base));
            let ok = {
                let mut app = kawase_settlement::SettlementApp::new(&cell, sender);
                app.on_acknowledgement_packet_validate(p, ack, &relayer()).is_ok()
                    && app.on_acknowledgement_packet_execute(p, ack, &relayer()).1.is_ok()
            };
            ok.then(|| cell.into_inner().into_changes())
        };
        match changes {
            Some(c) => {
                zone.borrow_mut().apply(c);
                true
            }
            None => false,
        }
    }

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
        let mut w = World { fz: RefCell::new(fz), bz: RefCell::new(bz), next_seq: [1, 1], hostile_seq: 1_000_000 };
        for i in 0..CUSTOMERS {
            let link = Msg::Link { signer: fz_cust(i), channel: channel(), bz: bz_cust(i), timeout_secs: 600 };
            w.round_trip(Side::Fz, link);
            let charge =
                Msg::Charge { signer: fz_cust(i), channel: channel(), amount: Amount::new(CHARGED), timeout_secs: 600 };
            w.round_trip(Side::Fz, charge);
        }
        w.check().expect("the world starts consistent");
        w
    }

    /// Send, deliver, acknowledge.
    fn round_trip(&mut self, from: Side, msg: Msg) {
        let p = self.send(from, msg).expect("setup message succeeds");
        let to = if from == Side::Fz { Side::Bz } else { Side::Fz };
        let ack = self.recv(to, &p);
        assert_eq!(ack_is_success(ack.as_bytes()), Some(true), "setup packet refused: {ack:?}");
        assert!(self.ack(from, &p, &ack), "setup ack accepted");
    }

    fn check(&self) -> Result<(), String> {
        let fz = self.fz.borrow();
        kawase_token::check_invariants(&*fz)?;
        let total = fz.total_supply().map_err(|e| e.to_string())?;
        if total != ISSUED * CUSTOMERS as u128 {
            return Err(format!("FZ total supply changed to {total}"));
        }
        kawase_settlement::check_bz_invariants(&*self.bz.borrow())
    }
}

#[derive(Clone, Debug)]
enum Field {
    /// Replace the n-th string field with this text.
    Text(usize, String),
    /// Replace the amount with this decimal-ish text.
    Amount(String),
}

#[derive(Clone, Debug)]
enum Hostile {
    /// Random bytes as packet data to either zone, on channel 0 or another.
    Data { to_fz: bool, data: Vec<u8>, chan: u64 },
    /// A valid-looking instruction between the linked customers, with one
    /// field replaced, to either zone (the wrong one included).
    Mutated { to_fz: bool, kind: u8, a: usize, b: usize, amount: u128, field: Option<Field> },
    /// A real BZ payment (or FZ charge) whose acknowledgement is random bytes
    /// or a success/error envelope with random contents.
    Ack { from_bz: bool, a: usize, b: usize, amount: u128, ack: Vec<u8>, shape: u8 },
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        (0usize..6, "\\PC{0,64}").prop_map(|(i, s)| Field::Text(i, s)),
        (0usize..6, "kw1[a-z0-9]{0,60}").prop_map(|(i, s)| Field::Text(i, s)),
        prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("340282366920938463463374607431768211456".to_string()),
            Just("340282366920938463463374607431768211455".to_string()),
            Just("1e3".to_string()),
            Just(" 5".to_string()),
            Just("0005".to_string()),
            "[0-9]{1,45}",
            "\\PC{0,12}",
        ]
        .prop_map(Field::Amount),
    ]
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let i = 0..CUSTOMERS;
    prop_oneof![
        2 => (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200), 0u64..3)
            .prop_map(|(to_fz, data, chan)| Hostile::Data { to_fz, data, chan }),
        5 => (any::<bool>(), 0u8..4, i.clone(), i.clone(), prop_oneof![1u128..2_000, Just(u128::MAX)], proptest::option::of(field()))
            .prop_map(|(to_fz, kind, a, b, amount, field)| Hostile::Mutated { to_fz, kind, a, b, amount, field }),
        3 => (any::<bool>(), i.clone(), i, 1u128..300, proptest::collection::vec(any::<u8>(), 0..64), 0u8..4)
            .prop_map(|(from_bz, a, b, amount, ack, shape)| Hostile::Ack { from_bz, a, b, amount, ack, shape }),
    ]
}

/// The instruction's protobuf with string field `n` (in declaration order,
/// amount excluded) or the amount replaced.
fn mutate(ins: &Instruction, field: &Option<Field>) -> Vec<u8> {
    let Some(field) = field else { return ins.encode() };
    let mut data = PacketData::decode(ins.encode().as_slice()).expect("own encoding");
    let set = |fields: Vec<&mut String>, n: usize, s: &str| {
        let len = fields.len();
        if let Some(f) = fields.into_iter().nth(n % len) {
            *f = s.to_owned();
        }
    };
    match (&mut data.kind, field) {
        (Some(Kind::Link(l)), Field::Text(n, s)) => set(vec![&mut l.fz_address, &mut l.bank, &mut l.bz_address], *n, s),
        (Some(Kind::Link(_)), Field::Amount(_)) => {}
        (Some(Kind::Charge(c)), Field::Text(n, s)) => set(vec![&mut c.fz_address, &mut c.bz_address], *n, s),
        (Some(Kind::Charge(c)), Field::Amount(s)) => c.amount = s.clone(),
        (Some(Kind::Payment(p)), Field::Text(n, s)) => {
            set(vec![&mut p.from_fz, &mut p.to_fz, &mut p.from_bz, &mut p.to_bz, &mut p.memo], *n, s)
        }
        (Some(Kind::Payment(p)), Field::Amount(s)) => p.amount = s.clone(),
        (Some(Kind::Discharge(d)), Field::Text(n, s)) => set(vec![&mut d.fz_address, &mut d.bz_address], *n, s),
        (Some(Kind::Discharge(d)), Field::Amount(s)) => d.amount = s.clone(),
        (None, _) => {}
    }
    data.encode_to_vec()
}

/// Delivers a hostile packet and checks the receipt rules.
fn deliver(w: &mut World, to: Side, p: &Packet) -> Result<(), TestCaseError> {
    let before = dump(w.zone(to));
    let ack = w.recv(to, p);
    match ack_is_success(ack.as_bytes()) {
        Some(true) => {}
        Some(false) => prop_assert!(before == dump(w.zone(to)), "an error ack changed the receiving zone"),
        None => return Err(TestCaseError::fail(format!("unrecognised ack {:?}", ack.as_bytes()))),
    }
    Ok(())
}

fn one_case(w: &mut World, h: &Hostile) -> Result<(), TestCaseError> {
    w.hostile_seq += 1;
    let seq = w.hostile_seq;
    match h {
        Hostile::Data { to_fz, data, chan } => {
            let to = if *to_fz { Side::Fz } else { Side::Bz };
            deliver(w, to, &packet(seq, ChannelId::new(*chan), data.clone()))?;
        }
        Hostile::Mutated { to_fz, kind, a, b, amount, field } => {
            let (a, b, amount) = (*a, *b, Amount::new(*amount));
            let ins = match kind {
                0 => Instruction::Link { fz: fz_cust(a), bank: bank(a), bz: bz_cust(b) },
                1 => Instruction::Charge { fz: fz_cust(a), bz: bz_cust(a), amount },
                2 => Instruction::Payment {
                    from_fz: fz_cust(a),
                    to_fz: fz_cust(b),
                    from_bz: bz_cust(a),
                    to_bz: bz_cust(b),
                    amount,
                    memo: String::new(),
                },
                _ => Instruction::Discharge { fz: fz_cust(a), bz: bz_cust(a), amount },
            };
            let to = if *to_fz { Side::Fz } else { Side::Bz };
            // A charge to the BZ mints BZ money: only a proven FZ packet may
            // do that, so forged charges go to the FZ side only here.
            if to == Side::Bz && matches!(ins, Instruction::Charge { .. }) {
                return Ok(());
            }
            deliver(w, to, &packet(seq, channel(), mutate(&ins, field)))?;
        }
        Hostile::Ack { from_bz, a, b, amount, ack, shape } => {
            let (from, to) = if *from_bz { (Side::Bz, Side::Fz) } else { (Side::Fz, Side::Bz) };
            let msg = if *from_bz {
                Msg::Pay {
                    signer: bz_cust(*a),
                    to: bz_cust(*b),
                    amount: Amount::new(*amount),
                    memo: String::new(),
                    timeout_secs: 600,
                }
            } else {
                Msg::Charge { signer: fz_cust(*a), channel: channel(), amount: Amount::new(*amount), timeout_secs: 600 }
            };
            let Some(p) = w.send(from, msg) else { return Ok(()) };
            let real = w.recv(to, &p);
            let text = String::from_utf8_lossy(ack).into_owned();
            let bytes = match shape {
                0 => ack.clone(),
                1 => serde_json::json!({ "result": text }).to_string().into_bytes(),
                2 => serde_json::json!({ "error": text }).to_string().into_bytes(),
                _ => [br#"{"result":"#.as_slice(), ack].concat(),
            };
            let before = dump(w.zone(from));
            let accepted = match Acknowledgement::try_from(bytes) {
                Ok(hostile) => w.ack(from, &p, &hostile),
                Err(_) => false, // the IBC core refuses an empty ack
            };
            if !accepted {
                prop_assert!(before == dump(w.zone(from)), "a refused ack changed the sender");
                // The real ack still concludes the packet.
                prop_assert!(w.ack(from, &p, &real), "the real ack is accepted after a refused one");
            }
        }
    }
    w.check().map_err(TestCaseError::fail)
}

#[test]
fn hostile_packets_and_acks_never_panic_and_never_create_or_lose_money() {
    let world = RefCell::new(World::new());
    let mut runner = runner(400);
    if let Err(e) = runner.run(&hostile(), |h| one_case(&mut world.borrow_mut(), &h)) {
        panic!("{e}");
    }
}

#[test]
fn random_packet_data_always_decodes_or_is_refused_as_malformed() {
    let mut runner = runner(2_000);
    let r = runner.run(&proptest::collection::vec(any::<u8>(), 0..256), |data| {
        match Instruction::decode(&data) {
            Ok(ins) => prop_assert_eq!(Instruction::decode(&ins.encode()), Ok(ins)),
            Err(e) => {
                prop_assert_eq!(kawase_primitives::ErrorCode::code(&e), 8, "{}", e);
                prop_assert!(!e.ack_text().is_empty());
            }
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}
