//! Messages of `kawase.token.v1`.
use kawase_accounts::{Role, StateReadExt as _};
use kawase_primitives::{proto_name, Address, Amount, Context, Event, StateWrite};
use prost::Name;

use crate::state::StateWriteExt as _;
use crate::{state_key, Error, MAX_REFERENCE_LEN};

/// A bank mints to its own customer after debiting the linked deposit.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgIssue {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub to: String,
    /// Decimal string (an [`Amount`]).
    #[prost(string, tag = "3")]
    pub amount: String,
    /// The bank's core-banking reference; single-use per bank.
    #[prost(string, tag = "4")]
    pub reference_id: String,
}
proto_name!(MsgIssue, "kawase.token.v1", "MsgIssue");

/// The holder, or its bank on its behalf, burns tokens; the bank credits
/// the linked deposit account on seeing the `redeem` event.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgRedeem {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub owner: String,
    #[prost(string, tag = "3")]
    pub amount: String,
    /// Single-use per owner.
    #[prost(string, tag = "4")]
    pub reference_id: String,
}
proto_name!(MsgRedeem, "kawase.token.v1", "MsgRedeem");

#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgTransfer {
    #[prost(string, tag = "1")]
    pub from: String,
    #[prost(string, tag = "2")]
    pub to: String,
    #[prost(string, tag = "3")]
    pub amount: String,
    #[prost(string, tag = "4")]
    pub memo: String,
}
proto_name!(MsgTransfer, "kawase.token.v1", "MsgTransfer");

/// Records an off-chain interbank settlement: the creditor bank (or the
/// admin) confirms `debtor` paid `amount`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgSettlePosition {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub debtor: String,
    #[prost(string, tag = "3")]
    pub creditor: String,
    #[prost(string, tag = "4")]
    pub amount: String,
    #[prost(string, tag = "5")]
    pub settlement_id: String,
}
proto_name!(MsgSettlePosition, "kawase.token.v1", "MsgSettlePosition");

/// A statelessly valid token action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Issue { signer: Address, to: Address, amount: Amount, reference_id: String },
    Redeem { signer: Address, owner: Address, amount: Amount, reference_id: String },
    Transfer { from: Address, to: Address, amount: Amount, memo: String },
    SettlePosition { signer: Address, debtor: Address, creditor: Address, amount: Amount, settlement_id: String },
}

fn addr(field: &'static str, s: &str) -> Result<Address, Error> {
    kawase_primitives::parse_address_field(field, s).map_err(|(field, reason)| Error::InvalidField { field, reason })
}

/// A positive [`Amount`] in its canonical decimal form.
pub fn amount(s: &str) -> Result<Amount, Error> {
    match s.parse::<Amount>() {
        Ok(a) if a.is_zero() => Err(Error::ZeroAmount),
        Ok(a) => Ok(a),
        Err(e) => Err(Error::InvalidAmount(e.to_string())),
    }
}

/// Reference ids go into state keys: printable ASCII, no spaces.
pub fn reference(field: &'static str, s: &str) -> Result<String, Error> {
    if s.is_empty() || s.len() > MAX_REFERENCE_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidField {
            field,
            reason: format!("must be 1 to {MAX_REFERENCE_LEN} printable ASCII characters without spaces"),
        });
    }
    Ok(s.to_owned())
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, Error> {
    M::decode(bytes).map_err(|e| Error::InvalidField { field: "msg", reason: format!("malformed protobuf: {e}") })
}

/// Longest transfer memo.
pub const MAX_MEMO_LEN: usize = 256;

impl Msg {
    pub fn type_urls() -> [String; 4] {
        [MsgIssue::type_url(), MsgRedeem::type_url(), MsgTransfer::type_url(), MsgSettlePosition::type_url()]
    }

    /// Stateless phase: decode and validate. `None` if the type URL is not ours.
    pub fn decode_any(type_url: &str, value: &[u8]) -> Option<Result<Msg, Error>> {
        let name = type_url.strip_prefix("/kawase.token.v1.")?;
        Some(match name {
            "MsgIssue" => decode::<MsgIssue>(value).and_then(|m| {
                Ok(Msg::Issue {
                    signer: addr("signer", &m.signer)?,
                    to: addr("to", &m.to)?,
                    amount: amount(&m.amount)?,
                    reference_id: reference("reference_id", &m.reference_id)?,
                })
            }),
            "MsgRedeem" => decode::<MsgRedeem>(value).and_then(|m| {
                Ok(Msg::Redeem {
                    signer: addr("signer", &m.signer)?,
                    owner: addr("owner", &m.owner)?,
                    amount: amount(&m.amount)?,
                    reference_id: reference("reference_id", &m.reference_id)?,
                })
            }),
            "MsgTransfer" => decode::<MsgTransfer>(value).and_then(|m| {
                let (from, to) = (addr("from", &m.from)?, addr("to", &m.to)?);
                if from == to {
                    return Err(Error::SelfTransfer);
                }
                if m.memo.len() > MAX_MEMO_LEN {
                    return Err(Error::InvalidField {
                        field: "memo",
                        reason: format!("longer than {MAX_MEMO_LEN} bytes"),
                    });
                }
                Ok(Msg::Transfer { from, to, amount: amount(&m.amount)?, memo: m.memo })
            }),
            "MsgSettlePosition" => decode::<MsgSettlePosition>(value).and_then(|m| {
                let (debtor, creditor) = (addr("debtor", &m.debtor)?, addr("creditor", &m.creditor)?);
                if debtor == creditor {
                    return Err(Error::InvalidField {
                        field: "creditor",
                        reason: "debtor and creditor are the same bank".into(),
                    });
                }
                Ok(Msg::SettlePosition {
                    signer: addr("signer", &m.signer)?,
                    debtor,
                    creditor,
                    amount: amount(&m.amount)?,
                    settlement_id: reference("settlement_id", &m.settlement_id)?,
                })
            }),
            other => Err(Error::InvalidField { field: "type_url", reason: format!("unknown token message `{other}`") }),
        })
    }

