//! Read-only lookups of IBC state for applications, which ibc-rs hands only
//! the channel's identifiers: the client behind a connection and the chain
//! that client tracks (the settlement app checks a BZ's channel leads to
//! the FZ its genesis names).
use ibc::clients::tendermint::client_state::ClientState as TmClientState;
use ibc::core::connection::types::ConnectionEnd;
use ibc::core::host::types::identifiers::{ClientId, ConnectionId};
use ibc::core::host::types::path::{ClientStatePath, ConnectionPath, Path};
use ibc::primitives::proto::{Any, Protobuf};
use kawase_primitives::StateRead;
use prost::Message;

use crate::IbcError;

/// The light client a connection end runs on.
pub fn connection_end<S: StateRead + ?Sized>(state: &S, conn: &ConnectionId) -> Result<ConnectionEnd, IbcError> {
    let key = Path::from(ConnectionPath::new(conn)).to_string();
    let raw = state
        .get_raw(key.as_bytes())
        .map_err(|e| IbcError::Connection(format!("reading {key}: {e}")))?
        .ok_or_else(|| IbcError::Connection(format!("no connection {conn}")))?;
    ConnectionEnd::decode_vec(&raw).map_err(|e| IbcError::Connection(format!("corrupt connection {conn}: {e}")))
}

/// A Tendermint client's state as stored.
pub fn client_state<S: StateRead + ?Sized>(state: &S, client: &ClientId) -> Result<TmClientState, IbcError> {
    let key = Path::from(ClientStatePath::new(client.clone())).to_string();
    let raw = state
        .get_raw(key.as_bytes())
        .map_err(|e| IbcError::Client(format!("reading {key}: {e}")))?
        .ok_or_else(|| IbcError::Client(format!("no client {client}")))?;
    let any = Any::decode(raw.as_slice()).map_err(|e| IbcError::Client(format!("corrupt client {client}: {e}")))?;
    TmClientState::try_from(any).map_err(|e| IbcError::Client(format!("corrupt client {client}: {e}")))
}

/// `(client id, chain id the client tracks)` behind `conn`.
pub fn connection_chain<S: StateRead + ?Sized>(state: &S, conn: &ConnectionId) -> Result<(ClientId, String), IbcError> {
    let end = connection_end(state, conn)?;
    let client = end.client_id().clone();
    let cs = client_state(state, &client)?;
    Ok((client, cs.inner().chain_id.to_string()))
}
