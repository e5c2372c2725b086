//! Drives the ABCI application from Malachite: a proposal is built from the
//! mempool (PrepareProposal), a received block is checked (ProcessProposal),
//! and a decided block is stored, executed (FinalizeBlock) and committed.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kawase_app::App;
use malachitebft_app_channel::app::config::{
    ConsensusConfig, P2pConfig, PubSubProtocol, TimeoutConfig, ValuePayload, ValueSyncConfig,
};
use malachitebft_app_channel::app::engine::host::Next;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{CommitCertificate, Round, Validity};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use tendermint::block::Block;
use tendermint::{chain, Time};
use tendermint_proto::v0_38::abci::ResponseFinalizeBlock;

use crate::block::{self, BlockContext, Tip};
use crate::engine::ZoneNode;
pub use crate::engine::{EngineConfig, Handle, KeyFile};
use crate::mempool::Mempool;
use crate::privval::PrivValidator;
use crate::store::BlockStore;
use crate::streams::{fin_digest, Assembled, Limits, ProposalStreams};
use crate::types::{
    Address, BorshCodec, Height, PrivateKey, ProposalInit, ProposalPart, ValidatorSet, Value, ZoneContext,
};

/// Proposal data is streamed in chunks of this size.
const CHUNK: usize = 1 << 20;

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

/// State shared with RPC and the mempool gossip.
pub struct Shared {
    pub app: App,
    pub store: BlockStore,
    pub mempool: Arc<Mempool>,
    pub chain_id: chain::Id,
    pub validators: ValidatorSet,
    pub validator_address: Address,
    pub events: tokio::sync::broadcast::Sender<CommittedBlock>,
    pub status: Mutex<ConsensusStatus>,
    pub metrics: crate::metrics::Metrics,
}

impl Shared {
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
                p2p: p2p_config(&settings)?,
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

    let tip_height = tip.height;
    let mut driver = Driver {
        shared: shared.clone(),
        chain_id: settings.chain_id.clone(),
        consensus_hash: block::consensus_hash(&settings.consensus_params),
        validators_hash: settings.validators.hash(),
        key: settings.validator_key.clone(),
        address: validator_address,
        tip,
        timeout_commit: settings.timeout_commit,
        max_clock_drift: settings.max_clock_drift,
        undecided: BTreeMap::new(),
        streams: ProposalStreams::new(
            settings.validators.clone(),
            Limits::for_block_size(usize::try_from(settings.consensus_params.block.max_bytes).unwrap_or(usize::MAX)),
            tip_height,
        ),
        stream_nonce: 0,
    };
    let driver = tokio::spawn(async move { driver.run(channels).await });
    Ok(Running { shared, engine: handle, driver })
}

fn to_multiaddr(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v4) => format!("/ip4/{}/tcp/{}", v4.ip(), v4.port()),
        std::net::SocketAddr::V6(v6) => format!("/ip6/{}/tcp/{}", v6.ip(), v6.port()),
    }
}

fn p2p_config(settings: &NodeSettings) -> Result<P2pConfig, NodeError> {
    let bad = |e: String| NodeError::Engine(format!("p2p address: {e}"));
    let max_block = settings.consensus_params.block.max_bytes;
    Ok(P2pConfig {
        listen_addr: to_multiaddr(&settings.p2p_laddr)
            .parse::<multiaddr::Multiaddr>()
            .map_err(|e| bad(e.to_string()))?,
        persistent_peers: settings
            .persistent_peers
            .iter()
            .map(|p| to_multiaddr(p).parse::<multiaddr::Multiaddr>().map_err(|e| bad(e.to_string())))
            .collect::<Result<_, _>>()?,
        protocol: PubSubProtocol::default(),
        // Sync responses carry whole blocks.
        rpc_max_size: bytesize::ByteSize::b(max_block + (4 << 20)),
        pubsub_max_size: bytesize::ByteSize::mib(4),
        ..P2pConfig::default()
    })
}

struct Driver {
    shared: Arc<Shared>,
    chain_id: chain::Id,
    consensus_hash: tendermint::Hash,
    /// Hash of the (fixed) validator set, computed once.
    validators_hash: tendermint::Hash,
    key: PrivateKey,
    address: Address,
    tip: Tip,
    timeout_commit: Duration,
    max_clock_drift: Duration,
    /// Proposals seen (built or received) by height and round.
    undecided: BTreeMap<(u64, i64), Vec<ProposedValue<ZoneContext>>>,
    /// Part streams being reassembled, and proposals for later heights.
    streams: ProposalStreams<PeerId>,
    stream_nonce: u64,
}

