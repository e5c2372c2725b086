//! The driver against a small in-memory application (no app state store,
//! no genesis): recovery on a fresh chain, ProcessProposal of assembled
//! proposals, and the bookkeeping of a decision. Only the block store is
//! real (in a temporary directory).
#![allow(clippy::unwrap_used)]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kawase_app::{AppError, Failure, Params};
use malachitebft_app_channel::app::config::TimeoutConfig;
use malachitebft_app_channel::app::engine::host::Next;
use malachitebft_core_types::{CommitCertificate, CommitSignature, NilOrVal, Round, Validity, VoteType};
use sha2::Digest;
use tendermint::{chain, Time};
use tendermint_proto::v0_38::abci::{
    ExecTxResult, RequestFinalizeBlock, RequestInitChain, ResponseCommit, ResponseFinalizeBlock, ResponseInitChain,
};

use super::driver::Driver;
use super::{ConsensusStatus, NodeError, NodeSettings, Shared};
use crate::application::Application;
use crate::block;
use crate::mempool::{tx_hash, Mempool, MempoolConfig};
use crate::store::BlockStore;
use crate::streams::Assembled;
use crate::types::{
    Address, Height, PrivateKey, ProposalInit, Validator, ValidatorSet, Value, ValueId, Vote, ZoneContext,
};

const GENESIS_HASH: [u8; 32] = [7; 32];

#[derive(Default)]
struct FakeState {
    /// What `proposal_is_valid` answers.
    reject_proposals: bool,
    committed: u64,
    /// Height and transactions of the block finalized but not committed.
    finalized: Option<(u64, Vec<Bytes>)>,
    /// Transactions of every committed block, in order.
    blocks: Vec<Vec<Bytes>>,
}

/// Accepts every transaction; a block's app hash is its height repeated.
#[derive(Clone, Default)]
struct FakeApp(Arc<Mutex<FakeState>>);

impl FakeApp {
    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().unwrap()
    }
}

fn app_hash(height: u64) -> Vec<u8> {
    vec![height as u8; 32]
}

impl Application for FakeApp {
    type Prechecked = Vec<u8>;

    fn committed_height(&self) -> Result<u64, AppError> {
        Ok(self.state().committed)
    }
    fn try_init_chain(&self, _req: RequestInitChain) -> Result<ResponseInitChain, AppError> {
        Ok(ResponseInitChain { app_hash: Bytes::copy_from_slice(&GENESIS_HASH), ..Default::default() })
    }
    fn try_finalize_block(&self, req: RequestFinalizeBlock) -> Result<ResponseFinalizeBlock, AppError> {
        let height = req.height as u64;
        let tx_results = req.txs.iter().map(|_| ExecTxResult::default()).collect();
        self.state().finalized = Some((height, req.txs));
        Ok(ResponseFinalizeBlock { tx_results, app_hash: app_hash(height).into(), ..Default::default() })
    }
    fn try_commit(&self) -> Result<ResponseCommit, AppError> {
        let mut s = self.state();
        let (height, txs) = s.finalized.take().ok_or(AppError::NothingToCommit)?;
        s.committed = height;
        s.blocks.push(txs);
        Ok(ResponseCommit::default())
    }
    fn finalized_results(&self, _height: u64) -> Result<Option<ResponseFinalizeBlock>, AppError> {
        Ok(None)
    }
    fn params(&self) -> Option<Params> {
        Some(Params::standard())
    }
    fn proposal_is_valid(&self, _txs: &[Bytes]) -> bool {
        !self.state().reject_proposals
    }
    fn precheck_tx(&self, tx: &[u8]) -> Result<Vec<u8>, Failure> {
        Ok(tx.to_vec())
    }
    fn check_prechecked_tx(&self, pre: Vec<u8>) -> Result<[u8; 32], Failure> {
        Ok(tx_hash(&pre))
    }
    fn recheck_tx_bytes(&self, tx: &[u8]) -> Result<[u8; 32], Failure> {
        Ok(tx_hash(tx))
    }
}

fn keys() -> Vec<PrivateKey> {
    (1..=2u8).map(|i| PrivateKey(ed25519_consensus::SigningKey::from([i; 32]))).collect()
}

