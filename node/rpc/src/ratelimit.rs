//! Per-caller rate limits and in-flight quotas for a listener, so one noisy
//! client cannot take the RPC's workers from the others.
//!
//! A caller is its client certificate (under mutual TLS) or else its source
//! IP address. Each has a token bucket (`per_second`, refilled continuously,
//! up to `burst`) and a cap on requests in flight; a request over either is
//! answered at once with HTTP 429 and a JSON-RPC error carrying a stable
//! code, without reaching the router. The clock is tokio's monotonic one,
//! read only here: nothing a block executes depends on it.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

/// Most callers tracked at once; beyond it the idle ones are forgotten and,
/// if none is idle, new callers share one bucket.
pub const MAX_CALLERS: usize = 4096;

/// What a listener allows each caller. A zero turns that limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
    /// Requests in flight at once (a websocket counts while it upgrades).
    pub max_in_flight: u32,
    /// Callers on a loopback address without a client certificate (the
    /// node's own tools, a co-located relayer) are not limited.
    pub exempt_loopback: bool,
}

impl RateLimits {
    pub fn off() -> RateLimits {
        RateLimits { per_second: 0, burst: 0, max_in_flight: 0, exempt_loopback: true }
    }

    fn is_off(&self) -> bool {
        self.per_second == 0 && self.max_in_flight == 0
    }
}

/// Who a request is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A client certificate's SHA-256 fingerprint.
    Certificate(String),
    Address(IpAddr),
    /// Every new caller while [`MAX_CALLERS`] are busy.
    Overflow,
}

/// Why a request was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    #[error("rpc/rate_limited: more than {0} requests per second from this caller; retry after a second")]
    Rate(u32),
    #[error("rpc/too_many_in_flight: more than {0} requests at once from this caller")]
    InFlight(u32),
}

impl Limited {
    /// The stable code, as in the message.
    pub fn code(&self) -> &'static str {
        match self {
            Limited::Rate(_) => "rpc/rate_limited",
            Limited::InFlight(_) => "rpc/too_many_in_flight",
        }
    }
}

#[derive(Debug)]
struct Bucket {
    /// Thousandths of a request, so refills stay exact in integers.
    milli_tokens: u64,
    last: Instant,
    in_flight: u32,
}

/// The buckets of one listener.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<Caller, Bucket>>,
}

/// A request being served; its in-flight count ends when this is dropped.
#[derive(Debug)]
pub struct Admitted {
    limiter: Arc<RateLimiter>,
    caller: Caller,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut buckets = self.limiter.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = buckets.get_mut(&self.caller) {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
    }
}

impl RateLimiter {
    /// `None` when `limits` limit nothing.
    pub fn new(limits: RateLimits) -> Option<Arc<RateLimiter>> {
        (!limits.is_off()).then(|| Arc::new(RateLimiter { limits, buckets: Mutex::new(HashMap::new()) }))
    }

    /// Whether `caller` is limited at all (see [`RateLimits::exempt_loopback`]).
    pub fn applies_to(&self, caller: &Caller) -> bool {
        !(self.limits.exempt_loopback && matches!(caller, Caller::Address(ip) if ip.is_loopback()))
    }

    /// Counts a request of `caller` at `now`, or says why it is refused.
    pub fn admit(self: &Arc<Self>, caller: &Caller, now: Instant) -> Result<Admitted, Limited> {
        let l = self.limits;
        let full = u64::from(l.burst.max(1)) * 1000;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let key = if buckets.contains_key(caller) || buckets.len() < MAX_CALLERS {
            caller.clone()
        } else {
            // Forget callers that are idle and refilled: they lose nothing.
            buckets.retain(|_, b| b.in_flight > 0 || refilled(b, now, l.per_second, full) < full);
            if buckets.len() < MAX_CALLERS {
                caller.clone()
            } else {
                Caller::Overflow
            }
        };
        let b = buckets.entry(key.clone()).or_insert(Bucket { milli_tokens: full, last: now, in_flight: 0 });
        if l.max_in_flight > 0 && b.in_flight >= l.max_in_flight {
            return Err(Limited::InFlight(l.max_in_flight));
        }
        if l.per_second > 0 {
            b.milli_tokens = refilled(b, now, l.per_second, full);
            b.last = now;
            if b.milli_tokens < 1000 {
                return Err(Limited::Rate(l.per_second));
            }
            b.milli_tokens -= 1000;
        }
        b.in_flight += 1;
        Ok(Admitted { limiter: Arc::clone(self), caller: key })
    }
}

