//! Who may do what: the four roles, checking a PIN, minting and hashing session
//! tokens, and throttling failed logins per client address. No IO: the store keeps
//! the sessions (each with its [`Role`], never its text), the API asks here.
//!
//! Invariants: PINs and tokens are compared in constant time; a token is only ever
//! stored as its SHA-256; an address that is locked out is refused *before* its PIN is
//! looked at, so a lockout cannot be used to confirm a guess.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AuthConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Kiosk,
    Host,
    Technician,
    ShowControl,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Kiosk, Role::Host, Role::Technician, Role::ShowControl];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Kiosk => "kiosk",
            Role::Host => "host",
            Role::Technician => "technician",
            Role::ShowControl => "show_control",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a caller with this role may use a route open to `allowed`.
    /// The host may do anything a kiosk may.
    pub fn may(self, allowed: &[Role]) -> bool {
        allowed.contains(&self) || (self == Role::Host && allowed.contains(&Role::Kiosk))
    }
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether `secret` is the configured PIN / password / token for `role`.
pub fn check_secret(auth: &AuthConfig, role: Role, secret: &str) -> bool {
    match role {
        Role::Host => ct_eq(auth.host_pin.expose(), secret),
        Role::Kiosk => ct_eq(auth.kiosk_pin.expose(), secret),
        Role::Technician => ct_eq(auth.technician_password.expose(), secret),
        Role::ShowControl => auth
            .show_control_token
            .as_ref()
            .is_some_and(|t| ct_eq(t.expose(), secret)),
    }
}

/// How long a session of this role lives.
pub fn session_ttl(auth: &AuthConfig, role: Role) -> Duration {
    match role {
        Role::Kiosk => auth.kiosk_session_ttl,
        _ => auth.session_ttl,
    }
}

/// A new bearer token: 256 bits from the OS, hex.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source failed");
    hex::encode(b)
}

/// What the store keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Failed-login throttle, per client address.
///
/// Hand-written rather than a rate-limiting crate because it counts only *failures* and
/// must answer "is this address locked?" without spending a token (governor-style
/// limiters cannot peek). After `max_failures` failures an address is locked for
/// `base_lockout`, doubling with each further lockout up to [`MAX_LOCKOUT`]; a success
/// or [`FORGET_AFTER`] without failures clears it.
pub struct Throttle {
    /// Failures allowed before a lockout.
    max_failures: u32,
    /// Length of the first lockout.
    base_lockout: Duration,
    /// Per-address state; bounded by [`MAX_TRACKED`].
    entries: HashMap<IpAddr, Entry>,
    /// Every address's failures in the last minute (at most the budget is kept).
    recent: std::collections::VecDeque<Instant>,
}

/// Failed logins a minute, over every address, before every login must wait: a burst
/// from many addresses is someone guessing, and the per-address lockout alone would let
/// a /24 try ~11,000 PINs an hour.
pub const GLOBAL_FAILURES_PER_MINUTE: usize = 30;
const GLOBAL_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    lockouts: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

pub const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// A LAN has few clients; past this many tracked addresses the stalest are forgotten.
const MAX_TRACKED: usize = 4096;

impl Throttle {
    pub fn new(max_failures: u32, base_lockout: Duration) -> Self {
        Throttle {
            max_failures: max_failures.max(1),
            base_lockout,
            entries: HashMap::new(),
            recent: std::collections::VecDeque::new(),
        }
    }

    /// Whether the global failure budget is spent now (someone is guessing PINs).
    pub fn flooded(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= GLOBAL_WINDOW)
        {
            self.recent.pop_front();
        }
        self.recent.len() >= GLOBAL_FAILURES_PER_MINUTE
    }

    /// `Err(retry_after)` while `ip` is locked out, or while every address must wait
    /// (the global failure budget is spent).
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.flooded(now) {
            let oldest = *self.recent.front().expect("flooded means failures");
            return Err(GLOBAL_WINDOW.saturating_sub(now.duration_since(oldest)));
        }
        let Some(e) = self.entries.get(&ip).copied() else {
            return Ok(());
        };
        if now.duration_since(e.last_failure) > FORGET_AFTER {
            self.entries.remove(&ip);
            return Ok(());
        }
        match e.locked_until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed login; returns the lockout it started, if any.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        self.recent.push_back(now);
        while self.recent.len() > GLOBAL_FAILURES_PER_MINUTE {
            self.recent.pop_front();
        }
        if self.entries.len() >= MAX_TRACKED && !self.entries.contains_key(&ip) {
            let stalest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_failure)
                .map(|(k, _)| *k);
            if let Some(k) = stalest {
                self.entries.remove(&k);
            }
        }
        let e = self.entries.entry(ip).or_insert(Entry {
            failures: 0,
            lockouts: 0,
            locked_until: None,
            last_failure: now,
        });
        e.failures += 1;
        e.last_failure = now;
        if e.failures >= self.max_failures {
            let lock =
                (self.base_lockout * 2u32.saturating_pow(e.lockouts.min(16))).min(MAX_LOCKOUT);
            e.failures = 0;
            e.lockouts += 1;
            e.locked_until = Some(now + lock);
            return Some(lock);
        }
        None
    }

    pub fn succeeded(&mut self, ip: IpAddr) {
        self.entries.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));

    #[test]
    fn host_may_do_what_a_kiosk_may_but_not_the_reverse() {
        assert!(Role::Host.may(&[Role::Kiosk]));
        assert!(!Role::Kiosk.may(&[Role::Host]));
        assert!(!Role::Technician.may(&[Role::Kiosk]));
        assert!(Role::ShowControl.may(&[Role::ShowControl, Role::Host]));
    }

    #[test]
    fn lockout_after_max_failures_and_doubling() {
        let t0 = Instant::now();
        let mut t = Throttle::new(3, Duration::from_secs(30));
        assert_eq!(t.failed(IP, t0), None);
        assert_eq!(t.failed(IP, t0), None);
        assert!(t.check(IP, t0).is_ok());
        assert_eq!(t.failed(IP, t0), Some(Duration::from_secs(30)));
        assert_eq!(
            t.check(IP, t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(20))
        );
        assert!(
            t.check(OTHER, t0).is_ok(),
            "other addresses are not affected"
        );
        let t1 = t0 + Duration::from_secs(31);
        assert!(t.check(IP, t1).is_ok());
        t.failed(IP, t1);
        t.failed(IP, t1);
        assert_eq!(t.failed(IP, t1), Some(Duration::from_secs(60)));
        t.succeeded(IP);
        assert!(t.check(IP, t1).is_ok());
    }

    #[test]
    fn failures_from_many_addresses_spend_a_global_budget_that_makes_everyone_wait() {
        let t0 = Instant::now();
        let mut t = Throttle::new(5, Duration::from_secs(30));
        for i in 0..GLOBAL_FAILURES_PER_MINUTE {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(
                10,
                0,
                (i / 250) as u8,
                (i % 250) as u8 + 1,
            ));
            assert!(
                t.check(ip, t0).is_ok(),
                "address {i} is not locked by itself"
            );
            t.failed(ip, t0);
        }
        assert!(t.flooded(t0));
        let fresh = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 99));
        assert_eq!(
            t.check(fresh, t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        // A minute later the budget is back.
        assert!(t.check(fresh, t0 + Duration::from_secs(60)).is_ok());
        assert!(!t.flooded(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn lockout_is_capped() {
        let t0 = Instant::now();
        let mut t = Throttle::new(1, Duration::from_secs(600));
        t.failed(IP, t0);
        assert_eq!(t.failed(IP, t0), Some(MAX_LOCKOUT));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_token());
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
    }
}
