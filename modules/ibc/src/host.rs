use std::cell::RefCell;
use std::time::Duration;

use ibc::clients::tendermint::client_state::ClientState as TmClientState;
use ibc::clients::tendermint::consensus_state::ConsensusState as TmConsensusState;
use ibc::core::channel::types::channel::ChannelEnd;
use ibc::core::channel::types::commitment::{AcknowledgementCommitment, PacketCommitment};
use ibc::core::channel::types::packet::Receipt;
use ibc::core::channel::types::timeout::{TimeoutHeight, TimeoutTimestamp};
use ibc::core::client::context::{ClientExecutionContext, ClientValidationContext, ExtClientValidationContext};
use ibc::core::client::types::Height;
use ibc::core::commitment_types::commitment::{CommitmentPrefix, CommitmentRoot};
use ibc::core::commitment_types::specs::ProofSpecs;
use ibc::core::connection::types::ConnectionEnd;
use ibc::core::handler::types::events::IbcEvent;
use ibc::core::handler::types::msgs::MsgEnvelope;
use ibc::core::host::types::error::HostError;
use ibc::core::host::types::identifiers::{ChainId, ChannelId, ClientId, ConnectionId, PortId, Sequence};
use ibc::core::host::types::path::{
    AckPath, ChannelEndPath, ClientConnectionPath, ClientConsensusStatePath, ClientStatePath, ClientUpdateHeightPath,
    ClientUpdateTimePath, CommitmentPath, ConnectionPath, ReceiptPath, SeqAckPath, SeqRecvPath, SeqSendPath,
};
use ibc::core::host::{ExecutionContext, ValidationContext};
use ibc::core::router::module::Module;
use ibc::core::router::router::Router;
use ibc::core::router::types::module::ModuleId;
use ibc::cosmos_host::ValidateSelfClientContext;
use ibc::primitives::proto::{Any, Protobuf};
use ibc::primitives::{Signer, Timestamp};
use ibc_proto::ibc::core::connection::v1::ClientPaths;
use kawase_primitives::{Address, Delta, Event, StateRead, StateWrite};
use prost::Message;

use crate::{state_key, IbcError};

/// The unbonding period both zones advertise to light clients. The zones
/// are permissioned with a fixed validator set; three weeks, as on Cosmos
/// chains, bounds a client's trusting period.
pub const UNBONDING_PERIOD: Duration = Duration::from_secs(21 * 24 * 3600);

/// The longest a block is expected to take (delay periods in blocks).
const MAX_EXPECTED_TIME_PER_BLOCK: Duration = Duration::from_secs(10);

/// Where an IBC message executes.
#[derive(Clone, Debug)]
pub struct HostBlock {
    pub chain_id: String,
    pub height: u64,
    /// Header time of the executing block, nanoseconds since the epoch.
    pub time_nanos: u64,
}

/// ibc-rs's view of a zone's state during one transaction. Shares the
/// transaction's overlay with the application modules (see crate docs).
pub struct IbcHost<'a, B: StateRead> {
    state: &'a RefCell<Delta<B>>,
    chain_id: ChainId,
    height: Height,
    time: Timestamp,
    /// The transaction's signer: IBC messages must name it as their signer.
    signer: Address,
    specs: ProofSpecs,
    upgrade_path: Vec<String>,
}

fn read_err(e: impl std::fmt::Display) -> HostError {
    HostError::failed_to_retrieve(e)
}

fn missing(what: impl std::fmt::Display) -> HostError {
    HostError::missing_state(what)
}

fn decode_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> HostError {
    HostError::failed_to_retrieve(format!("corrupt {what}: {e}"))
}

impl<'a, B: StateRead> IbcHost<'a, B> {
    pub fn new(state: &'a RefCell<Delta<B>>, block: &HostBlock, signer: Address) -> Result<Self, IbcError> {
        let chain_id = ChainId::new(&block.chain_id).map_err(|e| IbcError::Malformed(format!("chain id: {e}")))?;
        let height = Height::new(chain_id.revision_number(), block.height)
            .map_err(|e| IbcError::Malformed(format!("height: {e}")))?;
        Ok(IbcHost {
            state,
            chain_id,
            height,
            time: Timestamp::from_nanoseconds(block.time_nanos),
            signer,
            specs: crate::proof_specs(),
            upgrade_path: vec!["upgrade".into(), "upgradedIBCState".into()],
        })
    }

