//! The CLI's view of a node: JSON-RPC over HTTP (tendermint-rpc), with every
//! failure turned into one sentence a new user can act on.
use anyhow::{anyhow, bail, Result};
use kawase_tls::ClientTls;
use serde_json::Value;
use tendermint_rpc::client::CompatMode;
use tendermint_rpc::{Client as _, HttpClient};

/// Bound on one call to the node (a commit wait included).
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A refused transaction or query: the module's stable code and its log.
#[derive(Debug)]
pub struct Refused {
    pub codespace: String,
    pub code: u32,
    pub log: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let log = self.log.trim();
        // Our logs already start with `codespace/code:`; don't say it twice.
        let prefix = format!("{}/{}", self.codespace, self.code);
        if log.starts_with(&prefix) {
            write!(f, "{log}")?;
        } else {
            write!(f, "{prefix}: {log}")?;
        }
        if let Some(hint) = hint(&self.codespace, self.code) {
            write!(f, " — {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// What to do about a refusal, for the codes a user can fix themselves.
pub fn hint(codespace: &str, code: u32) -> Option<&'static str> {
    Some(match (codespace, code) {
        ("tx", 4) => "the transaction was signed for another chain: pass the node's --chain-id",
        ("tx", 5) => "the signature does not match: check --from and --chain-id",
        ("tx", 6) => "another transaction from this key got in first: run the command again",
        ("tx", 13) => "the chain has not started: wait for its first block",
        ("accounts", 2) => "check the address (bech32, prefix `kawase`) or the key name",
        ("accounts", 3) => {
            "the account is not registered: its bank must run `kawased tx accounts register-account` first"
        }
        ("accounts", 4) => "the account is frozen: its bank or the admin can `kawased tx accounts unfreeze` it",
        ("accounts", 5) => "the account is closed for good: use another account",
        ("accounts", 6) => "nothing to do: it is registered already",
        ("accounts", 7) => "this key lacks the role for the action: sign with --from the bank or admin key",
        ("accounts", 8) => "the account belongs to another bank: that bank must sign",
        ("accounts", 11) => "move or redeem the account's funds before closing it",
        ("token", 2) => "pass an amount above zero",
        ("token", 3) => "amounts are whole yen written as digits, e.g. 100000",
        ("token", 4) => "the free balance is too small: check it with `kawased query token balance`",
        ("token", 6) => "each bank reference id is single-use: pass a new --reference-id",
        ("token", 7) => "a bank may only issue to or redeem for its own customers",
        ("token", 8) => "this key may not do that: sign with the bank that holds the account",
        ("token", 10) => "sender and receiver are the same account",
        ("token", 11) => "the settlement is larger than what the debtor owes: check `kawased query token positions`",
        ("token", 12) => "each settlement id is single-use: pass a new --settlement-id",
        ("token", 14) => "the payer's reserve on that channel is too small",
        ("settlement", 3) => "link and charge go to the FZ node; pay and discharge go to the BZ node (check --node)",
        ("settlement", 4) => "link the account first: `kawased tx settlement link` on the FZ",
        ("settlement", 5) => "the account is linked already, or its link is still being relayed",
        ("settlement", 6) => "no open settlement channel by that id: `kawase-relayer paths` lists it",
        ("settlement", 7) => {
            "the BZ balance is too small: check `kawased query settlement bz-account`; charge more on the FZ"
        }
        ("settlement", 12) => "payer and payee are the same account",
        ("mempool", 2) => "the node's mempool is full: retry in a moment",
        ("mempool", 3) => "the same transaction is already waiting in the mempool",
        ("query", 4) => "nothing stored under that key: check the address or id",
        ("query", 5) => "that height is not kept by the node (in the future or pruned)",
        _ => return None,
    })
}

pub struct Node {
    pub url: String,
    http: HttpClient,
}

/// Answer of a committed transaction.
#[derive(Debug, serde::Serialize)]
pub struct Committed {
    pub hash: String,
    pub height: u64,
    pub events: Vec<Value>,
}

impl Node {
    /// A client of `url`; an `https://` node is trusted only if `tls.ca`
    /// issued its certificate (never the system roots).
    pub fn new(url: &str, tls: &ClientTls) -> Result<Node> {
        let parsed = url
            .parse()
            .map_err(|_| anyhow!("--node `{url}` is not a valid URL: expected e.g. https://127.0.0.1:26657"))?;
        if url.starts_with("https://") && tls.ca.is_none() {
            bail!(
                "--node {url} speaks TLS: pass --ca-file (or KAWASE_CA_FILE) with the CA that issued its certificate"
            );
        }
        let http = kawase_tls::rpc_client(parsed, tls, CALL_TIMEOUT, CompatMode::default())
            .map_err(|e| anyhow!("TLS client for {url}: {e} [{}]", e.code()))?;
        Ok(Node { url: url.to_string(), http })
    }

    /// Classifies a transport failure: if nothing accepts a TCP connection
    /// at the node's address, say so plainly.
    fn unreachable(&self, e: tendermint_rpc::Error) -> anyhow::Error {
        let detail = e.detail().to_string();
        let first = detail.lines().next().unwrap_or("").trim().to_string();
        if !self.accepts_connections() {
            anyhow!(
                "cannot reach a node at {}: is it running (`kawased devnet` or `kawased start`)? Pass --node URL otherwise",
                self.url
            )
        } else if self.url.starts_with("http://") {
            anyhow!("node at {}: {first} (a node serving TLS needs https:// and --ca-file)", self.url)
        } else {
            anyhow!("node at {}: {first}", self.url)
        }
    }

    fn accepts_connections(&self) -> bool {
        use std::net::ToSocketAddrs;
        let rest = self.url.split_once("://").map(|(_, r)| r).unwrap_or(&self.url);
        let hostport = rest.split('/').next().unwrap_or(rest);
        let hostport = if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:{}", if self.url.starts_with("https") { 443 } else { 80 })
        };
        let Ok(mut addrs) = hostport.to_socket_addrs() else { return false };
        addrs.any(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(3)).is_ok())
    }

