//! Who may hold a gossip connection: inbound connection slots (total and
//! per IP) and the penalty record of authenticated peers, which bans a peer
//! that relays invalid transactions for a while.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::auth::NodeId;

/// Inbound connection slots. A slot is held for the connection's life,
/// handshake included, and given back when its guard drops.
pub struct Slots {
    max_total: usize,
    max_per_ip: usize,
    used: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

pub struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Slots {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Slots> {
        Arc::new(Slots { max_total, max_per_ip, used: Mutex::new((0, HashMap::new())) })
    }

    /// A slot for a connection from `ip`, or `None` when a cap is reached.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *used;
        let from_ip = per_ip.entry(ip).or_insert(0);
        if *total >= self.max_total || *from_ip >= self.max_per_ip {
            if *from_ip == 0 {
                per_ip.remove(&ip);
            }
            return None;
        }
        *from_ip += 1;
        *total += 1;
        Some(Slot { slots: Arc::clone(self), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = self.slots.used.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *used;
        *total = total.saturating_sub(1);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// Penalty points per authenticated peer. Points accumulate while offences
/// come closer together than the ban period; at the threshold the peer is
/// disconnected and refused until the ban ends. Only allowed peers get a
/// record, so the map is as small as the peer list.
pub struct Reputation {
    threshold: u32,
    ban_for: Duration,
    records: Mutex<HashMap<NodeId, Record>>,
}

#[derive(Default)]
struct Record {
    points: u32,
    last: Option<Instant>,
    banned_until: Option<Instant>,
}

impl Reputation {
    pub fn new(threshold: u32, ban_for: Duration) -> Reputation {
        Reputation { threshold: threshold.max(1), ban_for, records: Mutex::new(HashMap::new()) }
    }

    pub fn is_banned(&self, id: NodeId) -> bool {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.get(&id).and_then(|r| r.banned_until).is_some_and(|until| Instant::now() < until)
    }

    /// Adds `points` to the peer's record; true when it is (now) banned.
    pub fn penalize(&self, id: NodeId, points: u32) -> bool {
        let now = Instant::now();
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let r = records.entry(id).or_default();
        if r.banned_until.is_some_and(|until| now < until) {
            return true;
        }
        if points == 0 {
            return false;
        }
        if r.last.is_some_and(|last| now.duration_since(last) > self.ban_for) {
            r.points = 0;
        }
        r.last = Some(now);
        r.points = r.points.saturating_add(points);
        if r.points >= self.threshold {
            r.points = 0;
            r.banned_until = Some(now + self.ban_for);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slots_are_capped_in_total_and_per_ip_and_come_back_on_drop() {
        let slots = Slots::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let s1 = slots.take(a).unwrap();
        let _s2 = slots.take(a).unwrap();
        assert!(slots.take(a).is_none(), "per-ip cap");
        let _s3 = slots.take(b).unwrap();
        assert!(slots.take(b).is_none(), "total cap");
        drop(s1);
        assert!(slots.take(a).is_some());
    }

    #[test]
    fn a_peer_is_banned_at_the_threshold_and_free_offences_never_ban() {
        let rep = Reputation::new(30, Duration::from_secs(60));
        let id = NodeId([7; 20]);
        for _ in 0..100 {
            assert!(!rep.penalize(id, 0));
        }
        assert!(!rep.penalize(id, 10));
        assert!(!rep.penalize(id, 10));
        assert!(rep.penalize(id, 10));
        assert!(rep.is_banned(id));
        assert!(!rep.is_banned(NodeId([8; 20])));
    }
}
