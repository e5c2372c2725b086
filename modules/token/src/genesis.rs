use kawase_accounts::StateReadExt as _;
use kawase_primitives::{Address, Amount, StateWrite};

use crate::state::StateWriteExt as _;
use crate::Error;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceGenesis {
    pub address: Address,
    /// Decimal string.
    pub amount: String,
}

/// Opening balances, minted by each holder's bank at genesis.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    #[serde(default)]
    pub balances: Vec<BalanceGenesis>,
}

impl Genesis {
    pub fn apply<S: StateWrite>(&self, state: &mut S) -> Result<(), Error> {
        let mut seen = std::collections::BTreeSet::new();
        for b in &self.balances {
            if !seen.insert(b.address) {
                return Err(Error::InvalidGenesis(format!("duplicate balance for {}", b.address)));
            }
            let amount = b
                .amount
                .parse::<Amount>()
                .map_err(|e| Error::InvalidGenesis(format!("balance of {}: {e}", b.address)))?;
            if amount.is_zero() {
                continue;
            }
            let (_, bank) = state
                .active_holder(&b.address)
                .map_err(|e| Error::InvalidGenesis(format!("balance of {}: {e}", b.address)))?;
            state.mint(&bank, &b.address, amount)?;
        }
        Ok(())
    }
}
