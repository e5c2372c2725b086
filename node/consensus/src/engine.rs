//! The Malachite `Node` glue: what the engine asks of a node (keys, config,
//! signing provider). `kawase_consensus::start` drives the engine itself.
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use malachitebft_app_channel::app::config::{ConsensusConfig, ValueSyncConfig};
use malachitebft_app_channel::app::events::{RxEvent, TxEvent};
use malachitebft_app_channel::app::node::{EngineHandle, Node, NodeConfig, NodeHandle};
use malachitebft_app_channel::app::types::Keypair;
use serde::{Deserialize, Serialize};
use tendermint::chain;

use crate::privval::PrivValidator;
use crate::types::{Address, PrivateKey, PublicKey, Signer, ZoneContext};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineConfig {
    pub moniker: String,
    pub consensus: ConsensusConfig,
    pub value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
}

/// The key as Malachite's node trait wants it serialisable.
#[derive(Serialize, Deserialize)]
pub struct KeyFile(pub String);

/// The Malachite `Node`: hands the engine our keys, codec and config.
#[derive(Clone)]
pub(crate) struct ZoneNode {
    pub(crate) data_dir: PathBuf,
    pub(crate) config: EngineConfig,
    pub(crate) key: PrivateKey,
    pub(crate) node_key: [u8; 32],
    pub(crate) privval: Arc<PrivValidator>,
    pub(crate) chain_id: chain::Id,
}

pub struct Handle {
    pub engine: EngineHandle,
    pub events: TxEvent<ZoneContext>,
}

#[async_trait]
impl NodeHandle<ZoneContext> for Handle {
    fn subscribe(&self) -> RxEvent<ZoneContext> {
        self.events.subscribe()
    }
    async fn kill(&self, _reason: Option<String>) -> eyre::Result<()> {
        self.engine.actor.kill_and_wait(None).await?;
        self.engine.handle.abort();
        Ok(())
    }
}

#[async_trait]
impl Node for ZoneNode {
    type Context = ZoneContext;
    type Config = EngineConfig;
    type Genesis = ();
    type PrivateKeyFile = KeyFile;
    type SigningProvider = Signer;
    type NodeHandle = Handle;

    async fn start(&self) -> eyre::Result<Handle> {
        Err(eyre::eyre!("the zone node is started with kawase_consensus::start"))
    }
    async fn run(self) -> eyre::Result<()> {
        Err(eyre::eyre!("the zone node is started with kawase_consensus::start"))
    }
    fn get_home_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }
    fn load_config(&self) -> eyre::Result<EngineConfig> {
        Ok(self.config.clone())
    }
    fn get_address(&self, pk: &PublicKey) -> Address {
        Address::from_public_key(pk)
    }
    fn get_public_key(&self, pk: &PrivateKey) -> PublicKey {
        pk.public_key()
    }
    fn get_keypair(&self, _pk: PrivateKey) -> Keypair {
        // The p2p identity is the node key, not the validator key.
        Keypair::ed25519_from_bytes(self.node_key).expect("an ed25519 seed is any 32 bytes")
    }
    fn load_private_key(&self, _file: KeyFile) -> PrivateKey {
        self.key.clone()
    }
    fn load_private_key_file(&self) -> eyre::Result<KeyFile> {
        Ok(KeyFile(String::new()))
    }
    fn load_genesis(&self) -> eyre::Result<()> {
        Ok(())
    }
    fn get_signing_provider(&self, _pk: PrivateKey) -> Signer {
        Signer { chain_id: self.chain_id.clone(), privval: self.privval.clone() }
    }
}
