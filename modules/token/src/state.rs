use kawase_accounts::HoldingsCheck;
use kawase_primitives::{Address, Amount, StateRead, StateReadTyped, StateWrite, StateWriteTyped};

use crate::{state_key, Error};

/// One netted interbank position.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    pub debtor: Address,
    pub creditor: Address,
    pub amount: Amount,
}

/// Lifetime counters of one bank; they tie supply to positions (see
/// `check_invariants`). JSON carries each as a decimal string.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BankStats {
    pub supply: Amount,
    pub minted: Amount,
    pub burned: Amount,
    pub settled_out: Amount,
    pub settled_in: Amount,
}

pub trait StateReadExt: StateRead {
    fn balance(&self, a: &Address) -> Result<Amount, Error> {
        Ok(self.get_amount(&state_key::balance(a))?)
    }

    fn supply(&self, bank: &Address) -> Result<Amount, Error> {
        Ok(self.get_amount(&state_key::supply(bank))?)
    }

    fn total_supply(&self) -> Result<Amount, Error> {
        Ok(self.get_amount(state_key::total_supply())?)
    }

    fn owes(&self, debtor: &Address, creditor: &Address) -> Result<Amount, Error> {
        Ok(self.get_amount(&state_key::owes(debtor, creditor))?)
    }

    fn bank_stats(&self, bank: &Address) -> Result<BankStats, Error> {
        Ok(BankStats {
            supply: self.supply(bank)?,
            minted: self.get_amount(&state_key::minted(bank))?,
            burned: self.get_amount(&state_key::burned(bank))?,
            settled_out: self.get_amount(&state_key::settled_out(bank))?,
            settled_in: self.get_amount(&state_key::settled_in(bank))?,
        })
    }

    /// All non-zero positions, ordered by (debtor, creditor).
    fn positions(&self) -> Result<Vec<Position>, Error> {
        let mut out = Vec::new();
        for (k, v) in self.prefix_raw(state_key::owes_prefix())? {
            let (debtor, creditor) = state_key::parse_owes(&k)
                .ok_or_else(|| kawase_primitives::StateError("corrupt position key".into()))?;
            let arr: [u8; 16] =
                v.as_slice().try_into().map_err(|_| kawase_primitives::StateError("corrupt position".into()))?;
            out.push(Position { debtor, creditor, amount: Amount::from_be_bytes(arr) });
        }
        Ok(out)
    }

    /// Deposit `a` has reserved for the BZ behind `channel`.
    fn reserved(&self, channel: &str, a: &Address) -> Result<Amount, Error> {
        Ok(self.get_amount(&state_key::reserved(channel, a))?)
    }

    /// All non-zero reserved amounts, ordered by (channel, address).
    fn all_reserved(&self) -> Result<Vec<(String, Address, Amount)>, Error> {
        let mut out = Vec::new();
        for (k, v) in self.prefix_raw(state_key::reserved_prefix())? {
            let (c, a) = state_key::parse_reserved(&k)
                .ok_or_else(|| kawase_primitives::StateError("corrupt reserved key".into()))?;
            let arr: [u8; 16] =
                v.as_slice().try_into().map_err(|_| kawase_primitives::StateError("corrupt reserved".into()))?;
            out.push((c, a, Amount::from_be_bytes(arr)));
        }
        Ok(out)
    }

    /// All non-zero balances, ordered by address.
    fn balances(&self) -> Result<Vec<(Address, Amount)>, Error> {
        let mut out = Vec::new();
        for (k, v) in self.prefix_raw(state_key::balance_prefix())? {
            let a = state_key::parse_balance(&k)
                .ok_or_else(|| kawase_primitives::StateError("corrupt balance key".into()))?;
            let arr: [u8; 16] =
                v.as_slice().try_into().map_err(|_| kawase_primitives::StateError("corrupt balance".into()))?;
            out.push((a, Amount::from_be_bytes(arr)));
        }
        Ok(out)
    }
}

impl<T: StateRead + ?Sized> StateReadExt for T {}

/// An overflowing sum is `Error::Overflow(what)`.
fn add(what: &'static str, a: Amount, b: Amount) -> Result<Amount, Error> {
    a.checked_add(b).map_err(|_| Error::Overflow(what))
}

/// Subtraction that cannot fail unless state is already inconsistent.
fn sub_internal(what: &'static str, a: Amount, b: Amount) -> Result<Amount, Error> {
    a.checked_sub(b).map_err(|_| {
        Error::Storage(kawase_primitives::StateError(format!("{what} would go negative: state inconsistent")))
    })
}

pub trait StateWriteExt: StateWrite {
    fn credit(&mut self, a: &Address, amount: Amount) -> Result<(), Error> {
        let b = add("balance", self.balance(a)?, amount)?;
        self.put_amount(state_key::balance(a), b);
        Ok(())
    }

    fn debit(&mut self, a: &Address, amount: Amount) -> Result<(), Error> {
        let available = self.balance(a)?;
        let b = available.checked_sub(amount).map_err(|_| Error::InsufficientFunds {
            address: *a,
            available,
            needed: amount,
        })?;
        self.put_amount(state_key::balance(a), b);
        Ok(())
    }

    /// Free balance -> reserved for `channel` (a charge to a BZ).
    fn reserve(&mut self, channel: &str, a: &Address, amount: Amount) -> Result<(), Error> {
        self.debit(a, amount)?;
        let r = add("reserved", self.reserved(channel, a)?, amount)?;
        self.put_amount(state_key::reserved(channel, a), r);
        Ok(())
    }

