//! What the state-machine benches share: the bench world (two banks, 2,000
//! customers with ed25519 and secp256k1 keys), its genesis, reproducible
//! transfer plans, signing on all cores, and the process's memory and disk.
//! Each bench uses a part of it.
#![allow(dead_code)]
use std::path::Path;
use std::time::Duration;

use kawase_app::{AppState, Zone};
use kawase_client::{build_tx, msgs, KeyKind, TxParams};
use kawase_devkit::{customer_genesis, Wallet};

pub const CHAIN: &str = "kawase-bench";
pub const CUSTOMERS: usize = 2_000;
pub const OPENING_BALANCE: u128 = 1_000_000_000;
/// Genesis account numbers: admin 0, bank A 1, bank B 2, then customers.
pub const FIRST_CUSTOMER_NUMBER: u64 = 3;
/// Opening balance of each `KAWASE_BENCH_ACCOUNTS` extra account.
pub const EXTRA_BALANCE: u128 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Senders {
    Mixed,
    Only(KeyKind),
}

impl Senders {
    pub fn label(self) -> &'static str {
        match self {
            Senders::Mixed => "mixed ed25519/secp256k1",
            Senders::Only(KeyKind::Ed25519) => "ed25519 only",
            Senders::Only(KeyKind::Secp256k1) => "secp256k1 only",
        }
    }

    /// The name in `BENCH_JSON` lines and in `KAWASE_BENCH_SENDERS`.
    pub fn key(self) -> &'static str {
        match self {
            Senders::Mixed => "mixed",
            Senders::Only(KeyKind::Ed25519) => "ed25519",
            Senders::Only(KeyKind::Secp256k1) => "secp256k1",
        }
    }

    pub fn parse(s: &str) -> Option<Senders> {
        [Senders::Mixed, Senders::Only(KeyKind::Ed25519), Senders::Only(KeyKind::Secp256k1)]
            .into_iter()
            .find(|k| k.key() == s.trim())
    }

    pub fn admits(self, kind: KeyKind) -> bool {
        match self {
            Senders::Mixed => true,
            Senders::Only(k) => k == kind,
        }
    }
}

/// splitmix64: a reproducible stream without a rand dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub struct World {
    pub admin: Wallet,
    pub bank_a: Wallet,
    pub bank_b: Wallet,
    pub customers: Vec<Wallet>,
}

impl World {
    /// Customers alternate ed25519 and secp256k1 keys; the admin and the
    /// banks never sign here.
    pub fn new() -> World {
        let customers = (0..CUSTOMERS)
            .map(|i| {
                let kind = if i & 1 == 0 { KeyKind::Ed25519 } else { KeyKind::Secp256k1 };
                let mut w = Wallet::from_name(&format!("bench-customer-{i}"), kind);
                w.number = FIRST_CUSTOMER_NUMBER + i as u64;
                w
            })
            .collect();
        World {
            admin: Wallet::from_name("bench-admin", KeyKind::Secp256k1),
            bank_a: Wallet::from_name("bench-bank-a", KeyKind::Secp256k1),
            bank_b: Wallet::from_name("bench-bank-b", KeyKind::Secp256k1),
            customers,
        }
    }

    /// Customers 0..1000 bank with A, the rest with B.
    pub fn bank_of(i: usize) -> usize {
        usize::from(i >= CUSTOMERS / 2)
    }