    /// The transaction's signer.
    pub fn signer(&self) -> Address {
        self.signer
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        self.state.borrow().get_raw(key).map_err(read_err)
    }

    fn put(&self, key: Vec<u8>, value: Vec<u8>) {
        self.state.borrow_mut().put_raw(key, value)
    }

    fn del(&self, key: Vec<u8>) {
        self.state.borrow_mut().delete(key)
    }

    fn get_u64(&self, key: &[u8]) -> Result<u64, HostError> {
        match self.get(key)? {
            None => Ok(0),
            Some(b) => <[u8; 8]>::try_from(b.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| decode_err(String::from_utf8_lossy(key), "not 8 bytes")),
        }
    }

    fn bump(&self, key: &[u8]) -> Result<(), HostError> {
        let n = self.get_u64(key)?.checked_add(1).ok_or_else(|| HostError::failed_to_store("counter overflow"))?;
        self.put(key.to_vec(), n.to_be_bytes().to_vec());
        Ok(())
    }

    fn sequence(&self, key: &[u8]) -> Result<Sequence, HostError> {
        match self.get(key)? {
            None => Err(missing(String::from_utf8_lossy(key))),
            Some(b) => <[u8; 8]>::try_from(b.as_slice())
                .map(|b| Sequence::from(u64::from_be_bytes(b)))
                .map_err(|_| decode_err(String::from_utf8_lossy(key), "not 8 bytes")),
        }
    }

    /// Heights of the consensus states stored for `client_id`, ascending.
    fn heights(&self, client_id: &ClientId) -> Result<Vec<Height>, HostError> {
        let prefix = state_key::consensus_states_prefix(client_id);
        let entries = self.state.borrow().prefix_raw(&prefix).map_err(read_err)?;
        let mut out = Vec::with_capacity(entries.len());
        for (k, _) in entries {
            let rest = std::str::from_utf8(&k[prefix.len()..]).map_err(|e| decode_err("consensus key", e))?;
            // `…/{rev}-{h}/processedTime` and `…/processedHeight` (update
            // metadata, ibc-go's layout) share the prefix.
            if rest.contains('/') {
                continue;
            }
            let (rev, h) = rest.split_once('-').ok_or_else(|| decode_err("consensus key", rest))?;
            let rev = rev.parse().map_err(|e| decode_err("consensus key", e))?;
            let h = h.parse().map_err(|e| decode_err("consensus key", e))?;
            out.push(Height::new(rev, h).map_err(|e| decode_err("consensus key", e))?);
        }
        out.sort();
        Ok(out)
    }
}

fn path_key(path: impl Into<ibc::core::host::types::path::Path>) -> Vec<u8> {
    path.into().to_string().into_bytes()
}

impl<B: StateRead> ValidateSelfClientContext for IbcHost<'_, B> {
    fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
    fn host_current_height(&self) -> Height {
        self.height
    }
    fn proof_specs(&self) -> &ProofSpecs {
        &self.specs
    }
    fn unbonding_period(&self) -> Duration {
        UNBONDING_PERIOD
    }
    fn upgrade_path(&self) -> &[String] {
        &self.upgrade_path
    }
}