impl Driver {
    fn block_ctx(&self) -> BlockContext<'_> {
        BlockContext {
            chain_id: &self.chain_id,
            validators: &self.shared.validators,
            consensus_hash: self.consensus_hash,
            validators_hash: self.validators_hash,
        }
    }

    fn expected_proposer(&self, height: Height, round: Round) -> Address {
        let set = &self.shared.validators.validators;
        set[ZoneContext::proposer_index(set.len(), height, round)].address
    }

    async fn run(&mut self, mut channels: Channels<ZoneContext>) -> Result<(), NodeError> {
        while let Some(msg) = channels.consensus.recv().await {
            match msg {
                AppMsg::ConsensusReady { reply } => {
                    let _ = reply.send((Height(self.tip.height + 1), self.shared.validators.clone()));
                }
                AppMsg::StartedRound { height, round, proposer, role: _, reply_value } => {
                    tracing::debug!(%height, %round, %proposer, "round started");
                    self.shared.update_status(|s| {
                        s.working_height = height.0;
                        s.round = round.as_i64();
                    });
                    self.shared.metrics.round.store(round.as_i64().max(0) as u64, std::sync::atomic::Ordering::Relaxed);
                    let mut values = self.undecided.get(&(height.0, round.as_i64())).cloned().unwrap_or_default();
                    // Proposals that arrived before we reached this height.
                    for a in self.streams.take_ready(height, round) {
                        if let Some(pv) = self.accept_assembled(a) {
                            values.push(pv);
                        }
                    }
                    let _ = reply_value.send(values);
                }
                AppMsg::GetValue { height, round, timeout: _, reply } => {
                    // A proposer asked again (e.g. after a restart) proposes
                    // the same block: a second one would be a double sign.
                    let built = match self.shared.store.own_proposal(height.0, round.as_i64())? {
                        Some(id) => self.shared.store.pending(height.0, &id)?.map(|b| (Value(id), b)),
                        None => None,
                    };
                    let (value, encoded) = match built {
                        Some(v) => v,
                        None => self.build_proposal(height, round)?,
                    };
                    let _ = reply.send(LocallyProposedValue::new(height, round, value));
                    self.stream(&channels, height, round, Round::Nil, encoded, value.0.parts_hash).await;
                }
                AppMsg::ExtendVote { reply, .. } => {
                    let _ = reply.send(None);
                }
                AppMsg::VerifyVoteExtension { reply, .. } => {
                    let _ = reply.send(Ok(()));
                }
                AppMsg::RestreamProposal { height, round, valid_round, address: _, value_id } => {
                    if let Some(bytes) = self.shared.store.pending(height.0, &value_id)? {
                        self.stream(&channels, height, round, valid_round, bytes, value_id.parts_hash).await;
                    }
                }
                AppMsg::GetHistoryMinHeight { reply } => {
                    let _ = reply.send(Height(1));
                }
                AppMsg::ReceivedProposalPart { from, part, reply } => {
                    let pv = self.received_part(from, part);
                    let _ = reply.send(pv);
                }
                AppMsg::GetValidatorSet { height: _, reply } => {
                    let _ = reply.send(Some(self.shared.validators.clone()));
                }
                AppMsg::Decided { certificate, extensions: _, reply } => {
                    let height = certificate.height;
                    match self.decided(certificate).await {
                        Ok(()) => {
                            if !self.timeout_commit.is_zero() {
                                tokio::time::sleep(self.timeout_commit).await;
                            }
                            let _ =
                                reply.send(Next::Start(Height(self.tip.height + 1), self.shared.validators.clone()));
                        }
                        Err(e @ (NodeError::Store(_) | NodeError::App(_) | NodeError::Inconsistent(_))) => {
                            // The app or disk failed mid-commit: continuing could fork.
                            tracing::error!(%height, error = %e, "commit failed; stopping");
                            return Err(e);
                        }
                        Err(e) => {
                            tracing::warn!(%height, error = %e, "commit failed; restarting the height");
                            let _ = reply.send(Next::Restart(height, self.shared.validators.clone()));
                        }
                    }
                }
                AppMsg::GetDecidedValue { height, reply } => {
                    let raw = match (self.shared.store.certificate(height.0)?, self.shared.store.block_bytes(height.0)?)
                    {
                        (Some(certificate), Some(bytes)) => {
                            Some(RawDecidedValue { certificate, value_bytes: Bytes::from(bytes) })
                        }
                        _ => None,
                    };
                    let _ = reply.send(raw);
                }
                AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                    self.shared.update_status(|s| s.catching_up = true);
                    let pv = match block::decode_block(&value_bytes) {
                        Ok(blk) if blk.header.height.value() == height.0 => {
                            let id = block::value_id(&blk, &value_bytes);
                            self.shared.store.put_pending(height.0, &id, &value_bytes)?;
                            // A synced block comes with a quorum certificate the
                            // engine checks: it is decided whatever we think of it,
                            // so a disagreement here means our own state is off.
                            if height.0 == self.tip.height + 1 {
                                if let Err(e) = block::validate_block(&self.block_ctx(), &self.tip, &blk, None, None) {
                                    tracing::error!(%height, error = %e, "synced block disagrees with local state");
                                }
                            }
                            Some(ProposedValue {
                                height,
                                round,
                                valid_round: Round::Nil,
                                proposer,
                                value: Value(id),
                                validity: Validity::Valid,
                            })
                        }
                        _ => None,
                    };
                    let _ = reply.send(pv);
                }
            }
        }
        Err(NodeError::Engine("consensus channel closed".into()))
    }

    /// PrepareProposal: mempool transactions within the block limits, on
    /// top of our tip, stamped with our clock (strictly after the tip).
    fn build_proposal(&mut self, height: Height, round: Round) -> Result<(Value, Vec<u8>), NodeError> {
        let params = self.shared.app.params().unwrap_or_else(kawase_app::Params::standard);
        let txs = self.shared.mempool.reap(params.max_block_txs as usize, params.max_block_bytes as usize);
        let mut time = Time::now();
        if let Some(prev) = self.tip.time {
            if time <= prev {
                time = (prev + Duration::from_millis(1)).unwrap_or(prev);
            }
        }
        let blk = block::build_block(&self.block_ctx(), &self.tip, self.address, time, txs);
        let encoded = block::encode_block(&blk);
        let id = block::value_id(&blk, &encoded);
        // Crash order (commit.rs, step 1): pending block, then the fsynced
        // own-proposal record, both before the engine signs the proposal.
        self.shared.store.put_pending(height.0, &id, &encoded)?;
        crate::crash::point("after-pending", height.0);
        self.shared.store.put_own_proposal(height.0, round.as_i64(), &id)?;
        crate::crash::point("after-own-proposal", height.0);
        let pv = ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer: self.address,
            value: Value(id),
            validity: Validity::Valid,
        };
        self.undecided.entry((height.0, round.as_i64())).or_default().push(pv);
        tracing::info!(%height, %round, txs = blk.data.len(), bytes = encoded.len(), "proposing");
        Ok((Value(id), encoded))
    }

    async fn stream(
        &mut self,
        channels: &Channels<ZoneContext>,
        height: Height,
        round: Round,
        pol_round: Round,
        encoded: Vec<u8>,
        parts_hash: [u8; 32],
    ) {
        let init = ProposalInit { height, round, pol_round, proposer: self.address };
        let signature = self.key.sign(&fin_digest(&init, &parts_hash));
        self.stream_nonce += 1;
        let mut id = Vec::with_capacity(24);
        id.extend_from_slice(&height.0.to_be_bytes());
        id.extend_from_slice(&round.as_i64().to_be_bytes());
        id.extend_from_slice(&self.stream_nonce.to_be_bytes());
        let stream_id = StreamId::new(Bytes::from(id));
        let mut parts = vec![ProposalPart::Init(init)];
        parts.extend(encoded.chunks(CHUNK).map(|c| ProposalPart::Data(c.to_vec())));
        parts.push(ProposalPart::Fin(signature));
        let n = parts.len() as u64;
        for (seq, part) in parts.into_iter().enumerate() {
            let msg = StreamMessage::new(stream_id.clone(), seq as u64, StreamContent::Data(part));
            if channels.network.send(NetworkMsg::PublishProposalPart(msg)).await.is_err() {
                return;
            }
        }
        let _ = channels
            .network
            .send(NetworkMsg::PublishProposalPart(StreamMessage::new(stream_id, n, StreamContent::Fin)))
            .await;
    }

    /// Reassembles parts (bounded per peer, see `streams.rs`); a complete,
    /// correctly signed proposal for the next height is checked and handed
    /// to consensus.
    fn received_part(&mut self, from: PeerId, msg: StreamMessage<ProposalPart>) -> Option<ProposedValue<ZoneContext>> {
        let a = self.streams.receive(from, msg)?;
        self.accept_assembled(a)
    }

    /// ProcessProposal for a block at the next height.
    fn accept_assembled(&mut self, a: Assembled) -> Option<ProposedValue<ZoneContext>> {
        let Assembled { init, encoded, parts_hash } = a;
        let blk = match block::decode_block(&encoded) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(proposer = %init.proposer, error = %e, "undecodable proposal");
                return None;
            }
        };
        let id = block::value_id_with_parts(&blk, parts_hash);
        let max_time = (Time::now() + self.max_clock_drift).ok();
        let expected = self.expected_proposer(init.height, init.round);
        // A re-proposal (pol_round set) carries the block of an earlier round,
        // built by that round's proposer.
        let proposer = if init.pol_round == Round::Nil { Some(expected) } else { None };
        let checked = block::validate_block(&self.block_ctx(), &self.tip, &blk, proposer, max_time).and_then(|()| {
            let txs: Vec<Bytes> = blk.data.iter().map(|t| Bytes::from(t.clone())).collect();
            if self.shared.app.proposal_is_valid(&txs) {
                Ok(())
            } else {
                Err("transactions exceed block limits or do not decode".into())
            }
        });
        if let Err(e) = &checked {
            tracing::warn!(height = %init.height, round = %init.round, proposer = %init.proposer, error = %e, "rejecting proposal");
        }
        if let Err(e) = self.shared.store.put_pending(init.height.0, &id, &encoded) {
            tracing::error!(error = %e, "storing proposal");
            return None;
        }
        let pv = ProposedValue {
            height: init.height,
            round: init.round,
            valid_round: init.pol_round,
            proposer: init.proposer,
            value: Value(id),
            validity: Validity::from_bool(checked.is_ok()),
        };
        self.undecided.entry((init.height.0, init.round.as_i64())).or_default().push(pv.clone());
        Some(pv)
    }

    /// Stores the decided block durably, executes and commits it, indexes
    /// its results and tells the mempool and subscribers.
    async fn decided(&mut self, cert: CommitCertificate<ZoneContext>) -> Result<(), NodeError> {
        let height = cert.height.0;
        if height != self.tip.height + 1 {
            return Err(NodeError::Inconsistent(format!("decided height {height} after {}", self.tip.height)));
        }
        let id = cert.value_id;
        let encoded = self
            .shared
            .store
            .pending(height, &id)?
            .ok_or_else(|| NodeError::Engine(format!("decided block {id:?} at {height} is unknown here")))?;
        let blk = block::decode_block(&encoded).map_err(NodeError::Inconsistent)?;
        // Crash order (commit.rs, steps 3-6): decided block (fsync), app
        // commit, block-store results, recheck, then subscribers.
        self.shared.store.put_decided(height, &encoded, &id, &cert)?;
        crate::crash::point("after-decided", height);
        let shared = self.shared.clone();
        let blk = Arc::new(blk);
        let blk2 = blk.clone();
        let results = tokio::task::spawn_blocking(move || -> Result<ResponseFinalizeBlock, NodeError> {
            crate::commit::execute(&shared.app, &shared.store, &blk2, &id, Some(&shared.mempool))
        })
        .await
        .map_err(|e| NodeError::Engine(e.to_string()))??;

        let prev_time = self.tip.time;
        self.tip = Tip {
            height,
            block_id: Some(id.block_id()),
            time: Some(blk.header.time),
            app_hash: results.app_hash.to_vec(),
            results_hash: block::results_hash(&results.tx_results),
            last_commit: Some(block::commit_from_certificate(&cert, &self.shared.validators)),
        };
        self.undecided = self.undecided.split_off(&(height + 1, i64::MIN));
        self.streams.set_tip(height);
        self.shared.update_status(|s| {
            s.height = height;
            s.block_hash = Some(id.block_id().hash);
            s.app_hash = results.app_hash.to_vec();
            s.block_time = Some(blk.header.time);
            s.working_height = height + 1;
            s.catching_up = false;
        });
        self.shared.metrics.record_block(height, blk.data.len(), prev_time, blk.header.time);
        tracing::info!(height, txs = blk.data.len(), round = %cert.round, app_hash = %hex::encode_upper(&results.app_hash), "committed");
        let _ =
            self.shared.events.send(CommittedBlock { block: blk, block_id: id.block_id(), results: Arc::new(results) });
        Ok(())
    }
}
