//! Messages of `kawase.settlement.v1`: each changes state and sends one
//! packet on the settlement channel, or fails having done neither.
use std::cell::RefCell;

use kawase_accounts::StateReadExt as _;
use kawase_ibc::ibc::core::channel::handler::send_packet;
use kawase_ibc::ibc::core::channel::types::packet::Packet;
use kawase_ibc::ibc::core::channel::types::timeout::{TimeoutHeight, TimeoutTimestamp};
use kawase_ibc::ibc::core::host::types::identifiers::{ChannelId, ClientId, PortId};
use kawase_ibc::ibc::core::host::types::path::{ChannelEndPath, SeqSendPath};
use kawase_ibc::ibc::core::host::ValidationContext;
use kawase_ibc::ibc::primitives::Timestamp;
use kawase_ibc::{HostBlock, IbcHost};
use kawase_primitives::{proto_name, Address, Amount, Delta, Event, StateRead, StateWrite};
use kawase_token::StateWriteExt as _;
use prost::Name;

use crate::packet::Instruction;
use crate::state::{HoldKind, LinkStatus, StateReadExt as _, StateWriteExt as _};
use crate::{Error, Side, DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS};

/// FZ: a KYC'd holder links its FZ account to a BZ address on `channel_id`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgLink {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub channel_id: String,
    #[prost(string, tag = "3")]
    pub bz_address: String,
    /// Packet timeout in seconds; 0 means the default (600).
    #[prost(uint64, tag = "4")]
    pub timeout_seconds: u64,
}
proto_name!(MsgLink, "kawase.settlement.v1", "MsgLink");

/// FZ: free balance -> reserved for the BZ, credited there on receipt.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgCharge {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub channel_id: String,
    #[prost(string, tag = "3")]
    pub amount: String,
    #[prost(uint64, tag = "4")]
    pub timeout_seconds: u64,
}
proto_name!(MsgCharge, "kawase.settlement.v1", "MsgCharge");

/// BZ: pay another BZ account; settles on the FZ before the payee is paid.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgPay {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub to: String,
    #[prost(string, tag = "3")]
    pub amount: String,
    #[prost(string, tag = "4")]
    pub memo: String,
    #[prost(uint64, tag = "5")]
    pub timeout_seconds: u64,
}
proto_name!(MsgPay, "kawase.settlement.v1", "MsgPay");

/// BZ: BZ balance -> the linked FZ account's free balance.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgDischarge {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub amount: String,
    #[prost(uint64, tag = "3")]
    pub timeout_seconds: u64,
}
proto_name!(MsgDischarge, "kawase.settlement.v1", "MsgDischarge");

/// A statelessly valid settlement action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Link {
        signer: Address,
        channel: ChannelId,
        bz: Address,
        timeout_secs: u64,
    },
    Charge {
        signer: Address,
        channel: ChannelId,
        amount: Amount,
        timeout_secs: u64,
    },
    Pay {
        signer: Address,
        to: Address,
        amount: Amount,
        memo: String,
        timeout_secs: u64,
    },
    Discharge {
        signer: Address,
        amount: Amount,
        timeout_secs: u64,
    },
    /// Admin: revive an expired or frozen client (sends no packet).
    RecoverClient {
        signer: Address,
        subject: ClientId,
        substitute: ClientId,
    },
}

/// Longest payment memo.
pub const MAX_MEMO_LEN: usize = 256;

fn addr(field: &'static str, s: &str) -> Result<Address, Error> {
    kawase_primitives::parse_address_field(field, s).map_err(|(field, reason)| Error::InvalidField { field, reason })
}

/// A positive [`Amount`]; a bad one is the token module's error (zero or
/// invalid amount), as for token messages.
fn amount(s: &str) -> Result<Amount, Error> {
    kawase_token::msg::amount(s).map_err(Error::from)
}

fn channel(s: &str) -> Result<ChannelId, Error> {
    s.parse::<ChannelId>().map_err(|e| Error::InvalidField { field: "channel_id", reason: e.to_string() })
}

