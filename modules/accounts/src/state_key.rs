//! The accounts module's keys; no other crate builds them.
use kawase_primitives::Address;

pub const PREFIX: &str = "accounts/";

pub fn account(a: &Address) -> Vec<u8> {
    format!("accounts/account/{}", a.to_hex()).into_bytes()
}

pub fn accounts_prefix() -> &'static [u8] {
    b"accounts/account/"
}

/// Index of bank addresses, for listing banks without a full scan.
pub fn bank_index(a: &Address) -> Vec<u8> {
    format!("accounts/bank/{}", a.to_hex()).into_bytes()
}

pub fn bank_index_prefix() -> &'static [u8] {
    b"accounts/bank/"
}

pub fn admin() -> &'static [u8] {
    b"accounts/admin"
}

pub fn next_account_number() -> &'static [u8] {
    b"accounts/next_number"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_by_address_bytes_and_stay_under_module_prefix() {
        let lo = Address([0u8; 20]);
        let mut b = [0u8; 20];
        b[0] = 1;
        let hi = Address(b);
        assert!(account(&lo) < account(&hi));
        assert!(account(&hi).starts_with(accounts_prefix()));
        assert!(bank_index(&lo).starts_with(bank_index_prefix()));
        for k in [account(&lo), bank_index(&lo), admin().to_vec(), next_account_number().to_vec()] {
            assert!(k.starts_with(PREFIX.as_bytes()));
        }
        // The bank index must not fall inside the account range.
        assert!(!bank_index(&lo).starts_with(accounts_prefix()));
    }
}
