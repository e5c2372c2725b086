//! The settlement module's keys; no other crate builds them. FZ reserved
//! balances are the token module's (`token/reserved/…`).
use kawase_primitives::Address;

pub const PREFIX: &str = "settlement/";

/// FZ: the link of FZ account `fz` on `channel`.
pub fn fz_link(channel: &str, fz: &Address) -> Vec<u8> {
    format!("settlement/fz/link/{channel}/{}", fz.to_hex()).into_bytes()
}

pub fn fz_link_prefix() -> &'static [u8] {
    b"settlement/fz/link/"
}

/// FZ: which FZ account a BZ address on `channel` belongs to (one each).
pub fn fz_bz_index(channel: &str, bz: &Address) -> Vec<u8> {
    format!("settlement/fz/bz/{channel}/{}", bz.to_hex()).into_bytes()
}

/// BZ: the FZ identity behind a BZ account.
pub fn bz_link(bz: &Address) -> Vec<u8> {
    format!("settlement/bz/link/{}", bz.to_hex()).into_bytes()
}

pub fn bz_link_prefix() -> &'static [u8] {
    b"settlement/bz/link/"
}

/// BZ: spendable balance of a BZ account.
pub fn bz_balance(bz: &Address) -> Vec<u8> {
    format!("settlement/bz/balance/{}", bz.to_hex()).into_bytes()
}

pub fn bz_balance_prefix() -> &'static [u8] {
    b"settlement/bz/balance/"
}

/// BZ: sum of a BZ account's holds (payments and discharges in flight).
pub fn bz_held(bz: &Address) -> Vec<u8> {
    format!("settlement/bz/held/{}", bz.to_hex()).into_bytes()
}

/// BZ: sum of the payments in flight *to* a BZ account (held from their
/// payers, settled or settling on the FZ, credited on the ack). An account
/// owed such money cannot be closed.
pub fn bz_incoming(bz: &Address) -> Vec<u8> {
    format!("settlement/bz/incoming/{}", bz.to_hex()).into_bytes()
}

pub fn bz_incoming_prefix() -> &'static [u8] {
    b"settlement/bz/incoming/"
}

/// BZ: one hold, by the packet that carries it (sequence zero-padded so
/// holds list in send order).
pub fn bz_hold(channel: &str, sequence: u64) -> Vec<u8> {
    format!("settlement/bz/hold/{channel}/{sequence:020}").into_bytes()
}

pub fn bz_hold_prefix() -> &'static [u8] {
    b"settlement/bz/hold/"
}

/// BZ: everything charged in and not yet discharged (balances + holds).
pub fn bz_total() -> &'static [u8] {
    b"settlement/bz/total"
}

/// BZ: the one channel to the FZ.
pub fn bz_channel() -> &'static [u8] {
    b"settlement/bz/channel"
}

/// BZ: the FZ counterparty its settlement channel must lead to.
pub fn bz_counterparty() -> &'static [u8] {
    b"settlement/bz/counterparty"
}

pub fn parse_addr_suffix(prefix: &[u8], key: &[u8]) -> Option<Address> {
    let rest = std::str::from_utf8(key.strip_prefix(prefix)?).ok()?;
    Address::from_hex(rest.rsplit('/').next()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_and_stay_in_their_prefixes() {
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        assert!(bz_hold("channel-0", 9) < bz_hold("channel-0", 10));
        assert!(bz_balance(&a) < bz_balance(&b));
        assert!(fz_link("channel-0", &b) < fz_link("channel-1", &a));
        for k in [
            fz_link("c", &a),
            fz_bz_index("c", &a),
            bz_link(&a),
            bz_balance(&a),
            bz_held(&a),
            bz_hold("c", 1),
            bz_incoming(&a),
        ] {
            assert!(k.starts_with(PREFIX.as_bytes()));
        }
        assert!(!bz_held(&a).starts_with(bz_hold_prefix()));
        assert!(!bz_hold("c", 1).starts_with(b"settlement/bz/held/"));
        assert!(!bz_incoming(&a).starts_with(bz_hold_prefix()) && !bz_hold("c", 1).starts_with(bz_incoming_prefix()));
        assert_eq!(parse_addr_suffix(bz_balance_prefix(), &bz_balance(&b)), Some(b));
        assert_eq!(parse_addr_suffix(fz_link_prefix(), &fz_link("channel-3", &a)), Some(a));
    }
}
