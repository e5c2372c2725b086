//! `MsgRecoverClient`: the zone admin revives an expired or frozen light
//! client from an active substitute of the same chain (ibc-go's
//! recover-client; the IBC work is `kawase_ibc::recover_client`). Without
//! it, a client that expired while the relayer was down, or froze on
//! misbehaviour, strands every hold and reservation on its channel.
use std::cell::RefCell;

use kawase_accounts::StateReadExt as _;
use kawase_ibc::ibc::core::host::types::identifiers::ClientId;
use kawase_ibc::{HostBlock, IbcHost};
use kawase_primitives::{proto_name, Address, Delta, Event, StateRead, StateWrite};

use crate::Error;

/// Admin only. `subject_client_id` (expired or frozen) takes the state of
/// `substitute_client_id` (active, same chain and parameters, higher
/// latest height); connections and channels on the subject continue.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgRecoverClient {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub subject_client_id: String,
    #[prost(string, tag = "3")]
    pub substitute_client_id: String,
}
proto_name!(MsgRecoverClient, "kawase.settlement.v1", "MsgRecoverClient");

pub(crate) fn client_id(field: &'static str, s: &str) -> Result<ClientId, Error> {
    s.parse::<ClientId>().map_err(|e| Error::InvalidField { field, reason: e.to_string() })
}

/// Stateful phase (the caller drops the overlay on error).
pub(crate) fn execute<B: StateRead>(
    cell: &RefCell<Delta<B>>,
    block: &HostBlock,
    signer: Address,
    subject: &ClientId,
    substitute: &ClientId,
) -> Result<(), Error> {
    if !cell.borrow().is_admin(&signer)? {
        return Err(Error::Accounts(kawase_accounts::Error::Unauthorized(format!(
            "{signer} is not the network admin: only the admin recovers a client"
        ))));
    }
    let mut host = IbcHost::new(cell, block, signer).map_err(|e| Error::Recover(e.to_string()))?;
    kawase_ibc::recover_client(&mut host, subject, substitute).map_err(|e| Error::Recover(e.to_string()))?;
    cell.borrow_mut().emit(
        Event::new("recover_client")
            .attr("subject_client_id", subject)
            .attr("substitute_client_id", substitute)
            .attr("by", signer),
    );
    Ok(())
}
