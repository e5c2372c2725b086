//! One zone as the relayer sees it: its RPC, its chain id and the relayer's
//! account there. Everything is read from the chain; nothing is cached
//! across restarts.
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use kawase_client::{build_tx, Key, TxParams};
use kawase_ibc::ibc_proto::google::protobuf::Any;
use kawase_ibc::ibc_proto::ibc::core::commitment::v1::MerkleProof;
use kawase_tls::ClientTls;
use prost::Message;
use tendermint::block::signed_header::SignedHeader;
use tendermint::validator::Set as ValidatorSet;
use tendermint_rpc::client::CompatMode;
use tendermint_rpc::{Client, HttpClient, Paging};

/// A transaction's outcome as the relayer needs it.
#[derive(Debug)]
pub struct Delivered {
    /// The block that committed the transaction.
    pub height: u64,
    pub events: Vec<tendermint::abci::Event>,
}

pub struct Chain {
    pub name: &'static str,
    pub chain_id: String,
    /// The RPC address as configured (for messages).
    pub url: String,
    /// How `rpc` reaches the zone, for another signer's client of it.
    pub tls: ClientTls,
    pub rpc: HttpClient,
    pub key: Key,
    /// The relayer account's number and next sequence, tracked locally and
    /// re-read from the chain after a mismatch. The lock is held for a whole
    /// submission, so one key's transactions never race each other.
    account: tokio::sync::Mutex<Option<(u64, u64)>>,
}

#[derive(serde::Deserialize)]
struct AccountJson {
    number: u64,
    sequence: u64,
}

impl Chain {
    /// A zone's RPC; an `https://` URL is trusted only through `tls.ca`
    /// (the consortium CA), never the system roots.
    pub fn new(name: &'static str, chain_id: String, url: &str, tls: &ClientTls, key: Key) -> Result<Chain> {
        let parsed = url.parse().with_context(|| format!("{name} rpc url `{url}`"))?;
        if url.starts_with("https://") && tls.ca.is_none() {
            bail!("[{name}] rpc {url} speaks TLS: set ca_file to the CA that issued its certificate");
        }
        let rpc = kawase_tls::rpc_client(parsed, tls, Duration::from_secs(30), CompatMode::default())
            .map_err(|e| anyhow!("{name} rpc client: {e} [{}]", e.code()))?;
        Ok(Chain {
            name,
            chain_id,
            url: url.to_owned(),
            tls: tls.clone(),
            rpc,
            key,
            account: tokio::sync::Mutex::new(None),
        })
    }

    /// `FZ` or `BZ`, for messages.
    pub fn label(&self) -> String {
        self.name.to_uppercase()
    }

    /// An RPC failure as an operator reads it: a node that cannot be
    /// connected to or does not answer in time is named with its address;
    /// anything else keeps the RPC's message (the details are at debug).
    pub fn rpc_err(&self, what: impl std::fmt::Display, e: tendermint_rpc::Error) -> anyhow::Error {
        use tendermint_rpc::error::ErrorDetail;
        let text = e.to_string();
        tracing::debug!("{} {what}: {text}", self.name);
        match e.detail() {
            ErrorDetail::Http(_) | ErrorDetail::Timeout(_) if text.contains("timed out") => {
                anyhow!("the {} at {} did not answer in time ({what})", self.label(), self.url)
            }
            ErrorDetail::Http(_) if text.contains("connect") => {
                anyhow!("cannot reach the {} at {}: is it running?", self.label(), self.url)
            }
            ErrorDetail::Io(_) => anyhow!("cannot reach the {} at {}: is it running?", self.label(), self.url),
            _ => anyhow!("{} {what}: {e}", self.name),
        }
    }

    /// The latest committed height.
    pub async fn height(&self) -> Result<u64> {
        let st = self.rpc.status().await.map_err(|e| self.rpc_err("status", e))?;
        if st.node_info.network.as_str() != self.chain_id {
            bail!("{}: node is on chain `{}`, config says `{}`", self.name, st.node_info.network, self.chain_id);
        }
        Ok(st.sync_info.latest_block_height.value())
    }