    /// The genesis: banks, customers, and `extra` idle accounts after the
    /// customers (so the customers' account numbers do not change).
    pub fn genesis(&self, extra: usize) -> AppState {
        let banks = [self.bank_a.address(), self.bank_b.address()];
        AppState::new(Zone::Fz)
            .with(
                "accounts",
                &kawase_accounts::Genesis {
                    admin: self.admin.address(),
                    banks: vec![
                        kawase_accounts::BankGenesis { address: banks[0], name: "Bench Bank A".into() },
                        kawase_accounts::BankGenesis { address: banks[1], name: "Bench Bank B".into() },
                    ],
                    accounts: self
                        .customers
                        .iter()
                        .enumerate()
                        .map(|(i, w)| customer_genesis(w.address(), banks[World::bank_of(i)], &format!("DEP-{i:05}")))
                        .chain(
                            (0..extra).map(|i| customer_genesis(extra_address(i), banks[i & 1], &format!("X-{i:07}"))),
                        )
                        .collect(),
                },
            )
            .with(
                "token",
                &kawase_token::Genesis {
                    balances: self
                        .customers
                        .iter()
                        .map(|w| kawase_token::BalanceGenesis {
                            address: w.address(),
                            amount: OPENING_BALANCE.to_string(),
                        })
                        .chain((0..extra).map(|i| kawase_token::BalanceGenesis {
                            address: extra_address(i),
                            amount: EXTRA_BALANCE.to_string(),
                        }))
                        .collect(),
                },
            )
    }
}

/// Extra account `i`: an address nobody holds a key for (they never sign).
pub fn extra_address(i: usize) -> kawase_primitives::Address {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("kawase-bench-extra/{i}"));
    let mut a = [0u8; 20];
    a.copy_from_slice(&digest[..20]);
    kawase_primitives::Address(a)
}

/// One transfer to sign: sender, receiver, amount and the sender's sequence.
pub struct Plan {
    pub from: usize,
    pub to: usize,
    pub amount: u128,
    pub sequence: u64,
}

/// Plans blocks of transfers, senders cycling through the admitted pool;
/// about half of the receivers are at the other bank. Sequences carry on
/// from one block to the next, so blocks can be planned one at a time.
pub struct Planner {
    pool: Vec<usize>,
    sequences: Vec<u64>,
    cursor: usize,
}

impl Planner {
    pub fn new(world: &World, senders: Senders) -> Planner {
        let pool = (0..CUSTOMERS).filter(|&i| senders.admits(world.customers[i].key.kind())).collect();
        Planner { pool, sequences: vec![0; CUSTOMERS], cursor: 0 }
    }

    pub fn block(&mut self, txs: usize, rng: &mut Rng) -> Vec<Plan> {
        let half = CUSTOMERS / 2;
        (0..txs)
            .map(|_| {
                let from = self.pool[self.cursor % self.pool.len()];
                self.cursor += 1;
                let cross = rng.next() & 1 == 0;
                let target_bank = if cross { 1 - World::bank_of(from) } else { World::bank_of(from) };
                let mut to = target_bank * half + rng.below(half);
                if to == from {
                    to = target_bank * half + (to - target_bank * half + 1) % half;
                }
                let sequence = self.sequences[from];
                self.sequences[from] += 1;
                Plan { from, to, amount: 1 + rng.below(1_000) as u128, sequence }
            })
            .collect()
    }
}

/// Signs planned transfers on all cores.
pub fn sign_all(world: &World, plans: &[Plan]) -> Vec<Vec<u8>> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let chunk = plans.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    c.iter()
                        .map(|p| {
                            let (from, to) = (&world.customers[p.from], &world.customers[p.to]);
                            let params = TxParams {
                                chain_id: CHAIN.into(),
                                account_number: from.number,
                                sequence: p.sequence,
                                memo: String::new(),
                                timeout_height: 0,
                            };
                            build_tx(&from.key, &params, vec![msgs::transfer(from.address(), to.address(), p.amount)])
                                .expect("encoding a transfer cannot fail")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("signing workers do not panic")).collect()
    })
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// 23456.7 -> "23,457".
pub fn grouped(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `VmRSS` and `VmHWM` of this process in bytes (Linux `/proc`).
pub fn proc_mem() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Bytes under `path` on disk, like `du -s` (allocated blocks).
pub fn dir_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.blocks() * 512;
    }
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries.flatten().map(|e| dir_bytes(&e.path())).sum()
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&v| v > 0)
}