impl<B: StateRead> ClientValidationContext for IbcHost<'_, B> {
    type ClientStateRef = TmClientState;
    type ConsensusStateRef = TmConsensusState;

    fn client_state(&self, client_id: &ClientId) -> Result<TmClientState, HostError> {
        let raw = self
            .get(&path_key(ClientStatePath::new(client_id.clone())))?
            .ok_or_else(|| missing(format!("client {client_id}")))?;
        let any = Any::decode(raw.as_slice()).map_err(|e| decode_err("client state", e))?;
        TmClientState::try_from(any).map_err(|e| decode_err("client state", e))
    }

    fn consensus_state(&self, path: &ClientConsensusStatePath) -> Result<TmConsensusState, HostError> {
        let raw = self.get(&path_key(path.clone()))?.ok_or_else(|| missing(format!("consensus state {path}")))?;
        let any = Any::decode(raw.as_slice()).map_err(|e| decode_err("consensus state", e))?;
        TmConsensusState::try_from(any).map_err(|e| decode_err("consensus state", e))
    }

    fn client_update_meta(&self, client_id: &ClientId, height: &Height) -> Result<(Timestamp, Height), HostError> {
        let (rn, rh) = (height.revision_number(), height.revision_height());
        let time = self.get(&path_key(ClientUpdateTimePath::new(client_id.clone(), rn, rh)))?;
        let host_height = self.get(&path_key(ClientUpdateHeightPath::new(client_id.clone(), rn, rh)))?;
        match (time, host_height) {
            (Some(t), Some(h)) => {
                let t = <[u8; 8]>::try_from(t.as_slice()).map_err(|_| decode_err("update time", "not 8 bytes"))?;
                let h = Height::decode_vec(&h).map_err(|e| decode_err("update height", e))?;
                Ok((Timestamp::from_nanoseconds(u64::from_be_bytes(t)), h))
            }
            _ => Err(missing(format!("update meta of {client_id} at {height}"))),
        }
    }
}

impl<B: StateRead> ClientExecutionContext for IbcHost<'_, B> {
    type ClientStateMut = TmClientState;

    fn store_client_state(&mut self, path: ClientStatePath, client_state: TmClientState) -> Result<(), HostError> {
        self.put(path_key(path), Any::from(client_state).encode_to_vec());
        Ok(())
    }

    fn store_consensus_state(
        &mut self,
        path: ClientConsensusStatePath,
        consensus_state: TmConsensusState,
    ) -> Result<(), HostError> {
        self.put(path_key(path), Any::from(consensus_state).encode_to_vec());
        Ok(())
    }

    fn delete_consensus_state(&mut self, path: ClientConsensusStatePath) -> Result<(), HostError> {
        self.del(path_key(path));
        Ok(())
    }

    fn store_update_meta(
        &mut self,
        client_id: ClientId,
        height: Height,
        host_timestamp: Timestamp,
        host_height: Height,
    ) -> Result<(), HostError> {
        let (rn, rh) = (height.revision_number(), height.revision_height());
        self.put(
            path_key(ClientUpdateTimePath::new(client_id.clone(), rn, rh)),
            host_timestamp.nanoseconds().to_be_bytes().to_vec(),
        );
        self.put(path_key(ClientUpdateHeightPath::new(client_id, rn, rh)), host_height.encode_vec());
        Ok(())
    }

    fn delete_update_meta(&mut self, client_id: ClientId, height: Height) -> Result<(), HostError> {
        let (rn, rh) = (height.revision_number(), height.revision_height());
        self.del(path_key(ClientUpdateTimePath::new(client_id.clone(), rn, rh)));
        self.del(path_key(ClientUpdateHeightPath::new(client_id, rn, rh)));
        Ok(())
    }
}

impl<B: StateRead> ExtClientValidationContext for IbcHost<'_, B> {
    fn host_timestamp(&self) -> Result<Timestamp, HostError> {
        Ok(self.time)
    }

    fn host_height(&self) -> Result<Height, HostError> {
        Ok(self.height)
    }

    fn consensus_state_heights(&self, client_id: &ClientId) -> Result<Vec<Height>, HostError> {
        self.heights(client_id)
    }

    fn next_consensus_state(
        &self,
        client_id: &ClientId,
        height: &Height,
    ) -> Result<Option<TmConsensusState>, HostError> {
        let next = self.heights(client_id)?.into_iter().find(|h| h > height);
        next.map(|h| {
            self.consensus_state(&ClientConsensusStatePath::new(
                client_id.clone(),
                h.revision_number(),
                h.revision_height(),
            ))
        })
        .transpose()
    }

    fn prev_consensus_state(
        &self,
        client_id: &ClientId,
        height: &Height,
    ) -> Result<Option<TmConsensusState>, HostError> {
        let prev = self.heights(client_id)?.into_iter().rev().find(|h| h < height);
        prev.map(|h| {
            self.consensus_state(&ClientConsensusStatePath::new(
                client_id.clone(),
                h.revision_number(),
                h.revision_height(),
            ))
        })
        .transpose()
    }
}

