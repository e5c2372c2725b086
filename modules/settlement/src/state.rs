use kawase_primitives::{Address, Amount, StateError, StateRead, StateReadTyped, StateWrite, StateWriteTyped};

use crate::{state_key, Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, prost::Enumeration)]
#[serde(rename_all = "snake_case")]
#[repr(i32)]
pub enum LinkStatus {
    Unspecified = 0,
    /// Link packet sent, not yet acknowledged.
    Pending = 1,
    Active = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FzLinkRecord {
    #[prost(bytes = "vec", tag = "1")]
    bz: Vec<u8>,
    #[prost(enumeration = "LinkStatus", tag = "2")]
    status: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct BzLinkRecord {
    #[prost(bytes = "vec", tag = "1")]
    fz: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    bank: Vec<u8>,
    #[prost(string, tag = "3")]
    channel: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, prost::Enumeration)]
#[serde(rename_all = "snake_case")]
#[repr(i32)]
pub enum HoldKind {
    Unspecified = 0,
    Payment = 1,
    Discharge = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HoldRecord {
    #[prost(bytes = "vec", tag = "1")]
    owner: Vec<u8>,
    #[prost(enumeration = "HoldKind", tag = "2")]
    kind: i32,
    /// Payee (payments only).
    #[prost(bytes = "vec", tag = "3")]
    to: Vec<u8>,
    /// The amount's 16 big-endian bytes.
    #[prost(bytes = "vec", tag = "4")]
    amount: Vec<u8>,
}

/// A BZ amount in flight to the FZ: a payment or a discharge.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hold {
    pub channel: String,
    pub sequence: u64,
    pub owner: Address,
    pub kind: HoldKind,
    pub to: Option<Address>,
    pub amount: Amount,
}

/// A BZ account as queries show it (amounts as decimal strings).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BzAccount {
    pub address: Address,
    pub fz_address: Address,
    pub bank: Address,
    pub channel: String,
    pub balance: Amount,
    pub held: Amount,
}

fn corrupt(what: &str) -> Error {
    Error::Storage(StateError(format!("corrupt settlement record: {what}")))
}

fn address(b: &[u8], what: &str) -> Result<Address, Error> {
    Address::from_slice(b).map_err(|_| corrupt(what))
}

pub trait StateReadExt: StateRead {
    /// FZ: `(bz address, status)` of `fz`'s link on `channel`.
    fn fz_link(&self, channel: &str, fz: &Address) -> Result<Option<(Address, LinkStatus)>, Error> {
        match self.get_proto::<FzLinkRecord>(&state_key::fz_link(channel, fz))? {
            None => Ok(None),
            Some(r) => Ok(Some((
                address(&r.bz, "fz link")?,
                LinkStatus::try_from(r.status).map_err(|_| corrupt("link status"))?,
            ))),
        }
    }

    /// FZ: the active link's BZ address, or `NotLinked`.
    fn active_fz_link(&self, channel: &str, fz: &Address) -> Result<Address, Error> {
        match self.fz_link(channel, fz)? {
            Some((bz, LinkStatus::Active)) => Ok(bz),
            _ => Err(Error::NotLinked(*fz)),
        }
    }

    /// FZ: all links `(channel, fz, bz, status)`.
    fn fz_links(&self) -> Result<Vec<(String, Address, Address, LinkStatus)>, Error> {
        let mut out = Vec::new();
        for (k, v) in self.prefix_raw(state_key::fz_link_prefix())? {
            let rest = std::str::from_utf8(&k[state_key::fz_link_prefix().len()..]).map_err(|_| corrupt("key"))?;
            let (channel, hex) = rest.rsplit_once('/').ok_or_else(|| corrupt("key"))?;
            let fz = Address::from_hex(hex).map_err(|_| corrupt("key"))?;
            let r: FzLinkRecord = prost::Message::decode(v.as_slice()).map_err(|_| corrupt("fz link"))?;
            let status = LinkStatus::try_from(r.status).map_err(|_| corrupt("link status"))?;
            out.push((channel.to_owned(), fz, address(&r.bz, "fz link")?, status));
        }
        Ok(out)
    }

