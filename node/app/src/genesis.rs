//! The application part of the genesis file (`app_state` in CometBFT's
//! `genesis.json`) and the chain parameters.
use kawase_primitives::{StateRead, StateReadTyped, StateWrite, StateWriteTyped};

use crate::state_key;

/// The settlement module's genesis part, for genesis writers.
pub use kawase_settlement::{FzCounterparty, Genesis as SettlementGenesis};

/// Which zone this chain is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    /// Financial Zone: banks issue deposit tokens here.
    Fz,
    /// Business Zone: payments are instructions settled on the FZ.
    Bz,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Fz => "fz",
            Zone::Bz => "bz",
        }
    }
}

/// Limits that keep one transaction from stalling a block. There are no
/// fees on a permissioned network, so size and count are the budget.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, prost::Message)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[prost(uint64, tag = "1")]
    #[serde(default = "default_max_tx_bytes")]
    pub max_tx_bytes: u64,
    #[prost(uint64, tag = "2")]
    #[serde(default = "default_max_block_bytes")]
    pub max_block_bytes: u64,
    #[prost(uint64, tag = "3")]
    #[serde(default = "default_max_block_txs")]
    pub max_block_txs: u64,
    #[prost(uint32, tag = "4")]
    #[serde(default = "default_max_msgs_per_tx")]
    pub max_msgs_per_tx: u32,
}

fn default_max_tx_bytes() -> u64 {
    32 * 1024
}
fn default_max_block_bytes() -> u64 {
    16 * 1024 * 1024
}
fn default_max_block_txs() -> u64 {
    20_000
}
fn default_max_msgs_per_tx() -> u32 {
    32
}

impl Params {
    pub fn standard() -> Self {
        Params {
            max_tx_bytes: default_max_tx_bytes(),
            max_block_bytes: default_max_block_bytes(),
            max_block_txs: default_max_block_txs(),
            max_msgs_per_tx: default_max_msgs_per_tx(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.max_tx_bytes == 0 || self.max_block_bytes < self.max_tx_bytes {
            return Err("params: need 0 < max_tx_bytes <= max_block_bytes".into());
        }
        if self.max_block_txs == 0 || self.max_msgs_per_tx == 0 {
            return Err("params: max_block_txs and max_msgs_per_tx must be positive".into());
        }
        Ok(())
    }
}

/// `app_state` of the genesis file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppState {
    pub zone: Zone,
    #[serde(default = "Params::standard")]
    pub params: Params,
    pub accounts: kawase_accounts::Genesis,
    #[serde(default)]
    pub token: kawase_token::Genesis,
    /// BZ: the FZ whose settlement channel it accepts (`settlement.fz`).
    #[serde(default, skip_serializing_if = "kawase_settlement::Genesis::is_empty")]
    pub settlement: kawase_settlement::Genesis,
}

impl AppState {
    /// Writes the genesis state; any inconsistency is reported, nothing is
    /// guessed.
    pub fn apply<S: StateWrite>(&self, chain_id: &str, state: &mut S) -> Result<(), String> {
        if chain_id.is_empty() || chain_id.len() > 50 {
            return Err("chain id must be 1 to 50 characters".into());
        }
        self.params.validate()?;
        if self.zone == Zone::Bz && !self.token.balances.is_empty() {
            return Err(
                "a Business Zone holds no deposit tokens: token.balances must be empty (charge from the FZ)".into()
            );
        }
        state.put_raw(state_key::chain_id().to_vec(), chain_id.as_bytes().to_vec());
        state.put_raw(state_key::zone().to_vec(), self.zone.as_str().as_bytes().to_vec());
        state.put_proto(state_key::params().to_vec(), &self.params);
        self.accounts.apply(state).map_err(|e| e.to_string())?;
        self.token.apply(state).map_err(|e| e.to_string())?;
        let side = match self.zone {
            Zone::Fz => kawase_settlement::Side::Fz,
            Zone::Bz => kawase_settlement::Side::Bz,
        };
        self.settlement.apply(state, side).map_err(|e| format!("settlement: {e}"))?;
        kawase_token::check_invariants(state)
    }
}

/// Chain identity and parameters as stored.
pub fn read_chain<S: StateRead>(state: &S) -> Result<Option<(String, Zone, Params)>, String> {
    let Some(chain_id) = state.get_raw(state_key::chain_id()).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let chain_id = String::from_utf8(chain_id).map_err(|_| "corrupt chain id".to_string())?;
    let zone = match state.get_raw(state_key::zone()).map_err(|e| e.to_string())?.as_deref() {
        Some(b"fz") => Zone::Fz,
        Some(b"bz") => Zone::Bz,
        _ => return Err("corrupt zone".into()),
    };
    let params = state.get_proto::<Params>(state_key::params()).map_err(|e| e.to_string())?.ok_or("missing params")?;
    Ok(Some((chain_id, zone, params)))
}

/// A CometBFT-format genesis document carrying our app state.
pub type GenesisDoc = tendermint::Genesis<AppState>;
