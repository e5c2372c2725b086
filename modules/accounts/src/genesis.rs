use kawase_primitives::{Address, StateWrite};

use crate::state::{Role, StateReadExt, StateWriteExt};
use crate::Error;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankGenesis {
    pub address: Address,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountGenesis {
    pub address: Address,
    pub role: Role,
    /// Required for customers and business operators; absent for relayers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<Address>,
    #[serde(default)]
    pub deposit_account_ref: String,
}

/// The accounts module's part of the genesis file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub admin: Address,
    #[serde(default)]
    pub banks: Vec<BankGenesis>,
    #[serde(default)]
    pub accounts: Vec<AccountGenesis>,
}

impl Genesis {
    /// Writes genesis accounts, refusing duplicates, unknown banks and
    /// roles that cannot be created this way.
    pub fn apply<S: StateWrite>(&self, state: &mut S) -> Result<(), Error> {
        let invalid = |m: String| Error::InvalidGenesis(m);
        state.set_admin(&self.admin);
        state
            .create_account(self.admin, Role::NetworkAdmin, None, String::new(), "network admin".into())
            .map_err(|e| invalid(format!("admin: {e}")))?;
        for b in &self.banks {
            if b.name.trim().is_empty() {
                return Err(invalid(format!("bank {} has an empty name", b.address)));
            }
            state
                .create_account(b.address, Role::IssuingBank, Some(b.address), String::new(), b.name.clone())
                .map_err(|e| invalid(format!("bank {}: {e}", b.address)))?;
        }
        for a in &self.accounts {
            let bank = match (a.role, a.bank) {
                (Role::Customer | Role::BusinessOperator, Some(bank)) => {
                    let acct = state.account(&bank)?;
                    if acct.map(|x| x.role) != Some(Role::IssuingBank) {
                        return Err(invalid(format!("account {} names unknown bank {bank}", a.address)));
                    }
                    if a.deposit_account_ref.trim().is_empty() {
                        return Err(invalid(format!("account {} needs a deposit_account_ref", a.address)));
                    }
                    Some(bank)
                }
                (Role::Customer | Role::BusinessOperator, None) => {
                    return Err(invalid(format!("account {} needs a bank", a.address)))
                }
                (Role::Relayer, None) => None,
                (role, _) => {
                    return Err(invalid(format!("account {}: role {} not allowed here", a.address, role.as_str())))
                }
            };
            state
                .create_account(a.address, a.role, bank, a.deposit_account_ref.clone(), String::new())
                .map_err(|e| invalid(format!("account {}: {e}", a.address)))?;
        }
        Ok(())
    }
}
