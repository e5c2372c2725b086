//! Messages of `kawase.accounts.v1`: protobuf on the wire, validated domain
//! actions after the stateless phase.
use kawase_primitives::{proto_name, Address, Context, Event, StateWrite};
use prost::Name;

use crate::state::{Role, StateReadExt, StateWriteExt, Status};
use crate::{Error, HoldingsCheck};

/// Longest free-text field (references, names, reasons) we store.
pub const MAX_TEXT_LEN: usize = 128;

/// Admin registers an issuing bank.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgRegisterBank {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub bank: String,
    #[prost(string, tag = "3")]
    pub name: String,
}
proto_name!(MsgRegisterBank, "kawase.accounts.v1", "MsgRegisterBank");

/// A bank registers its KYC'd customer or business operator; the admin
/// registers relayers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgRegisterAccount {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub address: String,
    #[prost(enumeration = "Role", tag = "3")]
    pub role: i32,
    /// The linked deposit account in the bank's core system.
    #[prost(string, tag = "4")]
    pub deposit_account_ref: String,
}
proto_name!(MsgRegisterAccount, "kawase.accounts.v1", "MsgRegisterAccount");

#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgFreezeAccount {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub address: String,
    #[prost(string, tag = "3")]
    pub reason: String,
}
proto_name!(MsgFreezeAccount, "kawase.accounts.v1", "MsgFreezeAccount");

#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgUnfreezeAccount {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub address: String,
}
proto_name!(MsgUnfreezeAccount, "kawase.accounts.v1", "MsgUnfreezeAccount");

/// Closes an account with zero holdings; terminal.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MsgCloseAccount {
    #[prost(string, tag = "1")]
    pub signer: String,
    #[prost(string, tag = "2")]
    pub address: String,
}
proto_name!(MsgCloseAccount, "kawase.accounts.v1", "MsgCloseAccount");

/// A statelessly valid accounts action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    RegisterBank { signer: Address, bank: Address, name: String },
    RegisterAccount { signer: Address, address: Address, role: Role, deposit_account_ref: String },
    Freeze { signer: Address, address: Address, reason: String },
    Unfreeze { signer: Address, address: Address },
    Close { signer: Address, address: Address },
}

fn addr(field: &'static str, s: &str) -> Result<Address, Error> {
    kawase_primitives::parse_address_field(field, s).map_err(|(field, reason)| Error::InvalidAddress { field, reason })
}

