//! The IBC application on port `settlement`.
use std::cell::RefCell;

use kawase_accounts::{Role, StateReadExt as _, StateWriteExt as _};
use kawase_ibc::ibc::core::channel::types::acknowledgement::{Acknowledgement, AcknowledgementStatus, StatusValue};
use kawase_ibc::ibc::core::channel::types::channel::{Counterparty, Order};
use kawase_ibc::ibc::core::channel::types::error::ChannelError;
use kawase_ibc::ibc::core::channel::types::packet::Packet;
use kawase_ibc::ibc::core::channel::types::Version;
use kawase_ibc::ibc::core::host::types::identifiers::{ChannelId, ConnectionId, PortId};
use kawase_ibc::ibc::core::router::module::Module;
use kawase_ibc::ibc::core::router::types::module::ModuleExtras;
use kawase_ibc::ibc::primitives::Signer;
use kawase_primitives::{Address, Amount, Delta, Event, StateRead, StateWrite};
use kawase_token::{StateReadExt as _, StateWriteExt as _};

use crate::counterparty::CounterpartyRead as _;
use crate::packet::Instruction;
use crate::state::{LinkStatus, StateReadExt as _, StateWriteExt as _};
use crate::{Error, Side, VERSION};

/// The settlement application of one zone, sharing the transaction's
/// overlay with the IBC host.
pub struct SettlementApp<'a, B: StateRead> {
    state: &'a RefCell<Delta<B>>,
    side: Side,
}

impl<'a, B: StateRead> SettlementApp<'a, B> {
    pub fn new(state: &'a RefCell<Delta<B>>, side: Side) -> Self {
        SettlementApp { state, side }
    }

    /// A storage failure must halt the node, never become an (error)
    /// acknowledgement or a refused packet: the callbacks cannot return it,
    /// so it is latched on the shared overlay, where the executor finds it.
    fn latch_fault(&self, e: &Error) {
        if kawase_primitives::ErrorCode::is_storage_fault(e) {
            self.state.borrow().record_fault(kawase_primitives::StateError(e.to_string()));
        }
    }

    /// Runs `f` on a child overlay: applied if it succeeds, dropped if not,
    /// so a refused packet leaves nothing behind but its error ack.
    fn atomically(&self, f: impl FnOnce(&mut Delta<&Delta<B>>) -> Result<(), Error>) -> Result<(), Error> {
        let changes = {
            let base = self.state.borrow();
            let mut child = Delta::new(&*base);
            f(&mut child)?;
            child.into_changes()
        };
        self.state.borrow_mut().apply(changes);
        Ok(())
    }

    fn check_channel(
        &self,
        order: Order,
        hops: &[ConnectionId],
        counterparty: &Counterparty,
        version: &Version,
    ) -> Result<(), ChannelError> {
        let refuse = |why: String| ChannelError::AppSpecific { description: why };
        if order != Order::Unordered {
            return Err(refuse("settlement channels are unordered".into()));
        }
        if hops.len() != 1 {
            return Err(refuse("settlement channels have exactly one connection hop".into()));
        }
        if counterparty.port_id().as_str() != kawase_ibc::SETTLEMENT_PORT {
            return Err(refuse(format!("counterparty port must be `{}`", kawase_ibc::SETTLEMENT_PORT)));
        }
        if !version.as_str().is_empty() && version.as_str() != VERSION {
            return Err(refuse(format!("version must be `{VERSION}`")));
        }
        if self.side == Side::Bz {
            let existing = self.state.borrow().bz_channel().map_err(|e| refuse(e.to_string()))?;
            if let Some(c) = existing {
                return Err(refuse(format!("this BZ already settles on {c}")));
            }
            // Only a channel to the FZ this BZ names (defect 5a): the chain
            // its connection's client tracks, and the pinned ids if any.
            let state = self.state.borrow();
            let fz = state.fz_counterparty().map_err(|e| refuse(e.to_string()))?.ok_or_else(|| {
                refuse("this BZ names no FZ counterparty (genesis `settlement.fz`): no channel is accepted".into())
            })?;
            let (client, chain) = kawase_ibc::connection_chain(&*state, &hops[0]).map_err(|e| refuse(e.to_string()))?;
            fz.accepts(hops[0].as_str(), client.as_str(), &chain).map_err(refuse)?;
        }
        Ok(())
    }

