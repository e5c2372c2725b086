#![deny(clippy::unwrap_used)]
//! Drives the application through its ABCI entry points in-process: used by
//! the scenario tests, the property tests, the benchmark and `kawased demo`.
//! It is a block driver, not consensus: every block it makes is exactly
//! what a single validator would finalize and commit.
use bytes::Bytes;
use kawase_accounts::{AccountGenesis, BankGenesis, Role};
use kawase_client::{build_tx, Key, KeyKind, TxParams};
use kawase_primitives::Address;
use tendermint_proto::google::protobuf::Timestamp;
use tendermint_proto::v0_38::abci::{
    ExecTxResult, RequestFinalizeBlock, RequestInitChain, RequestQuery, ResponseQuery,
};

use kawase_app::{App, AppConfig, AppError, AppState, Zone};

/// A signing account with its account number and next sequence.
#[derive(Clone, Debug)]
pub struct Wallet {
    pub key: Key,
    pub number: u64,
    pub sequence: u64,
}

impl Wallet {
    /// Deterministic key from a name, so tests and demos are reproducible.
    pub fn from_name(name: &str, kind: KeyKind) -> Wallet {
        use sha2::{Digest, Sha256};
        let seed: [u8; 32] = Sha256::digest(format!("kawase-test-key/{name}")).into();
        Wallet {
            key: Key::from_seed(kind, seed).expect("a SHA-256 digest is a valid secret key"),
            number: 0,
            sequence: 0,
        }
    }

    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Signs `msgs` with the next sequence and advances it.
    pub fn sign(&mut self, chain_id: &str, msgs: Vec<cosmrs::Any>) -> Vec<u8> {
        let params = TxParams {
            chain_id: chain_id.into(),
            account_number: self.number,
            sequence: self.sequence,
            memo: String::new(),
            timeout_height: 0,
        };
        self.sequence += 1;
        build_tx(&self.key, &params, msgs).expect("encoding our own messages cannot fail")
    }
}

/// The demo world: an admin, two banks and a customer of each.
pub struct Demo {
    pub admin: Wallet,
    pub bank_a: Wallet,
    pub bank_b: Wallet,
    pub alice: Wallet,
    pub bob: Wallet,
}

impl Demo {
    pub fn new() -> Demo {
        Demo {
            admin: Wallet::from_name("admin", KeyKind::Ed25519),
            bank_a: Wallet::from_name("bank-a", KeyKind::Secp256k1),
            bank_b: Wallet::from_name("bank-b", KeyKind::Ed25519),
            alice: Wallet::from_name("alice", KeyKind::Secp256k1),
            bob: Wallet::from_name("bob", KeyKind::Ed25519),
        }
    }

    /// Admin and both banks exist at genesis; customers are registered by
    /// transactions in the scenarios.
    pub fn genesis(&self, zone: Zone) -> AppState {
        AppState::new(zone).with(
            "accounts",
            &kawase_accounts::Genesis {
                admin: self.admin.address(),
                banks: vec![
                    BankGenesis { address: self.bank_a.address(), name: "Bank A".into() },
                    BankGenesis { address: self.bank_b.address(), name: "Bank B".into() },
                ],
                accounts: Vec::new(),
            },
        )
    }

    /// Genesis account numbers: admin 0, bank A 1, bank B 2.
    pub fn set_genesis_numbers(&mut self) {
        self.admin.number = 0;
        self.bank_a.number = 1;
        self.bank_b.number = 2;
    }
}

impl Default for Demo {
    fn default() -> Self {
        Demo::new()
    }
}

/// Helper to build genesis accounts for many customers of one bank.
pub fn customer_genesis(address: Address, bank: Address, reference: &str) -> AccountGenesis {
    AccountGenesis { address, role: Role::Customer, bank: Some(bank), deposit_account_ref: reference.into() }
}

/// An application plus the block driver state.
pub struct TestChain {
    pub app: App,
    pub chain_id: String,
    pub height: u64,
    /// Block time advances one second per block from a fixed origin.
    pub time_secs: i64,
}

impl TestChain {
    /// Opens (or reopens) the app at `config` without initialising it.
    pub fn open(config: AppConfig, chain_id: &str) -> Result<TestChain, AppError> {
        Self::open_with(config, kawase_app::modules::standard(), chain_id)
    }

    /// Opens the app with another set of modules (a test's own registry).
    pub fn open_with(
        config: AppConfig,
        registry: std::sync::Arc<kawase_app::Registry>,
        chain_id: &str,
    ) -> Result<TestChain, AppError> {
        let app = App::open_with(config, registry)?;
        let height = app.committed()?.height;
        Ok(TestChain { app, chain_id: chain_id.into(), height, time_secs: 1_700_000_000 + height as i64 })
    }

    /// A new FZ at `dir/state` with the [`Demo`] world's genesis applied,
    /// and that world with its genesis account numbers set.
    pub fn demo_fz(dir: &std::path::Path, chain_id: &str) -> Result<(TestChain, Demo), AppError> {
        let mut demo = Demo::new();
        let mut chain = TestChain::open(AppConfig::new(dir.join("state")), chain_id)?;
        chain.init(&demo.genesis(Zone::Fz))?;
        demo.set_genesis_numbers();
        Ok((chain, demo))
    }

    pub fn init(&mut self, state: &AppState) -> Result<[u8; 32], AppError> {
        let resp = self.app.try_init_chain(RequestInitChain {
            chain_id: self.chain_id.clone(),
            app_state_bytes: serde_json::to_vec(state).expect("app state serialises").into(),
            initial_height: 1,
            ..Default::default()
        })?;
        let mut h = [0u8; 32];
        h.copy_from_slice(&resp.app_hash);
        Ok(h)
    }

    /// Finalizes and commits one block; returns per-tx results and the app hash.
    pub fn block(&mut self, txs: Vec<Vec<u8>>) -> Result<(Vec<ExecTxResult>, [u8; 32]), AppError> {
        let req = self.block_request(txs);
        let resp = self.app.try_finalize_block(req)?;
        self.app.try_commit()?;
        self.height += 1;
        self.time_secs += 1;
        let mut h = [0u8; 32];
        h.copy_from_slice(&resp.app_hash);
        Ok((resp.tx_results, h))
    }

    pub fn block_request(&self, txs: Vec<Vec<u8>>) -> RequestFinalizeBlock {
        RequestFinalizeBlock {
            txs: txs.into_iter().map(Bytes::from).collect(),
            height: (self.height + 1) as i64,
            time: Some(Timestamp { seconds: self.time_secs, nanos: 0 }),
            ..Default::default()
        }
    }

    pub fn query(&self, path: &str, data: &[u8], height: u64, prove: bool) -> ResponseQuery {
        self.app.query_request(&RequestQuery {
            data: Bytes::copy_from_slice(data),
            path: path.into(),
            height: height as i64,
            prove,
        })
    }

    /// A JSON query that must succeed.
    pub fn query_json(&self, path: &str, data: &str) -> serde_json::Value {
        let r = self.query(path, data.as_bytes(), 0, false);
        assert_eq!(r.code, 0, "query {path} {data} failed: {}", r.log);
        serde_json::from_slice(&r.value).expect("queries answer JSON")
    }

    pub fn balance(&self, a: &Address) -> u128 {
        let v = self.query_json("/token/balance", &a.to_string());
        v["amount"].as_str().and_then(|s| s.parse().ok()).expect("balance is a decimal string")
    }

    pub fn account_number(&self, a: &Address) -> u64 {
        self.query_json("/accounts/account", &a.to_string())["number"].as_u64().expect("account number")
    }
}
