//! A bank and its funded customers on a running zone, for the load benches:
//! the admin registers a bank, the bank registers and funds each customer
//! (32 per transaction), and each customer's account number is read back,
//! so the benches can sign transfers offline.
use kawase_accounts::Role;
use kawase_client::{build_tx, msgs, CosmosAny, Key, KeyKind, TxParams};

use crate::rpc::Rpc;

/// A customer's key and on-chain account number.
pub struct Customer {
    pub key: Key,
    pub number: u64,
}

/// Signs `m` for `chain_id` with `key` at account `number`, `sequence`.
pub fn signed(chain_id: &str, key: &Key, number: u64, sequence: u64, m: Vec<CosmosAny>) -> Vec<u8> {
    let p = TxParams {
        chain_id: chain_id.into(),
        account_number: number,
        sequence,
        memo: String::new(),
        timeout_height: 0,
    };
    build_tx(key, &p, m).expect("a transaction of known messages encodes")
}

async fn commit(c: &Rpc, t: Vec<u8>) {
    let r = c.broadcast_tx_commit(t).await.expect("broadcast_tx_commit");
    assert!(
        r.check_tx.code.is_ok() && r.tx_result.code.is_ok(),
        "setup tx failed: {} {}",
        r.check_tx.log,
        r.tx_result.log
    );
}

/// `(number, sequence)` of `k`'s account.
pub async fn account(c: &Rpc, k: &Key) -> (u64, u64) {
    let v = c.query("/accounts/account", k.address().to_string().as_bytes()).await.expect("account query");
    (v["number"].as_u64().expect("number"), v["sequence"].as_u64().expect("sequence"))
}

/// Registers a bank with `admin`, then `n` ed25519 customers of it, each
/// issued `balance`; waits for every transaction to commit.
pub async fn fund(c: &Rpc, chain_id: &str, admin: &Key, n: usize, balance: u128) -> Vec<Customer> {
    let bank = Key::generate(KeyKind::Ed25519);
    let (admin_no, admin_seq) = account(c, admin).await;
    let register = msgs::register_bank(admin.address(), bank.address(), "Bench Bank");
    commit(c, signed(chain_id, admin, admin_no, admin_seq, vec![register])).await;
    let bank_no = account(c, &bank).await.0;
    let keys: Vec<Key> = (0..n).map(|_| Key::generate(KeyKind::Ed25519)).collect();
    let mut seq = 0;
    for chunk in keys.chunks(32) {
        let m =
            chunk.iter().map(|k| msgs::register_account(bank.address(), k.address(), Role::Customer, "acct")).collect();
        commit(c, signed(chain_id, &bank, bank_no, seq, m)).await;
        seq += 1;
    }
    for (j, chunk) in keys.chunks(32).enumerate() {
        let m = chunk
            .iter()
            .enumerate()
            .map(|(i, k)| msgs::issue(bank.address(), k.address(), balance, &format!("dep-{j}-{i}")))
            .collect();
        commit(c, signed(chain_id, &bank, bank_no, seq, m)).await;
        seq += 1;
    }
    let mut out = Vec::with_capacity(n);
    for key in keys {
        let number = account(c, &key).await.0;
        out.push(Customer { key, number });
    }
    out
}
