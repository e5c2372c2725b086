//! IBC core as a state-machine module: ibc-rs messages (clients,
//! connections, channels, packets) routed to the applications bound to
//! ports, this zone's header record at the start of every block, and the
//! packet queries relayers use. Applications (the settlement module) are
//! given at registration, as ibc-go's router is built in app.go.
use std::cell::RefCell;
use std::sync::Arc;

use ibc::core::host::types::identifiers::{ChannelId, PortId, Sequence};
use ibc::core::host::types::path::{AckPath, ChannelEndPath, ReceiptPath};
use ibc_proto::google::protobuf::Any;
use kawase_accounts::{Role, StateReadExt as _};
use kawase_primitives::{
    json_answer, Address, BlockHeader, Delta, ErrorCode, ErrorDoc, ExecError, Message, QueryError, Rejection,
    StateError, StateRead, StateWrite, TxContext, Zone,
};

use crate::{HostBlock, IbcHost, Routes, SETTLEMENT_PORT};

/// The overlay an IBC message runs on, shared by ibc-rs's host and the
/// port applications (ibc-rs hands applications only the packet).
pub type Shared<'s> = RefCell<Delta<&'s dyn StateRead>>;

/// An IBC application bound to a port.
pub trait PortApp: Send + Sync {
    fn port(&self) -> &'static str;
    /// The application over the message's overlay.
    fn app<'c>(&self, state: &'c Shared<'_>, zone: Zone) -> Box<dyn ibc::core::router::module::Module + 'c>;
}

/// The registry entry of IBC core.
#[derive(Clone, Default)]
pub struct Ibc {
    apps: Arc<Vec<Box<dyn PortApp>>>,
}

impl Ibc {
    /// IBC core with the applications bound to their ports.
    pub fn with_apps(apps: Vec<Box<dyn PortApp>>) -> Self {
        Ibc { apps: Arc::new(apps) }
    }
}

impl std::fmt::Debug for Ibc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<_> = self.apps.iter().map(|a| a.port()).collect();
        f.debug_struct("Ibc").field("ports", &ports).finish()
    }
}

/// An IBC message as it came (`google.protobuf.Any`), checked to decode.
struct IbcMsg {
    any: Any,
    apps: Arc<Vec<Box<dyn PortApp>>>,
}

impl std::fmt::Debug for IbcMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IbcMsg").field("type_url", &self.any.type_url).finish()
    }
}

fn host_block(block: &kawase_primitives::BlockInfo) -> HostBlock {
    HostBlock { chain_id: block.chain_id.clone(), height: block.height, time_nanos: block.block_time_nanos }
}

/// IBC messages come from registered relayers (or the admin): the zones are
/// permissioned, and a stranger must not be able to create clients or open
/// channels. Proofs, not the relayer, make packets trustworthy.
fn ensure_relayer(state: &dyn StateRead, signer: &Address) -> Result<(), kawase_accounts::Error> {
    let a = state.existing_account(signer)?;
    if a.role == Role::Relayer || state.is_admin(signer)? {
        return Ok(());
    }
    Err(kawase_accounts::Error::Unauthorized(format!("{signer} is not a relayer")))
}

impl Message for IbcMsg {
    fn signer(&self) -> Option<Address> {
        // ibc-rs hands the message's signer field to the host, which checks it.
        None
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), ExecError> {
        ensure_relayer(state, &ctx.signer)?;
        let changes = {
            let cell: Shared<'_> = RefCell::new(Delta::new(&*state as &dyn StateRead));
            let block = host_block(ctx.block);
            let mut host = IbcHost::new(&cell, &block, ctx.signer)?;
            let mut routes = Routes::default();
            for app in self.apps.iter() {
                let port = PortId::new(app.port().to_owned()).map_err(|e| StateError(e.to_string()))?;
                routes = routes.add(port, app.app(&cell, ctx.block.zone));
            }
            let result = crate::dispatch(&mut host, &mut routes, self.any.clone());
            drop(routes);
            drop(host);
            // A storage failure latched in the overlay (ibc-rs and the
            // callbacks turn errors into their own types or into
            // acknowledgements) halts, whatever the handler made of it.
            if let Some(e) = cell.borrow().fault() {
                return Err(ExecError::Halt(e.clone()));
            }
            result?;
            cell.into_inner().into_changes()
        };
        kawase_primitives::write_changes(state, changes);
        Ok(())
    }
}

const ERRORS: &[ErrorDoc] = &[
    ErrorDoc { code: 1, name: "malformed IBC message" },
    ErrorDoc { code: 2, name: "client" },
    ErrorDoc { code: 3, name: "connection" },
    ErrorDoc { code: 4, name: "channel" },
    ErrorDoc { code: 5, name: "router" },
    ErrorDoc { code: 6, name: "wrong signer" },
];

fn check_channel(c: &str) -> Result<ChannelId, QueryError> {
    c.parse::<ChannelId>().map_err(|e| QueryError::BadRequest(format!("channel: {e}")))
}

