//! Builders for every module message, as `Any` ready for [`crate::build_tx`].
use cosmrs::Any;
use kawase_accounts::msg as acc;
use kawase_accounts::Role;
use kawase_primitives::Address;
use kawase_token::msg as tok;
use prost::Name;

fn any<M: prost::Message + Name>(m: M) -> Any {
    Any { type_url: M::type_url(), value: m.encode_to_vec() }
}

pub fn register_bank(admin: Address, bank: Address, name: &str) -> Any {
    any(acc::MsgRegisterBank { signer: admin.to_string(), bank: bank.to_string(), name: name.into() })
}

pub fn register_account(bank: Address, address: Address, role: Role, deposit_account_ref: &str) -> Any {
    any(acc::MsgRegisterAccount {
        signer: bank.to_string(),
        address: address.to_string(),
        role: role as i32,
        deposit_account_ref: deposit_account_ref.into(),
    })
}

pub fn freeze(signer: Address, address: Address, reason: &str) -> Any {
    any(acc::MsgFreezeAccount { signer: signer.to_string(), address: address.to_string(), reason: reason.into() })
}

pub fn unfreeze(signer: Address, address: Address) -> Any {
    any(acc::MsgUnfreezeAccount { signer: signer.to_string(), address: address.to_string() })
}

pub fn close(signer: Address, address: Address) -> Any {
    any(acc::MsgCloseAccount { signer: signer.to_string(), address: address.to_string() })
}

pub fn issue(bank: Address, to: Address, amount: u128, reference_id: &str) -> Any {
    any(tok::MsgIssue {
        signer: bank.to_string(),
        to: to.to_string(),
        amount: amount.to_string(),
        reference_id: reference_id.into(),
    })
}

pub fn redeem(signer: Address, owner: Address, amount: u128, reference_id: &str) -> Any {
    any(tok::MsgRedeem {
        signer: signer.to_string(),
        owner: owner.to_string(),
        amount: amount.to_string(),
        reference_id: reference_id.into(),
    })
}

pub fn transfer(from: Address, to: Address, amount: u128) -> Any {
    any(tok::MsgTransfer {
        from: from.to_string(),
        to: to.to_string(),
        amount: amount.to_string(),
        memo: String::new(),
    })
}

/// A transfer with the amount given as a raw string (for testing malformed amounts).
pub fn transfer_raw_amount(from: Address, to: Address, amount: &str) -> Any {
    any(tok::MsgTransfer { from: from.to_string(), to: to.to_string(), amount: amount.into(), memo: String::new() })
}

pub fn settle_position(signer: Address, debtor: Address, creditor: Address, amount: u128, settlement_id: &str) -> Any {
    any(tok::MsgSettlePosition {
        signer: signer.to_string(),
        debtor: debtor.to_string(),
        creditor: creditor.to_string(),
        amount: amount.to_string(),
        settlement_id: settlement_id.into(),
    })
}

/// FZ: link `signer`'s FZ account to `bz_address` over `channel_id`.
pub fn link(signer: Address, channel_id: &str, bz_address: Address, timeout_seconds: u64) -> Any {
    any(kawase_settlement::MsgLink {
        signer: signer.to_string(),
        channel_id: channel_id.into(),
        bz_address: bz_address.to_string(),
        timeout_seconds,
    })
}

/// FZ: reserve `amount` for the BZ behind `channel_id` and credit it there.
pub fn charge(signer: Address, channel_id: &str, amount: u128, timeout_seconds: u64) -> Any {
    any(kawase_settlement::MsgCharge {
        signer: signer.to_string(),
        channel_id: channel_id.into(),
        amount: amount.to_string(),
        timeout_seconds,
    })
}

/// BZ: pay `to`; settles on the FZ before `to` is credited.
pub fn pay(signer: Address, to: Address, amount: u128, memo: &str, timeout_seconds: u64) -> Any {
    any(kawase_settlement::MsgPay {
        signer: signer.to_string(),
        to: to.to_string(),
        amount: amount.to_string(),
        memo: memo.into(),
        timeout_seconds,
    })
}

/// BZ: move `amount` back to the linked FZ account's free balance.
pub fn discharge(signer: Address, amount: u128, timeout_seconds: u64) -> Any {
    any(kawase_settlement::MsgDischarge { signer: signer.to_string(), amount: amount.to_string(), timeout_seconds })
}
