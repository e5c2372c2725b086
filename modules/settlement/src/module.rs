//! The settlement module behind the app's one module interface, and its
//! IBC application on port `settlement`.
use std::cell::RefCell;

use kawase_accounts::HoldingsCheck as _;
use kawase_primitives::{
    json_answer, query_address, Address, Delta, ErrorDoc, ExecError, Message, QueryError, Rejection, StateError,
    StateRead, StateWrite, TxContext, Zone,
};

use crate::state::StateReadExt as _;
use crate::{BzHoldings, Error, Genesis, Msg, SettlementApp, Side};

/// The registry entry of the settlement module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settlement;

/// The settlement application bound to its IBC port.
#[derive(Clone, Copy, Debug, Default)]
pub struct SettlementPort;

pub fn side(zone: Zone) -> Side {
    match zone {
        Zone::Fz => Side::Fz,
        Zone::Bz => Side::Bz,
    }
}

impl Message for Msg {
    fn signer(&self) -> Option<Address> {
        Some(Msg::signer(self))
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), ExecError> {
        let block = kawase_ibc::HostBlock {
            chain_id: ctx.block.chain_id.clone(),
            height: ctx.block.height,
            time_nanos: ctx.block.block_time_nanos,
        };
        let changes = {
            let cell = RefCell::new(Delta::new(&*state as &dyn StateRead));
            let result = Msg::execute(self, &cell, side(ctx.block.zone), &block);
            let delta = cell.into_inner();
            // Latched by the IBC host (which turns read errors into its own
            // types): a halt, whatever the handler made of it.
            if let Some(e) = delta.fault() {
                return Err(ExecError::Halt(e.clone()));
            }
            result?;
            delta.into_changes()
        };
        kawase_primitives::write_changes(state, changes);
        Ok(())
    }
}

impl kawase_ibc::PortApp for SettlementPort {
    fn port(&self) -> &'static str {
        kawase_ibc::SETTLEMENT_PORT
    }

    fn app<'c>(
        &self,
        state: &'c kawase_ibc::Shared<'_>,
        zone: Zone,
    ) -> Box<dyn kawase_ibc::ibc::core::router::module::Module + 'c> {
        Box::new(SettlementApp::new(state, side(zone)))
    }
}

const ERRORS: &[ErrorDoc] = &[
    ErrorDoc { code: 1, name: "storage (halts the node, never a result)" },
    ErrorDoc { code: 2, name: "invalid field" },
    ErrorDoc { code: 3, name: "wrong zone" },
    ErrorDoc { code: 4, name: "not linked" },
    ErrorDoc { code: 5, name: "already linked" },
    ErrorDoc { code: 6, name: "unknown channel" },
    ErrorDoc { code: 7, name: "insufficient BZ balance" },
    ErrorDoc { code: 8, name: "malformed packet" },
    ErrorDoc { code: 9, name: "channel refused" },
    ErrorDoc { code: 10, name: "overflow" },
    ErrorDoc { code: 11, name: "send failed" },
    ErrorDoc { code: 12, name: "self payment" },
    ErrorDoc { code: 13, name: "client recovery refused" },
];

fn parse(section: &serde_json::Value) -> Result<Genesis, String> {
    if section.is_null() {
        return Ok(Genesis::default());
    }
    serde_json::from_value(section.clone()).map_err(|e| format!("settlement: {e}"))
}

fn internal(e: Error) -> QueryError {
    QueryError::internal(e)
}

impl kawase_primitives::Module for Settlement {
    fn name(&self) -> &'static str {
        crate::CODESPACE
    }

    fn type_urls(&self) -> Vec<String> {
        Msg::type_urls().to_vec()
    }

    fn owns(&self, type_url: &str) -> bool {
        type_url.starts_with("/kawase.settlement.v1.")
    }

    fn decode(&self, type_url: &str, value: &[u8]) -> Result<Box<dyn Message>, Rejection> {
        kawase_primitives::boxed(Msg::decode_any(type_url, value), || Error::InvalidField {
            field: "type_url",
            reason: "not a settlement message".into(),
        })
    }

    fn error_codes(&self) -> &'static [ErrorDoc] {
        ERRORS
    }

    fn validate_genesis(&self, section: &serde_json::Value, zone: Zone) -> Result<(), String> {
        let g = parse(section)?;
        // The same checks as `init_genesis`, on a scratch overlay.
        let mut scratch = Delta::new(kawase_primitives::MemState::default());
        g.apply(&mut scratch, side(zone)).map_err(|e| format!("settlement: {e}"))
    }

    fn init_genesis(
        &self,
        section: &serde_json::Value,
        zone: Zone,
        mut state: &mut dyn StateWrite,
    ) -> Result<(), String> {
        parse(section)?.apply(&mut state, side(zone)).map_err(|e| format!("settlement: {e}"))
    }

    fn export_genesis(&self, state: &dyn StateRead, _zone: Zone) -> Result<serde_json::Value, String> {
        let e = |x: Error| x.to_string();
        if !state.fz_links().map_err(e)?.is_empty()
            || !state.holds().map_err(e)?.is_empty()
            || !state.bz_total().map_err(e)?.is_zero()
        {
            return Err("settlement: links, holds and BZ balances have no genesis form".into());
        }
        let fz = crate::CounterpartyRead::fz_counterparty(state).map_err(e)?;
        serde_json::to_value(Genesis { fz }).map_err(|x| x.to_string())
    }

    fn check_invariants(&self, state: &dyn StateRead) -> Result<(), String> {
        crate::check_bz_invariants(&state)
    }

    fn query(&self, path: &str, data: &[u8], state: &dyn StateRead) -> Option<Result<Vec<u8>, QueryError>> {
        Some(match path {
            "reserved" => query_address(data).and_then(|a| {
                let list = crate::reserved_of(&state, &a).map_err(internal)?;
                let list: Vec<_> =
                    list.into_iter().map(|(c, r)| serde_json::json!({"channel": c, "amount": r})).collect();
                json_answer(&serde_json::json!({ "address": a, "reserved": list }))
            }),
            "bz_account" => query_address(data).and_then(|a| {
                let acct = state.bz_account(&a).map_err(internal)?;
                json_answer(&acct.ok_or_else(|| QueryError::NotFound(format!("BZ account {a}")))?)
            }),
            "holds" => state.holds().map_err(internal).and_then(|h| json_answer(&h)),
            "links" => state.fz_links().map_err(internal).and_then(|links| {
                let links: Vec<_> = links
                    .into_iter()
                    .map(|(c, fz, bz, st)| serde_json::json!({"channel": c, "fz_address": fz, "bz_address": bz, "status": st}))
                    .collect();
                json_answer(&links)
            }),
            "bz_total" => state
                .bz_total()
                .map_err(internal)
                .and_then(|t| json_answer(&serde_json::json!({ "amount": t }))),
            _ => return None,
        })
    }

    fn holds_funds(&self, state: &dyn StateRead, account: &Address) -> Result<bool, StateError> {
        BzHoldings.holds_funds(state, account).map_err(|e| StateError(e.to_string()))
    }
}
