//! Request limits at the front door (issue 16): every request is counted before it can
//! reach a tiny_http worker, in one of two keyed token buckets (`governor`, GCRA):
//!
//! - **by client address**, strict, for requests that carry no token or one the API has
//!   not (yet) confirmed: logins, page assets, guessed or revoked tokens;
//! - **by token digest** (SHA-256 of the bearer token, as the sessions table keeps it),
//!   generous, for requests whose token the API confirmed: one tablet's token is bounded
//!   whatever address (NAT) it comes from, and another tablet's, the host's, is not
//!   touched by it.
//!
//! The API tells the door which digests are good ([`RequestLimits::note_known`], on every
//! successful authentication) and which are not ([`RequestLimits::note_unknown`], on a
//! 401), so a stream of made-up tokens is counted per address like no token at all.
//! The box itself (127.0.0.1, ::1: the watchdog's health check) is not counted by
//! address; its tokens are counted like any other.
//!
//! Memory is bounded: the buckets forget keys that are back to full
//! (`retain_recent`) every [`SWEEP_EVERY`] checks, and a store still over [`MAX_KEYS`]
//! after that starts afresh (logged); the set of known digests holds at most
//! [`MAX_KNOWN`] (beyond, it is emptied and relearned, each token's next request counted
//! by address once).

use std::collections::HashSet;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use super::super::ApiError;

/// Checks between two sweeps of the buckets.
pub const SWEEP_EVERY: u64 = 4096;
/// Keys one bucket store may hold after a sweep.
pub const MAX_KEYS: usize = 100_000;
/// Token digests remembered as good.
pub const MAX_KNOWN: usize = 4096;

/// Requests a minute, with the burst allowed at once. `per_minute` 0 turns the bucket off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

type Keyed<K, C> = RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

struct Bucket<K: Hash + Eq + Clone, C: Clock> {
    quota: Option<Quota>,
    clock: C,
    limiter: Mutex<Keyed<K, C>>,
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> Bucket<K, C> {
    fn new(rate: Rate, clock: C) -> Self {
        let quota = NonZeroU32::new(rate.per_minute)
            .map(|n| Quota::per_minute(n).allow_burst(NonZeroU32::new(rate.burst).unwrap_or(n)));
        let limiter = Keyed::hashmap_with_clock(
            quota.unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN)),
            clock.clone(),
        );
        Bucket {
            quota,
            clock,
            limiter: Mutex::new(limiter),
        }
    }

    /// `Err(seconds to wait)` when `key` is over its rate.
    fn check(&self, key: &K) -> Result<(), u64> {
        if self.quota.is_none() {
            return Ok(());
        }
        let l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        l.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            // Whole seconds, rounded up, at least 1.
            (wait.as_millis().div_ceil(1000) as u64).max(1)
        })
    }

    fn sweep(&self, what: &str) {
        let Some(quota) = self.quota else { return };
        let mut l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        l.retain_recent();
        l.shrink_to_fit();
        if l.len() > MAX_KEYS {
            log::warn!(keys = l.len(), bucket = what;
                "the request limiter held {} keys after a sweep; starting afresh", l.len());
            *l = Keyed::hashmap_with_clock(quota, self.clock.clone());
        }
    }

    fn len(&self) -> usize {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The door's request buckets; shared with the API, which reports good and bad tokens.
pub struct RequestLimits<C: Clock = DefaultClock> {
    by_address: Bucket<IpAddr, C>,
    by_token: Bucket<String, C>,
    known: Mutex<HashSet<String>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for RequestLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLimits")
            .field("addresses", &self.by_address.len())
            .field("tokens", &self.by_token.len())
            .finish()
    }
}

impl RequestLimits<DefaultClock> {
    /// From `[server] anonymous_requests_per_minute` and `token_requests_per_minute`;
    /// half a minute's worth may come at once.
    pub fn from_config(s: &crate::config::ServerConfig) -> Self {
        let rate = |per_minute: u32| Rate {
            per_minute,
            burst: (per_minute / 2).max(1),
        };
        Self::new(
            rate(s.anonymous_requests_per_minute),
            rate(s.token_requests_per_minute),
        )
    }

