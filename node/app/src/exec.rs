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
            m.execute(&cell, block.side(), &block.host())?;
            let changes = cell.into_inner().into_changes();
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
                kawase_ibc::dispatch(&mut host, &mut routes, msg)?;
            }
            let changes = cell.into_inner().into_changes();
            kawase_primitives::write_changes(state, changes);
            Ok(())
        }
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

/// Ante checks in an order that reveals account status only to the key
/// holder: account exists, sequence, signature, then active.
/// `sig_verified` is `Some(true)` when the signature was already checked
/// against this account's (immutable) account number.
fn ante<S: StateRead>(state: &S, tx: &DecodedTx, block: &BlockInfo, sig_verified: Option<bool>) -> Result<(), Failure> {
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
    let ok = match sig_verified {
        Some(v) => v,
        None => tx.verify_signature(&block.chain_id, account.number),
    };
    if !ok {
        return Err(TxError::InvalidSignature { account_number: account.number }.into());
    }
    account.ensure_active()?;
    Ok(())
}

/// Runs one decoded transaction on `state`.
///
/// A transaction that fails the ante phase changes nothing. One that passes
/// it consumes its sequence number even if a message then fails, so a
/// failed payment can never be replayed later; the failing messages'
/// writes are dropped with their overlay.
pub fn run_tx<B: StateRead>(
    state: &mut Delta<B>,
    tx: &DecodedTx,
    block: &BlockInfo,
    sig_verified: Option<bool>,
) -> TxOutcome {
    if let Err(f) = ante(&*state, tx, block, sig_verified) {
        return TxOutcome::failed(f);
    }
    if let Err(e) = state.bump_sequence(&tx.signer) {
        return TxOutcome::failed(e.into());
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
        if let Err(f) = dispatch(&mut overlay, msg, &ctx, block) {
            return TxOutcome { result: Err(f), events: vec![sender] };
        }
    }
    let mut changes = overlay.into_changes();
    let mut events = vec![sender];
    events.extend(changes.take_events());
    state.apply(changes);
    TxOutcome { result: Ok(()), events }
}

/// A block transaction after the parallel stateless pass.
pub struct Prepared {
    pub decoded: Result<DecodedTx, Failure>,
    /// Signature already verified against the committed account number.
    pub sig_verified: Option<bool>,
}

/// Decodes a block's transactions and verifies their signatures on all
/// cores before the sequential pass. Account numbers never change once
/// assigned, so a check against the committed account holds for the
/// whole block; accounts created in this block are checked inline.
///
/// `verified` holds hashes of transactions whose signature this node already
/// checked in CheckTx (against the same immutable account number); they are
/// not verified twice.
pub fn prepare_block<S: StateRead + Sync, T: AsRef<[u8]> + Sync>(
    state: &S,
    chain_id: &str,
    params: &Params,
    txs: &[T],
    verified: &SigCache,
) -> Vec<Prepared> {
    let work = |raw: &T| -> Prepared {
        let decoded = DecodedTx::decode(raw.as_ref(), params);
        let sig_verified = decoded.as_ref().ok().and_then(|tx| {
            if verified.contains(&tx.hash) {
                return Some(true);
            }
            let acct = state.account(&tx.signer).ok()??;
            Some(tx.verify_signature(chain_id, acct.number))
        });
        Prepared { decoded, sig_verified }
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

/// Hashes of transactions whose signatures CheckTx verified, bounded
/// (oldest forgotten first), so a block of mempool transactions skips its
/// most expensive check. Node-local: it changes no result, only the work.
#[derive(Default)]
pub struct SigCache {
    set: std::collections::HashSet<[u8; 32]>,
    order: std::collections::VecDeque<[u8; 32]>,
}

impl SigCache {
    const CAPACITY: usize = 200_000;

    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.set.contains(hash)
    }

    pub fn insert(&mut self, hash: [u8; 32]) {
        if self.set.insert(hash) {
            self.order.push_back(hash);
            while self.order.len() > Self::CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    /// Forgets committed transactions (they will not be seen again).
    pub fn remove(&mut self, hash: &[u8; 32]) {
        self.set.remove(hash);
    }
}
