//! Money checks after a fault run, asked of every node: the FZ's total
//! supply is exactly what committed issues created; each bank's supply is
//! what its customers hold (free + reserved); at quiescence nothing is in
//! flight (no holds, no unacknowledged packets) and for every linked
//! account the FZ reservation equals the BZ balance plus holds.
use std::time::{Duration, Instant};

use kawase_primitives::Address;
use serde_json::Value;

use super::checks::Verdict;
use super::faultnet::FaultNet;
use super::rpc::{QueryError, Rpc};
use super::zones::amount;

async fn q(rpc: &str, path: &str, data: &[u8]) -> Result<Value, String> {
    Rpc::bounded(rpc).query(path, data).await.map_err(|e| match e {
        QueryError::NoAnswer(_) => format!("{rpc} {path}: no answer"),
        QueryError::Refused { log: e, .. } | QueryError::NotJson(e) => format!("{rpc} {path}: {e}"),
    })
}

async fn list_len(rpc: &str, path: &str, data: &[u8]) -> Result<usize, String> {
    Ok(q(rpc, path, data).await?.as_array().map(Vec::len).unwrap_or(usize::MAX))
}

/// Waits (bounded) until no BZ hold and no packet commitment is left on
/// any node of either zone: every charge, payment and discharge settled,
/// refunded or timed out.
pub async fn quiesce(net: &FaultNet, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let mut pending = Vec::new();
        for rpc in net.bz_ep.rpcs.iter() {
            match list_len(rpc, "/settlement/holds", b"").await {
                Ok(0) => {}
                r => pending.push(format!("BZ {rpc} holds {r:?}")),
            }
            match list_len(rpc, "/ibc/packet_commitments", net.bz_channel.as_bytes()).await {
                Ok(0) => {}
                r => pending.push(format!("BZ {rpc} packets {r:?}")),
            }
        }
        for rpc in net.fz_ep.rpcs.iter() {
            match list_len(rpc, "/ibc/packet_commitments", net.channel.as_bytes()).await {
                Ok(0) => {}
                r => pending.push(format!("FZ {rpc} packets {r:?}")),
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("still pending after {limit:?}: {}", pending.join("; ")));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn holding(rpc: &str, a: &Address) -> Result<(u128, u128), String> {
    let s = a.to_string();
    let free = amount(&q(rpc, "/token/balance", s.as_bytes()).await?["amount"]);
    let r = q(rpc, "/settlement/reserved", s.as_bytes()).await?;
    let reserved = r["reserved"].as_array().map(|l| l.iter().map(|x| amount(&x["amount"])).sum()).unwrap_or(0);
    Ok((free, reserved))
}

/// Runs every money invariant on every node; `customers` are all FZ
/// customers ever sent for registration, with their bank's index.
pub async fn invariants(net: &FaultNet, customers: &[(Address, usize)], v: &mut Verdict) {
    let issued = v.issued;
    let mut reserved_by_node = Vec::new();
    for rpc in net.fz_ep.rpcs.iter() {
        match fz_invariants(net, rpc, customers, issued, v).await {
            Ok(r) => reserved_by_node.push(r),
            Err(e) => v.fail(format!("FZ money queries: {e}")),
        }
    }
    for rpc in net.bz_ep.rpcs.iter() {
        if let Err(e) = bz_invariants(net, rpc, &reserved_by_node, v).await {
            v.fail(format!("BZ money queries: {e}"));
        }
    }
}

/// Per-customer reservations at one FZ node, after its own checks.
async fn fz_invariants(
    net: &FaultNet,
    rpc: &str,
    customers: &[(Address, usize)],
    issued: u128,
    v: &mut Verdict,
) -> Result<Vec<(Address, u128)>, String> {
    let total = amount(&q(rpc, "/token/total_supply", b"").await?["amount"]);
    v.invariant("fz total supply = committed issues", total == issued, || format!("{rpc}: {total} != {issued}"));
    let mut per_bank = vec![0u128; net.banks.len()];
    let mut reserved = Vec::new();
    for (a, bank) in customers {
        let (free, res) = holding(rpc, a).await?;
        per_bank[*bank] += free + res;
        reserved.push((*a, res));
    }
    let positions = q(rpc, "/token/positions", b"").await?;
    let list = positions.as_array().cloned().unwrap_or_default();
    let netted = list.iter().all(|p| {
        amount(&p["amount"]) > 0 && !list.iter().any(|o| o["debtor"] == p["creditor"] && o["creditor"] == p["debtor"])
    });
    v.invariant("interbank positions are netted (one direction, positive)", netted, || format!("{rpc}: {positions}"));
    let owed = |bank: &str, side: &str| -> u128 {
        list.iter().filter(|p| p[side].as_str() == Some(bank)).map(|p| amount(&p["amount"])).sum()
    };
    let mut supplies = 0u128;
    for (i, b) in net.banks.iter().enumerate() {
        let addr = b.address().to_string();
        let s = q(rpc, "/token/bank", addr.as_bytes()).await?;
        let [supply, minted, burned, out, inn] =
            ["supply", "minted", "burned", "settled_out", "settled_in"].map(|k| amount(&s[k]));
        supplies += supply;
        v.invariant("bank supply = its customers' free + reserved", supply == per_bank[i], || {
            format!("{rpc} bank {i}: supply {supply}, customers hold {}", per_bank[i])
        });
        let lhs = supply.wrapping_add(owed(&addr, "debtor")).wrapping_add(out).wrapping_add(burned);
        let rhs = minted.wrapping_add(owed(&addr, "creditor")).wrapping_add(inn);
        v.invariant(
            "bank: supply + owed + settled out + burned = minted + owed to it + settled in",
            lhs == rhs,
            || format!("{rpc} bank {i}: {s} positions {positions}"),
        );
    }
    v.invariant("sum of bank supplies = total supply", supplies == total, || format!("{rpc}: {supplies} != {total}"));
    Ok(reserved)
}

async fn bz_invariants(
    net: &FaultNet,
    rpc: &str,
    fz_reserved: &[Vec<(Address, u128)>],
    v: &mut Verdict,
) -> Result<(), String> {
    let bz_total = amount(&q(rpc, "/settlement/bz_total", b"").await?["amount"]);
    let mut held_sum = 0u128;
    let mut per_link = Vec::new();
    for c in &net.customers {
        let a = c.bz.address().to_string();
        let acct = q(rpc, "/settlement/bz_account", a.as_bytes()).await?;
        let (bal, held) = (amount(&acct["balance"]), amount(&acct["held"]));
        held_sum += bal + held;
        per_link.push((c.fz.address(), bal + held));
    }
    v.invariant("bz total = sum of BZ balances and holds", bz_total == held_sum, || {
        format!("{rpc}: bz_total {bz_total}, accounts hold {held_sum}")
    });
    for reserved in fz_reserved {
        let fz_sum: u128 = reserved.iter().map(|(_, r)| r).sum();
        v.invariant("FZ reservations = BZ total (quiescent)", fz_sum == bz_total, || {
            format!("{rpc}: FZ reserved {fz_sum}, BZ total {bz_total}")
        });
        for (fz, bz_amount) in &per_link {
            let r = reserved.iter().find(|(a, _)| a == fz).map(|(_, r)| *r).unwrap_or(0);
            v.invariant("per link: FZ reserved = BZ balance + holds", r == *bz_amount, || {
                format!("{fz}: FZ reserved {r}, BZ {bz_amount}")
            });
        }
    }
    Ok(())
}
