//! Hostile transactions, property-based: random bytes and structured
//! mutations of valid signed transactions (flipped bytes, truncations,
//! appended junk, wrong chain id, replays, oversized, too many messages,
//! unknown type URLs, random IBC payloads, bad public keys, wrong signature
//! counts and modes) go through CheckTx and then into a block, as a faulty
//! proposer would include them. Every input is accepted or rejected with a
//! stable code (the same code twice, never an internal error); where the
//! kind of mutation fixes the answer, that exact code; a block that includes
//! a rejected transaction gives it the same code and moves at most the
//! signer's sequence; money invariants hold after every block.
//!
//! `PROPTEST_CASES` sets the number of cases; `KAWASE_FUZZ_SEED` the seed
//! (fixed by default, so CI runs the same cases every time).
use std::cell::RefCell;

use cosmrs::proto::cosmos::tx::v1beta1::{mode_info, AuthInfo, TxBody, TxRaw};
use kawase_accounts::{Role, StateReadExt as _};
use kawase_app::{AppConfig, Zone};
use kawase_client::{msgs, KeyKind};
use kawase_devkit::{Demo, TestChain, Wallet};
use kawase_primitives::StateRead as _;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use prost::Message;

const CHAIN: &str = "kawase-fz-hostile";
const OTHER_ZONE: &str = "kawase-bz-hostile";

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default_cases);
    let seed: u64 = std::env::var("KAWASE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    eprintln!("hostile_tx: {cases} cases, KAWASE_FUZZ_SEED={seed}");
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 256, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

#[derive(Clone, Debug)]
enum Template {
    Transfer(u128),
    TwoTransfers(u128),
    Issue(u128),
    Redeem(u128),
    Register(u8),
    Link,
}

#[derive(Clone, Debug)]
enum BadKey {
    /// Random bytes under the ed25519 or secp256k1 type URL.
    Garbage(bool, Vec<u8>),
    /// Another valid key: the derived address is not the messages' signer.
    Other,
    /// A type URL we do not support.
    UnknownType(String),
    Missing,
    /// An ed25519 key of small order (an index into the 14 encodings):
    /// a signature under it could verify for many messages.
    SmallOrder(usize),
}

#[derive(Clone, Debug)]
enum Mutation {
    None,
    Flip { at: usize, mask: u8 },
    Truncate(usize),
    Append(Vec<u8>),
    Splice { at: usize, bytes: Vec<u8> },
    WrongChainId(String),
    Replay,
    Memo(usize),
    ManyMessages(usize),
    NoMessages,
    UnknownTypeUrl(String),
    RandomIbc(usize, Vec<u8>),
    BadPubkey(BadKey),
    Signatures(usize),
    SignMode(i32),
    ExtraExtension,
}

#[derive(Clone, Debug)]
enum Input {
    Random(Vec<u8>),
    Mutated(Template, Mutation),
}

fn template() -> impl Strategy<Value = Template> {
    let amount = prop_oneof![1u128..2_000, Just(u128::MAX), Just(0u128)];
    prop_oneof![
        amount.clone().prop_map(Template::Transfer),
        amount.clone().prop_map(Template::TwoTransfers),
        amount.clone().prop_map(Template::Issue),
        amount.prop_map(Template::Redeem),
        any::<u8>().prop_map(Template::Register),
        Just(Template::Link),
    ]
}

const IBC_URLS: [&str; 6] = [
    "/ibc.core.client.v1.MsgCreateClient",
    "/ibc.core.client.v1.MsgUpdateClient",
    "/ibc.core.connection.v1.MsgConnectionOpenTry",
    "/ibc.core.channel.v1.MsgChannelOpenInit",
    "/ibc.core.channel.v1.MsgRecvPacket",
    "/ibc.core.channel.v1.MsgAcknowledgement",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        2 => Just(Mutation::None),
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        1 => bytes.clone().prop_map(Mutation::Append),
        1 => (any::<usize>(), bytes.clone()).prop_map(|(at, bytes)| Mutation::Splice { at, bytes }),
        2 => prop_oneof![Just(OTHER_ZONE.to_string()), Just(String::new()), "\\PC{0,80}"].prop_map(Mutation::WrongChainId),
        2 => Just(Mutation::Replay),
        1 => prop_oneof![257usize..2_000, 33_000usize..40_000].prop_map(Mutation::Memo),
        1 => (33usize..80).prop_map(Mutation::ManyMessages),
        1 => Just(Mutation::NoMessages),
        1 => "/[a-z.]{0,30}".prop_map(Mutation::UnknownTypeUrl),
        2 => (0..IBC_URLS.len(), proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(i, b)| Mutation::RandomIbc(i, b)),
        2 => prop_oneof![
            (any::<bool>(), bytes.clone()).prop_map(|(e, b)| BadKey::Garbage(e, b)),
            Just(BadKey::Other),
            "/[a-z.]{0,30}".prop_map(BadKey::UnknownType),
            Just(BadKey::Missing),
            (0..kawase_app::sigverify::SMALL_ORDER_ENCODINGS.len()).prop_map(BadKey::SmallOrder),
        ].prop_map(Mutation::BadPubkey),
        1 => prop_oneof![Just(0usize), 2usize..5].prop_map(Mutation::Signatures),
        1 => prop_oneof![Just(0i32), 2i32..200, Just(-1)].prop_map(Mutation::SignMode),
        1 => Just(Mutation::ExtraExtension),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..512).prop_map(Input::Random),
        4 => (template(), mutation()).prop_map(|(t, m)| Input::Mutated(t, m)),
    ]
}