impl<'a, B: StateRead> ValidationContext for IbcHost<'a, B> {
    type V = Self;
    type HostClientState = TmClientState;
    type HostConsensusState = TmConsensusState;

    fn get_client_validation_context(&self) -> &Self {
        self
    }

    fn host_height(&self) -> Result<Height, HostError> {
        Ok(self.height)
    }

    fn host_timestamp(&self) -> Result<Timestamp, HostError> {
        Ok(self.time)
    }

    fn host_consensus_state(&self, height: &Height) -> Result<TmConsensusState, HostError> {
        if height.revision_number() != self.chain_id.revision_number() {
            return Err(HostError::invalid_state(format!("height {height} is of another revision")));
        }
        host_consensus_state(&*self.state.borrow(), height.revision_height())
    }

    fn client_counter(&self) -> Result<u64, HostError> {
        self.get_u64(state_key::CLIENT_COUNTER)
    }

    fn connection_end(&self, conn_id: &ConnectionId) -> Result<ConnectionEnd, HostError> {
        let raw = self
            .get(&path_key(ConnectionPath::new(conn_id)))?
            .ok_or_else(|| missing(format!("connection {conn_id}")))?;
        ConnectionEnd::decode_vec(&raw).map_err(|e| decode_err("connection", e))
    }

    fn validate_self_client(&self, client_state_of_host_on_counterparty: TmClientState) -> Result<(), HostError> {
        self.validate_self_tendermint_client(client_state_of_host_on_counterparty.inner().clone())
    }

    fn commitment_prefix(&self) -> CommitmentPrefix {
        CommitmentPrefix::from_bytes(kawase_primitives::commitment::COMMITMENT_PREFIX)
    }

    fn connection_counter(&self) -> Result<u64, HostError> {
        self.get_u64(state_key::CONNECTION_COUNTER)
    }

    fn channel_end(&self, path: &ChannelEndPath) -> Result<ChannelEnd, HostError> {
        let raw = self.get(&path_key(path.clone()))?.ok_or_else(|| missing(format!("channel {path}")))?;
        ChannelEnd::decode_vec(&raw).map_err(|e| decode_err("channel", e))
    }

    fn get_next_sequence_send(&self, path: &SeqSendPath) -> Result<Sequence, HostError> {
        self.sequence(&path_key(path.clone()))
    }

    fn get_next_sequence_recv(&self, path: &SeqRecvPath) -> Result<Sequence, HostError> {
        self.sequence(&path_key(path.clone()))
    }

    fn get_next_sequence_ack(&self, path: &SeqAckPath) -> Result<Sequence, HostError> {
        self.sequence(&path_key(path.clone()))
    }

    fn get_packet_commitment(&self, path: &CommitmentPath) -> Result<PacketCommitment, HostError> {
        self.get(&path_key(path.clone()))?
            .map(PacketCommitment::from)
            .ok_or_else(|| missing(format!("packet commitment {path}")))
    }

    fn get_packet_receipt(&self, path: &ReceiptPath) -> Result<Receipt, HostError> {
        Ok(match self.get(&path_key(path.clone()))? {
            Some(_) => Receipt::Ok,
            None => Receipt::None,
        })
    }

    fn get_packet_acknowledgement(&self, path: &AckPath) -> Result<AcknowledgementCommitment, HostError> {
        self.get(&path_key(path.clone()))?
            .map(AcknowledgementCommitment::from)
            .ok_or_else(|| missing(format!("acknowledgement {path}")))
    }

    fn channel_counter(&self) -> Result<u64, HostError> {
        self.get_u64(state_key::CHANNEL_COUNTER)
    }

