//! Adding a module is one crate and one registry line: a toy module, in
//! this file alone, gets messages, a genesis section, invariants and a
//! query route on a real app over RocksDB; without its line, the same
//! chain knows none of it.
use kawase_app::{modules, AppConfig, Zone};
use kawase_devkit::{Demo, TestChain};
use kawase_primitives::*;

// ---- The toy module: 59 lines, from here to the end marker. ----
#[derive(Clone, PartialEq, prost::Message)]
struct MsgNote {
    #[prost(string, tag = "1")]
    signer: String,
    #[prost(string, tag = "2")]
    text: String,
}
proto_name!(MsgNote, "kawase.toy.v1", "MsgNote");
#[derive(Debug)]
struct Note(Address, String);
impl Message for Note {
    fn signer(&self) -> Option<Address> {
        Some(self.0)
    }
    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), ExecError> {
        state.put_raw(b"toy/note".to_vec(), format!("{}@{}", self.1, ctx.block.height).into_bytes());
        Ok(())
    }
}
struct Toy;
impl Module for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }
    fn type_urls(&self) -> Vec<String> {
        vec![<MsgNote as prost::Name>::type_url()]
    }
    fn owns(&self, type_url: &str) -> bool {
        type_url.starts_with("/kawase.toy.v1.")
    }
    fn decode(&self, _url: &str, value: &[u8]) -> Result<Box<dyn Message>, Rejection> {
        let bad = |log: String| Rejection { codespace: "toy", code: 1, log };
        let m = <MsgNote as prost::Message>::decode(value).map_err(|e| bad(e.to_string()))?;
        let signer = m.signer.parse().map_err(|e: AddressError| bad(e.to_string()))?;
        Ok(Box::new(Note(signer, m.text)))
    }
    fn error_codes(&self) -> &'static [ErrorDoc] {
        &[ErrorDoc { code: 1, name: "bad note" }]
    }
    fn validate_genesis(&self, g: &serde_json::Value, _zone: Zone) -> Result<(), String> {
        g.as_str().map(|_| ()).ok_or_else(|| "toy: the genesis section is the first note".into())
    }
    fn init_genesis(&self, g: &serde_json::Value, z: Zone, state: &mut dyn StateWrite) -> Result<(), String> {
        let note = g.as_str().unwrap_or_default().as_bytes().to_vec();
        self.validate_genesis(g, z).map(|()| state.put_raw(b"toy/note".to_vec(), note))
    }
    fn export_genesis(&self, state: &dyn StateRead, _zone: Zone) -> Result<serde_json::Value, String> {
        let note = state.get_raw(b"toy/note").map_err(|e| e.to_string())?.unwrap_or_default();
        Ok(serde_json::Value::String(String::from_utf8_lossy(&note).into_owned()))
    }
    fn check_invariants(&self, state: &dyn StateRead) -> Result<(), String> {
        let note = state.get_raw(b"toy/note").map_err(|e| e.to_string())?;
        note.filter(|n| !n.is_empty()).map(|_| ()).ok_or_else(|| "toy: the note is never empty".into())
    }
    fn query(&self, path: &str, _data: &[u8], state: &dyn StateRead) -> Option<Result<Vec<u8>, QueryError>> {
        (path == "note")
            .then(|| state.get_raw(b"toy/note").map(Option::unwrap_or_default).map_err(QueryError::internal))
    }
}
// ---- End of the toy module. ----

fn note_tx(demo: &mut Demo, text: &str) -> Vec<u8> {
    let m = MsgNote { signer: demo.admin.address().to_string(), text: text.into() };
    let any = cosmrs::Any { type_url: <MsgNote as prost::Name>::type_url(), value: prost::Message::encode_to_vec(&m) };
    demo.admin.sign("toy-1", vec![any])
}

#[test]
fn a_module_added_by_one_registry_line_runs_its_genesis_messages_invariants_and_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = modules::registry().with(Toy).into_shared();
    let mut chain = TestChain::open_with(AppConfig::new(dir.path().join("s")), registry, "toy-1").expect("open");
    let mut demo = Demo::new();
    chain.init(&demo.genesis(Zone::Fz).with("toy", &"hello")).expect("genesis with a toy section");
    demo.set_genesis_numbers();
    chain.block(vec![]).expect("block 1");
    assert_eq!(chain.query("/toy/note", b"", 0, false).value.as_ref(), b"hello");

    let (results, _) = chain.block(vec![note_tx(&mut demo, "paid")]).expect("block 2");
    assert_eq!(results[0].code, 0, "{}", results[0].log);
    assert_eq!(chain.query("/toy/note", b"", 0, false).value.as_ref(), b"paid@2");
    chain.app.registry().check_invariants(&chain.app.storage().latest()).expect("the toy's invariants hold");
    let exported =
        chain.app.registry().get("toy").expect("registered").export_genesis(&chain.app.storage().latest(), Zone::Fz);
    assert_eq!(exported, Ok(serde_json::json!("paid@2")));
}

#[test]
fn the_same_chain_without_the_line_knows_neither_the_message_nor_the_section_nor_the_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut chain = TestChain::open(AppConfig::new(dir.path().join("s")), "toy-1").expect("open");
    let mut demo = Demo::new();
    let err = chain.init(&demo.genesis(Zone::Fz).with("toy", &"hello")).expect_err("no toy module");
    assert!(err.to_string().contains("unknown field `toy`"), "{err}");
    chain.init(&demo.genesis(Zone::Fz)).expect("genesis");
    demo.set_genesis_numbers();
    let (results, _) = chain.block(vec![note_tx(&mut demo, "paid")]).expect("block 1");
    assert_eq!((results[0].codespace.as_str(), results[0].code), ("tx", 7), "unknown message: {}", results[0].log);
    assert_eq!(chain.query("/toy/note", b"", 0, false).code, 2, "unknown query path");
}