fn settlement_port() -> PortId {
    PortId::new(SETTLEMENT_PORT.to_owned()).expect("`settlement` is a valid port id")
}

/// Sequences stored under a packet path root of the settlement port and
/// `data`'s channel, ascending.
fn sequences_under(
    state: &dyn StateRead,
    data: &[u8],
    root: fn(&ChannelEndPath) -> String,
) -> Result<Vec<u64>, QueryError> {
    let channel = std::str::from_utf8(data).map_err(|_| QueryError::BadRequest("channel id must be UTF-8".into()))?;
    let channel = check_channel(channel.trim())?;
    let prefix = format!("{}/", root(&ChannelEndPath::new(&settlement_port(), &channel)));
    let mut out = Vec::new();
    for (k, _) in state.prefix_raw(prefix.as_bytes()).map_err(QueryError::internal)? {
        let s = std::str::from_utf8(&k[prefix.len()..]).map_err(QueryError::internal)?;
        out.push(s.parse::<u64>().map_err(QueryError::internal)?);
    }
    out.sort_unstable();
    Ok(out)
}

/// A `{"channel", "sequences"}` request of a packet-state query.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SequencesReq {
    channel: String,
    sequences: Vec<u64>,
}

/// Of the request's sequences, those for which the key `path` makes is
/// present (`want_present`) or absent, in the request's order. The work is
/// bounded by the request, which the node bounds (4 KiB of query data).
fn filter_sequences(
    state: &dyn StateRead,
    data: &[u8],
    want_present: bool,
    path: fn(&PortId, &ChannelId, Sequence) -> String,
) -> Result<Vec<u64>, QueryError> {
    let r: SequencesReq = serde_json::from_slice(data).map_err(|e| QueryError::BadRequest(e.to_string()))?;
    let channel = check_channel(&r.channel)?;
    let port = settlement_port();
    let mut out = Vec::new();
    for seq in r.sequences {
        let key = path(&port, &channel, Sequence::from(seq));
        if state.get_raw(key.as_bytes()).map_err(QueryError::internal)?.is_some() == want_present {
            out.push(seq);
        }
    }
    Ok(out)
}

fn receipt_key(port: &PortId, channel: &ChannelId, seq: Sequence) -> String {
    ReceiptPath::new(port, channel, seq).to_string()
}

fn ack_key(port: &PortId, channel: &ChannelId, seq: Sequence) -> String {
    AckPath::new(port, channel, seq).to_string()
}

