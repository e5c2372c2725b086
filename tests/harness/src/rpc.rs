//! The one JSON-RPC client of the harness: tendermint-rpc's HTTP client in
//! CometBFT 0.38 mode with a bound on every call, and what the tests ask a
//! node most (its height, an app query as JSON, a raw store read,
//! broadcasts, a transaction, a block and its results, waiting for heights).
use std::future::Future;
use std::time::{Duration, Instant};

use kawase_tls::ClientTls;
use serde_json::Value;
use tendermint::block::Height;
use tendermint_rpc::client::CompatMode;
use tendermint_rpc::endpoint::abci_query::AbciQuery;
use tendermint_rpc::endpoint::broadcast::{tx_commit, tx_sync};
use tendermint_rpc::endpoint::{block, block_results, commit, status, tx, tx_search, validators};
use tendermint_rpc::{Client, HttpClient, HttpClientUrl, Order, Paging};

pub use tendermint_rpc::query::Query;
pub use tendermint_rpc::Error;

/// The fault suite's bound on one RPC answer.
pub const RPC_LIMIT: Duration = Duration::from_secs(20);
/// tendermint-rpc's own default bound, for everything else.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(30);

/// Why an app query gave no JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// The node did not answer (down, paused, too slow).
    NoAnswer(String),
    /// The app answered with an error code; its log.
    Refused { code: u32, log: String },
    /// The value is not JSON.
    NotJson(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::NoAnswer(e) => write!(f, "no answer: {e}"),
            QueryError::Refused { code, log } => write!(f, "code {code}: {log}"),
            QueryError::NotJson(e) => write!(f, "not JSON: {e}"),
        }
    }
}

/// A JSON-RPC client of one node; cheap to clone.
#[derive(Clone)]
pub struct Rpc {
    url: String,
    http: HttpClient,
    limit: Duration,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rpc({})", self.url)
    }
}

fn height(h: u64) -> Height {
    Height::try_from(h).expect("height")
}

impl Rpc {
    /// A client of `url` (`http://host:port`), each call bounded by
    /// [`DEFAULT_LIMIT`].
    pub fn new(url: &str) -> Rpc {
        Rpc::with_limit(url, DEFAULT_LIMIT)
    }

    /// A client bounded by [`RPC_LIMIT`] (the fault suite's).
    pub fn bounded(url: &str) -> Rpc {
        Rpc::with_limit(url, RPC_LIMIT)
    }

    pub fn with_limit(url: &str, limit: Duration) -> Rpc {
        Rpc::with_tls(url, &ClientTls::default(), limit).expect("plain-text client")
    }

    /// A client of an `https://` node whose certificate `tls.ca` issued
    /// (with a client certificate under mutual TLS).
    pub fn with_tls(url: &str, tls: &ClientTls, limit: Duration) -> Result<Rpc, kawase_tls::TlsError> {
        let http = kawase_tls::rpc_client(url.parse::<HttpClientUrl>().expect("url"), tls, limit, CompatMode::V0_38)?;
        Ok(Rpc { url: url.to_owned(), http, limit })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// tendermint-rpc's client, for what this one does not wrap.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `f`, or a timeout error if it takes longer than the limit (the HTTP
    /// client's own timeout should fire first).
    async fn call<T>(&self, f: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        match tokio::time::timeout(self.limit + Duration::from_secs(1), f).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(self.limit)),
        }
    }

    pub async fn status(&self) -> Result<status::Response, Error> {
        self.call(self.http.status()).await
    }

    /// The latest committed height.
    pub async fn height(&self) -> Result<u64, Error> {
        Ok(self.status().await?.sync_info.latest_block_height.value())
    }

    /// Polls until the node is at height `h` or above, for at most
    /// `within`: the height reached, or the last one seen (0 if none).
    pub async fn wait_for_height(&self, h: u64, within: Duration) -> Result<u64, u64> {
        let deadline = Instant::now() + within;
        loop {
            let at = self.height().await.unwrap_or(0);
            if at >= h {
                return Ok(at);
            }
            if Instant::now() >= deadline {
                return Err(at);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `abci_query` as sent: at `height` (latest if `None`), with a proof
    /// if `prove`.
    pub async fn abci_query(&self, path: &str, data: &[u8], at: Option<u64>, prove: bool) -> Result<AbciQuery, Error> {
        self.call(self.http.abci_query(Some(path.into()), data.to_vec(), at.map(height), prove)).await
    }

    /// An app query at the latest height, its value as JSON.
    pub async fn query(&self, path: &str, data: &[u8]) -> Result<Value, QueryError> {
        let r = self.abci_query(path, data, None, false).await.map_err(|e| QueryError::NoAnswer(e.to_string()))?;
        if r.code.is_err() {
            return Err(QueryError::Refused { code: r.code.value(), log: r.log });
        }
        serde_json::from_slice(&r.value).map_err(|e| QueryError::NotJson(e.to_string()))
    }

    /// The raw value under `key` in the app's store (`/store`), empty if
    /// there is none.
    pub async fn store(&self, key: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.abci_query("/store", key, None, false).await?.value)
    }

    pub async fn broadcast_tx_commit(&self, tx: Vec<u8>) -> Result<tx_commit::Response, Error> {
        self.call(self.http.broadcast_tx_commit(tx)).await
    }

    pub async fn broadcast_tx_sync(&self, tx: Vec<u8>) -> Result<tx_sync::Response, Error> {
        self.call(self.http.broadcast_tx_sync(tx)).await
    }

    pub async fn tx(&self, hash: tendermint::Hash, prove: bool) -> Result<tx::Response, Error> {
        self.call(self.http.tx(hash, prove)).await
    }

    /// The first page (`per_page` long) of `tx_search`, oldest first,
    /// without proofs.
    pub async fn tx_search(&self, query: Query, per_page: u8) -> Result<tx_search::Response, Error> {
        self.call(self.http.tx_search(query, false, 1, per_page, Order::Ascending)).await
    }

    pub async fn block(&self, h: u64) -> Result<block::Response, Error> {
        self.call(self.http.block(height(h))).await
    }

    pub async fn block_results(&self, h: u64) -> Result<block_results::Response, Error> {
        self.call(self.http.block_results(height(h))).await
    }

    pub async fn commit(&self, h: u64) -> Result<commit::Response, Error> {
        self.call(self.http.commit(height(h))).await
    }

    /// Every validator at height `h`.
    pub async fn validators(&self, h: u64) -> Result<validators::Response, Error> {
        self.call(self.http.validators(height(h), Paging::All)).await
    }
}

/// Waits until every node reports at least height `h`, for at most
/// `within`; the heights last seen if some did not get there (0 for a node
/// that did not answer, whose error is printed).
pub async fn wait_all(nodes: &[Rpc], h: u64, within: Duration) -> Result<(), Vec<u64>> {
    let deadline = Instant::now() + within;
    loop {
        let mut hs = Vec::new();
        for n in nodes {
            hs.push(n.height().await.unwrap_or_else(|e| {
                eprintln!("status from {}: {e}", n.url());
                0
            }));
        }
        if hs.iter().all(|x| *x >= h) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(hs);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
