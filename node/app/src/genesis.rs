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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AppState {
    pub zone: Zone,
    pub params: Params,
    #[serde(flatten)]
    pub modules: BTreeMap<String, serde_json::Value>,
}

/// Read by hand, not derived: a key given twice or a `null` section is
/// refused rather than silently resolved (a derived flatten would keep the
/// last duplicate and read `null` as an absent section).
impl<'de> serde::Deserialize<'de> for AppState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = AppState;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an app_state object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<AppState, A::Error> {
                use serde::de::Error;
                let (mut zone, mut params, mut modules) = (None, None, BTreeMap::new());
                while let Some(key) = map.next_key::<String>()? {
                    let twice = match key.as_str() {
                        "zone" => zone.replace(map.next_value::<Zone>()?).is_some(),
                        "params" => params.replace(map.next_value::<Params>()?).is_some(),
                        _ => {
                            let v: serde_json::Value = map.next_value()?;
                            if v.is_null() {
                                return Err(A::Error::custom(format!("`{key}` is null: omit a section instead")));
                            }
                            modules.insert(key.clone(), v).is_some()
                        }
                    };
                    if twice {
                        return Err(A::Error::custom(format!("duplicate field `{key}`")));
                    }
                }
                let zone = zone.ok_or_else(|| A::Error::missing_field("zone"))?;
                Ok(AppState { zone, params: params.unwrap_or_else(Params::standard), modules })
            }
        }
        d.deserialize_map(Visit)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_state_refuses_a_key_given_twice_and_null_sections() {
        let ok: AppState = serde_json::from_str(r#"{"zone":"fz","accounts":{"admin":"x"}}"#).expect("parses");
        assert_eq!(ok.params, Params::standard());
        assert!(ok.modules.contains_key("accounts"));
        for bad in [
            r#"{"zone":"fz","accounts":{},"accounts":{}}"#,
            r#"{"zone":"fz","zone":"bz"}"#,
            r#"{"zone":"fz","token":null}"#,
            r#"{"accounts":{}}"#,
            r#"{"zone":"fz","params":{"max_tx_bytes":1,"nope":2}}"#,
        ] {
            assert!(serde_json::from_str::<AppState>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn app_state_round_trips_through_json() {
        let s = AppState::new(Zone::Bz).with("settlement", &serde_json::json!({"fz": {"chain_id": "kawase-fz-1"}}));
        let back: AppState = serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("parses");
        assert_eq!(back, s);
    }
}