struct World {
    chain: TestChain,
    d: Demo,
    /// Transactions committed successfully (replay material).
    committed: Vec<Vec<u8>>,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Demo::new();
        let mut config = AppConfig::new(dir.path().join("state"));
        config.check_invariants = true;
        let mut chain = TestChain::open(config, CHAIN).expect("open");
        chain.init(&d.genesis(Zone::Fz)).expect("init");
        d.set_genesis_numbers();
        let (a, b) = (d.alice.address(), d.bob.address());
        let (ba, bb) = (d.bank_a.address(), d.bank_b.address());
        let txs = vec![
            d.bank_a.sign(CHAIN, vec![msgs::register_account(ba, a, Role::Customer, "A-1")]),
            d.bank_b.sign(CHAIN, vec![msgs::register_account(bb, b, Role::Customer, "B-1")]),
        ];
        chain.block(txs).expect("block");
        let mut w = World { chain, d, committed: Vec::new(), _dir: dir };
        w.sync();
        let issue = w.d.bank_a.sign(CHAIN, vec![msgs::issue(ba, a, 1_000_000, "opening")]);
        let (r, _) = w.chain.block(vec![issue.clone()]).expect("block");
        assert_eq!(r[0].code, 0, "{}", r[0].log);
        w.committed.push(issue);
        w.sync();
        w
    }

    fn sync(&mut self) {
        let state = self.chain.app.storage().latest();
        for w in [&mut self.d.admin, &mut self.d.bank_a, &mut self.d.bank_b, &mut self.d.alice, &mut self.d.bob] {
            if let Some(acct) = state.account(&w.address()).expect("read") {
                w.number = acct.number;
                w.sequence = acct.sequence;
            }
        }
    }

    fn dump(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.chain.app.storage().latest().prefix_raw(b"").expect("scan")
    }
}