    pub fn signer(&self) -> Address {
        match self {
            Msg::Issue { signer, .. } | Msg::Redeem { signer, .. } | Msg::SettlePosition { signer, .. } => *signer,
            Msg::Transfer { from, .. } => *from,
        }
    }

    /// Stateful phase on a transactional overlay (dropped by the caller on error).
    pub fn execute<S: StateWrite>(&self, state: &mut S, ctx: &Context) -> Result<(), Error> {
        match self {
            Msg::Issue { signer, to, amount, reference_id } => {
                state.active_bank(signer)?;
                let (holder, bank) = state.active_holder(to)?;
                if bank != *signer {
                    return Err(Error::NotYourCustomer { account: *to, bank });
                }
                state.use_reference(state_key::issue_reference(signer, reference_id), ctx.height, || {
                    Error::ReferenceUsed(reference_id.clone())
                })?;
                state.mint(signer, to, *amount)?;
                state.emit(
                    Event::new("issue")
                        .attr("bank", signer)
                        .attr("to", to)
                        .attr("amount", amount)
                        .attr("reference_id", reference_id)
                        .attr("deposit_account_ref", &holder.deposit_account_ref),
                );
            }
            Msg::Redeem { signer, owner, amount, reference_id } => {
                let (holder, bank) = state.active_holder(owner)?;
                if signer != owner && *signer != bank {
                    return Err(Error::NotYourCustomer { account: *owner, bank });
                }
                if signer != owner {
                    state.active_bank(signer)?;
                }
                state.use_reference(state_key::redeem_reference(owner, reference_id), ctx.height, || {
                    Error::ReferenceUsed(reference_id.clone())
                })?;
                state.burn(&bank, owner, *amount)?;
                state.emit(
                    Event::new("redeem")
                        .attr("bank", bank)
                        .attr("owner", owner)
                        .attr("amount", amount)
                        .attr("reference_id", reference_id)
                        .attr("deposit_account_ref", &holder.deposit_account_ref),
                );
            }
            Msg::Transfer { from, to, amount, memo } => {
                let (_, from_bank) = state.active_holder(from)?;
                let (_, to_bank) = state.active_holder(to)?;
                state.debit(from, *amount)?;
                state.credit(to, *amount)?;
                if from_bank != to_bank {
                    state.move_liability(&from_bank, &to_bank, *amount)?;
                }
                let mut ev = Event::new("transfer").attr("from", from).attr("to", to).attr("amount", amount);
                if from_bank != to_bank {
                    ev = ev.attr("from_bank", from_bank).attr("to_bank", to_bank);
                }
                if !memo.is_empty() {
                    ev = ev.attr("memo", memo);
                }
                state.emit(ev);
            }
            Msg::SettlePosition { signer, debtor, creditor, amount, settlement_id } => {
                let is_admin = state.is_admin(signer)?;
                if !is_admin {
                    state.active_bank(signer)?;
                    if signer != creditor {
                        return Err(Error::Unauthorized(
                            "only the creditor bank or the network admin may record a settlement".into(),
                        ));
                    }
                }
                for (field, b) in [("debtor", debtor), ("creditor", creditor)] {
                    if state.existing_account(b)?.role != Role::IssuingBank {
                        return Err(Error::InvalidField { field, reason: format!("{b} is not a bank") });
                    }
                }
                state.use_reference(state_key::settlement_id(settlement_id), ctx.height, || {
                    Error::SettlementIdUsed(settlement_id.clone())
                })?;
                state.settle(debtor, creditor, *amount)?;
                state.emit(
                    Event::new("settle_position")
                        .attr("debtor", debtor)
                        .attr("creditor", creditor)
                        .attr("amount", amount)
                        .attr("settlement_id", settlement_id)
                        .attr("by", signer),
                );
            }
        }
        Ok(())
    }
}