    fn max_expected_time_per_block(&self) -> Duration {
        MAX_EXPECTED_TIME_PER_BLOCK
    }

    fn validate_message_signer(&self, signer: &Signer) -> Result<(), HostError> {
        match signer.as_ref().parse::<Address>() {
            Ok(a) if a == self.signer => Ok(()),
            _ => Err(HostError::invalid_state(format!(
                "message signer `{}` is not the transaction signer {}",
                signer.as_ref().chars().take(64).collect::<String>(),
                self.signer
            ))),
        }
    }
}

impl<B: StateRead> ExecutionContext for IbcHost<'_, B> {
    type E = Self;

    fn get_client_execution_context(&mut self) -> &mut Self {
        self
    }

    fn increase_client_counter(&mut self) -> Result<(), HostError> {
        self.bump(state_key::CLIENT_COUNTER)
    }

    fn store_connection(&mut self, path: &ConnectionPath, end: ConnectionEnd) -> Result<(), HostError> {
        self.put(path_key(path.clone()), end.encode_vec());
        Ok(())
    }

    fn store_connection_to_client(
        &mut self,
        path: &ClientConnectionPath,
        conn_id: ConnectionId,
    ) -> Result<(), HostError> {
        let key = path_key(path.clone());
        let mut paths = match self.get(&key)? {
            Some(raw) => ClientPaths::decode(raw.as_slice()).map_err(|e| decode_err("client connections", e))?,
            None => ClientPaths::default(),
        };
        paths.paths.push(conn_id.to_string());
        self.put(key, paths.encode_to_vec());
        Ok(())
    }

    fn increase_connection_counter(&mut self) -> Result<(), HostError> {
        self.bump(state_key::CONNECTION_COUNTER)
    }

    fn store_packet_commitment(&mut self, path: &CommitmentPath, c: PacketCommitment) -> Result<(), HostError> {
        self.put(path_key(path.clone()), c.into_vec());
        Ok(())
    }

    fn delete_packet_commitment(&mut self, path: &CommitmentPath) -> Result<(), HostError> {
        self.del(path_key(path.clone()));
        Ok(())
    }

    fn store_packet_receipt(&mut self, path: &ReceiptPath, _receipt: Receipt) -> Result<(), HostError> {
        // ibc-go's receipt value: a single byte 1.
        self.put(path_key(path.clone()), vec![1]);
        Ok(())
    }

    fn store_packet_acknowledgement(&mut self, path: &AckPath, c: AcknowledgementCommitment) -> Result<(), HostError> {
        self.put(path_key(path.clone()), c.into_vec());
        Ok(())
    }

    fn delete_packet_acknowledgement(&mut self, path: &AckPath) -> Result<(), HostError> {
        self.del(path_key(path.clone()));
        Ok(())
    }

    fn store_channel(&mut self, path: &ChannelEndPath, end: ChannelEnd) -> Result<(), HostError> {
        self.put(path_key(path.clone()), end.encode_vec());
        Ok(())
    }

    fn store_next_sequence_send(&mut self, path: &SeqSendPath, seq: Sequence) -> Result<(), HostError> {
        self.put(path_key(path.clone()), u64::from(seq).to_be_bytes().to_vec());
        Ok(())
    }

    fn store_next_sequence_recv(&mut self, path: &SeqRecvPath, seq: Sequence) -> Result<(), HostError> {
        self.put(path_key(path.clone()), u64::from(seq).to_be_bytes().to_vec());
        Ok(())
    }

    fn store_next_sequence_ack(&mut self, path: &SeqAckPath, seq: Sequence) -> Result<(), HostError> {
        self.put(path_key(path.clone()), u64::from(seq).to_be_bytes().to_vec());
        Ok(())
    }

    fn increase_channel_counter(&mut self) -> Result<(), HostError> {
        self.bump(state_key::CHANNEL_COUNTER)
    }

    fn emit_ibc_event(&mut self, event: IbcEvent) -> Result<(), HostError> {
        // Events carrying packet data are rendered here: ibc-rs also writes
        // the data as a UTF-8 `packet_data` attribute (deprecated in
        // ibc-go) and fails on binary protobuf data; relayers read
        // `packet_data_hex`.
        if let Some(ev) = packet_event(&event) {
            self.state.borrow_mut().emit(ev);
            return Ok(());
        }
        // Everything else: ibc-rs's own ABCI rendering.
        let abci =
            tendermint::abci::Event::try_from(event).map_err(|e| HostError::failed_to_store(format!("event: {e}")))?;
        let mut ev = Event::new(abci.kind);
        for a in abci.attributes {
            let key = a.key_str().unwrap_or_default().to_owned();
            let value = a.value_str().unwrap_or_default().to_owned();
            ev = ev.attr(key, value);
        }
        self.state.borrow_mut().emit(ev);
        Ok(())
    }

    fn log_message(&mut self, _message: String) -> Result<(), HostError> {
        Ok(())
    }
}