fn template_msgs(t: &Template, d: &Demo) -> (Wallet, Vec<cosmrs::Any>) {
    let (a, b, ba) = (d.alice.address(), d.bob.address(), d.bank_a.address());
    match t {
        Template::Transfer(x) => (d.alice.clone(), vec![msgs::transfer(a, b, *x)]),
        Template::TwoTransfers(x) => (d.alice.clone(), vec![msgs::transfer(a, b, 1), msgs::transfer(a, b, *x)]),
        Template::Issue(x) => (d.bank_a.clone(), vec![msgs::issue(ba, a, *x, &format!("ref-{x}"))]),
        Template::Redeem(x) => (d.alice.clone(), vec![msgs::redeem(a, a, *x, &format!("out-{x}"))]),
        Template::Register(n) => {
            let who = Wallet::from_name(&format!("hostile-{n}"), KeyKind::Ed25519).address();
            (d.bank_a.clone(), vec![msgs::register_account(ba, who, Role::Customer, "H")])
        }
        Template::Link => (d.alice.clone(), vec![msgs::link(a, "channel-0", b, 600)]),
    }
}

/// Re-signs edited body and auth info with the wallet's key, so a
/// structural defect is found as such and not as a bad signature.
fn resign(w: &Wallet, chain_id: &str, body: &TxBody, auth: &AuthInfo, sigs: usize) -> Vec<u8> {
    let body_bytes = body.encode_to_vec();
    let auth_info_bytes = auth.encode_to_vec();
    let doc = kawase_client::sign_doc_bytes(&body_bytes, &auth_info_bytes, chain_id, w.number);
    let sig = w.key.sign(&doc);
    TxRaw { body_bytes, auth_info_bytes, signatures: vec![sig; sigs] }.encode_to_vec()
}

