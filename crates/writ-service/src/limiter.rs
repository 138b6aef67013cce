//! Brute-force protection, in memory (per process), keyed by the client's IP as
//! the HTTP edge works it out (the real client behind a trusted proxy).
//!
//! # Rules
//!
//! - **Passwords** (Auth0's rule): 10 consecutive failed logins for one user (the email as
//!   typed, case-folded) from one IP block that pair for 15 minutes after the last failure; a
//!   successful login clears the count. An attempt is *reserved* before its (slow, queued)
//!   argon2 verification and counted when it ends: failures plus attempts in flight never
//!   exceed 10, so at most 10 guesses per pair and window are ever verified, however many are
//!   sent at once. While 10 are in flight the next ones are refused (retry after 1 s).
//!   See [`crate::logins`], the one caller.
//! - **Client authentication**: 30 failures within one minute for one client id from one IP
//!   block that client from that IP for the rest of the minute, a valid secret included (the
//!   block is what stops guessing). Unknown client ids share one bucket per IP: they cannot be
//!   locked out (they do not exist), and a flood of made-up ids costs one entry, not one per
//!   id. So neither unknown ids nor one attacker can lock a known client out for everyone.
//! - **Client-authentication floods**: 1,000 failures within one minute from one IP block all
//!   client authentication from that IP for the rest of the minute. Each (client, IP) bucket
//!   stops counting at 30, so reaching 1,000 takes failing for more than 30 distinct clients:
//!   real users sharing one address (an office NAT, a proxy) fail far less than that, and one
//!   attacker guessing one client's secret is stopped by the per-client rule long before.
//! - **Sign-ups**: 5 attempts per minute per IP (valid or not); the rest of the minute answers
//!   429.
//!
//! - **Passkeys**: 30 ceremonies (options asked for, answers posted) per minute per IP on the
//!   hosted pages; the rest of the minute answers 429. (A passkey cannot be guessed; this
//!   bounds the stored challenges and the signature checks one address can cause.)
//!
//! - **Email links** (verification and password-reset requests): 10 per 10 minutes per IP
//!   and 3 per 10 minutes per email address (case-folded), counted whether or not the address
//!   has an account, so the limit says nothing about who has one. Links that fail (unknown,
//!   used or expired tokens) count per IP: 20 within 10 minutes refuse every link from that
//!   IP for the rest of the window.
//!
//! Successful requests are never throttled, and the token hot path pays a map lookup only on
//! failure paths and for clients with failures.
//!
//! # Memory
//!
//! Each table keeps at most [`MAX_ENTRIES`] entries. When a new key arrives at that size,
//! expired entries go first, then the oldest entries that block nothing (not blocked and with
//! no attempt in flight), down to 90% of the capacity. Active blocks survive that pressure:
//! they are only dropped past four times the capacity (400,000 simultaneous blocks in one
//! table; holding that many password blocks would take 4 million argon2 verifications within
//! 15 minutes), and then the ones closest to their end first.
//!
//! Counters are per process: with several nodes behind a load balancer each node counts on its
//! own (an attacker spread over N nodes gets up to N times the attempts).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Failed logins for one (user, IP) before the pair is blocked.
pub const MAX_USER_FAILURES: u32 = 10;
/// How long a (user, IP) pair stays blocked after its last failure.
pub const USER_BLOCK: Duration = Duration::from_secs(15 * 60);
/// Failed client authentications for one (client, IP) within [`CLIENT_WINDOW`].
pub const MAX_CLIENT_FAILURES: u32 = 30;
/// Failed client authentications from one IP within [`CLIENT_WINDOW`], all clients together.
pub const MAX_IP_CLIENT_FAILURES: u32 = 1_000;
/// The window of the client-authentication rules.
pub const CLIENT_WINDOW: Duration = Duration::from_secs(60);
/// Sign-up attempts per IP within [`SIGNUP_WINDOW`].
pub const MAX_SIGNUPS: u32 = 5;
/// The window of the sign-up rule.
pub const SIGNUP_WINDOW: Duration = Duration::from_secs(60);
/// Email-link requests per IP within [`MAIL_WINDOW`].
pub const MAX_MAIL_PER_IP: u32 = 10;
/// Email-link requests per address within [`MAIL_WINDOW`].
pub const MAX_MAIL_PER_EMAIL: u32 = 3;
/// Failed email-link uses per IP within [`MAIL_WINDOW`].
pub const MAX_LINK_FAILURES: u32 = 20;
/// The window of the email-link rules.
pub const MAIL_WINDOW: Duration = Duration::from_secs(600);
/// Passkey ceremonies per IP within [`PASSKEY_WINDOW`].
pub const MAX_PASSKEY_ATTEMPTS: u32 = 30;
/// The window of the passkey rule.
pub const PASSKEY_WINDOW: Duration = Duration::from_secs(60);
/// Entries per table before old, unblocked ones are evicted.
pub const MAX_ENTRIES: usize = 100_000;

