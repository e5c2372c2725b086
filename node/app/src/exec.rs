//! Executing transactions against state: the ante phase and message
//! dispatch in module order. Shared by CheckTx, FinalizeBlock and tests.
use kawase_accounts::{StateReadExt as _, StateWriteExt as _};
use std::cell::RefCell;

use kawase_primitives::{Context, Delta, Event, StateRead, StateWrite};
use kawase_token::TokenHoldings;

use crate::tx::{AppMsg, DecodedTx};
use crate::{Failure, Params, TxError};

/// Outcome of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    pub result: Result<(), Failure>,
    pub events: Vec<Event>,
}

impl TxOutcome {
    fn failed(f: Failure) -> Self {
        TxOutcome { result: Err(f), events: Vec::new() }
    }
}

/// Where a transaction runs.
#[derive(Clone, Debug)]
pub struct BlockInfo {
    pub chain_id: String,
    pub zone: crate::Zone,
    pub height: u64,
    pub block_time_secs: i64,
    /// Header time in nanoseconds since the epoch (IBC timeouts).
    pub block_time_nanos: u64,
}

impl BlockInfo {
    fn side(&self) -> kawase_settlement::Side {
        match self.zone {
            crate::Zone::Fz => kawase_settlement::Side::Fz,
            crate::Zone::Bz => kawase_settlement::Side::Bz,
        }
    }

    fn host(&self) -> kawase_ibc::HostBlock {
        kawase_ibc::HostBlock {
            chain_id: self.chain_id.clone(),
            height: self.height,
            time_nanos: self.block_time_nanos,
        }
    }
}

/// Money an account can hold in any module (FZ tokens and reservations, BZ
/// balances and holds): an account holding any cannot be closed.
struct AnyHoldings;

impl<S: StateRead + ?Sized> kawase_accounts::HoldingsCheck<S> for AnyHoldings {
    fn holds_funds(&self, state: &S, a: &kawase_primitives::Address) -> Result<bool, kawase_accounts::Error> {
        Ok(TokenHoldings.holds_funds(state, a)? || kawase_settlement::BzHoldings.holds_funds(state, a)?)
    }
}

/// The module list: every message goes to its module here, in one place.
fn dispatch<S: StateWrite>(state: &mut S, msg: &AppMsg, ctx: &Context, block: &BlockInfo) -> Result<(), Failure> {
    match msg {
        AppMsg::Accounts(m) => m.execute(state, ctx, &AnyHoldings).map_err(Failure::from),
        AppMsg::Token(_) if block.zone == crate::Zone::Bz => Err(kawase_token::Error::WrongZone.into()),
        AppMsg::Token(m) => m.execute(state, ctx).map_err(Failure::from),
        AppMsg::Settlement(m) => {
            let cell = RefCell::new(Delta::new(&*state));
            let result = m.execute(&cell, block.side(), &block.host());
            let delta = cell.into_inner();
            fault_as_failure(&delta)?;
            result?;
            let changes = delta.into_changes();
            kawase_primitives::write_changes(state, changes);
            Ok(())
        }
        AppMsg::Ibc(any) => {
            ensure_relayer(&*state, &ctx.signer)?;
            let cell = RefCell::new(Delta::new(&*state));
            {
                let mut host = kawase_ibc::IbcHost::new(&cell, &block.host(), ctx.signer)?;
                let app = kawase_settlement::SettlementApp::new(&cell, block.side());
                let port = kawase_ibc::ibc::core::host::types::identifiers::PortId::new(
                    kawase_ibc::SETTLEMENT_PORT.to_owned(),
                )
                .expect("`settlement` is a valid port id");
                let mut routes = kawase_ibc::Routes::default().add(port, Box::new(app));
                let msg = kawase_ibc::ibc_proto::google::protobuf::Any {
                    type_url: any.type_url.clone(),
                    value: any.value.clone(),
                };
                let result = kawase_ibc::dispatch(&mut host, &mut routes, msg);
                fault_as_failure(&cell.borrow())?;
                result?;
            }
            let changes = cell.into_inner().into_changes();
            kawase_primitives::write_changes(state, changes);
            Ok(())
        }
    }
}

/// A storage failure latched in a handler's overlay (ibc-rs and the IBC
/// callbacks turn errors into their own types or acknowledgements) comes
/// back as a storage failure, which `run_tx` turns into a halt.
fn fault_as_failure<B: StateRead>(delta: &Delta<B>) -> Result<(), Failure> {
    match delta.fault() {
        Some(e) => Err(Failure::from_err(&kawase_settlement::Error::Storage(e.clone()))),
        None => Ok(()),
    }
}

