//! Sign-in throttling of auth's own, whatever is in front of it (OWASP's authentication
//! cheat sheet): failures are counted per account and per account + client address. After
//! a few failures from one address, that address waits longer after each further failure;
//! the account as a whole is throttled only after many more, so a few requests cannot lock
//! its owner out everywhere. Unknown emails are throttled alike: the answer never tells
//! whether an account exists. Counted in this process (per auth instance).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// When throttling starts and how far it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures from one address before it waits (`AUTH_LOGIN_FREE_FAILURES`, 5).
    pub free_per_address: u32,
    /// Failures from anywhere before the account waits (`AUTH_LOGIN_FREE_ACCOUNT_FAILURES`, 50).
    pub free_per_account: u32,
    /// Failures older than this are forgotten (`AUTH_LOGIN_FAILURE_WINDOW_SECS`, 900).
    pub window: Duration,
    /// The longest wait (`AUTH_LOGIN_MAX_DELAY_SECS`, 900); it doubles from 1 s.
    pub max_delay: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_per_address: 5,
            free_per_account: 50,
            window: Duration::from_secs(900),
            max_delay: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    wait_until: Instant,
}

/// Beyond this many keys, forgotten ones are dropped, so memory stays bounded.
const SWEEP_AT: usize = 100_000;

pub struct LoginThrottle {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<Key, Failures>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    AccountFrom(String, Option<IpAddr>),
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, address: Option<IpAddr>) -> [Key; 2] {
        let account = email.trim().to_lowercase();
        [
            Key::AccountFrom(account.clone(), address),
            Key::Account(account),
        ]
    }

    /// `Err(wait)` while `email` may not be tried from `address`.
    pub fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let wait = Self::keys(email, address)
            .iter()
            .filter_map(|key| failures.get(key))
            .filter(|f| now.duration_since(f.last) < self.policy.window)
            .map(|f| f.wait_until.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, email: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, f| now.duration_since(f.last) < self.policy.window);
        }
        let [pair, account] = Self::keys(email, address);
        for (key, free) in [
            (pair, self.policy.free_per_address),
            (account, self.policy.free_per_account),
        ] {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                wait_until: now,
            });
            if now.duration_since(entry.last) >= self.policy.window {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count > free {
                let doublings = (entry.count - free - 1).min(30);
                let delay = Duration::from_secs(1u64 << doublings).min(self.policy.max_delay);
                entry.wait_until = now + delay;
            }
        }
    }

    /// A successful sign-in forgets the failures from its address (not the account's: an
    /// attacker elsewhere is still counted).
    pub fn succeeded(&self, email: &str, address: Option<IpAddr>) {
        let [pair, _] = Self::keys(email, address);
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&pair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottlePolicy {
            free_per_address: 3,
            free_per_account: 6,
            ..ThrottlePolicy::default()
        })
    }

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 2)));

    #[test]
    fn an_address_waits_after_its_free_failures_and_longer_after_each_more() {
        let t = throttle();
        for _ in 0..3 {
            assert!(t.check("ada@example.com", A).is_ok());
            t.failed("ada@example.com", A);
        }
        assert!(t.check("ada@example.com", A).is_ok());
        t.failed("Ada@Example.com ", A);
        let first = t.check("ada@example.com", A).unwrap_err();
        t.failed("ada@example.com", A);
        let second = t.check("ada@example.com", A).unwrap_err();
        assert!(second > first, "{first:?} then {second:?}");
        // Another address is not held back by A's failures, until the account's own limit.
        assert!(t.check("ada@example.com", B).is_ok());
    }

    #[test]
    fn the_account_waits_only_after_many_failures_from_everywhere() {
        let t = throttle();
        for i in 0..6u8 {
            let from = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, i)));
            t.failed("grace@example.com", from);
        }
        assert!(t.check("grace@example.com", B).is_ok());
        t.failed(
            "grace@example.com",
            Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 1))),
        );
        assert!(t.check("grace@example.com", B).is_err());
    }

    #[test]
    fn success_forgets_the_address_failures() {
        let t = throttle();
        for _ in 0..3 {
            t.failed("alan@example.com", A);
        }
        t.succeeded("alan@example.com", A);
        t.failed("alan@example.com", A);
        assert!(t.check("alan@example.com", A).is_ok());
    }
}