/// A table's rule: `max` counts within `window` block the key until the window ends.
#[derive(Debug, Clone, Copy)]
struct Rule {
    max: u32,
    window: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u32,
    /// Attempts reserved and not yet settled (passwords only).
    in_flight: u32,
    /// The start of the window (for passwords: the last failure).
    since: Instant,
}

impl Entry {
    fn fresh(now: Instant) -> Self {
        Entry {
            count: 0,
            in_flight: 0,
            since: now,
        }
    }

    fn expired(&self, rule: Rule, now: Instant) -> bool {
        self.in_flight == 0 && now.duration_since(self.since) >= rule.window
    }

    /// How long the key stays blocked, if it is.
    fn blocked_for(&self, rule: Rule, now: Instant) -> Option<Duration> {
        let elapsed = now.duration_since(self.since);
        (self.count >= rule.max && elapsed < rule.window).then(|| rule.window - elapsed)
    }

    /// Whether evicting the entry would lose something: an active block or an attempt in
    /// flight.
    fn pinned(&self, rule: Rule, now: Instant) -> bool {
        self.in_flight > 0 || self.blocked_for(rule, now).is_some()
    }
}

/// Seconds to announce in `Retry-After` (at least 1).
fn secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

struct TableInner<K> {
    map: HashMap<K, Entry>,
    /// The size at which the next eviction pass runs (at least the capacity; higher after a
    /// pass that could not get below it, so that passes stay rare).
    sweep_at: usize,
}

