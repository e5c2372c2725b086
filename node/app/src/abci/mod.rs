//! The application (ABCI 2.0) over the Merkle store: opening, InitChain,
//! FinalizeBlock and Commit here; CheckTx in `check`, proposals in
//! `proposal`, the CometBFT socket face in `socket`.
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kawase_primitives::{Changes, Delta, StateWrite};
use kawase_state::{PreparedCommit, Snapshot, Storage, StorageConfig, StorageError};
use tendermint_proto::v0_38::abci::{
    RequestFinalizeBlock, RequestInitChain, RequestQuery, ResponseCommit, ResponseFinalizeBlock, ResponseInitChain,
    ResponseQuery,
};

mod check;
mod proposal;
mod socket;

pub use check::PrecheckedTx;
pub use proposal::take_for_proposal;
use socket::{block_time_nanos, exec_result, fatal};

use crate::exec::{self, BlockInfo, TxOutcome};
use crate::genesis::{read_chain, AppState};
use crate::registry::Registry;
use crate::tx_cache::TxCache;
use crate::tx_index::{replaces_index_entry, TxRecord};
use crate::{state_key, Params, Zone};

/// Node-side settings of the application (not consensus-relevant).
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Directory of the RocksDB state store.
    pub db_path: PathBuf,
    /// Keep this many recent versions queryable; `None` keeps all.
    pub keep_recent: Option<u64>,
    /// Check the money invariants at the end of every block (on by default
    /// in debug builds).
    pub check_invariants: bool,
}

impl AppConfig {
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        AppConfig { db_path: db_path.into(), keep_recent: None, check_invariants: cfg!(debug_assertions) }
    }
}

/// Failures of the application itself (as opposed to a transaction's).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A read failed underneath block execution (latched by the overlay):
    /// the block cannot be executed here, and must not be given a result.
    #[error(transparent)]
    StorageFault(#[from] exec::StorageFault),
    #[error("state: {0}")]
    State(String),
    #[error("the chain is already initialised (height {0})")]
    AlreadyInitialised(u64),
    #[error("the chain is not initialised: InitChain first")]
    NotInitialised,
    #[error("invalid genesis: {0}")]
    Genesis(String),
    #[error("block height {got} is not the next height {expected}")]
    WrongHeight { expected: u64, got: u64 },
    #[error("commit without a finalized block")]
    NothingToCommit,
    #[error("invariant violated after block {height}: {what}")]
    Invariant { height: u64, what: String },
    #[error("module registry: {0}")]
    Registry(String),
}

#[derive(Clone, Debug)]
struct Chain {
    chain_id: String,
    zone: Zone,
    params: Params,
}

struct Pending {
    height: u64,
    time_nanos: u64,
    prepared: PreparedCommit,
}

struct Inner {
    storage: Storage,
    config: AppConfig,
    chain: Option<Chain>,
    /// Genesis state written by InitChain; it is committed with the first
    /// block, so a crash before that simply repeats InitChain.
    genesis: Option<Changes>,
    pending: Option<Pending>,
}

/// CheckTx's own state, under its own lock so that CheckTx runs while a
/// block executes (which holds `Inner`). Lock order: `Inner` before
/// `CheckView`; Commit takes both and resets the view.
struct CheckView {
    /// Committed state plus the transactions CheckTx accepted since the
    /// last commit.
    state: Delta<Snapshot>,
    /// The height the view's transactions would run at (committed + 1).
    height: u64,
    /// Header time of the last committed block (CheckTx's clock for IBC
    /// timeouts); read once from the store after a restart.
    time_nanos: Option<u64>,
}

impl CheckView {
    fn at(storage: &Storage) -> CheckView {
        CheckView {
            state: Delta::new(storage.latest()),
            height: storage.latest_version().unwrap_or(0) + 1,
            time_nanos: None,
        }
    }
}

/// The application. Clones share one state (the ABCI server clones it per
/// connection). Block calls take `inner`, so they are serialised; CheckTx
/// takes only `view`.
#[derive(Clone)]
pub struct App {
    inner: Arc<Mutex<Inner>>,
    /// CheckTx's view (see [`CheckView`]).
    view: Arc<Mutex<CheckView>>,
    /// Transactions this node decoded, with their valid signature checks.
    txs: Arc<Mutex<TxCache>>,
    /// The chain's identity and parameters once known, readable without
    /// the lock (CheckTx's lock-free half); fixed for the App's life.
    chain: Arc<std::sync::OnceLock<Chain>>,
    /// The same store, for queries: they read committed versions only, so
    /// they need not wait for the block or CheckTx holding `inner`.
    storage: Storage,
    /// The modules this chain runs, in execution order.
    registry: Arc<Registry>,
}

/// Committed height and app hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedState {
    pub height: u64,
    pub app_hash: [u8; 32],
}