/// IBC messages come from registered relayers (or the admin): the zones are
/// permissioned, and a stranger must not be able to create clients or open
/// channels. Proofs, not the relayer, make packets trustworthy.
fn ensure_relayer<S: StateRead>(state: &S, signer: &kawase_primitives::Address) -> Result<(), Failure> {
    use kawase_accounts::Role;
    let a = state.existing_account(signer)?;
    if a.role == Role::Relayer || state.is_admin(signer)? {
        return Ok(());
    }
    Err(kawase_accounts::Error::Unauthorized(format!("{signer} is not a relayer")).into())
}

/// What is already known about a transaction's signature when the ante
/// phase runs. The sign doc covers the chain id and the account number, so a
/// result is reused only for the exact account number it was checked against
/// (and, for the cache, the chain id): a cache or a pre-check skips work but
/// can never change a result.
#[derive(Clone, Copy)]
pub enum SigCheck<'a> {
    /// Verify against the account found in state.
    Verify,
    /// Verified against `account_number` (the committed account's, outside
    /// the app lock or on all cores); reused only if the signer still has
    /// that number, verified again otherwise.
    Checked { account_number: u64, valid: bool },
    /// This node's record of signatures it verified, each with the account
    /// number and chain id it was verified against.
    Cached(&'a SigCache),
}

/// Ante checks in an order that reveals account status only to the key
/// holder: account exists, sequence, signature, then active.
fn ante<S: StateRead>(state: &S, tx: &DecodedTx, block: &BlockInfo, sig: SigCheck<'_>) -> Result<(), Failure> {
    if tx.chain_id != block.chain_id {
        return Err(TxError::WrongChainId {
            expected: block.chain_id.clone(),
            got: tx.chain_id.chars().take(64).collect(),
        }
        .into());
    }
    if tx.timeout_height != 0 && block.height > tx.timeout_height {
        return Err(TxError::TimedOut { timeout: tx.timeout_height, height: block.height }.into());
    }
    let account = state.existing_account(&tx.signer)?;
    if tx.sequence != account.sequence {
        return Err(TxError::WrongSequence { expected: account.sequence, got: tx.sequence }.into());
    }
    let ok = match sig {
        SigCheck::Checked { account_number, valid } if account_number == account.number => valid,
        SigCheck::Cached(cache) if cache.contains(&tx.hash, account.number, &block.chain_id) => true,
        _ => tx.verify_signature(&block.chain_id, account.number),
    };
    if !ok {
        return Err(TxError::InvalidSignature { account_number: account.number }.into());
    }
    account.ensure_active()?;
    Ok(())
}

/// A storage failure met while running a transaction. It is never a
/// transaction result: another node's store may not fail the same way, so
/// recording it would fork the chain. Block execution halts on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("storage failure while executing a transaction: {0}")]
pub struct StorageFault(pub String);

/// Fails with the fault if `f` is a storage failure.
fn no_fault(f: Failure) -> Result<Failure, StorageFault> {
    if f.storage_fault {
        Err(StorageFault(f.log))
    } else {
        Ok(f)
    }
}

/// Runs one decoded transaction on `state`.
///
/// A transaction that fails the ante phase changes nothing. One that passes
/// it consumes its sequence number even if a message then fails, so a
/// failed payment can never be replayed later; the failing messages'
/// writes are dropped with their overlay.
///
/// A storage failure anywhere underneath (a failed read latched by an
/// overlay, or a module's storage error) is returned as `Err`, whatever the
/// handler made of it.
pub fn run_tx<B: StateRead>(
    state: &mut Delta<B>,
    tx: &DecodedTx,
    block: &BlockInfo,
    sig: SigCheck<'_>,
) -> Result<TxOutcome, StorageFault> {
    let outcome = run_tx_unchecked(state, tx, block, sig)?;
    match state.fault() {
        Some(e) => Err(StorageFault(e.to_string())),
        None => Ok(outcome),
    }
}

fn run_tx_unchecked<B: StateRead>(
    state: &mut Delta<B>,
    tx: &DecodedTx,
    block: &BlockInfo,
    sig: SigCheck<'_>,
) -> Result<TxOutcome, StorageFault> {
    if let Err(f) = ante(&*state, tx, block, sig) {
        return Ok(TxOutcome::failed(no_fault(f)?));
    }
    if let Err(e) = state.bump_sequence(&tx.signer) {
        return Ok(TxOutcome::failed(no_fault(e.into())?));
    }
    let ctx = Context {
        chain_id: block.chain_id.clone(),
        height: block.height,
        block_time_secs: block.block_time_secs,
        signer: tx.signer,
    };
    // Who sent it, for indexers (`tx_search "message.sender='…'"`), also on
    // a transaction whose messages then fail.
    let sender = Event::new("message").attr("sender", tx.signer.to_string());
    let mut overlay = Delta::new(&*state);
    for msg in &tx.msgs {
        let result = dispatch(&mut overlay, msg, &ctx, block);
        if let Some(e) = overlay.fault() {
            return Err(StorageFault(e.to_string()));
        }
        if let Err(f) = result {
            return Ok(TxOutcome { result: Err(no_fault(f)?), events: vec![sender] });
        }
    }
    let mut changes = overlay.into_changes();
    let mut events = vec![sender];
    events.extend(changes.take_events());
    state.apply(changes);
    Ok(TxOutcome { result: Ok(()), events })
}