fn text(field: &'static str, s: &str, required: bool) -> Result<String, Error> {
    if required && s.trim().is_empty() {
        return Err(Error::InvalidField { field, reason: "must not be empty".into() });
    }
    if s.len() > MAX_TEXT_LEN {
        return Err(Error::InvalidField { field, reason: format!("longer than {MAX_TEXT_LEN} bytes") });
    }
    if s.chars().any(char::is_control) {
        return Err(Error::InvalidField { field, reason: "contains control characters".into() });
    }
    Ok(s.to_owned())
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, Error> {
    M::decode(bytes).map_err(|e| Error::InvalidField { field: "msg", reason: format!("malformed protobuf: {e}") })
}

impl Msg {
    /// Type URLs this module handles.
    pub fn type_urls() -> [String; 5] {
        [
            MsgRegisterBank::type_url(),
            MsgRegisterAccount::type_url(),
            MsgFreezeAccount::type_url(),
            MsgUnfreezeAccount::type_url(),
            MsgCloseAccount::type_url(),
        ]
    }

    /// Stateless phase: decode and validate. `None` if the type URL is not ours.
    pub fn decode_any(type_url: &str, value: &[u8]) -> Option<Result<Msg, Error>> {
        let pkg = type_url.strip_prefix("/kawase.accounts.v1.")?;
        Some(match pkg {
            "MsgRegisterBank" => decode::<MsgRegisterBank>(value).and_then(|m| {
                Ok(Msg::RegisterBank {
                    signer: addr("signer", &m.signer)?,
                    bank: addr("bank", &m.bank)?,
                    name: text("name", &m.name, true)?,
                })
            }),
            "MsgRegisterAccount" => decode::<MsgRegisterAccount>(value).and_then(|m| {
                let role =
                    Role::try_from(m.role).map_err(|_| Error::InvalidRole(format!("unknown role {}", m.role)))?;
                if !matches!(role, Role::Customer | Role::BusinessOperator | Role::Relayer) {
                    return Err(Error::InvalidRole(format!(
                        "{} cannot be registered with MsgRegisterAccount",
                        role.as_str()
                    )));
                }
                let needs_ref = role.holds_tokens();
                let deposit_account_ref = text("deposit_account_ref", &m.deposit_account_ref, needs_ref)?;
                Ok(Msg::RegisterAccount {
                    signer: addr("signer", &m.signer)?,
                    address: addr("address", &m.address)?,
                    role,
                    deposit_account_ref,
                })
            }),
            "MsgFreezeAccount" => decode::<MsgFreezeAccount>(value).and_then(|m| {
                Ok(Msg::Freeze {
                    signer: addr("signer", &m.signer)?,
                    address: addr("address", &m.address)?,
                    reason: text("reason", &m.reason, false)?,
                })
            }),
            "MsgUnfreezeAccount" => decode::<MsgUnfreezeAccount>(value).and_then(|m| {
                Ok(Msg::Unfreeze { signer: addr("signer", &m.signer)?, address: addr("address", &m.address)? })
            }),
            "MsgCloseAccount" => decode::<MsgCloseAccount>(value).and_then(|m| {
                Ok(Msg::Close { signer: addr("signer", &m.signer)?, address: addr("address", &m.address)? })
            }),
            other => {
                Err(Error::InvalidField { field: "type_url", reason: format!("unknown accounts message `{other}`") })
            }
        })
    }

    /// The account that must have signed the transaction.
    pub fn signer(&self) -> Address {
        match self {
            Msg::RegisterBank { signer, .. }
            | Msg::RegisterAccount { signer, .. }
            | Msg::Freeze { signer, .. }
            | Msg::Unfreeze { signer, .. }
            | Msg::Close { signer, .. } => *signer,
        }
    }

    /// Stateful phase: check and execute on a transactional overlay (the
    /// caller drops the overlay if this returns an error).
    pub fn execute<S, H>(&self, state: &mut S, _ctx: &Context, holdings: &H) -> Result<(), Error>
    where
        S: StateWrite,
        H: HoldingsCheck<S>,
    {
        match self {
            Msg::RegisterBank { signer, bank, name } => {
                require_admin(state, signer)?;
                state.create_account(*bank, Role::IssuingBank, Some(*bank), String::new(), name.clone())?;
                state.emit(Event::new("register_bank").attr("bank", bank).attr("name", name));
            }
            Msg::RegisterAccount { signer, address, role, deposit_account_ref } => {
                let bank = if *role == Role::Relayer {
                    require_admin(state, signer)?;
                    None
                } else {
                    state.active_bank(signer)?;
                    Some(*signer)
                };
                state.create_account(*address, *role, bank, deposit_account_ref.clone(), String::new())?;
                let mut ev = Event::new("register_account").attr("address", address).attr("role", role.as_str());
                if let Some(b) = bank {
                    ev = ev.attr("bank", b).attr("deposit_account_ref", deposit_account_ref);
                }
                state.emit(ev);
            }
            Msg::Freeze { signer, address, reason } => {
                let mut a = state.existing_account(address)?;
                require_bank_of_or_admin(state, signer, &a)?;
                if a.role == Role::NetworkAdmin {
                    // Nobody could unfreeze it: the admin has no bank.
                    return Err(Error::InvalidRole("the network admin cannot be frozen".into()));
                }
                if a.status != Status::Active {
                    return Err(Error::InvalidStatus {
                        address: *address,
                        status: a.status.as_str(),
                        action: "freeze",
                    });
                }
                a.status = Status::Frozen;
                state.put_account(&a);
                state.emit(
                    Event::new("freeze_account").attr("address", address).attr("by", signer).attr("reason", reason),
                );
            }
            Msg::Unfreeze { signer, address } => {
                let mut a = state.existing_account(address)?;
                require_bank_of_or_admin(state, signer, &a)?;
                if a.status != Status::Frozen {
                    return Err(Error::InvalidStatus {
                        address: *address,
                        status: a.status.as_str(),
                        action: "unfreeze",
                    });
                }
                a.status = Status::Active;
                state.put_account(&a);
                state.emit(Event::new("unfreeze_account").attr("address", address).attr("by", signer));
            }
            Msg::Close { signer, address } => {
                let mut a = state.existing_account(address)?;
                require_bank_of_or_admin(state, signer, &a)?;
                if a.status == Status::Closed {
                    return Err(Error::AccountClosed(*address));
                }
                if matches!(a.role, Role::IssuingBank | Role::NetworkAdmin) {
                    return Err(Error::InvalidRole(format!("a {} account cannot be closed", a.role.as_str())));
                }
                if holdings.holds_funds(state, address)? {
                    return Err(Error::HoldsFunds(*address));
                }
                a.status = Status::Closed;
                state.put_account(&a);
                state.emit(Event::new("close_account").attr("address", address).attr("by", signer));
            }
        }
        Ok(())
    }
}

fn require_admin<S: StateWrite>(state: &S, signer: &Address) -> Result<(), Error> {
    if state.is_admin(signer)? {
        Ok(())
    } else {
        Err(Error::Unauthorized(format!("{signer} is not the network admin")))
    }
}

/// The account's own bank (active) or the admin may act on it.
fn require_bank_of_or_admin<S: StateWrite>(state: &S, signer: &Address, target: &crate::Account) -> Result<(), Error> {
    if state.is_admin(signer)? {
        return Ok(());
    }
    state.active_bank(signer)?;
    match target.bank {
        Some(b) if b == *signer && target.address != *signer => Ok(()),
        Some(b) => Err(Error::NotYourCustomer { account: target.address, bank: b }),
        None => Err(Error::Unauthorized(format!("only the admin may act on {}", target.address))),
    }
}
