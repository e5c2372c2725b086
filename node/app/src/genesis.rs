//! The application part of the genesis file (`app_state` in CometBFT's
//! `genesis.json`) and the chain parameters.
use std::collections::BTreeMap;

use kawase_primitives::{StateRead, StateReadTyped, StateWrite, StateWriteTyped};

use crate::registry::Registry;
use crate::state_key;

/// Which zone this chain is.
pub use kawase_primitives::Zone;

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

/// `app_state` of the genesis file: the zone, the chain parameters, and one
/// section per registered module under the module's name (`accounts`,
/// `token`, …). Sections are checked by their modules; a section no module
/// claims is refused at InitChain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppState {
    pub zone: Zone,
    #[serde(default = "Params::standard")]
    pub params: Params,
    #[serde(flatten)]
    pub modules: BTreeMap<String, serde_json::Value>,
}

impl AppState {
    /// An app state with standard parameters and no module sections.
    pub fn new(zone: Zone) -> Self {
        AppState { zone, params: Params::standard(), modules: BTreeMap::new() }
    }

    /// Sets a module's section.
    pub fn with<T: serde::Serialize>(mut self, module: &str, section: &T) -> Self {
        self.set(module, section);
        self
    }

    /// Sets a module's section (`Null`, i.e. absent, if it serializes to nothing).
    pub fn set<T: serde::Serialize>(&mut self, module: &str, section: &T) {
        // A derived genesis type has string keys only, so it always serializes.
        let v = serde_json::to_value(section).unwrap_or(serde_json::Value::Null);
        if v.is_null() || v.as_object().is_some_and(|m| m.is_empty()) {
            self.modules.remove(module);
        } else {
            self.modules.insert(module.to_owned(), v);
        }
    }

    /// A module's section as its genesis type (its default when absent).
    pub fn section<T: serde::de::DeserializeOwned + Default>(&self, module: &str) -> Result<T, String> {
        match self.modules.get(module) {
            None => Ok(T::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("{module}: {e}")),
        }
    }

    /// Edits a module's section in place, as its genesis type.
    pub fn update<T>(&mut self, module: &str, f: impl FnOnce(&mut T)) -> Result<(), String>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Default,
    {
        let mut g: T = self.section(module)?;
        f(&mut g);
        self.set(module, &g);
        Ok(())
    }

    /// Writes the genesis state with the standard modules.
    pub fn apply<S: StateWrite>(&self, chain_id: &str, state: &mut S) -> Result<(), String> {
        self.apply_with(chain_id, state, &crate::modules::standard())
    }

    /// Writes the genesis state; any inconsistency is reported, nothing is
    /// guessed. Every section is checked before anything is written.
    pub fn apply_with<S: StateWrite>(&self, chain_id: &str, state: &mut S, registry: &Registry) -> Result<(), String> {
        if chain_id.is_empty() || chain_id.len() > 50 {
            return Err("chain id must be 1 to 50 characters".into());
        }
        self.params.validate()?;
        registry.validate_genesis(&self.modules, self.zone)?;
        state.put_raw(state_key::chain_id().to_vec(), chain_id.as_bytes().to_vec());
        state.put_raw(state_key::zone().to_vec(), self.zone.as_str().as_bytes().to_vec());
        state.put_proto(state_key::params().to_vec(), &self.params);
        registry.init_genesis(&self.modules, self.zone, state)?;
        registry.check_invariants(state)
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