fn settings(dir: &std::path::Path) -> NodeSettings {
    let keys = keys();
    NodeSettings {
        moniker: "driver-test".into(),
        data_dir: dir.to_path_buf(),
        chain_id: "kawase-driver-test".parse().unwrap(),
        genesis_time: Time::from_unix_timestamp(1_700_000_000, 0).unwrap(),
        app_state_bytes: Vec::new(),
        consensus_params: tendermint::consensus::Params {
            block: tendermint::block::Size { max_bytes: 1 << 20, max_gas: -1, time_iota_ms: 1 },
            evidence: tendermint::evidence::Params {
                max_age_num_blocks: 1000,
                max_age_duration: tendermint::evidence::Duration(Duration::from_secs(3600)),
                max_bytes: 1 << 20,
            },
            validator: tendermint::consensus::params::ValidatorParams {
                pub_key_types: vec![tendermint::public_key::Algorithm::Ed25519],
            },
            version: None,
            abci: Default::default(),
        },
        // Two validators of equal power: the proposer alternates by round.
        validators: ValidatorSet::new(keys.iter().map(|k| Validator::new(k.public_key(), 10)).collect()),
        validator_key: keys[0].clone(),
        node_key: [9; 32],
        p2p_laddr: "127.0.0.1:0".parse().unwrap(),
        persistent_peers: Vec::new(),
        timeouts: TimeoutConfig::default(),
        timeout_commit: Duration::ZERO,
        max_clock_drift: Duration::from_secs(10),
    }
}

/// A driver as `start` builds it, on the fake app and a fresh block store.
fn driver(dir: &std::path::Path, app: &FakeApp) -> Driver<FakeApp> {
    let settings = settings(dir);
    let store = BlockStore::open(&dir.join("blockstore")).unwrap();
    let tip = crate::commit::recover(&settings, app, &store).unwrap();
    let shared = Arc::new(Shared {
        app: app.clone(),
        store,
        mempool: Arc::new(Mempool::new(app.clone(), MempoolConfig::default(), None)),
        chain_id: settings.chain_id.clone(),
        validators: settings.validators.clone(),
        validator_address: Address::from_public_key(&settings.validator_key.public_key()),
        events: tokio::sync::broadcast::channel(16).0,
        status: Mutex::new(ConsensusStatus::default()),
        metrics: crate::metrics::Metrics::default(),
    });
    Driver::new(shared, &settings, tip)
}

/// A block on the driver's tip by `proposer`, as reassembled from its parts.
fn assembled(d: &Driver<FakeApp>, round: Round, pol_round: Round, proposer: Address) -> (Assembled, ValueId) {
    let txs = vec![b"tx-1".to_vec(), b"tx-2".to_vec()];
    let blk = block::build_block(&d.block_ctx(), &d.tip, proposer, Time::now(), txs);
    let encoded = block::encode_block(&blk);
    let id = block::value_id(&blk, &encoded);
    let parts_hash = sha2::Sha256::digest(&encoded).into();
    let init = ProposalInit { height: Height(d.tip.height + 1), round, pol_round, proposer };
    (Assembled { init, encoded, parts_hash }, id)
}

/// Precommits for `id` at `height` by every validator.
fn certificate(chain_id: &chain::Id, id: ValueId, height: u64) -> CommitCertificate<ZoneContext> {
    let commit_signatures = keys()
        .iter()
        .map(|k| {
            let address = Address::from_public_key(&k.public_key());
            let vote = Vote {
                typ: VoteType::Precommit,
                height: Height(height),
                round: Round::new(0),
                value: NilOrVal::Val(id),
                validator_address: address,
                extension: None,
            };
            CommitSignature::new(address, k.sign(&vote.sign_bytes(chain_id)))
        })
        .collect();
    CommitCertificate { height: Height(height), round: Round::new(0), value_id: id, commit_signatures }
}