/// A block transaction after the parallel stateless pass.
pub struct Prepared<'a> {
    pub decoded: Result<DecodedTx, Failure>,
    /// What the parallel pass learnt about the signature.
    pub sig: SigCheck<'a>,
}

/// Decodes a block's transactions and verifies their signatures on all
/// cores before the sequential pass. Account numbers never change once
/// assigned, so a check against the committed account holds for the
/// whole block (and `ante` still compares the number); accounts created in
/// this block are checked inline.
///
/// `verified` holds the signatures this node already checked in CheckTx,
/// each with the account number and chain id it was checked against; a
/// signature is skipped only when both match the committed account.
pub fn prepare_block<'c, S: StateRead + Sync, T: AsRef<[u8]> + Sync>(
    state: &S,
    chain_id: &str,
    params: &Params,
    txs: &[T],
    verified: &'c SigCache,
) -> Vec<Prepared<'c>> {
    let work = |raw: &T| -> Prepared<'c> {
        let decoded = DecodedTx::decode(raw.as_ref(), params);
        let sig = match decoded.as_ref().map(|tx| (tx, state.account(&tx.signer))) {
            Ok((tx, Ok(Some(acct)))) => SigCheck::Checked {
                account_number: acct.number,
                valid: verified.contains(&tx.hash, acct.number, chain_id) || tx.verify_signature(chain_id, acct.number),
            },
            // Created in this block (or unreadable: the sequential pass
            // reads it again and reports): checked inline.
            _ => SigCheck::Cached(verified),
        };
        Prepared { decoded, sig }
    };
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    if workers <= 1 || txs.len() < 64 {
        return txs.iter().map(work).collect();
    }
    let chunk = txs.len().div_ceil(workers);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            txs.chunks(chunk).map(|c| s.spawn(move || c.iter().map(work).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("decode workers do not panic")).collect()
    })
}

/// Signatures this node verified in CheckTx, bounded (oldest forgotten
/// first), so a block of mempool transactions skips its most expensive
/// check. Each entry records what the signature was checked against (the
/// account number and the chain id, both in the sign doc): a lookup hits
/// only for the same transaction, number and chain, so the cache changes
/// the work, never a result.
#[derive(Default)]
pub struct SigCache {
    checked: std::collections::HashMap<[u8; 32], Checked>,
    order: std::collections::VecDeque<[u8; 32]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Checked {
    account_number: u64,
    chain: [u8; 32],
}

fn chain_digest(chain_id: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(chain_id.as_bytes()).into()
}

impl SigCache {
    const CAPACITY: usize = 200_000;

    /// Whether the signature of `tx_hash` was verified valid against this
    /// account number and chain id.
    pub fn contains(&self, tx_hash: &[u8; 32], account_number: u64, chain_id: &str) -> bool {
        self.checked.get(tx_hash) == Some(&Checked { account_number, chain: chain_digest(chain_id) })
    }

    /// Records a valid signature and what it was verified against.
    pub fn insert(&mut self, tx_hash: [u8; 32], account_number: u64, chain_id: &str) {
        let entry = Checked { account_number, chain: chain_digest(chain_id) };
        if self.checked.insert(tx_hash, entry).is_none() {
            self.order.push_back(tx_hash);
            while self.order.len() > Self::CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.checked.remove(&old);
                }
            }
        }
    }

    /// Forgets committed transactions (they will not be seen again).
    pub fn remove(&mut self, tx_hash: &[u8; 32]) {
        self.checked.remove(tx_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::SigCache;

    #[test]
    fn the_signature_cache_hits_only_for_the_same_account_number_and_chain() {
        let mut c = SigCache::default();
        c.insert([1; 32], 7, "fz");
        assert!(c.contains(&[1; 32], 7, "fz"));
        assert!(!c.contains(&[1; 32], 8, "fz"), "another account number");
        assert!(!c.contains(&[1; 32], 7, "bz"), "another chain");
        assert!(!c.contains(&[2; 32], 7, "fz"), "another transaction");
        c.remove(&[1; 32]);
        assert!(!c.contains(&[1; 32], 7, "fz"));
    }
}