fn timeout_height(h: &TimeoutHeight) -> String {
    match h {
        TimeoutHeight::Never => "0-0".into(),
        TimeoutHeight::At(h) => h.to_string(),
    }
}

/// Packet fields in ibc-go's attribute names, for the events that carry a
/// packet.
#[allow(clippy::too_many_arguments)]
fn packet_attrs(
    kind: &str,
    data: &[u8],
    height: &TimeoutHeight,
    timestamp: &TimeoutTimestamp,
    seq: Sequence,
    (src_port, src_chan): (&PortId, &ChannelId),
    (dst_port, dst_chan): (&PortId, &ChannelId),
    connection: &ConnectionId,
    ordering: &str,
) -> Event {
    Event::new(kind)
        .attr("packet_data_hex", hex::encode(data))
        .attr("packet_timeout_height", timeout_height(height))
        .attr("packet_timeout_timestamp", timestamp.nanoseconds())
        .attr("packet_sequence", seq)
        .attr("packet_src_port", src_port)
        .attr("packet_src_channel", src_chan)
        .attr("packet_dst_port", dst_port)
        .attr("packet_dst_channel", dst_chan)
        .attr("packet_channel_ordering", ordering)
        .attr("packet_connection", connection)
}

fn packet_event(event: &IbcEvent) -> Option<Event> {
    Some(match event {
        IbcEvent::SendPacket(e) => packet_attrs(
            "send_packet",
            e.packet_data(),
            e.timeout_height_on_b(),
            e.timeout_timestamp_on_b(),
            *e.seq_on_a(),
            (e.port_id_on_a(), e.chan_id_on_a()),
            (e.port_id_on_b(), e.chan_id_on_b()),
            e.conn_id_on_a(),
            e.channel_ordering().as_str(),
        ),
        IbcEvent::ReceivePacket(e) => packet_attrs(
            "recv_packet",
            e.packet_data(),
            e.timeout_height_on_b(),
            e.timeout_timestamp_on_b(),
            *e.seq_on_b(),
            (e.port_id_on_a(), e.chan_id_on_a()),
            (e.port_id_on_b(), e.chan_id_on_b()),
            e.conn_id_on_a(),
            e.channel_ordering().as_str(),
        ),
        IbcEvent::WriteAcknowledgement(e) => {
            let ack = e.acknowledgement().as_bytes();
            packet_attrs(
                "write_acknowledgement",
                e.packet_data(),
                e.timeout_height_on_b(),
                e.timeout_timestamp_on_b(),
                *e.seq_on_a(),
                (e.port_id_on_a(), e.chan_id_on_a()),
                (e.port_id_on_b(), e.chan_id_on_b()),
                e.conn_id_on_b(),
                "ORDER_UNORDERED",
            )
            .attr("packet_ack", String::from_utf8_lossy(ack))
            .attr("packet_ack_hex", hex::encode(ack))
        }
        _ => return None,
    })
}

/// The applications bound to ports (the settlement app on `settlement`).
#[derive(Default)]
pub struct Routes<'m> {
    entries: Vec<(PortId, ModuleId, Box<dyn Module + 'm>)>,
}