fn timeout(secs: u64) -> Result<u64, Error> {
    match secs {
        0 => Ok(DEFAULT_TIMEOUT_SECS),
        s if s <= MAX_TIMEOUT_SECS => Ok(s),
        _ => Err(Error::InvalidField { field: "timeout_seconds", reason: format!("at most {MAX_TIMEOUT_SECS}") }),
    }
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, Error> {
    M::decode(bytes).map_err(|e| Error::InvalidField { field: "msg", reason: format!("malformed protobuf: {e}") })
}

impl Msg {
    pub fn type_urls() -> [String; 5] {
        [
            MsgLink::type_url(),
            MsgCharge::type_url(),
            MsgPay::type_url(),
            MsgDischarge::type_url(),
            crate::MsgRecoverClient::type_url(),
        ]
    }

    /// Stateless phase: decode and validate. `None` if the type URL is not ours.
    pub fn decode_any(type_url: &str, value: &[u8]) -> Option<Result<Msg, Error>> {
        let name = type_url.strip_prefix("/kawase.settlement.v1.")?;
        Some(match name {
            "MsgLink" => decode::<MsgLink>(value).and_then(|m| {
                Ok(Msg::Link {
                    signer: addr("signer", &m.signer)?,
                    channel: channel(&m.channel_id)?,
                    bz: addr("bz_address", &m.bz_address)?,
                    timeout_secs: timeout(m.timeout_seconds)?,
                })
            }),
            "MsgCharge" => decode::<MsgCharge>(value).and_then(|m| {
                Ok(Msg::Charge {
                    signer: addr("signer", &m.signer)?,
                    channel: channel(&m.channel_id)?,
                    amount: amount(&m.amount)?,
                    timeout_secs: timeout(m.timeout_seconds)?,
                })
            }),
            "MsgPay" => decode::<MsgPay>(value).and_then(|m| {
                let (signer, to) = (addr("signer", &m.signer)?, addr("to", &m.to)?);
                if signer == to {
                    return Err(Error::SelfPayment);
                }
                if m.memo.len() > MAX_MEMO_LEN {
                    return Err(Error::InvalidField {
                        field: "memo",
                        reason: format!("longer than {MAX_MEMO_LEN} bytes"),
                    });
                }
                Ok(Msg::Pay {
                    signer,
                    to,
                    amount: amount(&m.amount)?,
                    memo: m.memo,
                    timeout_secs: timeout(m.timeout_seconds)?,
                })
            }),
            "MsgDischarge" => decode::<MsgDischarge>(value).and_then(|m| {
                Ok(Msg::Discharge {
                    signer: addr("signer", &m.signer)?,
                    amount: amount(&m.amount)?,
                    timeout_secs: timeout(m.timeout_seconds)?,
                })
            }),
            "MsgRecoverClient" => decode::<crate::MsgRecoverClient>(value).and_then(|m| {
                Ok(Msg::RecoverClient {
                    signer: addr("signer", &m.signer)?,
                    subject: crate::recover::client_id("subject_client_id", &m.subject_client_id)?,
                    substitute: crate::recover::client_id("substitute_client_id", &m.substitute_client_id)?,
                })
            }),
            other => {
                Err(Error::InvalidField { field: "type_url", reason: format!("unknown settlement message `{other}`") })
            }
        })
    }

    pub fn signer(&self) -> Address {
        match self {
            Msg::Link { signer, .. }
            | Msg::Charge { signer, .. }
            | Msg::Pay { signer, .. }
            | Msg::Discharge { signer, .. }
            | Msg::RecoverClient { signer, .. } => *signer,
        }
    }

    /// The zone the message belongs on; `None`: either.
    fn side(&self) -> Option<Side> {
        match self {
            Msg::Link { .. } | Msg::Charge { .. } => Some(Side::Fz),
            Msg::Pay { .. } | Msg::Discharge { .. } => Some(Side::Bz),
            Msg::RecoverClient { .. } => None,
        }
    }

    /// Stateful phase on the transaction's overlay (dropped by the caller on
    /// error): the state change, then the packet that carries it.
    pub fn execute<B: StateRead>(&self, cell: &RefCell<Delta<B>>, side: Side, block: &HostBlock) -> Result<(), Error> {
        if let Msg::RecoverClient { signer, subject, substitute } = self {
            return crate::recover::execute(cell, block, *signer, subject, substitute);
        }
        let mut host = IbcHost::new(cell, block, self.signer()).map_err(|e| Error::Send(e.to_string()))?;
        let (out, changes) = {
            let base = cell.borrow();
            let mut child = Delta::new(&*base);
            let out = self.apply(&mut child, side, |ch| next_sequence(&host, ch))?;
            (out, child.into_changes())
        };
        cell.borrow_mut().apply(changes);
        let sent = send(&mut host, &out, block)?;
        debug_assert_eq!(sent, out.sequence, "the sequence a hold is keyed by is the packet's");
        Ok(())
    }

    /// The state change of the message, and the packet it must send:
    /// `next_seq(channel)` is the sequence that packet will carry (holds are
    /// keyed by it). Split from [`Msg::execute`] so the money logic can be
    /// driven without an IBC stack (property tests).
    pub fn apply<S: StateWrite>(
        &self,
        s: &mut S,
        side: Side,
        next_seq: impl Fn(&ChannelId) -> Result<u64, Error>,
    ) -> Result<Outgoing, Error> {
        if let Some(s) = self.side().filter(|s| *s != side) {
            return Err(Error::WrongZone { expected: s.as_str() });
        }
        let signer = self.signer();
        Ok(match self {
            Msg::Link { channel, bz, timeout_secs, .. } => {
                let (_, bank) = s.active_holder(&signer)?;
                let ch = channel.as_str();
                if s.fz_link(ch, &signer)?.is_some() {
                    return Err(Error::AlreadyLinked(signer));
                }
                if s.fz_bz_taken(ch, bz)? {
                    return Err(Error::AlreadyLinked(*bz));
                }
                let seq = next_seq(channel)?;
                s.put_fz_link(ch, &signer, bz, LinkStatus::Pending);
                s.emit(
                    Event::new("settlement_link")
                        .attr("fz_address", signer)
                        .attr("bz_address", bz)
                        .attr("bank", bank)
                        .attr("channel", ch)
                        .attr("sequence", seq),
                );
                Outgoing::new(channel.clone(), seq, Instruction::Link { fz: signer, bank, bz: *bz }, *timeout_secs)
            }
            Msg::Charge { channel, amount, timeout_secs, .. } => {
                let ch = channel.as_str();
                let (_, bank) = s.active_holder(&signer)?;
                let bz = s.active_fz_link(ch, &signer)?;
                let seq = next_seq(channel)?;
                s.reserve(ch, &signer, *amount)?;
                s.emit(
                    Event::new("settlement_charge")
                        .attr("fz_address", signer)
                        .attr("bz_address", bz)
                        .attr("bank", bank)
                        .attr("amount", amount)
                        .attr("channel", ch)
                        .attr("sequence", seq),
                );
                Outgoing::new(
                    channel.clone(),
                    seq,
                    Instruction::Charge { fz: signer, bz, amount: *amount },
                    *timeout_secs,
                )
            }
            Msg::Pay { to, amount, memo, timeout_secs, .. } => {
                let (channel, from_fz, _) = bz_linked(s, &signer)?;
                let (ch2, to_fz, _) = bz_linked(s, to)?;
                if ch2 != channel {
                    return Err(Error::NotLinked(*to));
                }
                s.active_account(&signer)?;
                // A payee frozen or closed on this BZ is refused here, before
                // anything is held; the FZ checks its own side on settlement.
                s.active_account(to)?;
                let chan = channel_id(&channel)?;
                let seq = next_seq(&chan)?;
                s.bz_hold(&channel, seq, &signer, HoldKind::Payment, Some(to), *amount)?;
                s.emit(
                    Event::new("settlement_pay")
                        .attr("from", signer)
                        .attr("to", to)
                        .attr("amount", amount)
                        .attr("channel", &channel)
                        .attr("sequence", seq),
                );
                let ins = Instruction::Payment {
                    from_fz,
                    to_fz,
                    from_bz: signer,
                    to_bz: *to,
                    amount: *amount,
                    memo: memo.clone(),
                };
                Outgoing::new(chan, seq, ins, *timeout_secs)
            }
            Msg::Discharge { amount, timeout_secs, .. } => {
                let (channel, fz, _) = bz_linked(s, &signer)?;
                s.active_account(&signer)?;
                let chan = channel_id(&channel)?;
                let seq = next_seq(&chan)?;
                s.bz_hold(&channel, seq, &signer, HoldKind::Discharge, None, *amount)?;
                s.emit(
                    Event::new("settlement_discharge")
                        .attr("bz_address", signer)
                        .attr("fz_address", fz)
                        .attr("amount", amount)
                        .attr("channel", &channel)
                        .attr("sequence", seq),
                );
                Outgoing::new(chan, seq, Instruction::Discharge { fz, bz: signer, amount: *amount }, *timeout_secs)
            }
            Msg::RecoverClient { .. } => {
                return Err(Error::InvalidField { field: "msg", reason: "MsgRecoverClient sends no packet".into() })
            }
        })
    }
}

/// The packet a message sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub channel: ChannelId,
    pub sequence: u64,
    pub instruction: Instruction,
    pub timeout_secs: u64,
}

