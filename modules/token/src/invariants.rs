use std::collections::BTreeMap;

use kawase_accounts::{Role, StateReadExt as _};
use kawase_primitives::{Address, Amount, StateRead};

use crate::state::StateReadExt as _;

/// Checks the money invariants over the whole state. O(accounts): run at
/// the end of every block in debug builds and by the property tests.
///
/// 1. Every non-zero balance belongs to a token-holding account.
/// 2. For each bank, the sum of its holders' balances, free and reserved
///    for Business Zones, equals its supply.
/// 3. The sum of bank supplies equals the total supply, which equals
///    everything minted less everything burned (modulo 2^128).
/// 4. At most one direction of each bank pair has a position.
/// 5. For each bank: supply + owed_out + settled_out + burned
///    = minted + owed_in + settled_in, modulo 2^128 (transfers and
///    settlements move liability, they never create it).
pub fn check_invariants<S: StateRead>(state: &S) -> Result<(), String> {
    let e = |x: crate::Error| x.to_string();
    let banks: Vec<Address> = state.banks().map_err(|x| x.to_string())?.into_iter().map(|a| a.address).collect();
    let mut held: BTreeMap<Address, Amount> = banks.iter().map(|b| (*b, Amount::ZERO)).collect();
    let reserved = state.all_reserved().map_err(e)?.into_iter().map(|(_, a, r)| (a, r));
    for (addr, bal) in state.balances().map_err(e)?.into_iter().chain(reserved) {
        let acct = state.existing_account(&addr).map_err(|x| x.to_string())?;
        let bank = match (acct.role.holds_tokens(), acct.bank) {
            (true, Some(b)) => b,
            _ => return Err(format!("{addr} ({}) holds {bal} but cannot hold tokens", acct.role.as_str())),
        };
        let slot = held.get_mut(&bank).ok_or_else(|| format!("{addr} is held at unknown bank {bank}"))?;
        *slot = slot.checked_add(bal).map_err(|_| "balance sum overflows")?;
    }
    let mut supply_sum = Amount::ZERO;
    // Lifetime counters: summed modulo 2^128 (see below).
    let mut minted_sum: u128 = 0;
    let mut burned_sum: u128 = 0;
    let mut owed_out: BTreeMap<Address, Amount> = BTreeMap::new();
    let mut owed_in: BTreeMap<Address, Amount> = BTreeMap::new();
    for p in state.positions().map_err(e)? {
        if !state.owes(&p.creditor, &p.debtor).map_err(e)?.is_zero() {
            return Err(format!("positions {} <-> {} are not netted", p.debtor, p.creditor));
        }
        for (m, b) in [(&mut owed_out, p.debtor), (&mut owed_in, p.creditor)] {
            let s = m.entry(b).or_default();
            *s = s.checked_add(p.amount).map_err(|_| "position sum overflows")?;
        }
    }
    for (bank, sum) in &held {
        let acct = state.existing_account(bank).map_err(|x| x.to_string())?;
        if acct.role != Role::IssuingBank {
            return Err(format!("{bank} is indexed as a bank but is not one"));
        }
        let s = state.bank_stats(bank).map_err(e)?;
        if s.supply != *sum {
            return Err(format!("bank {bank}: supply {} != sum of balances {sum}", s.supply));
        }
        let out = owed_out.get(bank).copied().unwrap_or_default();
        let inn = owed_in.get(bank).copied().unwrap_or_default();
        // Lifetime counters are unbounded over time while each is a u128,
        // so the identity is checked modulo 2^128 (a real error is far
        // smaller than 2^128 and still shows).
        let lhs = [s.supply, out, s.settled_out, s.burned].iter().fold(0u128, |a, b| a.wrapping_add(b.get()));
        let rhs = [s.minted, inn, s.settled_in].iter().fold(0u128, |a, b| a.wrapping_add(b.get()));
        if lhs != rhs {
            return Err(format!("bank {bank}: liability does not reconcile: {s:?} owed_out {out} owed_in {inn}"));
        }
        supply_sum = supply_sum.checked_add(s.supply).map_err(|_| "supply sum overflows")?;
        minted_sum = minted_sum.wrapping_add(s.minted.get());
        burned_sum = burned_sum.wrapping_add(s.burned.get());
    }
    let total = state.total_supply().map_err(e)?;
    if total != supply_sum || total != minted_sum.wrapping_sub(burned_sum) {
        return Err(format!(
            "total supply {total} != sum of bank supplies {supply_sum} / minted {minted_sum} - burned {burned_sum}"
        ));
    }
    Ok(())
}