    fn on_open(&self, channel: &ChannelId) {
        if self.side == Side::Bz {
            self.state.borrow_mut().set_bz_channel(channel.as_str());
        }
    }

    /// Receipt of an instruction on this zone's end of `channel`.
    fn receive(&self, channel: &str, sequence: u64, ins: &Instruction) -> Result<(), Error> {
        match (self.side, ins) {
            (Side::Bz, Instruction::Link { fz, bank, bz }) => self.atomically(|s| {
                if s.bz_channel()?.as_deref() != Some(channel) {
                    return Err(Error::UnknownChannel(channel.to_owned()));
                }
                if s.account(bz)?.is_some() {
                    return Err(Error::AlreadyLinked(*bz));
                }
                s.create_account(*bz, Role::Customer, Some(*bank), fz.to_string(), String::new())?;
                s.put_bz_link(bz, fz, bank, channel);
                s.emit(
                    Event::new("settlement_linked")
                        .attr("bz_address", bz)
                        .attr("fz_address", fz)
                        .attr("bank", bank)
                        .attr("channel", channel),
                );
                Ok(())
            }),
            (Side::Bz, Instruction::Charge { fz, bz, amount }) => self.atomically(|s| {
                match s.bz_link(bz)? {
                    Some((f, _, c)) if f == *fz && c == channel => {}
                    _ => return Err(Error::NotLinked(*bz)),
                }
                // Only an active account receives: a charge to one closed or
                // frozen since it was sent is refused, and the error ack
                // makes the FZ unreserve it (nothing is ever credited to a
                // closed account, where nothing could move it again).
                s.active_account(bz)?;
                s.bz_mint(bz, *amount)?;
                s.emit(
                    Event::new("settlement_charged")
                        .attr("bz_address", bz)
                        .attr("amount", amount)
                        .attr("channel", channel)
                        .attr("sequence", sequence),
                );
                Ok(())
            }),
            (Side::Fz, Instruction::Payment { from_fz, to_fz, from_bz, to_bz, amount, memo }) => self.atomically(|s| {
                for (fz, bz) in [(from_fz, from_bz), (to_fz, to_bz)] {
                    if s.active_fz_link(channel, fz)? != *bz {
                        return Err(Error::NotLinked(*bz));
                    }
                }
                let (_, from_bank) = s.active_holder(from_fz)?;
                let (_, to_bank) = s.active_holder(to_fz)?;
                s.move_reserved(channel, (from_fz, &from_bank), (to_fz, &to_bank), *amount)?;
                let mut ev = Event::new("settlement_payment")
                    .attr("from", from_fz)
                    .attr("to", to_fz)
                    .attr("amount", amount)
                    .attr("channel", channel)
                    .attr("sequence", sequence);
                if from_bank != to_bank {
                    ev = ev.attr("from_bank", from_bank).attr("to_bank", to_bank);
                }
                if !memo.is_empty() {
                    ev = ev.attr("memo", memo);
                }
                s.emit(ev);
                Ok(())
            }),
            (Side::Fz, Instruction::Discharge { fz, bz, amount }) => self.atomically(|s| {
                if s.active_fz_link(channel, fz)? != *bz {
                    return Err(Error::NotLinked(*bz));
                }
                s.active_holder(fz)?;
                s.unreserve(channel, fz, *amount)?;
                s.emit(
                    Event::new("settlement_discharged")
                        .attr("fz_address", fz)
                        .attr("amount", amount)
                        .attr("channel", channel)
                        .attr("sequence", sequence),
                );
                Ok(())
            }),
            (side, _) => Err(Error::WrongZone { expected: if side == Side::Fz { "bz" } else { "fz" } }),
        }
    }