impl<'m> Routes<'m> {
    pub fn add(mut self, port: PortId, module: Box<dyn Module + 'm>) -> Self {
        let id = ModuleId::new(port.to_string());
        self.entries.push((port, id, module));
        self
    }
}

impl Router for Routes<'_> {
    fn get_route(&self, module_id: &ModuleId) -> Option<&dyn Module> {
        self.entries.iter().find(|(_, id, _)| id == module_id).map(|(_, _, m)| m.as_ref() as &dyn Module)
    }

    fn get_route_mut(&mut self, module_id: &ModuleId) -> Option<&mut dyn Module> {
        for (_, id, m) in self.entries.iter_mut() {
            if id == module_id {
                return Some(m.as_mut());
            }
        }
        None
    }

    fn lookup_module(&self, port_id: &PortId) -> Option<ModuleId> {
        self.entries.iter().find(|(p, _, _)| p == port_id).map(|(_, id, _)| id.clone())
    }
}

/// Runs one IBC message (validate, then execute) on the host.
pub fn dispatch<B: StateRead>(host: &mut IbcHost<'_, B>, routes: &mut Routes<'_>, msg: Any) -> Result<(), IbcError> {
    let envelope = envelope(msg)?;
    ibc::core::entrypoint::dispatch(host, routes, envelope).map_err(IbcError::from)
}

/// Decodes an IBC message (the stateless check CheckTx runs too).
pub fn envelope(msg: Any) -> Result<MsgEnvelope, IbcError> {
    // ibc-rs neither decodes nor dispatches ibc-go's recover-client (only a
    // chain's authority may recover); say where recovery lives instead.
    if msg.type_url == ibc::core::client::types::msgs::RECOVER_CLIENT_TYPE_URL {
        return Err(IbcError::Client(
            "client recovery is the zone admin's: send /kawase.settlement.v1.MsgRecoverClient".into(),
        ));
    }
    MsgEnvelope::try_from(msg).map_err(|e| IbcError::Malformed(e.to_string()))
}

/// This zone's own header at a height, as a counterparty's light client
/// stores it. Recorded by [`record_host_block`] when the block executes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HostHeader {
    #[prost(uint64, tag = "1")]
    pub time_nanos: u64,
    /// The header's app hash (the state after the previous block).
    #[prost(bytes = "vec", tag = "2")]
    pub app_hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub next_validators_hash: Vec<u8>,
}

/// Records this block's header fields (node-local: they are derived from the
/// header every validator agreed on) for connection handshakes, which check
/// that the counterparty stored our consensus state faithfully.
pub fn record_host_block<S: StateWrite>(
    state: &mut S,
    height: u64,
    time_nanos: u64,
    app_hash: [u8; 32],
    next_validators_hash: &[u8],
) {
    let rec =
        HostHeader { time_nanos, app_hash: app_hash.to_vec(), next_validators_hash: next_validators_hash.to_vec() };
    state.put_nonverifiable(state_key::host_block(height), rec.encode_to_vec());
}

/// This zone's consensus state at `height`, from the record of its header.
pub fn host_consensus_state<S: StateRead>(state: &S, height: u64) -> Result<TmConsensusState, HostError> {
    let raw = state
        .get_nonverifiable(&state_key::host_block(height))
        .map_err(read_err)?
        .ok_or_else(|| missing(format!("own header at height {height}")))?;
    let rec = HostHeader::decode(raw.as_slice()).map_err(|e| decode_err("host block", e))?;
    let time = i64::try_from(rec.time_nanos)
        .ok()
        .and_then(|n| tendermint::Time::from_unix_timestamp(n / 1_000_000_000, (n % 1_000_000_000) as u32).ok())
        .ok_or_else(|| decode_err("host block", "time out of range"))?;
    let next = tendermint::Hash::from_bytes(tendermint::hash::Algorithm::Sha256, &rec.next_validators_hash)
        .map_err(|e| decode_err("host block", e))?;
    Ok(TmConsensusState::from(ibc::clients::tendermint::types::ConsensusState::new(
        CommitmentRoot::from_bytes(&rec.app_hash),
        time,
        next,
    )))
}
