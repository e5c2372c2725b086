//! The load of a fault run: every bank issues and registers customers,
//! every FZ customer transfers and charges, every BZ account pays and
//! discharges, each actor sending one transaction at a time to the next
//! node of its zone until the deadline. Amounts are drawn so that some
//! transactions fail (insufficient funds): failures must commit too.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kawase_accounts::Role;
use kawase_client::{msgs, Key, KeyKind};
use kawase_primitives::Address;

use super::faultnet::FaultNet;
use super::load::{Actor, Effect, Endpoint, History};
use super::manifest::{Manifest, Rng};

/// Customers registered during the load: `(address, bank index)`.
#[derive(Clone, Default)]
pub struct Registered(pub Arc<Mutex<Vec<(Address, usize)>>>);

#[derive(Clone, Copy)]
enum Part {
    Bank(usize),
    FzCustomer,
    BzCustomer,
}

struct Ctx {
    fz: Endpoint,
    bz: Endpoint,
    history: History,
    registered: Registered,
    channel: String,
    fz_peers: Vec<Address>,
    bz_peers: Vec<Address>,
    bank_customers: Vec<Vec<Address>>,
    weights: super::manifest::Weights,
    pause: Duration,
}

/// Starts the load for `secs`: the customers it registers, and its
/// actors' tasks to await.
pub fn spawn(m: &Manifest, net: &FaultNet, secs: u64, seed: u64) -> (Registered, Vec<tokio::task::JoinHandle<()>>) {
    let registered = Registered::default();
    let mut bank_customers = vec![Vec::new(); net.banks.len()];
    for c in &net.customers {
        bank_customers[c.bank].push(c.fz.address());
    }
    let ctx = Arc::new(Ctx {
        fz: net.fz_ep.clone(),
        bz: net.bz_ep.clone(),
        history: net.history.clone(),
        registered: registered.clone(),
        channel: net.channel.clone(),
        fz_peers: net.customers.iter().map(|c| c.fz.address()).collect(),
        bz_peers: net.customers.iter().map(|c| c.bz.address()).collect(),
        bank_customers,
        weights: m.load.weights.clone(),
        pause: Duration::from_millis(m.load.pause_ms),
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    let mut actors: Vec<(Key, Part)> = net.banks.iter().enumerate().map(|(i, b)| (b.clone(), Part::Bank(i))).collect();
    for c in &net.customers {
        actors.push((c.fz.clone(), Part::FzCustomer));
        actors.push((c.bz.clone(), Part::BzCustomer));
    }
    for (i, (key, role)) in actors.into_iter().enumerate() {
        let ctx = ctx.clone();
        let rng = Rng::new(seed.wrapping_add(i as u64 * 7919));
        tasks.push(tokio::spawn(async move { actor_loop(ctx, key, role, rng, deadline).await }));
    }
    (registered, tasks)
}

async fn actor_loop(ctx: Arc<Ctx>, key: Key, role: Part, mut rng: Rng, deadline: Instant) {
    let me = key.address();
    let mut actor = Actor::new(key);
    let w = &ctx.weights;
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        match role {
            Part::Bank(bi) => {
                let total = (w.issue + w.register).max(1) as u64;
                if rng.below(total) < w.issue as u64 {
                    let list = &ctx.bank_customers[bi];
                    let to = list[rng.below(list.len() as u64) as usize];
                    let amount = 1 + rng.below(100) as u128;
                    let msg = vec![msgs::issue(me, to, amount, &format!("load-{n}"))];
                    actor.send(&ctx.fz, &ctx.history, "issue", Effect::Issue(amount), msg).await;
                } else {
                    let new = Key::generate(KeyKind::Ed25519).address();
                    // Recorded before sending: whether it commits is for
                    // the checks to find out (an unknown account holds 0).
                    ctx.registered.0.lock().unwrap_or_else(|p| p.into_inner()).push((new, bi));
                    let msg = vec![msgs::register_account(me, new, Role::Customer, &format!("load-{n}-{new}"))];
                    actor.send(&ctx.fz, &ctx.history, "register", Effect::None, msg).await;
                }
            }
            Part::FzCustomer => {
                let total = (w.transfer + w.charge).max(1) as u64;
                if rng.below(total) < w.transfer as u64 {
                    let to = other(&ctx.fz_peers, me, &mut rng);
                    let amount = 1 + rng.below(80) as u128;
                    actor
                        .send(&ctx.fz, &ctx.history, "transfer", Effect::None, vec![msgs::transfer(me, to, amount)])
                        .await;
                } else {
                    let amount = 1 + rng.below(40) as u128;
                    let msg = vec![msgs::charge(me, &ctx.channel, amount, 0)];
                    actor.send(&ctx.fz, &ctx.history, "charge", Effect::None, msg).await;
                }
            }
            Part::BzCustomer => {
                let total = (w.pay + w.discharge).max(1) as u64;
                if rng.below(total) < w.pay as u64 {
                    let to = other(&ctx.bz_peers, me, &mut rng);
                    let amount = 1 + rng.below(40) as u128;
                    let msg = vec![msgs::pay(me, to, amount, &format!("inv-{n}"), 0)];
                    actor.send(&ctx.bz, &ctx.history, "pay", Effect::None, msg).await;
                } else {
                    let amount = 1 + rng.below(30) as u128;
                    actor
                        .send(&ctx.bz, &ctx.history, "discharge", Effect::None, vec![msgs::discharge(me, amount, 0)])
                        .await;
                }
            }
        }
        tokio::time::sleep(ctx.pause).await;
    }
}

/// A peer other than `me` (or `me` if it is the only one).
fn other(peers: &[Address], me: Address, rng: &mut Rng) -> Address {
    for _ in 0..8 {
        let p = peers[rng.below(peers.len() as u64) as usize];
        if p != me {
            return p;
        }
    }
    me
}