    /// The outcome of a packet this zone sent: `ok` on a success ack,
    /// otherwise (error ack or timeout) the sender's side is undone.
    fn conclude(&self, channel: &str, sequence: u64, ins: &Instruction, ok: bool, why: &str) -> Result<(), Error> {
        self.atomically(|s| {
            match (self.side, ins) {
                (Side::Fz, Instruction::Link { fz, bz, .. }) => {
                    if ok {
                        s.put_fz_link(channel, fz, bz, LinkStatus::Active);
                    } else {
                        s.delete_fz_link(channel, fz, bz);
                    }
                }
                (Side::Fz, Instruction::Charge { fz, amount, .. }) => {
                    if !ok {
                        s.unreserve(channel, fz, *amount)?;
                    }
                }
                (Side::Bz, Instruction::Payment { from_bz, to_bz, amount, .. }) => {
                    // On success the FZ has already moved the money to the
                    // payee's reservation, so only the payee may get it, even
                    // if frozen meanwhile; it cannot be closed (its incoming
                    // payment counts as funds, see `BzHoldings`).
                    let hold = s.bz_release(channel, sequence)?;
                    debug_assert_eq!((hold.owner, hold.amount), (*from_bz, *amount));
                    s.bz_credit(if ok { to_bz } else { from_bz }, *amount)?;
                }
                (Side::Bz, Instruction::Discharge { bz, amount, .. }) => {
                    s.bz_release(channel, sequence)?;
                    if ok {
                        s.bz_burn_released(*amount)?;
                    } else {
                        s.bz_credit(bz, *amount)?;
                    }
                }
                // This zone never sends these kinds.
                _ => return Err(Error::MalformedPacket(format!("{} was not sent by this zone", ins.kind()))),
            }
            let mut ev = Event::new(if ok { "settlement_settled" } else { "settlement_refunded" })
                .attr("kind", ins.kind())
                .attr("channel", channel)
                .attr("sequence", sequence);
            if !ok {
                ev = ev.attr("reason", why);
            }
            s.emit(ev);
            Ok(())
        })
    }
}

impl<B: StateRead> std::fmt::Debug for SettlementApp<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettlementApp").field("side", &self.side).finish()
    }
}

fn app_err(e: Error) -> ChannelError {
    ChannelError::AppSpecific { description: e.ack_text() }
}

/// Success acks carry `{"result":"AQ=="}` (ibc-go's convention).
fn success_ack() -> Acknowledgement {
    AcknowledgementStatus::success(StatusValue::new("AQ==").expect("non-empty")).into()
}

fn error_ack(e: &Error) -> Acknowledgement {
    AcknowledgementStatus::error(StatusValue::new(e.ack_text()).expect("error text is never empty")).into()
}

/// `Some(true)` for a success ack, `Some(false)` for an error ack.
pub fn ack_is_success(ack: &[u8]) -> Option<bool> {
    if ack.starts_with(br#"{"result":"#) {
        Some(true)
    } else if ack.starts_with(br#"{"error":"#) {
        Some(false)
    } else {
        None
    }
}

fn ack_reason(ack: &[u8]) -> String {
    String::from_utf8_lossy(ack).chars().take(256).collect()
}