    /// BZ: `(fz address, bank, channel)` behind a BZ account.
    fn bz_link(&self, bz: &Address) -> Result<Option<(Address, Address, String)>, Error> {
        match self.get_proto::<BzLinkRecord>(&state_key::bz_link(bz))? {
            None => Ok(None),
            Some(r) => Ok(Some((address(&r.fz, "bz link")?, address(&r.bank, "bz link")?, r.channel))),
        }
    }

    fn bz_balance(&self, bz: &Address) -> Result<Amount, Error> {
        Ok(self.get_amount(&state_key::bz_balance(bz))?)
    }

    fn bz_held(&self, bz: &Address) -> Result<Amount, Error> {
        Ok(self.get_amount(&state_key::bz_held(bz))?)
    }

    /// BZ: payments in flight to `bz` (see [`state_key::bz_incoming`]).
    fn bz_incoming(&self, bz: &Address) -> Result<Amount, Error> {
        Ok(self.get_amount(&state_key::bz_incoming(bz))?)
    }

    fn bz_total(&self) -> Result<Amount, Error> {
        Ok(self.get_amount(state_key::bz_total())?)
    }

    fn bz_channel(&self) -> Result<Option<String>, Error> {
        Ok(self.get_raw(state_key::bz_channel())?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn bz_account(&self, bz: &Address) -> Result<Option<BzAccount>, Error> {
        let Some((fz, bank, channel)) = self.bz_link(bz)? else { return Ok(None) };
        Ok(Some(BzAccount {
            address: *bz,
            fz_address: fz,
            bank,
            channel,
            balance: self.bz_balance(bz)?,
            held: self.bz_held(bz)?,
        }))
    }

    /// BZ: every linked account, in address order.
    fn bz_accounts(&self) -> Result<Vec<BzAccount>, Error> {
        let mut out = Vec::new();
        for (k, _) in self.prefix_raw(state_key::bz_link_prefix())? {
            let a = state_key::parse_addr_suffix(state_key::bz_link_prefix(), &k).ok_or_else(|| corrupt("key"))?;
            out.extend(self.bz_account(&a)?);
        }
        Ok(out)
    }

    fn hold(&self, channel: &str, sequence: u64) -> Result<Option<Hold>, Error> {
        match self.get_proto::<HoldRecord>(&state_key::bz_hold(channel, sequence))? {
            None => Ok(None),
            Some(r) => hold_from(channel.to_owned(), sequence, r).map(Some),
        }
    }

    /// BZ: every hold (payments and discharges in flight), in send order.
    fn holds(&self) -> Result<Vec<Hold>, Error> {
        let mut out = Vec::new();
        for (k, v) in self.prefix_raw(state_key::bz_hold_prefix())? {
            let rest = std::str::from_utf8(&k[state_key::bz_hold_prefix().len()..]).map_err(|_| corrupt("key"))?;
            let (channel, seq) = rest.rsplit_once('/').ok_or_else(|| corrupt("key"))?;
            let seq = seq.parse().map_err(|_| corrupt("key"))?;
            let r: HoldRecord = prost::Message::decode(v.as_slice()).map_err(|_| corrupt("hold"))?;
            out.push(hold_from(channel.to_owned(), seq, r)?);
        }
        Ok(out)
    }
}

fn hold_from(channel: String, sequence: u64, r: HoldRecord) -> Result<Hold, Error> {
    let amount: [u8; 16] = r.amount.as_slice().try_into().map_err(|_| corrupt("hold amount"))?;
    Ok(Hold {
        channel,
        sequence,
        owner: address(&r.owner, "hold owner")?,
        kind: HoldKind::try_from(r.kind).map_err(|_| corrupt("hold kind"))?,
        to: if r.to.is_empty() { None } else { Some(address(&r.to, "hold payee")?) },
        amount: Amount::from_be_bytes(amount),
    })
}

impl<T: StateRead + ?Sized> StateReadExt for T {}

/// An overflowing sum is `Error::Overflow(what)`.
fn add(what: &'static str, a: Amount, b: Amount) -> Result<Amount, Error> {
    a.checked_add(b).map_err(|_| Error::Overflow(what))
}

/// Subtraction that cannot fail unless state is already inconsistent.
fn sub_internal(what: &'static str, a: Amount, b: Amount) -> Result<Amount, Error> {
    a.checked_sub(b).map_err(|_| Error::Storage(StateError(format!("{what} would go negative: state inconsistent"))))
}

pub trait StateWriteExt: StateWrite {
    fn put_fz_link(&mut self, channel: &str, fz: &Address, bz: &Address, status: LinkStatus) {
        self.put_proto(state_key::fz_link(channel, fz), &FzLinkRecord { bz: bz.0.to_vec(), status: status as i32 });
        self.put_raw(state_key::fz_bz_index(channel, bz), fz.0.to_vec());
    }

    fn delete_fz_link(&mut self, channel: &str, fz: &Address, bz: &Address) {
        self.delete(state_key::fz_link(channel, fz));
        self.delete(state_key::fz_bz_index(channel, bz));
    }

    fn fz_bz_taken(&self, channel: &str, bz: &Address) -> Result<bool, Error> {
        Ok(self.has(&state_key::fz_bz_index(channel, bz))?)
    }

    fn put_bz_link(&mut self, bz: &Address, fz: &Address, bank: &Address, channel: &str) {
        let r = BzLinkRecord { fz: fz.0.to_vec(), bank: bank.0.to_vec(), channel: channel.to_owned() };
        self.put_proto(state_key::bz_link(bz), &r);
    }

    fn set_bz_channel(&mut self, channel: &str) {
        self.put_raw(state_key::bz_channel().to_vec(), channel.as_bytes().to_vec());
    }

    /// BZ: money arrives from the FZ (a charge).
    fn bz_mint(&mut self, bz: &Address, amount: Amount) -> Result<(), Error> {
        let b = add("bz balance", self.bz_balance(bz)?, amount)?;
        let t = add("bz total", self.bz_total()?, amount)?;
        self.put_amount(state_key::bz_balance(bz), b);
        self.put_amount(state_key::bz_total().to_vec(), t);
        Ok(())
    }

    /// BZ: balance -> hold for the packet `(channel, sequence)`.
    fn bz_hold(
        &mut self,
        channel: &str,
        sequence: u64,
        owner: &Address,
        kind: HoldKind,
        to: Option<&Address>,
        amount: Amount,
    ) -> Result<(), Error> {
        let available = self.bz_balance(owner)?;
        let b = available.checked_sub(amount).map_err(|_| Error::InsufficientBalance {
            address: *owner,
            available,
            needed: amount,
        })?;
        let h = add("bz held", self.bz_held(owner)?, amount)?;
        self.put_amount(state_key::bz_balance(owner), b);
        self.put_amount(state_key::bz_held(owner), h);
        if let Some(to) = to {
            let i = add("bz incoming", self.bz_incoming(to)?, amount)?;
            self.put_amount(state_key::bz_incoming(to), i);
        }
        let r = HoldRecord {
            owner: owner.0.to_vec(),
            kind: kind as i32,
            to: to.map(|a| a.0.to_vec()).unwrap_or_default(),
            amount: amount.to_be_bytes().to_vec(),
        };
        self.put_proto(state_key::bz_hold(channel, sequence), &r);
        Ok(())
    }

    /// BZ: removes the hold of a packet that was acknowledged or timed out.
    fn bz_release(&mut self, channel: &str, sequence: u64) -> Result<Hold, Error> {
        let hold = self
            .hold(channel, sequence)?
            .ok_or_else(|| Error::Storage(StateError(format!("no hold for {channel}/{sequence}"))))?;
        let h = sub_internal("bz held", self.bz_held(&hold.owner)?, hold.amount)?;
        self.put_amount(state_key::bz_held(&hold.owner), h);
        if let Some(to) = &hold.to {
            let i = sub_internal("bz incoming", self.bz_incoming(to)?, hold.amount)?;
            self.put_amount(state_key::bz_incoming(to), i);
        }
        self.delete(state_key::bz_hold(channel, sequence));
        Ok(hold)
    }

    fn bz_credit(&mut self, bz: &Address, amount: Amount) -> Result<(), Error> {
        let b = add("bz balance", self.bz_balance(bz)?, amount)?;
        self.put_amount(state_key::bz_balance(bz), b);
        Ok(())
    }

    /// BZ: money leaves for the FZ (a discharge the FZ accepted).
    fn bz_burn_released(&mut self, amount: Amount) -> Result<(), Error> {
        let t = sub_internal("bz total", self.bz_total()?, amount)?;
        self.put_amount(state_key::bz_total().to_vec(), t);
        Ok(())
    }
}

impl<T: StateWrite + ?Sized> StateWriteExt for T {}

/// BZ invariants: balances plus holds equal the BZ total; each account's
/// `held` equals the sum of its holds and its `incoming` the sum of the
/// payments to it; every balance belongs to a linked account; a closed
/// account holds nothing and is owed nothing.
pub fn check_bz_invariants<S: StateRead>(state: &S) -> Result<(), String> {
    use kawase_accounts::StateReadExt as _;
    let e = |x: Error| x.to_string();
    let mut sum = Amount::ZERO;
    let mut held_by: std::collections::BTreeMap<Address, Amount> = Default::default();
    let mut owed_to: std::collections::BTreeMap<Address, Amount> = Default::default();
    for h in state.holds().map_err(e)? {
        let s = held_by.entry(h.owner).or_default();
        *s = s.checked_add(h.amount).map_err(|_| "hold sum overflows")?;
        sum = sum.checked_add(h.amount).map_err(|_| "hold sum overflows")?;
        if let Some(to) = h.to {
            let i = owed_to.entry(to).or_default();
            *i = i.checked_add(h.amount).map_err(|_| "incoming sum overflows")?;
        }
    }
    for (k, v) in state.prefix_raw(state_key::bz_incoming_prefix()).map_err(|x| x.to_string())? {
        let a = state_key::parse_addr_suffix(state_key::bz_incoming_prefix(), &k).ok_or("corrupt incoming key")?;
        let arr: [u8; 16] = v.as_slice().try_into().map_err(|_| "corrupt incoming")?;
        let expected = owed_to.remove(&a).unwrap_or_default();
        let incoming = Amount::from_be_bytes(arr);
        if incoming != expected {
            return Err(format!("{a}: incoming {incoming} != payments to it in flight {expected}"));
        }
    }
    if let Some((a, x)) = owed_to.iter().find(|(_, x)| !x.is_zero()) {
        return Err(format!("{a}: payments of {x} in flight to it but no incoming record"));
    }
    for (k, v) in state.prefix_raw(state_key::bz_balance_prefix()).map_err(|x| x.to_string())? {
        let a = state_key::parse_addr_suffix(state_key::bz_balance_prefix(), &k).ok_or("corrupt balance key")?;
        if state.bz_link(&a).map_err(e)?.is_none() {
            return Err(format!("{a} holds a BZ balance but is not linked"));
        }
        let arr: [u8; 16] = v.as_slice().try_into().map_err(|_| "corrupt balance")?;
        sum = sum.checked_add(Amount::from_be_bytes(arr)).map_err(|_| "balance sum overflows")?;
    }
    for acct in state.bz_accounts().map_err(e)? {
        let expected = held_by.get(&acct.address).copied().unwrap_or_default();
        if acct.held != expected {
            return Err(format!("{}: held {} != sum of holds {expected}", acct.address, acct.held));
        }
        let closed = state
            .account(&acct.address)
            .map_err(|x| x.to_string())?
            .is_some_and(|a| a.status == kawase_accounts::Status::Closed);
        let incoming = state.bz_incoming(&acct.address).map_err(e)?;
        if closed && (!acct.balance.is_zero() || !acct.held.is_zero() || !incoming.is_zero()) {
            return Err(format!(
                "closed BZ account {} has balance {}, held {}, incoming {incoming}",
                acct.address, acct.balance, acct.held
            ));
        }
    }
    let total = state.bz_total().map_err(e)?;
    if total != sum {
        return Err(format!("BZ total {total} != balances + holds {sum}"));
    }
    Ok(())
}

/// Answers the accounts module's "may this account be closed?" for BZ
/// money: a BZ balance, an amount held for a payment or discharge it sent,
/// or a payment in flight *to* it. The last one is the close rule of
/// defect 4: a payment's payee is credited on the FZ's ack, after the FZ
/// already moved reserved(payer) -> reserved(payee); refunding the payer
/// then would break "reserved on FZ = balance + holds on BZ", so the payee
/// must stay open until the credit lands. (Charges need no such rule: a
/// charge to a closed or frozen account is refused on receipt and the FZ
/// unreserves it on the error ack.)
#[derive(Clone, Copy, Debug, Default)]
pub struct BzHoldings;

impl<S: StateRead + ?Sized> kawase_accounts::HoldingsCheck<S> for BzHoldings {
    fn holds_funds(&self, state: &S, address: &Address) -> Result<bool, kawase_accounts::Error> {
        let storage = |e: Error| kawase_accounts::Error::from(StateError(e.to_string()));
        Ok(!state.bz_balance(address).map_err(storage)?.is_zero()
            || !state.bz_held(address).map_err(storage)?.is_zero()
            || !state.bz_incoming(address).map_err(storage)?.is_zero())
    }
}

#[cfg(test)]
mod holdings_tests {
    use kawase_accounts::HoldingsCheck;
    use kawase_primitives::{Delta, MemState};

    use super::*;

    #[test]
    fn a_bz_balance_or_hold_counts_as_funds() {
        let mut state = Delta::new(MemState::default());
        let (a, fz, bank) = (Address([1; 20]), Address([2; 20]), Address([3; 20]));
        assert!(!BzHoldings.holds_funds(&state, &a).expect("read"));
        state.put_bz_link(&a, &fz, &bank, "channel-0");
        state.bz_mint(&a, Amount::new(5)).expect("mint");
        assert!(BzHoldings.holds_funds(&state, &a).expect("read"));
    }

    #[test]
    fn a_payment_in_flight_to_an_account_counts_as_its_funds_until_released() {
        let mut state = Delta::new(MemState::default());
        let (a, b, fz, bank) = (Address([1; 20]), Address([4; 20]), Address([2; 20]), Address([3; 20]));
        state.put_bz_link(&a, &fz, &bank, "channel-0");
        state.put_bz_link(&b, &fz, &bank, "channel-0");
        state.bz_mint(&a, Amount::new(5)).expect("mint");
        state.bz_hold("channel-0", 1, &a, HoldKind::Payment, Some(&b), Amount::new(5)).expect("hold");
        assert!(BzHoldings.holds_funds(&state, &b).expect("read"), "owed a payment in flight");
        check_bz_invariants(&state).expect("invariants");
        state.bz_release("channel-0", 1).expect("release");
        state.bz_credit(&a, Amount::new(5)).expect("refund");
        assert!(!BzHoldings.holds_funds(&state, &b).expect("read"));
        check_bz_invariants(&state).expect("invariants");
    }
}