/// Counters for one rule, bounded in size (see the module doc).
struct Table<K> {
    rule: Rule,
    cap: usize,
    inner: Mutex<TableInner<K>>,
    /// The map's size after the last change: lets [`Table::peek`] answer an empty table (the
    /// usual case: nothing failed) without taking the lock.
    len: AtomicUsize,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new(rule: Rule, cap: usize) -> Self {
        let cap = cap.max(1);
        Table {
            rule,
            cap,
            inner: Mutex::new(TableInner {
                map: HashMap::new(),
                sweep_at: cap,
            }),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner<K>> {
        // A panic while holding the lock cannot leave an entry half-updated: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the table holds nothing (read without the lock).
    fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }

    /// The entry of `key` as it stands (expired entries read as absent).
    fn peek(&self, key: &K) -> Option<Entry> {
        if self.is_empty() {
            return None;
        }
        let now = Instant::now();
        let g = self.lock();
        g.map
            .get(key)
            .copied()
            .filter(|e| !e.expired(self.rule, now))
    }

    /// Runs `f` on the entry of `key`, created (or restarted, when expired) as needed.
    fn update<R>(&self, key: &K, f: impl FnOnce(&mut Entry, Rule, Instant) -> R) -> R {
        let now = Instant::now();
        let mut g = self.lock();
        if !g.map.contains_key(key) && g.map.len() >= g.sweep_at {
            self.evict(&mut g, now);
        }
        let e = g
            .map
            .entry(key.clone())
            .or_insert_with(|| Entry::fresh(now));
        if e.expired(self.rule, now) {
            *e = Entry::fresh(now);
        }
        let out = f(e, self.rule, now);
        self.len.store(g.map.len(), Ordering::Relaxed);
        out
    }

    /// Runs `f` on the entry of `key` if there is one; removes it when `f` says so.
    fn settle(&self, key: &K, f: impl FnOnce(&mut Entry, Instant) -> bool) {
        let now = Instant::now();
        let mut g = self.lock();
        if let Some(e) = g.map.get_mut(key)
            && f(e, now)
        {
            g.map.remove(key);
        }
        self.len.store(g.map.len(), Ordering::Relaxed);
    }

    /// Makes room: expired entries, then the oldest entries that block nothing, down to 90% of
    /// the capacity; past four times the capacity, the blocks closest to their end.
    fn evict(&self, g: &mut TableInner<K>, now: Instant) {
        let rule = self.rule;
        g.map.retain(|_, e| !e.expired(rule, now));
        let target = self.cap - self.cap / 10;
        if g.map.len() > target {
            let mut free: Vec<(Instant, K)> = g
                .map
                .iter()
                .filter(|(_, e)| !e.pinned(rule, now))
                .map(|(k, e)| (e.since, k.clone()))
                .collect();
            free.sort_unstable_by_key(|(since, _)| *since);
            let excess = g.map.len() - target;
            for (_, k) in free.into_iter().take(excess) {
                g.map.remove(&k);
            }
        }
        let hard = self.cap.saturating_mul(4);
        if g.map.len() >= hard {
            let mut all: Vec<(Instant, K)> =
                g.map.iter().map(|(k, e)| (e.since, k.clone())).collect();
            all.sort_unstable_by_key(|(since, _)| *since);
            let excess = g.map.len() - (hard - hard / 10);
            for (_, k) in all.into_iter().take(excess) {
                g.map.remove(&k);
            }
            tracing::warn!(
                entries = g.map.len(),
                "brute-force limiter full of active blocks: the oldest were dropped"
            );
        }
        // Only active blocks left above the capacity: look again after a tenth more keys.
        g.sweep_at = (g.map.len() + self.cap / 10).max(self.cap);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

/// The in-memory counters of every rule (see the module doc).
pub struct Limiter {
    users: Table<(IpAddr, String)>,
    /// `None`: client ids that do not exist, together.
    clients: Table<(IpAddr, Option<String>)>,
    client_ips: Table<IpAddr>,
    signups: Table<IpAddr>,
    mail_ips: Table<IpAddr>,
    mail_emails: Table<String>,
    link_failures: Table<IpAddr>,
    passkeys: Table<IpAddr>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }
}

impl Limiter {
    /// A limiter whose tables hold `cap` entries each before evicting.
    pub fn with_capacity(cap: usize) -> Self {
        let rule = |max, window| Rule { max, window };
        Limiter {
            passkeys: Table::new(rule(MAX_PASSKEY_ATTEMPTS, PASSKEY_WINDOW), cap),
            link_failures: Table::new(rule(MAX_LINK_FAILURES, MAIL_WINDOW), cap),
            mail_ips: Table::new(rule(MAX_MAIL_PER_IP, MAIL_WINDOW), cap),
            mail_emails: Table::new(rule(MAX_MAIL_PER_EMAIL, MAIL_WINDOW), cap),
            users: Table::new(rule(MAX_USER_FAILURES, USER_BLOCK), cap),
            clients: Table::new(rule(MAX_CLIENT_FAILURES, CLIENT_WINDOW), cap),
            client_ips: Table::new(rule(MAX_IP_CLIENT_FAILURES, CLIENT_WINDOW), cap),
            signups: Table::new(rule(MAX_SIGNUPS, SIGNUP_WINDOW), cap),
        }
    }

    /// Reserves one password attempt for `user` from `ip`, before verifying it; `Err(seconds)`
    /// when the pair is blocked or already has its 10 attempts in flight. Settle the slot with
    /// [`LoginSlot::failed`] or [`LoginSlot::succeeded`]; dropping it unsettled (an error, a
    /// cancelled request) gives the attempt back.
    pub fn reserve_login(&self, ip: IpAddr, user: &str) -> Result<LoginSlot<'_>, u64> {
        let key = (ip, user.to_owned());
        self.users.update(&key, |e, rule, now| {
            if let Some(wait) = e.blocked_for(rule, now) {
                return Err(secs(wait));
            }
            if e.count + e.in_flight >= rule.max {
                return Err(1);
            }
            e.in_flight += 1;
            Ok(())
        })?;
        Ok(LoginSlot {
            limiter: self,
            key: Some(key),
        })
    }

    /// Seconds until `user` may try again from `ip`, if blocked.
    pub fn user_blocked(&self, ip: IpAddr, user: &str) -> Option<u64> {
        let e = self.users.peek(&(ip, user.to_owned()))?;
        e.blocked_for(self.users.rule, Instant::now()).map(secs)
    }

    /// Seconds to wait before `client` (`None`: an id that does not exist) may authenticate
    /// from `ip` again, if it failed too often (or the IP did, for every client).
    pub fn client_blocked(&self, ip: IpAddr, client: Option<&str>) -> Option<u64> {
        let now = Instant::now();
        let ip_wait = self
            .client_ips
            .peek(&ip)
            .and_then(|e| e.blocked_for(self.client_ips.rule, now));
        // Checked before building the key: on the token hot path the table is usually empty.
        let pair_wait = if self.clients.is_empty() {
            None
        } else {
            self.clients
                .peek(&(ip, client.map(str::to_owned)))
                .and_then(|e| e.blocked_for(self.clients.rule, now))
        };
        ip_wait.max(pair_wait).map(secs)
    }

    /// Counts a failed client authentication.
    pub fn client_failed(&self, ip: IpAddr, client: Option<&str>) {
        self.client_ips.update(&ip, |e, _, _| e.count += 1);
        self.clients
            .update(&(ip, client.map(str::to_owned)), |e, _, _| e.count += 1);
    }

    /// Counts a sign-up attempt from `ip`; `Err(seconds)` when the IP has used its attempts.
    pub fn signup_attempt(&self, ip: IpAddr) -> Result<(), u64> {
        self.signups.update(&ip, |e, rule, now| {
            if let Some(wait) = e.blocked_for(rule, now) {
                return Err(secs(wait));
            }
            e.count += 1;
            Ok(())
        })
    }
}

impl Limiter {
    /// Counts a request for an email link (verification or reset) from `ip` for `email`;
    /// `Err(seconds)` when the IP or the address has used its requests. Counted the same
    /// whether or not the address has an account.
    pub fn mail_request(&self, ip: IpAddr, email: &str) -> Result<(), u64> {
        let take = |e: &mut Entry, rule: Rule, now: Instant| {
            if let Some(wait) = e.blocked_for(rule, now) {
                return Err(secs(wait));
            }
            e.count += 1;
            Ok(())
        };
        self.mail_ips.update(&ip, take)?;
        self.mail_emails.update(&email.trim().to_lowercase(), take)
    }

    /// Whether `ip` presented too many bad email links (see the module doc).
    pub fn links_blocked(&self, ip: IpAddr) -> bool {
        self.link_failures.peek(&ip).is_some_and(|e| {
            e.blocked_for(self.link_failures.rule, Instant::now())
                .is_some()
        })
    }

    /// Counts a passkey ceremony step (options or an answer) from `ip`; `Err(seconds)` when
    /// the IP has used its attempts.
    pub fn passkey_attempt(&self, ip: IpAddr) -> Result<(), u64> {
        self.passkeys.update(&ip, |e, rule, now| {
            if let Some(wait) = e.blocked_for(rule, now) {
                return Err(secs(wait));
            }
            e.count += 1;
            Ok(())
        })
    }

    /// Counts a bad email link presented from `ip`.
    pub fn link_failed(&self, ip: IpAddr) {
        self.link_failures.update(&ip, |e, _, _| e.count += 1);
    }
}

/// A reserved password attempt (see [`Limiter::reserve_login`]).
#[must_use = "settle the attempt with failed() or succeeded()"]
pub struct LoginSlot<'a> {
    limiter: &'a Limiter,
    key: Option<(IpAddr, String)>,
}

impl LoginSlot<'_> {
    /// The password was wrong (or the user unknown): counts a failure, restarting the block's
    /// 15 minutes. Whether this failure is the one that blocked the pair.
    pub fn failed(mut self) -> bool {
        let mut blocked = false;
        if let Some(key) = self.key.take() {
            self.limiter.users.settle(&key, |e, now| {
                e.in_flight = e.in_flight.saturating_sub(1);
                e.count += 1;
                e.since = now;
                blocked = e.count == MAX_USER_FAILURES;
                false
            });
        }
        blocked
    }

