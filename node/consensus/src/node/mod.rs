//! Drives the ABCI application from Malachite: a proposal is built from the
//! mempool (PrepareProposal), a received block is checked (ProcessProposal),
//! and a decided block is stored, executed (FinalizeBlock) and committed.
//!
//! This file is what the rest of the node sees: the settings `start` takes,
//! the state shared with RPC, and `start` itself (recovery, then the engine
//! and the driver task). The driver's loop is in `driver.rs`, its steps in
//! `propose.rs`, `receive.rs` and `decide.rs`, the p2p config in `p2p.rs`.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kawase_app::App;
use malachitebft_app_channel::app::config::{ConsensusConfig, TimeoutConfig, ValuePayload, ValueSyncConfig};
use tendermint::block::Block;
use tendermint::{chain, Time};
use tendermint_proto::v0_38::abci::ResponseFinalizeBlock;

use crate::engine::ZoneNode;
pub use crate::engine::{EngineConfig, Handle, KeyFile};
use crate::mempool::Mempool;
use crate::privval::PrivValidator;
use crate::store::BlockStore;
use crate::types::{Address, BorshCodec, Height, PrivateKey, ValidatorSet, ZoneContext};

mod decide;
mod driver;
mod p2p;
mod propose;
mod receive;
#[cfg(test)]
mod tests;

use driver::Driver;

/// Everything `kawased start` read from the home directory.
pub struct NodeSettings {
    pub moniker: String,
    /// `HOME/data`: block store, WAL, privval state.
    pub data_dir: PathBuf,
    pub chain_id: chain::Id,
    pub genesis_time: Time,
    pub app_state_bytes: Vec<u8>,
    pub consensus_params: tendermint::consensus::Params,
    pub validators: ValidatorSet,
    pub validator_key: PrivateKey,
    /// The libp2p identity (from `node_key.json`).
    pub node_key: [u8; 32],
    pub p2p_laddr: std::net::SocketAddr,
    pub persistent_peers: Vec<std::net::SocketAddr>,
    pub timeouts: TimeoutConfig,
    /// Pause after a commit before the next height starts, to gather
    /// transactions (CometBFT's `timeout_commit`).
    pub timeout_commit: Duration,
    /// Largest clock skew allowed for a proposed block's time.
    pub max_clock_drift: Duration,
}

/// Emitted after every committed block (RPC subscriptions, `tx_commit`).
#[derive(Clone, Debug)]
pub struct CommittedBlock {
    pub block: Arc<Block>,
    pub block_id: tendermint::block::Id,
    pub results: Arc<ResponseFinalizeBlock>,
}

/// What RPC reports about consensus.
#[derive(Clone, Debug, Default)]
pub struct ConsensusStatus {
    pub height: u64,
    pub block_hash: Option<tendermint::Hash>,
    pub app_hash: Vec<u8>,
    pub block_time: Option<Time>,
    /// Height and round consensus is working on.
    pub working_height: u64,
    pub round: i64,
    pub catching_up: bool,
}

/// State shared with RPC and the mempool gossip. The application type is
/// `App` everywhere but in the driver's tests.
pub struct Shared<A = App> {
    pub app: A,
    pub store: BlockStore,
    pub mempool: Arc<Mempool<A>>,
    pub chain_id: chain::Id,
    pub validators: ValidatorSet,
    pub validator_address: Address,
    pub events: tokio::sync::broadcast::Sender<CommittedBlock>,
    pub status: Mutex<ConsensusStatus>,
    pub metrics: crate::metrics::Metrics,
}

impl<A> Shared<A> {
    pub fn status(&self) -> ConsensusStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn update_status(&self, f: impl FnOnce(&mut ConsensusStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    App(#[from] kawase_app::AppError),
    #[error(transparent)]
    Privval(#[from] crate::privval::PrivvalError),
    #[error("block store and state disagree: {0}")]
    Inconsistent(String),
    #[error("consensus engine: {0}")]
    Engine(String),
}

/// A running node: the engine, the driver task and the shared state.
pub struct Running {
    pub shared: Arc<Shared>,
    pub engine: Handle,
    pub driver: tokio::task::JoinHandle<Result<(), NodeError>>,
}

/// Opens the stores, initialises or replays the app, and starts consensus.
pub async fn start(settings: NodeSettings, app: App, mempool: Arc<Mempool>) -> Result<Running, NodeError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| NodeError::Engine(e.to_string()))?;
    crate::crash::announce();
    let store = BlockStore::open(&settings.data_dir.join("blockstore"))?;
    let tip = crate::commit::recover(&settings, &app, &store)?;
    tracing::info!(height = tip.height, app_hash = %hex::encode_upper(&tip.app_hash), "state recovered");

    let privval = Arc::new(PrivValidator::open(
        settings.validator_key.clone(),
        &settings.data_dir.join("priv_validator_state.json"),
    )?);
    let validator_address = Address::from_public_key(&settings.validator_key.public_key());
    let (events, _) = tokio::sync::broadcast::channel(256);
    let shared = Arc::new(Shared {
        app: app.clone(),
        store: store.clone(),
        mempool,
        chain_id: settings.chain_id.clone(),
        validators: settings.validators.clone(),
        validator_address,
        events,
        status: Mutex::new(ConsensusStatus {
            height: tip.height,
            block_hash: tip.block_id.map(|b| b.hash),
            app_hash: tip.app_hash.clone(),
            block_time: tip.time,
            working_height: tip.height + 1,
            round: 0,
            catching_up: false,
        }),
        metrics: crate::metrics::Metrics::default(),
    });

    let node = ZoneNode {
        data_dir: settings.data_dir.clone(),
        config: EngineConfig {
            moniker: settings.moniker.clone(),
            consensus: ConsensusConfig {
                timeouts: settings.timeouts,
                p2p: p2p::p2p_config(&settings)?,
                value_payload: ValuePayload::ProposalAndParts,
                queue_capacity: 100,
            },
            value_sync: ValueSyncConfig {
                status_update_interval: Duration::from_secs(1),
                request_timeout: Duration::from_secs(5),
                ..ValueSyncConfig::default()
            },
        },
        key: settings.validator_key.clone(),
        node_key: settings.node_key,
        privval,
        chain_id: settings.chain_id.clone(),
    };
    let ctx = ZoneContext::new(settings.chain_id.clone());
    let start_height = Height(tip.height + 1);
    let (channels, engine) = malachitebft_app_channel::start_engine(
        ctx,
        node.clone(),
        node.config.clone(),
        BorshCodec,
        BorshCodec,
        Some(start_height),
        settings.validators.clone(),
    )
    .await
    .map_err(|e| NodeError::Engine(e.to_string()))?;
    let handle = Handle { engine, events: channels.events.clone() };

    let mut driver: Driver<App> = Driver::new(shared.clone(), &settings, tip);
    let driver = tokio::spawn(async move { driver.run(channels).await });
    Ok(Running { shared, engine: handle, driver })
}