impl kawase_primitives::Module for Ibc {
    fn name(&self) -> &'static str {
        crate::error::CODESPACE
    }

    fn type_urls(&self) -> Vec<String> {
        use ibc::core::{channel::types::msgs as ch, client::types::msgs as cl, connection::types::msgs as co};
        [
            cl::CREATE_CLIENT_TYPE_URL,
            cl::UPDATE_CLIENT_TYPE_URL,
            cl::SUBMIT_MISBEHAVIOUR_TYPE_URL,
            cl::UPGRADE_CLIENT_TYPE_URL,
            co::CONN_OPEN_INIT_TYPE_URL,
            co::CONN_OPEN_TRY_TYPE_URL,
            co::CONN_OPEN_ACK_TYPE_URL,
            co::CONN_OPEN_CONFIRM_TYPE_URL,
            ch::CHAN_OPEN_INIT_TYPE_URL,
            ch::CHAN_OPEN_TRY_TYPE_URL,
            ch::CHAN_OPEN_ACK_TYPE_URL,
            ch::CHAN_OPEN_CONFIRM_TYPE_URL,
            ch::CHAN_CLOSE_INIT_TYPE_URL,
            ch::CHAN_CLOSE_CONFIRM_TYPE_URL,
            ch::RECV_PACKET_TYPE_URL,
            ch::ACKNOWLEDGEMENT_TYPE_URL,
            ch::TIMEOUT_TYPE_URL,
            ch::TIMEOUT_ON_CLOSE_TYPE_URL,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn owns(&self, type_url: &str) -> bool {
        crate::is_ibc_type_url(type_url)
    }

    fn decode(&self, type_url: &str, value: &[u8]) -> Result<Box<dyn Message>, Rejection> {
        let any = Any { type_url: type_url.to_owned(), value: value.to_vec() };
        crate::envelope(any.clone()).map_err(|e| Rejection {
            codespace: e.codespace(),
            code: e.code(),
            log: e.to_string(),
        })?;
        Ok(Box::new(IbcMsg { any, apps: self.apps.clone() }))
    }

    fn error_codes(&self) -> &'static [ErrorDoc] {
        ERRORS
    }

    fn validate_genesis(&self, section: &serde_json::Value, _zone: Zone) -> Result<(), String> {
        // Clients, connections and channels are made by relayers after
        // genesis; there is nothing to configure.
        match section {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::Object(m) if m.is_empty() => Ok(()),
            _ => Err("ibc: the genesis section must be empty".into()),
        }
    }

    fn init_genesis(&self, section: &serde_json::Value, zone: Zone, _state: &mut dyn StateWrite) -> Result<(), String> {
        self.validate_genesis(section, zone)
    }

    fn export_genesis(&self, state: &dyn StateRead, _zone: Zone) -> Result<serde_json::Value, String> {
        let prefix = format!("{}/", ibc::core::host::types::path::ClientStatePath::prefix());
        let clients = state.prefix_raw(prefix.as_bytes()).map_err(|e| e.to_string())?;
        if !clients.is_empty() {
            return Err("ibc: light clients have no genesis form".into());
        }
        Ok(serde_json::Value::Null)
    }

    fn begin_block(&self, mut state: &mut dyn StateWrite, header: &BlockHeader<'_>) -> Result<(), StateError> {
        // Our own header, for counterparties' connection handshakes.
        crate::record_host_block(
            &mut state,
            header.block.height,
            header.block.block_time_nanos,
            header.last_app_hash,
            header.next_validators_hash,
        );
        Ok(())
    }

    fn check_invariants(&self, state: &dyn StateRead) -> Result<(), String> {
        // Every packet commitment is on a channel that exists: ibc-rs only
        // sends on a channel end it has stored, and never deletes one.
        let prefix = format!("{}/", ibc::core::host::types::path::CommitmentPath::prefix());
        for (k, _) in state.prefix_raw(prefix.as_bytes()).map_err(|e| e.to_string())? {
            let key = String::from_utf8_lossy(&k);
            let parts: Vec<&str> = key.split('/').collect();
            let (Some(port), Some(channel)) = (parts.get(2), parts.get(4)) else {
                return Err(format!("ibc: malformed commitment key {key}"));
            };
            let port = port.parse::<PortId>().map_err(|e| format!("ibc: commitment key {key}: {e}"))?;
            let channel = channel.parse::<ChannelId>().map_err(|e| format!("ibc: commitment key {key}: {e}"))?;
            let end = ChannelEndPath::new(&port, &channel).to_string();
            if state.get_raw(end.as_bytes()).map_err(|e| e.to_string())?.is_none() {
                return Err(format!("ibc: packet commitment {key} on a channel that does not exist"));
            }
        }
        Ok(())
    }

    fn query(&self, path: &str, data: &[u8], state: &dyn StateRead) -> Option<Result<Vec<u8>, QueryError>> {
        Some(match path {
            "packet_commitments" => {
                sequences_under(state, data, ChannelEndPath::commitments_path).and_then(|s| json_answer(&s))
            }
            "packet_acks" => sequences_under(state, data, ChannelEndPath::acks_path).and_then(|s| json_answer(&s)),
            "unreceived" => filter_sequences(state, data, false, receipt_key).and_then(|s| json_answer(&s)),
            "acked" => filter_sequences(state, data, true, ack_key).and_then(|s| json_answer(&s)),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use kawase_primitives::MemState;

    use super::*;

    fn state_with(keys: &[String]) -> MemState {
        let mut s = MemState::default();
        for k in keys {
            s.verifiable.insert(k.clone().into_bytes(), vec![1]);
        }
        s
    }

    fn ids() -> (PortId, ChannelId) {
        (settlement_port(), "channel-0".parse().expect("channel id"))
    }

    #[test]
    fn acked_answers_the_asked_sequences_that_have_an_ack_in_the_asked_order() {
        let (port, ch) = ids();
        let state = state_with(&[ack_key(&port, &ch, Sequence::from(2)), ack_key(&port, &ch, Sequence::from(5))]);
        let req = br#"{"channel":"channel-0","sequences":[5,3,2]}"#;
        assert_eq!(filter_sequences(&state, req, true, ack_key).expect("answer"), vec![5, 2]);
        // A receipt is not an ack.
        let state = state_with(&[receipt_key(&port, &ch, Sequence::from(2))]);
        assert_eq!(filter_sequences(&state, req, true, ack_key).expect("answer"), Vec::<u64>::new());
    }

    #[test]
    fn unreceived_answers_the_asked_sequences_without_a_receipt() {
        let (port, ch) = ids();
        let state = state_with(&[receipt_key(&port, &ch, Sequence::from(3))]);
        let req = br#"{"channel":"channel-0","sequences":[1,3,4]}"#;
        assert_eq!(filter_sequences(&state, req, false, receipt_key).expect("answer"), vec![1, 4]);
    }

    #[test]
    fn a_sequence_filter_refuses_a_bad_channel_or_an_unknown_field() {
        let state = MemState::default();
        for bad in [&br#"{"channel":"nope!","sequences":[1]}"#[..], br#"{"channel":"channel-0","sequences":[1],"x":1}"#]
        {
            assert!(matches!(filter_sequences(&state, bad, true, ack_key), Err(QueryError::BadRequest(_))));
        }
    }
}