    /// Reserved for `channel` -> free balance (a discharge, or a refused or
    /// timed-out charge).
    fn unreserve(&mut self, channel: &str, a: &Address, amount: Amount) -> Result<(), Error> {
        self.take_reserved(channel, a, amount)?;
        self.credit(a, amount)
    }

    /// Moves reserved deposit between two holders on the same channel (a
    /// settled BZ payment); across banks the liability moves too.
    fn move_reserved(
        &mut self,
        channel: &str,
        from: (&Address, &Address),
        to: (&Address, &Address),
        amount: Amount,
    ) -> Result<(), Error> {
        let ((from, from_bank), (to, to_bank)) = (from, to);
        self.take_reserved(channel, from, amount)?;
        let r = add("reserved", self.reserved(channel, to)?, amount)?;
        self.put_amount(state_key::reserved(channel, to), r);
        if from_bank != to_bank {
            self.move_liability(from_bank, to_bank, amount)?;
        }
        Ok(())
    }

    fn take_reserved(&mut self, channel: &str, a: &Address, amount: Amount) -> Result<(), Error> {
        let available = self.reserved(channel, a)?;
        let r = available.checked_sub(amount).map_err(|_| Error::InsufficientReserved {
            address: *a,
            channel: channel.to_owned(),
            available,
            needed: amount,
        })?;
        self.put_amount(state_key::reserved(channel, a), r);
        Ok(())
    }

    /// Tokens come into existence as a liability of `bank`.
    fn mint(&mut self, bank: &Address, to: &Address, amount: Amount) -> Result<(), Error> {
        self.credit(to, amount)?;
        let s = add("bank supply", self.supply(bank)?, amount)?;
        let t = add("total supply", self.total_supply()?, amount)?;
        let m = add("minted", self.get_amount(&state_key::minted(bank))?, amount)?;
        self.put_amount(state_key::supply(bank), s);
        self.put_amount(state_key::total_supply().to_vec(), t);
        self.put_amount(state_key::minted(bank), m);
        Ok(())
    }

    fn burn(&mut self, bank: &Address, from: &Address, amount: Amount) -> Result<(), Error> {
        self.debit(from, amount)?;
        let s = sub_internal("bank supply", self.supply(bank)?, amount)?;
        let t = sub_internal("total supply", self.total_supply()?, amount)?;
        let b = add("burned", self.get_amount(&state_key::burned(bank))?, amount)?;
        self.put_amount(state_key::supply(bank), s);
        self.put_amount(state_key::total_supply().to_vec(), t);
        self.put_amount(state_key::burned(bank), b);
        Ok(())
    }

    /// Moves `amount` of liability from `from_bank` to `to_bank`: the
    /// former now owes the latter, netted against any opposite position.
    fn move_liability(&mut self, from_bank: &Address, to_bank: &Address, amount: Amount) -> Result<(), Error> {
        let s_from = sub_internal("bank supply", self.supply(from_bank)?, amount)?;
        let s_to = add("bank supply", self.supply(to_bank)?, amount)?;
        self.put_amount(state_key::supply(from_bank), s_from);
        self.put_amount(state_key::supply(to_bank), s_to);
        let reverse = self.owes(to_bank, from_bank)?;
        match reverse.checked_sub(amount) {
            Ok(left) => self.put_amount(state_key::owes(to_bank, from_bank), left),
            Err(_) => {
                self.put_amount(state_key::owes(to_bank, from_bank), Amount::ZERO);
                let fwd = add("position", self.owes(from_bank, to_bank)?, sub_internal("position", amount, reverse)?)?;
                self.put_amount(state_key::owes(from_bank, to_bank), fwd);
            }
        }
        Ok(())
    }

    /// Records that `debtor` paid `creditor` off chain.
    fn settle(&mut self, debtor: &Address, creditor: &Address, amount: Amount) -> Result<(), Error> {
        let owed = self.owes(debtor, creditor)?;
        let left = owed.checked_sub(amount).map_err(|_| Error::PositionExceeded {
            debtor: *debtor,
            creditor: *creditor,
            owed,
            amount,
        })?;
        self.put_amount(state_key::owes(debtor, creditor), left);
        let o = add("settled", self.get_amount(&state_key::settled_out(debtor))?, amount)?;
        let i = add("settled", self.get_amount(&state_key::settled_in(creditor))?, amount)?;
        self.put_amount(state_key::settled_out(debtor), o);
        self.put_amount(state_key::settled_in(creditor), i);
        Ok(())
    }

    /// Marks a single-use id as used at `height`; fails if it was.
    fn use_reference(&mut self, key: Vec<u8>, height: u64, err: impl FnOnce() -> Error) -> Result<(), Error> {
        if self.has(&key)? {
            return Err(err());
        }
        self.put_u64(key, height);
        Ok(())
    }
}

impl<T: StateWrite + ?Sized> StateWriteExt for T {}

/// Answers the accounts module's "may this account be closed?".
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenHoldings;

impl<S: StateRead + ?Sized> HoldingsCheck<S> for TokenHoldings {
    fn holds_funds(&self, state: &S, address: &Address) -> Result<bool, kawase_accounts::Error> {
        Ok(!state.get_amount(&state_key::balance(address))?.is_zero()
            || state
                .all_reserved()
                .map_err(|e| kawase_primitives::StateError(e.to_string()))?
                .iter()
                .any(|(_, a, _)| a == address))
    }
}