/// The bucket's tokens at `now`: `per_second` requests a second, in
/// thousandths (one per millisecond per request a second), capped at `full`.
fn refilled(b: &Bucket, now: Instant, per_second: u32, full: u64) -> u64 {
    let ms = u64::try_from(now.saturating_duration_since(b.last).as_millis()).unwrap_or(u64::MAX);
    b.milli_tokens.saturating_add(ms.saturating_mul(u64::from(per_second))).min(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> Caller {
        Caller::Address(IpAddr::from([10, 0, 0, last]))
    }

    fn limiter(per_second: u32, burst: u32, max_in_flight: u32) -> Arc<RateLimiter> {
        RateLimiter::new(RateLimits { per_second, burst, max_in_flight, exempt_loopback: true }).expect("limits")
    }

    #[test]
    fn a_caller_gets_its_burst_then_its_rate_and_another_caller_is_not_affected() {
        let l = limiter(10, 5, 0);
        let t = Instant::now();
        let held: Vec<_> = (0..5).map(|_| l.admit(&ip(1), t).expect("within the burst")).collect();
        assert_eq!(l.admit(&ip(1), t).err(), Some(Limited::Rate(10)));
        assert!(l.admit(&ip(2), t).is_ok(), "another address has its own bucket");
        // 100 ms at 10 a second is one more request.
        assert!(l.admit(&ip(1), t + Duration::from_millis(100)).is_ok());
        assert!(l.admit(&ip(1), t + Duration::from_millis(100)).is_err());
        drop(held);
        // A long pause refills to the burst, not beyond.
        let later = t + Duration::from_secs(60);
        assert_eq!((0..6).filter(|_| l.admit(&ip(1), later).is_ok()).count(), 5);
    }

    #[test]
    fn requests_in_flight_are_capped_per_caller_and_freed_when_they_end() {
        let l = limiter(0, 0, 2);
        let t = Instant::now();
        let a = l.admit(&ip(1), t).expect("first");
        let _b = l.admit(&ip(1), t).expect("second");
        assert_eq!(l.admit(&ip(1), t).err(), Some(Limited::InFlight(2)));
        assert_eq!(l.admit(&ip(1), t).expect_err("refused").code(), "rpc/too_many_in_flight");
        drop(a);
        assert!(l.admit(&ip(1), t).is_ok(), "a finished request frees its place");
    }

    #[test]
    fn loopback_callers_without_a_certificate_are_exempt_only_when_configured() {
        let l = limiter(1, 1, 1);
        assert!(!l.applies_to(&Caller::Address(IpAddr::from([127, 0, 0, 1]))));
        assert!(l.applies_to(&Caller::Certificate("ab".into())));
        assert!(l.applies_to(&ip(1)));
        let strict = RateLimiter::new(RateLimits { per_second: 1, burst: 1, max_in_flight: 0, exempt_loopback: false })
            .expect("limits");
        assert!(strict.applies_to(&Caller::Address(IpAddr::from([127, 0, 0, 1]))));
        assert!(RateLimiter::new(RateLimits::off()).is_none(), "no limits, no limiter");
    }

    #[test]
    fn the_tracked_callers_are_bounded_and_idle_ones_are_forgotten_first() {
        let l = limiter(1000, 1, 0);
        let t = Instant::now();
        for i in 0..MAX_CALLERS {
            let c = Caller::Certificate(format!("{i}"));
            drop(l.admit(&c, t).expect("admitted"));
        }
        // All spent their one token at t: none is idle, so a newcomer shares the overflow bucket.
        assert!(l.admit(&Caller::Certificate("new".into()), t).is_ok());
        assert!(l.admit(&Caller::Certificate("newer".into()), t).is_err(), "the overflow bucket is spent");
        // A second later every bucket has refilled: the idle ones are dropped.
        let later = t + Duration::from_secs(1);
        assert!(l.admit(&Caller::Certificate("new".into()), later).is_ok());
        let tracked = l.buckets.lock().expect("lock").len();
        assert!(tracked <= 2, "idle callers forgotten, {tracked} tracked");
    }
}