#[test]
fn a_received_proposal_is_checked_against_the_tip_and_the_application_and_kept_for_its_round() {
    let dir = tempfile::tempdir().unwrap();
    let app = FakeApp::default();
    let mut d = driver(dir.path(), &app);
    // Recovery ran InitChain on the fake app: the tip is its genesis.
    assert_eq!((d.tip.height, d.tip.app_hash.as_slice()), (0, GENESIS_HASH.as_slice()));

    let first = d.expected_proposer(Height(1), Round::new(0));
    let second = d.expected_proposer(Height(1), Round::new(1));
    assert_ne!(first, second);

    // Round 0, by its proposer: valid, stored as pending, remembered.
    let (a, id) = assembled(&d, Round::new(0), Round::Nil, first);
    let encoded = a.encoded.clone();
    let pv = d.accept_assembled(a.clone()).unwrap();
    assert_eq!((pv.value, pv.validity, pv.proposer), (Value(id), Validity::Valid, first));
    assert_eq!(d.shared.store.pending(1, &id).unwrap(), Some(encoded));
    assert_eq!(d.undecided[&(1, 0)], vec![pv.clone()]);

    // The same block in round 1 is not by round 1's proposer...
    let (wrong, _) = assembled(&d, Round::new(1), Round::Nil, first);
    assert_eq!(d.accept_assembled(wrong).unwrap().validity, Validity::Invalid);
    // ...but as a re-proposal of round 0 it is.
    let mut repropose = a.clone();
    repropose.init.round = Round::new(1);
    repropose.init.pol_round = Round::new(0);
    assert_eq!(d.accept_assembled(repropose).unwrap().validity, Validity::Valid);
    assert_eq!(d.undecided[&(1, 1)].len(), 2);

    // What the application refuses is invalid, whatever the header says.
    app.state().reject_proposals = true;
    let (b, _) = assembled(&d, Round::new(2), Round::Nil, first);
    assert_eq!(d.accept_assembled(b).unwrap().validity, Validity::Invalid);
    app.state().reject_proposals = false;

    // Undecodable bytes are dropped without a trace.
    let garbage = Assembled { encoded: b"\x01\x02garbage".to_vec(), ..a };
    assert!(d.accept_assembled(garbage).is_none());
    assert_eq!(d.undecided.values().map(Vec::len).sum::<usize>(), 4);

    // A starting round is handed what was seen for it.
    assert_eq!(d.round_proposals(Height(1), Round::new(0)), vec![pv]);
    assert!(d.round_proposals(Height(1), Round::new(5)).is_empty());
}

#[tokio::test]
async fn a_decision_is_committed_through_the_application_and_moves_the_driver_to_the_next_height() {
    let dir = tempfile::tempdir().unwrap();
    let app = FakeApp::default();
    let mut d = driver(dir.path(), &app);
    let mut events = d.shared.events.subscribe();
    d.shared.mempool.add(b"tx-a".to_vec()).unwrap();

    // Our proposal takes the mempool's transaction; asked again (a restart)
    // we propose the same block.
    let (value, encoded) = d.propose(Height(1), Round::new(0)).unwrap();
    assert_eq!(d.propose(Height(1), Round::new(0)).unwrap(), (value, encoded.clone()));
    assert_eq!(block::decode_block(&encoded).unwrap().data, vec![b"tx-a".to_vec()]);
    assert_eq!(d.undecided[&(1, 0)].len(), 1);

    let cert = certificate(&d.chain_id, value.0, 1);
    d.decided(cert.clone()).await.unwrap();

    // The app ran and committed the block; the mempool forgot its tx.
    assert_eq!(app.state().committed, 1);
    assert_eq!(app.state().blocks, vec![vec![Bytes::from_static(b"tx-a")]]);
    assert_eq!(d.shared.mempool.size(), (0, 0));
    // The driver's tip, its proposals and the reported status moved on.
    assert_eq!(d.tip.height, 1);
    assert_eq!(d.tip.block_id, Some(value.0.block_id()));
    assert_eq!(d.tip.app_hash, app_hash(1));
    assert!(d.undecided.is_empty());
    let status = d.shared.status();
    assert_eq!((status.height, status.working_height, status.app_hash), (1, 2, app_hash(1)));
    assert_eq!(status.block_hash, Some(value.0.block_id().hash));
    // Subscribers heard of it; the store serves it to syncing peers.
    let committed = events.try_recv().unwrap();
    assert_eq!((committed.block.header.height.value(), committed.block_id), (1, value.0.block_id()));
    let raw = d.decided_value(Height(1)).unwrap().unwrap();
    assert_eq!(raw.value_bytes, Bytes::from(encoded));
    assert!(d.decided_value(Height(2)).unwrap().is_none());

    // The next proposal builds on that tip, with the certificate as its
    // last commit, and is accepted as valid.
    let proposer = d.expected_proposer(Height(2), Round::new(0));
    let (next, _) = assembled(&d, Round::new(0), Round::Nil, proposer);
    assert_eq!(d.accept_assembled(next).unwrap().validity, Validity::Valid);

    // Deciding the same height twice means our state is off: fatal.
    let err = d.finish_height(cert).await.unwrap_err();
    assert!(matches!(err, NodeError::Inconsistent(_)), "{err}");
    // A decided block we never saw restarts the height instead.
    let mut unknown = value.0;
    unknown.block_hash = [0xAB; 32];
    match d.finish_height(certificate(&d.chain_id, unknown, 2)).await.unwrap() {
        Next::Restart(h, _) => assert_eq!(h, Height(2)),
        Next::Start(h, _) => panic!("started {h} after an unknown decision"),
    }
    assert_eq!(d.tip.height, 1);
}