    pub fn new(anonymous: Rate, token: Rate) -> Self {
        Self::with_clock(anonymous, token, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RequestLimits<C> {
    pub fn with_clock(anonymous: Rate, token: Rate, clock: C) -> Self {
        RequestLimits {
            by_address: Bucket::new(anonymous, clock.clone()),
            by_token: Bucket::new(token, clock),
            known: Mutex::new(HashSet::new()),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request from `ip` carrying `token` (the bearer token as sent, if any);
    /// a 429 `too_many_requests` with `Retry-After` when over the limit.
    pub fn check(&self, ip: IpAddr, token: Option<&str>, own: bool) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.by_address.sweep("address");
            self.by_token.sweep("token");
        }
        let digest = token.map(crate::access::token_hash);
        let confirmed = digest.as_ref().is_some_and(|d| {
            self.known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(d)
        });
        let over = match digest {
            Some(d) if confirmed => self.by_token.check(&d).err().map(|s| (s, true)),
            _ if own => None,
            _ => self.by_address.check(&ip).err().map(|s| (s, false)),
        };
        let Some((secs, by_token)) = over else {
            return Ok(());
        };
        let mut e = ApiError::new(
            429,
            "too_many_requests",
            if by_token {
                format!("this tablet sends too many requests; try again in {secs} s")
            } else {
                format!(
                    "too many requests from this address before logging in; try again in {secs} s"
                )
            },
        );
        e.headers.push(("Retry-After", secs.to_string()));
        Err(e)
    }

    /// The API authenticated a request with the token of this digest.
    pub fn note_known(&self, digest: &str) {
        let mut k = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if !k.contains(digest) {
            if k.len() >= MAX_KNOWN {
                k.clear();
            }
            k.insert(digest.to_string());
        }
    }

    /// The API refused the token of this digest (unknown, expired, revoked).
    pub fn note_unknown(&self, digest: &str) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
    }
}

/// The bearer token of a request head: `Authorization: Bearer …`, else `?token=` (event
/// streams and images from pages).
pub(super) fn token_of(headers: &[(String, Vec<u8>)], path: &str) -> Option<String> {
    let from_header = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    from_header.filter(|t| !t.is_empty()).or_else(|| {
        let query = path.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .filter(|t| !t.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    fn limits(clock: &FakeRelativeClock) -> RequestLimits<FakeRelativeClock> {
        RequestLimits::with_clock(
            Rate {
                per_minute: 60,
                burst: 3,
            },
            Rate {
                per_minute: 600,
                burst: 5,
            },
            clock.clone(),
        )
    }

    fn retry_after(e: &ApiError) -> u64 {
        assert_eq!((e.status, e.code), (429, "too_many_requests"));
        e.headers
            .iter()
            .find(|(k, _)| *k == "Retry-After")
            .expect("Retry-After")
            .1
            .parse()
            .unwrap()
    }

    #[test]
    fn an_address_over_its_budget_waits_and_others_do_not() {
        let clock = FakeRelativeClock::default();
        let l = limits(&clock);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        for _ in 0..3 {
            l.check(a, None, false).unwrap();
        }
        assert_eq!(retry_after(&l.check(a, None, false).unwrap_err()), 1);
        // An unconfirmed token is counted by address too.
        assert!(l.check(a, Some("made-up"), false).is_err());
        l.check(b, None, false).unwrap();
        // The box itself is not counted by address.
        for _ in 0..10 {
            l.check(a, None, true).unwrap();
        }
        clock.advance(Duration::from_secs(1));
        l.check(a, None, false).unwrap();
    }

    #[test]
    fn a_known_token_has_its_own_budget_whatever_the_address() {
        let clock = FakeRelativeClock::default();
        let l = limits(&clock);
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let (kiosk, host) = ("kiosk-token", "host-token");
        l.note_known(&crate::access::token_hash(kiosk));
        l.note_known(&crate::access::token_hash(host));
        for i in 0..5 {
            // Different addresses (NAT): still one budget.
            let from: IpAddr = format!("10.0.1.{i}").parse().unwrap();
            l.check(from, Some(kiosk), false).unwrap();
        }
        assert!(retry_after(&l.check(ip, Some(kiosk), true).unwrap_err()) >= 1);
        l.check(ip, Some(host), false).unwrap();
        // Known tokens do not use the address's budget.
        for _ in 0..3 {
            l.check(ip, None, false).unwrap();
        }
        // A revoked token falls back to the address's (spent) budget.
        l.note_unknown(&crate::access::token_hash(host));
        assert!(l.check(ip, Some(host), false).is_err());
        clock.advance(Duration::from_millis(100));
        l.check(ip, Some(kiosk), false).unwrap();
    }

    #[test]
    fn the_stores_forget_what_is_back_to_full() {
        let clock = FakeRelativeClock::default();
        let l = limits(&clock);
        for i in 0..200u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.check(ip, None, false).unwrap();
        }
        assert_eq!(l.by_address.len(), 200);
        clock.advance(Duration::from_secs(10));
        l.by_address.sweep("address");
        assert_eq!(l.by_address.len(), 0);
    }

    #[test]
    fn zero_turns_a_bucket_off() {
        let clock = FakeRelativeClock::default();
        let off = Rate {
            per_minute: 0,
            burst: 0,
        };
        let l = RequestLimits::with_clock(off, off, clock);
        for _ in 0..1000 {
            l.check("10.0.0.2".parse().unwrap(), None, false).unwrap();
        }
    }

    #[test]
    fn the_token_is_read_from_the_header_or_the_query() {
        let h = vec![("authorization".to_string(), b"Bearer abc ".to_vec())];
        assert_eq!(token_of(&h, "/api/guests").as_deref(), Some("abc"));
        assert_eq!(
            token_of(&[], "/api/events?x=1&token=t%2B1").as_deref(),
            Some("t+1")
        );
        assert_eq!(token_of(&[], "/api/events"), None);
    }
}