    /// Waits until the chain has committed `h`.
    pub async fn wait_for_height(&self, h: u64) -> Result<()> {
        for _ in 0..600 {
            if self.height().await? >= h {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{}: height {h} not reached in 60 s", self.name)
    }

    /// Header and commit at `h`, and the validator set that signed it.
    pub async fn light_block(&self, h: u64) -> Result<(SignedHeader, ValidatorSet)> {
        let height = tendermint::block::Height::try_from(h)?;
        let commit = self.rpc.commit(height).await.map_err(|e| self.rpc_err(format_args!("commit {h}"), e))?;
        let vals = self.validators(h).await?;
        Ok((commit.signed_header, vals))
    }

    pub async fn validators(&self, h: u64) -> Result<ValidatorSet> {
        let height = tendermint::block::Height::try_from(h)?;
        let v = self
            .rpc
            .validators(height, Paging::All)
            .await
            .map_err(|e| self.rpc_err(format_args!("validators {h}"), e))?;
        Ok(ValidatorSet::without_proposer(v.validators))
    }

    /// The header time of block `h`.
    pub async fn time_at(&self, h: u64) -> Result<tendermint::Time> {
        let height = tendermint::block::Height::try_from(h)?;
        Ok(self
            .rpc
            .commit(height)
            .await
            .map_err(|e| self.rpc_err(format_args!("commit {h}"), e))?
            .signed_header
            .header
            .time)
    }

    /// An ABCI query at `height` (0 = latest); returns `(value, height)`.
    pub async fn query(&self, path: &str, data: Vec<u8>, height: u64) -> Result<(Vec<u8>, u64)> {
        let h = if height == 0 { None } else { Some(tendermint::block::Height::try_from(height)?) };
        let r = self.rpc.abci_query(Some(path.to_owned()), data, h, false).await.map_err(|e| self.rpc_err(path, e))?;
        if r.code.is_err() {
            bail!("{} query {path}: {} ({}/{})", self.name, r.log, r.codespace, r.code.value());
        }
        Ok((r.value, r.height.value()))
    }

    /// A store value at state version `height` with its IBC proof; the
    /// proof is against the app hash in header `height + 1`.
    pub async fn query_proof(&self, key: &str, height: u64) -> Result<(Vec<u8>, Vec<u8>)> {
        let h = tendermint::block::Height::try_from(height)?;
        let r = self
            .rpc
            .abci_query(Some("/store".to_owned()), key.as_bytes().to_vec(), Some(h), true)
            .await
            .map_err(|e| self.rpc_err(format_args!("proof of {key}"), e))?;
        if r.code.is_err() {
            bail!("{} proof of {key} at {height}: {}", self.name, r.log);
        }
        let ops = r.proof.ok_or_else(|| anyhow!("{}: no proof for {key}", self.name))?;
        let mut proofs = Vec::with_capacity(ops.ops.len());
        for op in ops.ops {
            proofs.push(kawase_ibc::ibc_proto::ics23::CommitmentProof::decode(op.data.as_slice())?);
        }
        Ok((r.value, MerkleProof { proofs }.encode_to_vec()))
    }

    /// For each of `keys`, the value of `prefix + key` at state version
    /// `height` and its IBC proof (as [`Chain::query_proof`]), in one
    /// `/store/proofs` query (at most 256 keys). The answer must name the
    /// asked keys in order; the proofs themselves are the receiving zone's
    /// to verify.
    pub async fn query_proofs(&self, prefix: &str, keys: &[String], height: u64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        #[derive(serde::Deserialize)]
        struct Item {
            key: String,
            value: String,
            proof_ops: Vec<String>,
        }
        let req = serde_json::json!({ "prefix": prefix, "keys": keys });
        let (v, answered) = self.query("/store/proofs", serde_json::to_vec(&req)?, height).await?;
        if answered != height {
            bail!("{}: proofs asked at {height}, answered at {answered}", self.name);
        }
        let items: Vec<Item> = serde_json::from_slice(&v).with_context(|| format!("{}: proofs answer", self.name))?;
        if items.len() != keys.len() {
            bail!("{}: {} proofs asked, {} answered", self.name, keys.len(), items.len());
        }
        let mut out = Vec::with_capacity(items.len());
        for (item, k) in items.into_iter().zip(keys) {
            if item.key != format!("{prefix}{k}") {
                bail!("{}: proof of {} answered for {prefix}{k}", self.name, item.key);
            }
            let mut proofs = Vec::with_capacity(item.proof_ops.len());
            for op in &item.proof_ops {
                proofs.push(kawase_ibc::ibc_proto::ics23::CommitmentProof::decode(hex::decode(op)?.as_slice())?);
            }
            out.push((hex::decode(&item.value)?, MerkleProof { proofs }.encode_to_vec()));
        }
        Ok(out)
    }

    async fn fetch_account(&self) -> Result<(u64, u64)> {
        let (v, _) = self.query("/accounts/account", self.key.address().to_string().into_bytes(), 0).await?;
        let a: AccountJson = serde_json::from_slice(&v)?;
        Ok((a.number, a.sequence))
    }

    /// Fails with the module's code if a committed transaction failed.
    fn ensure_delivered(&self, r: &tendermint::abci::types::ExecTxResult) -> Result<()> {
        if r.code.is_err() {
            bail!("{} transaction failed: {} ({}/{})", self.name, r.log, r.codespace, r.code.value());
        }
        Ok(())
    }

    /// A signed transaction carrying `msgs`.
    fn sign(&self, account_number: u64, sequence: u64, msgs: &[Any]) -> Result<Vec<u8>> {
        let params = TxParams {
            chain_id: self.chain_id.clone(),
            account_number,
            sequence,
            memo: String::new(),
            timeout_height: 0,
        };
        let cosmos_msgs: Vec<cosmrs_any::Any> =
            msgs.iter().map(|m| cosmrs_any::Any { type_url: m.type_url.clone(), value: m.value.clone() }).collect();
        Ok(build_tx(&self.key, &params, cosmos_msgs)?)
    }

    /// Signs and submits `msgs` in one transaction and waits for its block.
    /// A sequence mismatch (another process used the key, or a restart)
    /// re-reads the account from the chain and retries once.
    pub async fn submit(&self, msgs: Vec<Any>) -> Result<Delivered> {
        let mut account = self.account.lock().await;
        for attempt in 0..2 {
            let (number, sequence) = match *account {
                Some(a) => a,
                None => self.fetch_account().await?,
            };
            let tx = self.sign(number, sequence, &msgs)?;
            let r = self.rpc.broadcast_tx_commit(tx).await.map_err(|e| self.rpc_err("broadcast", e))?;
            if r.check_tx.code.is_err() {
                *account = None;
                if r.check_tx.codespace == "tx" && r.check_tx.code.value() == 6 && attempt == 0 {
                    continue;
                }
                bail!(
                    "{} refused the transaction: {} ({}/{})",
                    self.name,
                    r.check_tx.log,
                    r.check_tx.codespace,
                    r.check_tx.code.value()
                );
            }
            *account = Some((number, sequence + 1));
            self.ensure_delivered(&r.tx_result)?;
            return Ok(Delivered { height: r.height.value(), events: r.tx_result.events });
        }
        bail!("{}: sequence mismatch persisted", self.name)
    }

    /// Signs and broadcasts one transaction per batch (consecutive
    /// sequences, `broadcast_tx_sync`: each passed CheckTx) and returns
    /// their hashes without waiting for a block. The key is held until all
    /// are broadcast, so another submission with it cannot interleave.
    pub async fn broadcast_many(&self, batches: Vec<Vec<Any>>) -> Result<Vec<tendermint::Hash>> {
        let mut account = self.account.lock().await;
        let (number, mut sequence) = match *account {
            Some(a) => a,
            None => self.fetch_account().await?,
        };
        let mut hashes = Vec::with_capacity(batches.len());
        for msgs in batches {
            let tx = self.sign(number, sequence, &msgs)?;
            let r = self.rpc.broadcast_tx_sync(tx).await.map_err(|e| self.rpc_err("broadcast", e))?;
            if r.code.is_err() {
                *account = None;
                bail!("{} refused a transaction: {} ({}/{})", self.name, r.log, r.codespace, r.code.value());
            }
            sequence += 1;
            *account = Some((number, sequence));
            hashes.push(r.hash);
        }
        Ok(hashes)
    }

    /// Waits until the transactions `hashes` are committed (30 s at most
    /// for all of them: one that never commits, e.g. behind a sequence gap,
    /// must not hold the lane for long); what each delivered, or the first
    /// that failed.
    pub async fn await_commits(&self, hashes: Vec<tendermint::Hash>) -> Result<Vec<Delivered>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut out = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let r = loop {
                match self.rpc.tx(hash, false).await {
                    Ok(r) => break r,
                    Err(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => bail!("{}: transaction {hash} not committed in 30 s: {e}", self.name),
                }
            };
            self.ensure_delivered(&r.tx_result)?;
            out.push(Delivered { height: r.height.value(), events: r.tx_result.events });
        }
        Ok(out)
    }

    /// Forgets the tracked account sequence, so the next submission reads
    /// it from the chain (after a broadcast transaction failed to commit).
    pub async fn resync(&self) {
        *self.account.lock().await = None;
    }

    /// Transactions matching an event query, oldest first.
    pub async fn search(&self, query: &str) -> Result<Vec<tendermint_rpc::endpoint::tx::Response>> {
        let q: tendermint_rpc::query::Query = query.parse().map_err(|e| anyhow!("query `{query}`: {e}"))?;
        let r = self
            .rpc
            .tx_search(q, false, 1, 100, tendermint_rpc::Order::Ascending)
            .await
            .map_err(|e| self.rpc_err("tx_search", e))?;
        Ok(r.txs)
    }
}

/// cosmrs's `Any` is prost's too; this alias keeps the conversion explicit.
mod cosmrs_any {
    pub use kawase_client::CosmosAny as Any;
}

/// The value of attribute `key` of the first event of kind `kind`.
pub fn event_attr(events: &[tendermint::abci::Event], kind: &str, key: &str) -> Option<String> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .flat_map(|e| e.attributes.iter())
        .find(|a| a.key_str().ok() == Some(key))
        .and_then(|a| a.value_str().ok().map(str::to_owned))
}