impl Outgoing {
    fn new(channel: ChannelId, sequence: u64, instruction: Instruction, timeout_secs: u64) -> Self {
        Outgoing { channel, sequence, instruction, timeout_secs }
    }
}

fn bz_linked<S: StateRead>(s: &S, bz: &Address) -> Result<(String, Address, Address), Error> {
    let (fz, bank, channel) = s.bz_link(bz)?.ok_or(Error::NotLinked(*bz))?;
    Ok((channel, fz, bank))
}

fn channel_id(s: &str) -> Result<ChannelId, Error> {
    s.parse::<ChannelId>().map_err(|e| Error::Storage(kawase_primitives::StateError(format!("channel id: {e}"))))
}

fn port() -> PortId {
    PortId::new(kawase_ibc::SETTLEMENT_PORT.to_owned()).expect("`settlement` is a valid port id")
}

fn next_sequence<B: StateRead>(host: &IbcHost<'_, B>, channel: &ChannelId) -> Result<u64, Error> {
    host.get_next_sequence_send(&SeqSendPath::new(&port(), channel))
        .map(u64::from)
        .map_err(|_| Error::UnknownChannel(channel.to_string()))
}

/// Sends the packet on its channel with a timeout `timeout_secs` after
/// this block's time; returns the sequence it carried.
fn send<B: StateRead>(host: &mut IbcHost<'_, B>, out: &Outgoing, block: &HostBlock) -> Result<u64, Error> {
    let (channel, ins, timeout_secs) = (&out.channel, &out.instruction, out.timeout_secs);
    let port = port();
    let end = host
        .channel_end(&ChannelEndPath::new(&port, channel))
        .map_err(|_| Error::UnknownChannel(channel.to_string()))?;
    if !end.is_open() {
        return Err(Error::UnknownChannel(channel.to_string()));
    }
    let counterparty_channel =
        end.counterparty().channel_id().cloned().ok_or_else(|| Error::UnknownChannel(channel.to_string()))?;
    let seq = next_sequence(host, channel)?;
    let timeout_at = block
        .time_nanos
        .checked_add(timeout_secs.saturating_mul(1_000_000_000))
        .ok_or(Error::Overflow("packet timeout"))?;
    let packet = Packet {
        seq_on_a: seq.into(),
        port_id_on_a: port.clone(),
        chan_id_on_a: channel.clone(),
        port_id_on_b: end.counterparty().port_id().clone(),
        chan_id_on_b: counterparty_channel,
        data: ins.encode(),
        timeout_height_on_b: TimeoutHeight::Never,
        timeout_timestamp_on_b: TimeoutTimestamp::At(Timestamp::from_nanoseconds(timeout_at)),
    };
    send_packet(host, packet).map_err(|e| Error::Send(e.to_string()))?;
    Ok(seq)
}
