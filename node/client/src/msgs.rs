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