impl App {
    /// Opens the app with the standard modules.
    pub fn open(config: AppConfig) -> Result<App, AppError> {
        Self::open_with(config, crate::modules::standard())
    }

    /// Opens the app with `registry`'s modules (a chain with another module
    /// set, or a test's).
    pub fn open_with(config: AppConfig, registry: Arc<Registry>) -> Result<App, AppError> {
        registry.validate().map_err(AppError::Registry)?;
        let storage = Storage::open(&config.db_path, StorageConfig { keep_recent: config.keep_recent })?;
        let latest = storage.latest();
        let chain = read_chain(&latest).map_err(AppError::State)?.map(|(chain_id, zone, params)| Chain {
            chain_id,
            zone,
            params,
        });
        let view = CheckView::at(&storage);
        let chain_cell = Arc::new(std::sync::OnceLock::new());
        if let Some(c) = &chain {
            let _ = chain_cell.set(c.clone());
        }
        Ok(App {
            chain: chain_cell,
            storage: storage.clone(),
            registry,
            view: Arc::new(Mutex::new(view)),
            txs: Arc::default(),
            inner: Arc::new(Mutex::new(Inner { storage, config, chain, genesis: None, pending: None })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock means a consensus-critical failure;
        // the state behind it is still the last committed one.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_view(&self) -> MutexGuard<'_, CheckView> {
        // A CheckTx that panicked left at most a pending transaction's
        // changes, which the next Commit drops with the view.
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn storage(&self) -> Storage {
        self.storage.clone()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn chain_id(&self) -> Option<String> {
        self.lock().chain.as_ref().map(|c| c.chain_id.clone())
    }

    /// The chain's parameters (block limits), once InitChain has run.
    pub fn params(&self) -> Option<Params> {
        self.lock().chain.as_ref().map(|c| c.params.clone())
    }

    pub fn zone(&self) -> Option<Zone> {
        self.lock().chain.as_ref().map(|c| c.zone)
    }

    pub fn committed(&self) -> Result<CommittedState, AppError> {
        let inner = self.lock();
        match inner.storage.latest_version() {
            None => Ok(CommittedState { height: 0, app_hash: Storage::empty_root() }),
            Some(h) => Ok(CommittedState { height: h, app_hash: inner.storage.app_hash(h)? }),
        }
    }

    /// InitChain: writes the genesis state (pending until block 1 commits)
    /// and returns its root as the initial app hash.
    pub fn try_init_chain(&self, req: RequestInitChain) -> Result<ResponseInitChain, AppError> {
        let mut inner = self.lock();
        if let Some(h) = inner.storage.latest_version() {
            return Err(AppError::AlreadyInitialised(h));
        }
        if req.initial_height > 1 {
            return Err(AppError::Genesis("initial_height other than 1 is not supported".into()));
        }
        let app_state: AppState =
            serde_json::from_slice(&req.app_state_bytes).map_err(|e| AppError::Genesis(format!("app_state: {e}")))?;
        let mut delta = Delta::new(inner.storage.latest());
        app_state.apply_with(&req.chain_id, &mut delta, &self.registry).map_err(AppError::Genesis)?;
        let changes = delta.into_changes();
        let root = kawase_state::app_hash(inner.storage.prepare(1, &changes)?.root_hash());
        let chain = Chain { chain_id: req.chain_id.clone(), zone: app_state.zone, params: app_state.params.clone() };
        // A repeated InitChain (crash before block 1) may only repeat the same chain.
        if let Some(known) = self.chain.get() {
            if known.chain_id != chain.chain_id || known.zone != chain.zone {
                return Err(AppError::Genesis("InitChain again with another chain id or zone".into()));
            }
        }
        let _ = self.chain.set(chain.clone());
        inner.chain = Some(chain);
        // Transactions may reach CheckTx before block 1 commits the genesis.
        {
            let mut view = self.lock_view();
            *view = CheckView::at(&inner.storage);
            view.state.apply(changes.clone());
        }
        inner.genesis = Some(changes);
        inner.pending = None;
        tracing::info!(chain_id = %req.chain_id, zone = app_state.zone.as_str(), app_hash = %hex::encode_upper(root), "genesis");
        Ok(ResponseInitChain {
            consensus_params: None,
            validators: req.validators,
            app_hash: Bytes::copy_from_slice(&root),
        })
    }

    /// FinalizeBlock: executes the block on an overlay, computes the new app
    /// hash, and holds the result until Commit.
    pub fn try_finalize_block(&self, req: RequestFinalizeBlock) -> Result<ResponseFinalizeBlock, AppError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let chain = inner.chain.clone().ok_or(AppError::NotInitialised)?;
        let expected = inner.storage.latest_version().unwrap_or(0) + 1;
        let height = u64::try_from(req.height).unwrap_or(0);
        if height != expected || inner.pending.is_some() {
            return Err(AppError::WrongHeight { expected, got: height });
        }
        let block = BlockInfo {
            chain_id: chain.chain_id.clone(),
            zone: chain.zone,
            height,
            block_time_secs: req.time.as_ref().map(|t| t.seconds).unwrap_or(0),
            block_time_nanos: req.time.as_ref().map(block_time_nanos).unwrap_or(0),
        };
        // The header's app hash: the state after the previous block.
        let header_app_hash = match inner.storage.latest_version() {
            Some(h) => inner.storage.app_hash(h)?,
            None => match &inner.genesis {
                Some(g) => kawase_state::app_hash(inner.storage.prepare(1, g)?.root_hash()),
                None => return Err(AppError::NotInitialised),
            },
        };
        let mut state = Delta::new(inner.storage.latest());
        if let Some(genesis) = inner.genesis.clone() {
            state.apply(genesis);
        }
        let header = kawase_primitives::BlockHeader {
            block: &block,
            last_app_hash: header_app_hash,
            next_validators_hash: &req.next_validators_hash,
        };
        self.registry.begin_block(&mut state, &header).map_err(|e| exec::StorageFault(e.0))?;
        let prepared = exec::prepare_block(&self.registry, &state, &chain.chain_id, &chain.params, &req.txs, &self.txs);
        let mut tx_results = Vec::with_capacity(req.txs.len());
        let mut executed = Vec::with_capacity(req.txs.len());
        for (index, p) in prepared.into_iter().enumerate() {
            let (hash, outcome) = match p.decoded {
                Ok(tx) => (Some(tx.hash), exec::run_tx(&self.registry, &mut state, &tx, &block, p.sig)?),
                Err(f) => (None, TxOutcome { result: Err(f), events: Vec::new() }),
            };
            let hash = hash.unwrap_or_else(|| crate::tx::tx_hash(&req.txs[index]));
            executed.push(hash);
            if replaces_index_entry(&state, &hash, outcome.result.is_ok())? {
                let record = TxRecord::new(&hash, height, index as u32, &outcome);
                state.put_nonverifiable(state_key::tx_result(&hash), prost::Message::encode_to_vec(&record));
            }
            tx_results.push(exec_result(&outcome));
        }
        self.registry.end_block(&mut state, &block).map_err(|e| exec::StorageFault(e.0))?;
        if let Some(e) = state.fault() {
            return Err(exec::StorageFault(e.to_string()).into());
        }
        {
            let mut cache = exec::lock(&self.txs);
            for hash in &executed {
                cache.remove(hash);
            }
        }
        // In the same atomic commit as the state: the block store re-derives
        // its results from this after a crash before it wrote them.
        state.put_nonverifiable(state_key::last_block_results().to_vec(), crate::results::encode(height, &tx_results));
        state.put_nonverifiable(state_key::last_block_time().to_vec(), block.block_time_nanos.to_be_bytes().to_vec());
        if inner.config.check_invariants {
            self.registry.check_invariants(&state).map_err(|what| AppError::Invariant { height, what })?;
        }
        let changes = state.into_changes();
        let commit = inner.storage.prepare(height, &changes)?;
        let app_hash = kawase_state::app_hash(commit.root_hash());
        inner.pending = Some(Pending { height, time_nanos: block.block_time_nanos, prepared: commit });
        Ok(ResponseFinalizeBlock {
            events: Vec::new(),
            tx_results,
            validator_updates: Vec::new(),
            consensus_param_updates: None,
            app_hash: Bytes::copy_from_slice(&app_hash),
        })
    }

    /// Commit: writes the finalized block atomically and resets the
    /// mempool view.
    pub fn try_commit(&self) -> Result<ResponseCommit, AppError> {
        let mut inner = self.lock();
        let pending = inner.pending.take().ok_or(AppError::NothingToCommit)?;
        // No CheckTx between the commit and the view's reset: it would run
        // on the old view at a height that is now committed.
        let mut view = self.lock_view();
        inner.storage.commit(pending.prepared)?;
        inner.genesis = None;
        *view = CheckView::at(&inner.storage);
        view.time_nanos = Some(pending.time_nanos);
        tracing::debug!(height = pending.height, "committed");
        Ok(ResponseCommit { retain_height: 0 })
    }

    /// Where a committed transaction is, from the one transaction index
    /// (written in the state's atomic commit; first occurrence, or the
    /// success that replaced a failure that did nothing).
    pub fn tx_location(&self, hash: &[u8; 32]) -> Result<Option<(u64, u32)>, AppError> {
        crate::tx_index::location(&self.storage.latest(), hash)
    }

    pub fn query_request(&self, req: &RequestQuery) -> ResponseQuery {
        crate::query::handle(&self.storage, &self.registry, req)
    }
}