    /// The chain id the node serves.
    pub async fn chain_id(&self) -> Result<String> {
        let s = self.http.status().await.map_err(|e| self.unreachable(e))?;
        Ok(s.node_info.network.to_string())
    }

    /// The chain id to sign for: the node's, checked against `--chain-id`
    /// when given, so a wrong id fails before anything is signed.
    pub async fn check_chain_id(&self, wanted: Option<&str>) -> Result<String> {
        let actual = self.chain_id().await?;
        match wanted {
            Some(w) if w != actual => bail!(
                "wrong chain id: the node at {} serves `{actual}`, not `{w}` (pass --chain-id {actual}, or point --node at the other zone)",
                self.url
            ),
            _ => Ok(actual),
        }
    }

    /// A typed ABCI query answered as JSON.
    pub async fn query(&self, path: &str, data: &[u8]) -> Result<Value> {
        let r = self
            .http
            .abci_query(Some(path.into()), data.to_vec(), None, false)
            .await
            .map_err(|e| self.unreachable(e))?;
        if r.code.is_err() {
            return Err(Refused { codespace: r.codespace, code: r.code.value(), log: r.log }.into());
        }
        serde_json::from_slice(&r.value).map_err(|e| anyhow!("node answered {path} with malformed JSON: {e}"))
    }

    /// `(account number, sequence)` of a registered account, or `None`.
    pub async fn account(&self, address: &str) -> Result<Option<(u64, u64)>> {
        match self.query("/accounts/account", address.as_bytes()).await {
            Ok(v) => {
                let n = v["number"].as_u64().ok_or_else(|| anyhow!("account answer lacks `number`"))?;
                let s = v["sequence"].as_u64().ok_or_else(|| anyhow!("account answer lacks `sequence`"))?;
                Ok(Some((n, s)))
            }
            Err(e) => match e.downcast_ref::<Refused>() {
                Some(r) if r.codespace == "query" && r.code == 4 => Ok(None),
                _ => Err(e),
            },
        }
    }

    /// Submits a signed transaction and waits until it is committed.
    pub async fn broadcast_commit(&self, tx: Vec<u8>) -> Result<Committed> {
        let r = self.http.broadcast_tx_commit(tx).await.map_err(|e| match e.detail() {
            tendermint_rpc::error::ErrorDetail::Response(resp) => {
                // Mempool admission errors come back as JSON-RPC errors.
                anyhow!("the node refused the transaction: {}", resp.source)
            }
            _ => self.unreachable(e),
        })?;
        if r.check_tx.code.is_err() {
            return Err(Refused {
                codespace: r.check_tx.codespace,
                code: r.check_tx.code.value(),
                log: r.check_tx.log,
            }
            .into());
        }
        if r.tx_result.code.is_err() {
            return Err(Refused {
                codespace: r.tx_result.codespace,
                code: r.tx_result.code.value(),
                log: r.tx_result.log,
            }
            .into());
        }
        let events = r
            .tx_result
            .events
            .iter()
            .map(|e| {
                let attrs: serde_json::Map<String, Value> = e
                    .attributes
                    .iter()
                    .filter_map(|a| {
                        Some((a.key_str().ok()?.to_string(), Value::String(a.value_str().ok()?.to_string())))
                    })
                    .collect();
                serde_json::json!({ "type": e.kind, "attributes": attrs })
            })
            .collect();
        Ok(Committed { hash: r.hash.to_string(), height: r.height.value(), events })
    }
}
