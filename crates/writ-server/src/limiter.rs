//! Brute-force protection for the token endpoint, in memory (per process).
//!
//! Auth0's rule for passwords: after 10 consecutive failed attempts for one user from one IP,
//! that pair is blocked (here for 15 minutes; a successful login resets the count). Failed
//! client authentications are limited per IP (30 per minute). Successful requests are never
//! throttled, so the token hot path pays one hash-map lookup only on failure paths.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_USER_FAILURES: u32 = 10;
const USER_BLOCK: Duration = Duration::from_secs(15 * 60);
const MAX_CLIENT_FAILURES: u32 = 30;
const CLIENT_WINDOW: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
}

#[derive(Default)]
pub struct Limiter {
    users: Mutex<HashMap<(IpAddr, String), Entry>>,
    clients: Mutex<HashMap<IpAddr, Entry>>,
}

fn prune<K: Eq + std::hash::Hash>(m: &mut HashMap<K, Entry>, keep: Duration) {
    if m.len() >= MAX_ENTRIES {
        let now = Instant::now();
        m.retain(|_, e| now.duration_since(e.since) < keep);
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
    }
}

impl Limiter {
    /// Seconds until the (ip, user) pair may try again, if blocked.
    pub fn user_blocked(&self, ip: IpAddr, user: &str) -> Option<u64> {
        let m = self.users.lock().expect("limiter lock");
        let e = m.get(&(ip, user.to_owned()))?;
        let elapsed = e.since.elapsed();
        (e.failures >= MAX_USER_FAILURES && elapsed < USER_BLOCK)
            .then(|| (USER_BLOCK - elapsed).as_secs().max(1))
    }

    pub fn user_failed(&self, ip: IpAddr, user: &str) {
        let mut m = self.users.lock().expect("limiter lock");
        prune(&mut m, USER_BLOCK);
        let e = m.entry((ip, user.to_owned())).or_insert(Entry {
            failures: 0,
            since: Instant::now(),
        });
        if e.since.elapsed() >= USER_BLOCK {
            *e = Entry {
                failures: 0,
                since: Instant::now(),
            };
        }
        e.failures += 1;
        e.since = Instant::now();
    }

    pub fn user_succeeded(&self, ip: IpAddr, user: &str) {
        self.users
            .lock()
            .expect("limiter lock")
            .remove(&(ip, user.to_owned()));
    }

    /// Seconds to wait if this IP failed client authentication too often.
    pub fn client_blocked(&self, ip: IpAddr) -> Option<u64> {
        let m = self.clients.lock().expect("limiter lock");
        let e = m.get(&ip)?;
        let elapsed = e.since.elapsed();
        (e.failures >= MAX_CLIENT_FAILURES && elapsed < CLIENT_WINDOW)
            .then(|| (CLIENT_WINDOW - elapsed).as_secs().max(1))
    }

    pub fn client_failed(&self, ip: IpAddr) {
        let mut m = self.clients.lock().expect("limiter lock");
        prune(&mut m, CLIENT_WINDOW);
        let e = m.entry(ip).or_insert(Entry {
            failures: 0,
            since: Instant::now(),
        });
        if e.since.elapsed() >= CLIENT_WINDOW {
            *e = Entry {
                failures: 0,
                since: Instant::now(),
            };
        }
        e.failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_ten_failures_and_resets_on_success() {
        let l = Limiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..9 {
            l.user_failed(ip, "a@x.io");
        }
        assert!(l.user_blocked(ip, "a@x.io").is_none());
        l.user_failed(ip, "a@x.io");
        assert!(l.user_blocked(ip, "a@x.io").is_some());
        assert!(l.user_blocked(ip, "b@x.io").is_none());
        assert!(
            l.user_blocked("127.0.0.2".parse().unwrap(), "a@x.io")
                .is_none()
        );
        l.user_succeeded(ip, "a@x.io");
        assert!(l.user_blocked(ip, "a@x.io").is_none());
    }

    #[test]
    fn client_failures_limited_per_ip() {
        let l = Limiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..MAX_CLIENT_FAILURES {
            l.client_failed(ip);
        }
        assert!(l.client_blocked(ip).is_some());
    }
}
