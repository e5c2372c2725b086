//! The accounts module behind the app's one module interface.
use kawase_primitives::{
    json_answer, query_address, Address, ErrorDoc, ExecError, Holdings, Message, QueryError, Rejection, StateRead,
    StateWrite, TxContext, Zone,
};

use crate::state::{Role, StateReadExt as _, Status};
use crate::{Error, Genesis, HoldingsCheck, Msg};

/// The registry entry of the accounts module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accounts;

/// The registry's answer to "does any module hold money for this account".
struct Registered<'a>(&'a dyn Holdings);

impl<S: StateRead> HoldingsCheck<S> for Registered<'_> {
    fn holds_funds(&self, state: &S, address: &Address) -> Result<bool, Error> {
        self.0.holds_funds(state, address).map_err(Error::Storage)
    }
}

impl Message for Msg {
    fn signer(&self) -> Option<Address> {
        Some(Msg::signer(self))
    }

    fn execute(&self, mut state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), ExecError> {
        Msg::execute(self, &mut state, &ctx.legacy(), &Registered(ctx.holdings)).map_err(ExecError::from)
    }
}

const ERRORS: &[ErrorDoc] = &[
    ErrorDoc { code: 1, name: "storage (halts the node, never a result)" },
    ErrorDoc { code: 2, name: "invalid address" },
    ErrorDoc { code: 3, name: "unknown account" },
    ErrorDoc { code: 4, name: "account frozen" },
    ErrorDoc { code: 5, name: "account closed" },
    ErrorDoc { code: 6, name: "already registered" },
    ErrorDoc { code: 7, name: "unauthorized" },
    ErrorDoc { code: 8, name: "not your customer" },
    ErrorDoc { code: 9, name: "invalid role" },
    ErrorDoc { code: 10, name: "invalid field" },
    ErrorDoc { code: 11, name: "holds funds" },
    ErrorDoc { code: 12, name: "invalid status" },
    ErrorDoc { code: 13, name: "invalid genesis" },
];

fn parse(section: &serde_json::Value) -> Result<Genesis, String> {
    serde_json::from_value(section.clone()).map_err(|e| format!("accounts: {e}"))
}

impl kawase_primitives::Module for Accounts {
    fn name(&self) -> &'static str {
        crate::CODESPACE
    }

    fn type_urls(&self) -> Vec<String> {
        Msg::type_urls().to_vec()
    }

    fn owns(&self, type_url: &str) -> bool {
        type_url.starts_with("/kawase.accounts.v1.")
    }

    fn decode(&self, type_url: &str, value: &[u8]) -> Result<Box<dyn Message>, Rejection> {
        kawase_primitives::boxed(Msg::decode_any(type_url, value), || Error::InvalidField {
            field: "type_url",
            reason: "not an accounts message".into(),
        })
    }

    fn error_codes(&self) -> &'static [ErrorDoc] {
        ERRORS
    }

    fn validate_genesis(&self, section: &serde_json::Value, _zone: Zone) -> Result<(), String> {
        parse(section).map(|_| ())
    }

    fn init_genesis(
        &self,
        section: &serde_json::Value,
        _zone: Zone,
        mut state: &mut dyn StateWrite,
    ) -> Result<(), String> {
        parse(section)?.apply(&mut state).map_err(|e| e.to_string())
    }

    fn export_genesis(&self, state: &dyn StateRead, _zone: Zone) -> Result<serde_json::Value, String> {
        let admin = state.admin().map_err(|e| e.to_string())?.ok_or("accounts: no admin")?;
        let mut all = state.all_accounts().map_err(|e| e.to_string())?;
        all.sort_by_key(|a| a.number);
        let mut g = Genesis { admin, banks: Vec::new(), accounts: Vec::new() };
        for (expected, a) in all.iter().enumerate() {
            // Genesis numbers accounts admin, banks, then the rest, each
            // active with sequence 0: other state has no genesis form.
            if a.status != Status::Active || a.sequence != 0 || a.number != expected as u64 {
                return Err(format!("accounts: {} has history a genesis file cannot hold", a.address));
            }
            match a.role {
                Role::NetworkAdmin if expected == 0 && a.address == admin => {}
                Role::IssuingBank if g.accounts.is_empty() => {
                    g.banks.push(crate::BankGenesis { address: a.address, name: a.name.clone() })
                }
                Role::Customer | Role::BusinessOperator | Role::Relayer => g.accounts.push(crate::AccountGenesis {
                    address: a.address,
                    role: a.role,
                    bank: a.bank,
                    deposit_account_ref: a.deposit_account_ref.clone(),
                }),
                _ => return Err(format!("accounts: {} is out of genesis order", a.address)),
            }
        }
        serde_json::to_value(g).map_err(|e| e.to_string())
    }

    fn check_invariants(&self, state: &dyn StateRead) -> Result<(), String> {
        let admin = state.admin().map_err(|e| e.to_string())?.ok_or("accounts: no admin")?;
        if state.existing_account(&admin).map_err(|e| e.to_string())?.role != Role::NetworkAdmin {
            return Err(format!("accounts: admin {admin} has no network-admin account"));
        }
        for bank in state.banks().map_err(|e| e.to_string())? {
            if bank.role != Role::IssuingBank || bank.bank != Some(bank.address) {
                return Err(format!("accounts: {} is indexed as a bank but is not one", bank.address));
            }
        }
        Ok(())
    }

    fn query(&self, path: &str, data: &[u8], state: &dyn StateRead) -> Option<Result<Vec<u8>, QueryError>> {
        Some(match path {
            "account" => query_address(data).and_then(|a| {
                let acct = state.account(&a).map_err(QueryError::internal)?;
                json_answer(&acct.ok_or_else(|| QueryError::NotFound(format!("account {a}")))?)
            }),
            "banks" => state.banks().map_err(QueryError::internal).and_then(|b| json_answer(&b)),
            _ => return None,
        })
    }
}
