//! The fault suite's clients: actors that sign and send transactions to
//! every node of a zone in turn, and the history of what each client was
//! told (committed at a height with a code, refused, or unknown because
//! the node died or timed out), which the checks hold the chain to.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kawase_client::{build_tx, CosmosAny, Key, TxParams};
use serde_json::Value;
use sha2::Digest;

use super::manifest::ZoneName;
use super::rpc::{QueryError, Rpc};

/// What a client was told about one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// broadcast_tx_commit returned the DeliverTx result at `height`.
    Committed { height: u64, code: u32 },
    /// CheckTx refused it: it must never be in a block.
    Refused { code: u32, log: String },
    /// No answer (node killed, paused, timed out): in the chain at most once.
    Unknown(String),
}

/// The money effect the model checks expect of a successful transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Issue(u128),
    None,
}

#[derive(Clone, Debug)]
pub struct Sent {
    pub zone: ZoneName,
    /// Upper-case hex SHA-256 of the transaction bytes (CometBFT's tx hash).
    pub hash: String,
    pub op: &'static str,
    pub effect: Effect,
    pub outcome: Outcome,
}

/// Every transaction the clients sent, shared by all actors.
#[derive(Clone, Default)]
pub struct History(pub Arc<Mutex<Vec<Sent>>>);

impl History {
    pub fn push(&self, s: Sent) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(s);
    }

    pub fn all(&self) -> Vec<Sent> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A zone as the clients see it: chain id and the nodes' RPC addresses,
/// used round-robin.
#[derive(Clone)]
pub struct Endpoint {
    pub zone: ZoneName,
    pub chain_id: String,
    pub rpcs: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
}

impl Endpoint {
    pub fn new(zone: ZoneName, chain_id: &str, rpcs: Vec<String>) -> Endpoint {
        Endpoint { zone, chain_id: chain_id.into(), rpcs: Arc::new(rpcs), next: Arc::new(AtomicUsize::new(0)) }
    }

    /// The next node in turn.
    pub fn next_rpc(&self) -> &str {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.rpcs.len();
        &self.rpcs[i]
    }

    /// An ABCI query answered by any live node (tries each in turn); the
    /// app's refusal or a value that is not JSON as `Err`, `None` if no
    /// node answered.
    pub async fn query(&self, path: &str, data: &[u8]) -> Option<Result<Value, String>> {
        for _ in 0..self.rpcs.len() {
            let rpc = self.next_rpc().to_owned();
            match Rpc::bounded(&rpc).query(path, data).await {
                Ok(v) => return Some(Ok(v)),
                Err(QueryError::NoAnswer(_)) => {}
                Err(QueryError::Refused { log, .. }) => return Some(Err(log)),
                Err(QueryError::NotJson(e)) => return Some(Err(e)),
            }
        }
        None
    }
}

/// A signing key with the account number and next sequence it believes in.
pub struct Actor {
    pub key: Key,
    pub number: Option<u64>,
    pub sequence: u64,
}

impl Actor {
    pub fn new(key: Key) -> Actor {
        Actor { key, number: None, sequence: 0 }
    }

    /// Reads number and sequence from the chain (bounded tries).
    pub async fn sync(&mut self, ep: &Endpoint) -> bool {
        for _ in 0..10 {
            if let Some(Ok(a)) = ep.query("/accounts/account", self.key.address().to_string().as_bytes()).await {
                if let (Some(n), Some(s)) = (a["number"].as_u64(), a["sequence"].as_u64()) {
                    self.number = Some(n);
                    self.sequence = s;
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    }

    /// Signs `msgs`, sends them with broadcast_tx_commit to the next node
    /// and records what it was told.
    pub async fn send(
        &mut self,
        ep: &Endpoint,
        h: &History,
        op: &'static str,
        effect: Effect,
        msgs: Vec<CosmosAny>,
    ) -> Sent {
        if self.number.is_none() && !self.sync(ep).await {
            return Sent {
                zone: ep.zone,
                hash: String::new(),
                op,
                effect,
                outcome: Outcome::Unknown("account not readable".into()),
            };
        }
        let p = TxParams {
            chain_id: ep.chain_id.clone(),
            account_number: self.number.expect("synced above"),
            sequence: self.sequence,
            memo: String::new(),
            timeout_height: 0,
        };
        let tx = build_tx(&self.key, &p, msgs).expect("sign");
        let hash = hex::encode_upper(sha2::Sha256::digest(&tx));
        let rpc = ep.next_rpc().to_owned();
        let outcome = match Rpc::bounded(&rpc).broadcast_tx_commit(tx).await {
            Ok(r) if r.check_tx.code.is_err() => {
                Outcome::Refused { code: r.check_tx.code.value(), log: r.check_tx.log }
            }
            Ok(r) => Outcome::Committed { height: r.height.value(), code: r.tx_result.code.value() },
            Err(e) => Outcome::Unknown(format!("{rpc}: {e}")),
        };
        let sent = Sent { zone: ep.zone, hash, op, effect, outcome };
        h.push(sent.clone());
        match &sent.outcome {
            Outcome::Committed { code: 0, .. } => self.sequence += 1,
            // A failed or unknown transaction may or may not have used the
            // sequence: ask the chain.
            _ => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                self.sync(ep).await;
            }
        }
        sent
    }

    /// Setup: sends until committed with code 0 (bounded), else panics.
    pub async fn must(&mut self, ep: &Endpoint, h: &History, op: &'static str, effect: Effect, msgs: Vec<CosmosAny>) {
        let mut last = None;
        for _ in 0..8 {
            let sent = self.send(ep, h, op, effect, msgs.clone()).await;
            match sent.outcome {
                Outcome::Committed { code: 0, .. } => return,
                Outcome::Unknown(_) => {
                    // It may have committed after all.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    if committed_ok(ep, &sent.hash).await {
                        self.sync(ep).await;
                        return;
                    }
                    last = Some(sent.outcome);
                }
                o => {
                    last = Some(o);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        panic!("setup transaction {op} on {} never committed: {last:?}", ep.chain_id);
    }
}

/// Whether transaction `hash` is in the chain with code 0 on some node.
pub async fn committed_ok(ep: &Endpoint, hash: &str) -> bool {
    let Ok(hash) = hash.parse::<tendermint::Hash>() else { return false };
    for rpc in ep.rpcs.iter() {
        if let Ok(t) = Rpc::bounded(rpc).tx(hash, false).await {
            return t.tx_result.code.is_ok();
        }
    }
    false
}