impl<B: StateRead> Module for SettlementApp<'_, B> {
    fn on_chan_open_init_validate(
        &self,
        order: Order,
        hops: &[ConnectionId],
        _port_id: &PortId,
        _channel_id: &ChannelId,
        counterparty: &Counterparty,
        version: &Version,
    ) -> Result<Version, ChannelError> {
        self.check_channel(order, hops, counterparty, version)?;
        Ok(Version::new(VERSION.into()))
    }

    fn on_chan_open_init_execute(
        &mut self,
        _order: Order,
        _hops: &[ConnectionId],
        _port_id: &PortId,
        channel_id: &ChannelId,
        _counterparty: &Counterparty,
        _version: &Version,
    ) -> Result<(ModuleExtras, Version), ChannelError> {
        self.on_open(channel_id);
        Ok((ModuleExtras::empty(), Version::new(VERSION.into())))
    }

    fn on_chan_open_try_validate(
        &self,
        order: Order,
        hops: &[ConnectionId],
        _port_id: &PortId,
        _channel_id: &ChannelId,
        counterparty: &Counterparty,
        counterparty_version: &Version,
    ) -> Result<Version, ChannelError> {
        if counterparty_version.as_str() != VERSION {
            return Err(ChannelError::AppSpecific { description: format!("version must be `{VERSION}`") });
        }
        self.check_channel(order, hops, counterparty, counterparty_version)?;
        Ok(Version::new(VERSION.into()))
    }

    fn on_chan_open_try_execute(
        &mut self,
        _order: Order,
        _hops: &[ConnectionId],
        _port_id: &PortId,
        channel_id: &ChannelId,
        _counterparty: &Counterparty,
        _counterparty_version: &Version,
    ) -> Result<(ModuleExtras, Version), ChannelError> {
        self.on_open(channel_id);
        Ok((ModuleExtras::empty(), Version::new(VERSION.into())))
    }

    fn on_chan_open_ack_validate(
        &self,
        _port_id: &PortId,
        _channel_id: &ChannelId,
        counterparty_version: &Version,
    ) -> Result<(), ChannelError> {
        if counterparty_version.as_str() != VERSION {
            return Err(ChannelError::AppSpecific { description: format!("version must be `{VERSION}`") });
        }
        Ok(())
    }

    /// Closing would strand reserved deposits and holds: refused.
    fn on_chan_close_init_validate(&self, _port_id: &PortId, _channel_id: &ChannelId) -> Result<(), ChannelError> {
        Err(ChannelError::AppSpecific { description: "settlement channels cannot be closed".into() })
    }

    fn on_recv_packet_execute(
        &mut self,
        packet: &Packet,
        _relayer: &Signer,
    ) -> (ModuleExtras, Option<Acknowledgement>) {
        let channel = packet.chan_id_on_b.as_str();
        let seq = u64::from(packet.seq_on_a);
        let result = Instruction::decode(&packet.data).and_then(|ins| self.receive(channel, seq, &ins));
        let ack = match result {
            Ok(()) => success_ack(),
            Err(e) => {
                self.latch_fault(&e);
                self.state.borrow_mut().emit(
                    Event::new("settlement_rejected")
                        .attr("channel", channel)
                        .attr("sequence", seq)
                        .attr("codespace", kawase_primitives::ErrorCode::codespace(&e))
                        .attr("code", kawase_primitives::ErrorCode::code(&e))
                        .attr("reason", e.to_string()),
                );
                error_ack(&e)
            }
        };
        (ModuleExtras::empty(), Some(ack))
    }

    fn on_acknowledgement_packet_validate(
        &self,
        packet: &Packet,
        acknowledgement: &Acknowledgement,
        _relayer: &Signer,
    ) -> Result<(), ChannelError> {
        Instruction::decode(&packet.data).map_err(app_err)?;
        ack_is_success(acknowledgement.as_bytes())
            .map(|_| ())
            .ok_or_else(|| ChannelError::AppSpecific { description: "unrecognised acknowledgement".into() })
    }

    fn on_acknowledgement_packet_execute(
        &mut self,
        packet: &Packet,
        acknowledgement: &Acknowledgement,
        _relayer: &Signer,
    ) -> (ModuleExtras, Result<(), ChannelError>) {
        let bytes = acknowledgement.as_bytes();
        let result = Instruction::decode(&packet.data).and_then(|ins| {
            let ok = ack_is_success(bytes).ok_or_else(|| Error::MalformedPacket("unrecognised ack".into()))?;
            self.conclude(packet.chan_id_on_a.as_str(), u64::from(packet.seq_on_a), &ins, ok, &ack_reason(bytes))
        });
        if let Err(e) = &result {
            self.latch_fault(e);
        }
        (ModuleExtras::empty(), result.map_err(app_err))
    }

    fn on_timeout_packet_validate(&self, packet: &Packet, _relayer: &Signer) -> Result<(), ChannelError> {
        Instruction::decode(&packet.data).map(|_| ()).map_err(app_err)
    }

    fn on_timeout_packet_execute(
        &mut self,
        packet: &Packet,
        _relayer: &Signer,
    ) -> (ModuleExtras, Result<(), ChannelError>) {
        let result = Instruction::decode(&packet.data).and_then(|ins| {
            self.conclude(packet.chan_id_on_a.as_str(), u64::from(packet.seq_on_a), &ins, false, "timeout")
        });
        if let Err(e) = &result {
            self.latch_fault(e);
        }
        (ModuleExtras::empty(), result.map_err(app_err))
    }
}

/// The reserved balances of an FZ account per channel.
pub fn reserved_of<S: StateRead>(state: &S, a: &Address) -> Result<Vec<(String, Amount)>, Error> {
    Ok(state.all_reserved()?.into_iter().filter(|(_, x, _)| x == a).map(|(c, _, r)| (c, r)).collect())
}