    /// The password was right: clears the pair's failures.
    pub fn succeeded(mut self) {
        if let Some(key) = self.key.take() {
            self.limiter.users.settle(&key, |e, _| {
                e.in_flight = e.in_flight.saturating_sub(1);
                e.count = 0;
                e.in_flight == 0
            });
        }
    }
}

impl Drop for LoginSlot<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.limiter.users.settle(&key, |e, _| {
                e.in_flight = e.in_flight.saturating_sub(1);
                e.in_flight == 0 && e.count == 0
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_after_ten_failures_and_resets_on_success() {
        let l = Limiter::default();
        let a = ip("127.0.0.1");
        for _ in 0..9 {
            assert!(!l.reserve_login(a, "a@x.io").unwrap().failed());
        }
        assert!(l.user_blocked(a, "a@x.io").is_none());
        l.reserve_login(a, "a@x.io").unwrap().succeeded();
        // Only the tenth failure in a row blocks (and says so).
        let blocked: Vec<bool> = (0..10)
            .map(|_| l.reserve_login(a, "a@x.io").unwrap().failed())
            .collect();
        assert_eq!(blocked.iter().filter(|b| **b).count(), 1);
        assert!(blocked[9]);
        let wait = l.user_blocked(a, "a@x.io").expect("blocked");
        assert!(wait > 14 * 60 && wait <= 15 * 60, "{wait}");
        assert!(l.reserve_login(a, "a@x.io").is_err());
        assert!(l.user_blocked(a, "b@x.io").is_none());
        assert!(l.user_blocked(ip("127.0.0.2"), "a@x.io").is_none());
    }

    #[test]
    fn attempts_in_flight_count_against_the_ten() {
        let l = Limiter::default();
        let a = ip("10.0.0.1");
        let slots: Vec<_> = (0..10)
            .map(|_| l.reserve_login(a, "u@x.io").unwrap())
            .collect();
        assert_eq!(l.reserve_login(a, "u@x.io").err(), Some(1), "ten in flight");
        assert!(l.user_blocked(a, "u@x.io").is_none(), "not blocked yet");
        // Dropping a slot unsettled gives the attempt back.
        let mut slots = slots.into_iter();
        drop(slots.next());
        let again = l.reserve_login(a, "u@x.io").unwrap();
        for s in slots {
            s.failed();
        }
        assert!(l.reserve_login(a, "u@x.io").is_err());
        again.failed();
        assert!(l.user_blocked(a, "u@x.io").is_some());
        // A success among attempts in flight clears the failures.
        let b = ip("10.0.0.2");
        let x = l.reserve_login(b, "u@x.io").unwrap();
        let y = l.reserve_login(b, "u@x.io").unwrap();
        x.failed();
        y.succeeded();
        let z = l.reserve_login(b, "u@x.io").unwrap();
        drop(z);
        assert_eq!(l.users.len(), 1, "the cleared pair left the table");
    }

    #[test]
    fn client_failures_count_per_client_and_ip() {
        let l = Limiter::default();
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        for _ in 0..MAX_CLIENT_FAILURES {
            l.client_failed(a, Some("x"));
        }
        assert!(l.client_blocked(a, Some("x")).is_some());
        assert!(l.client_blocked(b, Some("x")).is_none());
        assert!(l.client_blocked(a, Some("y")).is_none());
        assert!(l.client_blocked(a, None).is_none());
        // Unknown ids share one bucket per IP, and do not block known clients.
        for _ in 0..100 {
            l.client_failed(b, None);
        }
        assert!(l.client_blocked(b, None).is_some());
        assert!(l.client_blocked(b, Some("x")).is_none());
        assert_eq!(l.clients.len(), 2);
        // The coarse per-IP rule blocks every client from a flooding IP.
        let c = ip("10.0.0.3");
        for i in 0..MAX_IP_CLIENT_FAILURES {
            l.client_failed(c, Some(&format!("client-{}", i % 40)));
        }
        assert!(l.client_blocked(c, Some("never-failed")).is_some());
        assert!(l.client_blocked(a, Some("y")).is_none());
    }

    #[test]
    fn sign_ups_are_limited_per_ip() {
        let l = Limiter::default();
        for _ in 0..MAX_SIGNUPS {
            l.signup_attempt(ip("10.0.0.1")).unwrap();
        }
        let wait = l.signup_attempt(ip("10.0.0.1")).unwrap_err();
        assert!((1..=60).contains(&wait));
        l.signup_attempt(ip("10.0.0.2")).unwrap();
    }

    #[test]
    fn eviction_keeps_active_blocks() {
        let l = Limiter::with_capacity(20);
        let blocked = ip("192.0.2.1");
        for _ in 0..MAX_USER_FAILURES {
            l.reserve_login(blocked, "victim@x.io").unwrap().failed();
        }
        let in_flight = l.reserve_login(blocked, "busy@x.io").unwrap();
        for _ in 0..MAX_CLIENT_FAILURES {
            l.client_failed(blocked, Some("c"));
        }
        // Pressure: thousands of one-off failures from other addresses.
        for i in 0..5_000u32 {
            let other = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.reserve_login(other, "someone@x.io").unwrap().failed();
            l.client_failed(other, None);
            assert!(l.users.len() <= 20 && l.clients.len() <= 20);
        }
        assert!(l.user_blocked(blocked, "victim@x.io").is_some());
        assert!(l.client_blocked(blocked, Some("c")).is_some());
        // The attempt in flight survived too: settling it counts.
        in_flight.failed();
        assert_eq!(
            l.users.peek(&(blocked, "busy@x.io".into())).unwrap().count,
            1
        );
    }

    /// A table of capacity 10 blocking past `max` failures a minute, with one failure each of
    /// the keys `0..keys`, `gap` apart (oldest first).
    fn filled(max: u32, keys: u32, gap: Duration) -> Table<u32> {
        let t = Table::new(
            Rule {
                max,
                window: Duration::from_secs(60),
            },
            10,
        );
        for k in 0..keys {
            t.update(&k, |e, _, _| e.count += 1);
            std::thread::sleep(gap);
        }
        t
    }

    #[test]
    fn eviction_prefers_the_oldest_unblocked_entries() {
        let t = filled(3, 10, Duration::from_millis(2));
        // Key 0 (the oldest) is blocked, so it stays; the next oldest go.
        for _ in 0..2 {
            t.update(&0, |e, _, _| e.count += 1);
        }
        // Full: making room evicts down to 9 entries, i.e. the oldest unblocked one (key 1).
        t.update(&100, |e, _, _| e.count += 1);
        let g = t.lock();
        assert!(g.map.contains_key(&0));
        assert!(g.map.contains_key(&100));
        assert!(!g.map.contains_key(&1));
        assert!((2..10).all(|k| g.map.contains_key(&k)));
        assert_eq!(g.map.len(), 10);
    }

    #[test]
    fn past_four_times_the_capacity_the_oldest_blocks_go() {
        let t = filled(1, 100, Duration::from_micros(200));
        assert!(t.len() <= 40, "{}", t.len());
        assert!(t.peek(&99).is_some(), "the newest block is kept");
        assert!(t.peek(&0).is_none(), "the oldest went");
    }
}