type Code = (&'static str, u32);

/// Whether the template's messages pass stateless validation (a zero
/// amount does not), which comes before the signer and chain id checks.
fn stateless_ok(t: &Template) -> bool {
    !matches!(t, Template::Transfer(0) | Template::TwoTransfers(0) | Template::Issue(0) | Template::Redeem(0))
}

/// Builds the input's bytes and, where the mutation determines it, the
/// code every node must answer with.
fn build(input: &Input, world: &World) -> (Vec<u8>, Option<Code>) {
    let (t, m) = match input {
        Input::Random(b) => return (b.clone(), None),
        Input::Mutated(t, m) => (t, m),
    };
    let (mut w, msgs) = template_msgs(t, &world.d);
    let tx = w.sign(CHAIN, msgs.clone());
    let raw = TxRaw::decode(tx.as_slice()).expect("own tx decodes");
    let mut body = TxBody::decode(raw.body_bytes.as_slice()).expect("body");
    let mut auth = AuthInfo::decode(raw.auth_info_bytes.as_slice()).expect("auth");
    let w = {
        w.sequence -= 1;
        w
    };
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match m {
        Mutation::None => (tx, None),
        Mutation::Flip { at: i, mask } => {
            let mut t = tx;
            let i = at(*i, t.len());
            t[i] ^= mask;
            (t, None)
        }
        Mutation::Truncate(n) => {
            let n = at(*n, tx.len());
            (tx[..n].to_vec(), None)
        }
        Mutation::Append(extra) => ([tx, extra.clone()].concat(), None),
        Mutation::Splice { at: i, bytes } => {
            let mut t = tx;
            let i = at(*i, t.len());
            t.splice(i..i, bytes.iter().copied());
            (t, None)
        }
        Mutation::WrongChainId(id) if id != CHAIN => {
            // Messages are validated (statelessly) before the chain id.
            let mut w = w;
            (w.sign(id, msgs), stateless_ok(t).then_some(("tx", 4)))
        }
        Mutation::WrongChainId(_) => (tx, None),
        Mutation::Replay => (world.committed[0].clone(), Some(("tx", 6))),
        Mutation::Memo(n) => {
            body.memo = "m".repeat(*n);
            let code = if *n > 32 * 1024 { ("tx", 2) } else { ("tx", 3) };
            (resign(&w, CHAIN, &body, &auth, 1), Some(code))
        }
        Mutation::ManyMessages(n) => {
            body.messages = (0..*n).map(|i| body.messages[i % body.messages.len()].clone()).collect();
            (resign(&w, CHAIN, &body, &auth, 1), Some(("tx", 9)))
        }
        Mutation::NoMessages => {
            body.messages.clear();
            (resign(&w, CHAIN, &body, &auth, 1), Some(("tx", 12)))
        }
        Mutation::UnknownTypeUrl(url) => {
            let known = ["/kawase.", "/ibc."].iter().any(|p| url.starts_with(p));
            body.messages[0].type_url = url.clone();
            (resign(&w, CHAIN, &body, &auth, 1), (!known).then_some(("tx", 7)))
        }
        Mutation::RandomIbc(i, value) => {
            // Signed by the admin, who may send IBC messages: random payloads
            // reach ibc-rs decoding and, when they decode, its handlers.
            let mut admin = world.d.admin.clone();
            (admin.sign(CHAIN, vec![cosmrs::Any { type_url: IBC_URLS[*i].into(), value: value.clone() }]), None)
        }
        Mutation::BadPubkey(bad) => {
            let info = &mut auth.signer_infos[0];
            let code = match bad {
                BadKey::Garbage(ed, bytes) => {
                    let url = if *ed { "/cosmos.crypto.ed25519.PubKey" } else { "/cosmos.crypto.secp256k1.PubKey" };
                    info.public_key = Some(cosmrs::proto::Any { type_url: url.into(), value: bytes.clone() });
                    None // a 32-byte garbage ed25519 key can be a valid point
                }
                BadKey::Other => {
                    let other = Wallet::from_name("someone-else", w.key.kind());
                    info.public_key = Some(other.key.public_key().into());
                    stateless_ok(t).then_some(("tx", 8))
                }
                BadKey::UnknownType(url) => {
                    info.public_key = Some(cosmrs::proto::Any { type_url: url.clone(), value: vec![1; 33] });
                    Some(("tx", 10))
                }
                BadKey::Missing => {
                    info.public_key = None;
                    Some(("tx", 10))
                }
                BadKey::SmallOrder(i) => {
                    let key = kawase_app::sigverify::SMALL_ORDER_ENCODINGS[*i].to_vec();
                    let value = cosmrs::proto::cosmos::crypto::ed25519::PubKey { key }.encode_to_vec();
                    let url = "/cosmos.crypto.ed25519.PubKey".to_string();
                    info.public_key = Some(cosmrs::proto::Any { type_url: url, value });
                    Some(("tx", 10))
                }
            };
            (resign(&w, CHAIN, &body, &auth, 1), code)
        }
        Mutation::Signatures(n) => (resign(&w, CHAIN, &body, &auth, *n), Some(("tx", 10))),
        Mutation::SignMode(mode) => {
            if let Some(mode_info::Sum::Single(s)) =
                auth.signer_infos[0].mode_info.as_mut().and_then(|m| m.sum.as_mut())
            {
                s.mode = *mode;
            }
            (resign(&w, CHAIN, &body, &auth, 1), Some(("tx", 10)))
        }
        Mutation::ExtraExtension => {
            let ext = body.extension_options[0].clone();
            body.extension_options.push(ext);
            (resign(&w, CHAIN, &body, &auth, 1), Some(("tx", 3)))
        }
    }
}

fn is_internal(codespace: &str, code: u32) -> bool {
    code == 1 && codespace != "ibc"
}

fn one_case(world: &mut World, input: &Input) -> Result<(), TestCaseError> {
    world.sync();
    let (tx, expected) = build(input, world);
    let first = world.chain.app.check_tx_bytes(&tx);
    match &first {
        Ok(_) => {
            // The mempool now has it: the same bytes again are a replay.
            let again = world.chain.app.check_tx_bytes(&tx).expect_err("a replay in the mempool is refused");
            prop_assert_eq!((again.codespace, again.code), ("tx", 6), "{}", again.log);
        }
        Err(f) => {
            prop_assert!(!is_internal(f.codespace, f.code), "internal error for hostile input: {}", f.log);
            prop_assert!(!f.log.is_empty());
            let again = world.chain.app.check_tx_bytes(&tx).expect_err("rejected twice");
            prop_assert_eq!((again.codespace, again.code), (f.codespace, f.code), "stable code");
        }
    }
    if let Some(code) = expected {
        let got = first.as_ref().err().map(|f| (f.codespace, f.code));
        prop_assert_eq!(got, Some(code), "CheckTx: {:?}", first);
    }
    // A faulty proposer includes it anyway.
    let before = world.dump();
    let before_hash = world.chain.app.committed().expect("committed").app_hash;
    let (r, after_hash) = world.chain.block(vec![tx.clone()]).expect("a hostile tx never fails the block");
    prop_assert_eq!(r.len(), 1);
    match &first {
        Ok(_) => {
            prop_assert_eq!(r[0].code, 0, "accepted by CheckTx, failed in the block: {}", r[0].log);
            world.committed.push(tx);
        }
        Err(f) => {
            prop_assert_eq!((r[0].codespace.as_str(), r[0].code), (f.codespace, f.code), "{}", r[0].log);
            if after_hash != before_hash {
                // Only a message-level failure, after the ante phase: the
                // signer's sequence moved and nothing else.
                let after = world.dump();
                let changed: Vec<String> = after
                    .iter()
                    .filter(|kv| !before.contains(kv))
                    .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                    .collect();
                prop_assert_eq!(changed.len(), 1, "{:?}", changed);
                prop_assert!(changed[0].starts_with("accounts/account/"), "{:?}", changed);
                prop_assert_eq!(before.len(), after.len());
            }
        }
    }
    let latest = world.chain.app.storage().latest();
    kawase_app::check_money_invariants(&latest).map_err(TestCaseError::fail)?;
    Ok(())
}

#[test]
fn hostile_transactions_are_rejected_with_stable_codes_and_change_nothing() {
    let world = RefCell::new(World::new());
    let mut runner = runner(192);
    if let Err(e) = runner.run(&input(), |i| one_case(&mut world.borrow_mut(), &i)) {
        panic!("{e}");
    }
    // The committed money is where the accepted transactions put it.
    let w = world.borrow();
    let total = w.chain.query_json("/token/total_supply", "");
    assert!(total["amount"].as_str().is_some());
}

#[test]
fn transactions_for_the_other_zone_and_replays_are_refused_in_checktx_and_in_blocks() {
    let mut w = World::new();
    let (a, b) = (w.d.alice.address(), w.d.bob.address());
    // Signed correctly, for the BZ's chain id: refused on the FZ whatever
    // the account number (the signature is never even tried).
    let for_bz = w.d.alice.clone().sign(OTHER_ZONE, vec![msgs::transfer(a, b, 5)]);
    let f = w.chain.app.check_tx_bytes(&for_bz).expect_err("other zone");
    assert_eq!((f.codespace, f.code), ("tx", 4), "{}", f.log);
    assert!(f.log.contains(OTHER_ZONE), "{}", f.log);
    // A committed transaction sent again, also in the same block twice.
    let tx = w.d.alice.sign(CHAIN, vec![msgs::transfer(a, b, 5)]);
    let (r, _) = w.chain.block(vec![tx.clone(), tx.clone()]).expect("block");
    assert_eq!(r[0].code, 0, "{}", r[0].log);
    assert_eq!((r[1].codespace.as_str(), r[1].code), ("tx", 6), "{}", r[1].log);
    let f = w.chain.app.check_tx_bytes(&tx).expect_err("replay");
    assert_eq!((f.codespace, f.code), ("tx", 6));
    assert_eq!(w.chain.balance(&b), 5, "paid once");
}
