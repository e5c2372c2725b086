//! The token module's keys; no other crate builds them.
use kawase_primitives::Address;

pub const PREFIX: &str = "token/";

pub fn balance(a: &Address) -> Vec<u8> {
    format!("token/balance/{}", a.to_hex()).into_bytes()
}

pub fn balance_prefix() -> &'static [u8] {
    b"token/balance/"
}

/// Outstanding tokens issued by (liabilities of) a bank.
pub fn supply(bank: &Address) -> Vec<u8> {
    format!("token/supply/{}", bank.to_hex()).into_bytes()
}

pub fn total_supply() -> &'static [u8] {
    b"token/total_supply"
}

pub fn minted(bank: &Address) -> Vec<u8> {
    format!("token/stats/{}/minted", bank.to_hex()).into_bytes()
}

pub fn burned(bank: &Address) -> Vec<u8> {
    format!("token/stats/{}/burned", bank.to_hex()).into_bytes()
}

pub fn settled_out(bank: &Address) -> Vec<u8> {
    format!("token/stats/{}/settled_out", bank.to_hex()).into_bytes()
}

pub fn settled_in(bank: &Address) -> Vec<u8> {
    format!("token/stats/{}/settled_in", bank.to_hex()).into_bytes()
}

/// Net amount `debtor` owes `creditor`; at most one direction of a pair is
/// non-zero.
pub fn owes(debtor: &Address, creditor: &Address) -> Vec<u8> {
    format!("token/owes/{}/{}", debtor.to_hex(), creditor.to_hex()).into_bytes()
}

pub fn owes_prefix() -> &'static [u8] {
    b"token/owes/"
}

/// Issue reference ids are single-use per bank.
pub fn issue_reference(bank: &Address, reference: &str) -> Vec<u8> {
    format!("token/ref/issue/{}/{}", bank.to_hex(), reference).into_bytes()
}

/// Redeem reference ids are single-use per holder.
pub fn redeem_reference(owner: &Address, reference: &str) -> Vec<u8> {
    format!("token/ref/redeem/{}/{}", owner.to_hex(), reference).into_bytes()
}

/// Settlement ids are single-use network-wide.
pub fn settlement_id(id: &str) -> Vec<u8> {
    format!("token/ref/settlement/{id}").into_bytes()
}

/// Deposit `a` has committed to the Business Zone behind IBC channel
/// `channel` (part of its bank's liabilities, not spendable on the FZ).
pub fn reserved(channel: &str, a: &Address) -> Vec<u8> {
    format!("token/reserved/{channel}/{}", a.to_hex()).into_bytes()
}

pub fn reserved_prefix() -> &'static [u8] {
    b"token/reserved/"
}

/// Parses channel and address out of a `reserved` key.
pub fn parse_reserved(key: &[u8]) -> Option<(String, Address)> {
    let rest = std::str::from_utf8(key.strip_prefix(reserved_prefix())?).ok()?;
    let (c, a) = rest.rsplit_once('/')?;
    Some((c.to_owned(), Address::from_hex(a).ok()?))
}

/// Parses the two addresses out of an `owes` key.
pub fn parse_owes(key: &[u8]) -> Option<(Address, Address)> {
    let rest = std::str::from_utf8(key.strip_prefix(owes_prefix())?).ok()?;
    let (d, c) = rest.split_once('/')?;
    Some((Address::from_hex(d).ok()?, Address::from_hex(c).ok()?))
}

/// Parses the address out of a `balance` key.
pub fn parse_balance(key: &[u8]) -> Option<Address> {
    Address::from_hex(std::str::from_utf8(key.strip_prefix(balance_prefix())?).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_ordered_by_address_and_parse_back() {
        let a = Address([1u8; 20]);
        let b = Address([2u8; 20]);
        assert!(balance(&a) < balance(&b));
        assert!(owes(&a, &b) < owes(&b, &a));
        assert_eq!(parse_owes(&owes(&a, &b)), Some((a, b)));
        assert_eq!(parse_balance(&balance(&b)), Some(b));
        assert_eq!(parse_reserved(&reserved("channel-0", &a)), Some(("channel-0".to_owned(), a)));
        assert!(reserved("channel-0", &b) < reserved("channel-1", &a));
        assert!(!reserved("channel-0", &a).starts_with(balance_prefix()));
        for k in [balance(&a), supply(&a), minted(&a), owes(&a, &b), issue_reference(&a, "r"), settlement_id("s")] {
            assert!(k.starts_with(PREFIX.as_bytes()));
        }
        // Prefix ranges do not overlap each other.
        assert!(!supply(&a).starts_with(balance_prefix()));
        assert!(!issue_reference(&a, "x").starts_with(owes_prefix()));
    }
}
