//! The token module behind the app's one module interface.
use kawase_accounts::HoldingsCheck as _;
use kawase_primitives::{
    json_answer, query_address, Address, ErrorDoc, ExecError, Message, QueryError, Rejection, StateError, StateRead,
    StateWrite, TxContext, Zone,
};

use crate::state::StateReadExt as _;
use crate::{BalanceGenesis, Error, Genesis, Msg, TokenHoldings};

/// The registry entry of the token module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Token;

impl Message for Msg {
    fn signer(&self) -> Option<Address> {
        Some(Msg::signer(self))
    }

    fn execute(&self, mut state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), ExecError> {
        // Deposit tokens live on the FZ only: a BZ moves money as settlement
        // instructions, so nothing can be minted there without an FZ deposit.
        if ctx.block.zone == Zone::Bz {
            return Err(Error::WrongZone.into());
        }
        Msg::execute(self, &mut state, &ctx.legacy()).map_err(ExecError::from)
    }
}

const ERRORS: &[ErrorDoc] = &[
    ErrorDoc { code: 1, name: "storage (halts the node, never a result)" },
    ErrorDoc { code: 2, name: "zero amount" },
    ErrorDoc { code: 3, name: "invalid amount" },
    ErrorDoc { code: 4, name: "insufficient funds" },
    ErrorDoc { code: 5, name: "overflow" },
    ErrorDoc { code: 6, name: "reference used" },
    ErrorDoc { code: 7, name: "not your customer" },
    ErrorDoc { code: 8, name: "unauthorized" },
    ErrorDoc { code: 9, name: "invalid field" },
    ErrorDoc { code: 10, name: "self transfer" },
    ErrorDoc { code: 11, name: "position exceeded" },
    ErrorDoc { code: 12, name: "settlement id used" },
    ErrorDoc { code: 13, name: "invalid genesis" },
    ErrorDoc { code: 14, name: "insufficient reserved" },
    ErrorDoc { code: 15, name: "wrong zone" },
];

fn parse(section: &serde_json::Value) -> Result<Genesis, String> {
    if section.is_null() {
        return Ok(Genesis::default());
    }
    serde_json::from_value(section.clone()).map_err(|e| format!("token: {e}"))
}

fn internal(e: Error) -> QueryError {
    QueryError::internal(e)
}

impl kawase_primitives::Module for Token {
    fn name(&self) -> &'static str {
        crate::CODESPACE
    }

    fn type_urls(&self) -> Vec<String> {
        Msg::type_urls().to_vec()
    }

    fn owns(&self, type_url: &str) -> bool {
        type_url.starts_with("/kawase.token.v1.")
    }

    fn decode(&self, type_url: &str, value: &[u8]) -> Result<Box<dyn Message>, Rejection> {
        kawase_primitives::boxed(Msg::decode_any(type_url, value), || Error::InvalidField {
            field: "type_url",
            reason: "not a token message".into(),
        })
    }

    fn error_codes(&self) -> &'static [ErrorDoc] {
        ERRORS
    }

    fn validate_genesis(&self, section: &serde_json::Value, zone: Zone) -> Result<(), String> {
        let g = parse(section)?;
        if zone == Zone::Bz && !g.balances.is_empty() {
            return Err(
                "a Business Zone holds no deposit tokens: token.balances must be empty (charge from the FZ)".into()
            );
        }
        Ok(())
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
        let e = |x: Error| x.to_string();
        // Genesis only mints: positions, burns, settlements and reserves
        // have no genesis form.
        if !state.positions().map_err(e)?.is_empty() || !state.all_reserved().map_err(e)?.is_empty() {
            return Err("token: positions or reserved deposits have no genesis form".into());
        }
        let balances = state.balances().map_err(e)?;
        for (addr, _) in &balances {
            let bank = kawase_accounts::StateReadExt::existing_account(state, addr).map_err(|x| x.to_string())?.bank;
            let s = state.bank_stats(&bank.ok_or("token: a holder without a bank")?).map_err(e)?;
            if !s.burned.is_zero() || !s.settled_in.is_zero() || !s.settled_out.is_zero() {
                return Err("token: burns and settlements have no genesis form".into());
            }
        }
        let balances =
            balances.into_iter().map(|(address, a)| BalanceGenesis { address, amount: a.to_string() }).collect();
        serde_json::to_value(Genesis { balances }).map_err(|x| x.to_string())
    }

    fn check_invariants(&self, state: &dyn StateRead) -> Result<(), String> {
        crate::check_invariants(&state)
    }

    fn query(&self, path: &str, data: &[u8], state: &dyn StateRead) -> Option<Result<Vec<u8>, QueryError>> {
        Some(match path {
            "balance" => query_address(data).and_then(|a| {
                let amount = state.balance(&a).map_err(internal)?;
                json_answer(&serde_json::json!({ "address": a, "amount": amount }))
            }),
            "bank" => query_address(data).and_then(|a| json_answer(&state.bank_stats(&a).map_err(internal)?)),
            "total_supply" => {
                state.total_supply().map_err(internal).and_then(|t| json_answer(&serde_json::json!({ "amount": t })))
            }
            "positions" => state.positions().map_err(internal).and_then(|p| json_answer(&p)),
            _ => return None,
        })
    }

    fn holds_funds(&self, state: &dyn StateRead, account: &Address) -> Result<bool, StateError> {
        TokenHoldings.holds_funds(state, account).map_err(|e| StateError(e.to_string()))
    }
}
