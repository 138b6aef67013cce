//! The node's Prometheus metrics: the one place their names, labels and cardinality rules
//! live. Use cases record through [`Metrics`]' typed methods (a token request's outcome, a
//! login, a hook run, a store call's latency), the HTTP edge records each request and renders
//! the scrape ([`Metrics::render`]); gauges that describe a state (the database pool, the authz
//! feed's subscribers and lag) are sampled at scrape time by [`Metrics::render`]'s caller.
//!
//! Labels stay low-cardinality: no user ids ever; an API's identifier only when it names an API
//! of the catalog; a client id only with `WRIT_METRICS_CLIENT_LABELS=true` and only when it
//! names a client of the catalog; every other free-form value becomes a fixed word.
//!
//! Each [`crate::Writ`] has its own recorder (from `metrics-exporter-prometheus`, without its
//! HTTP listener): nothing is global, so several servers in one process (the tests) count
//! apart. Histograms are Prometheus histograms with [`BUCKETS`]; a background task drains their
//! samples every few seconds ([`spawn_upkeep`]) so memory stays bounded between scrapes.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::Catalog;

/// The upper bounds (seconds) of every latency histogram's buckets.
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets without a scrape.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The `Content-Type` of a scrape (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

static META: Metadata<'static> = Metadata::new("writ", Level::INFO, Some(module_path!()));

/// Every series' name, type and help text (the `# HELP` lines of a scrape).
const DESCRIPTIONS: &[(&str, Kind, &str)] = &[
    (
        "writ_tokens_issued_total",
        Kind::Counter,
        "Token endpoint requests by grant type, API (audience) and outcome (issued, or the OAuth error code).",
    ),
    (
        "writ_token_request_duration_seconds",
        Kind::Histogram,
        "Token endpoint latency by grant type.",
    ),
    (
        "writ_login_duration_seconds",
        Kind::Histogram,
        "Password login latency (hosted login page and password grant), the argon2 verification included.",
    ),
    (
        "writ_login_failures_total",
        Kind::Counter,
        "Refused password logins by reason.",
    ),
    (
        "writ_lockouts_total",
        Kind::Counter,
        "(User, IP) pairs blocked after too many failed logins.",
    ),
    (
        "writ_refresh_token_reuse_total",
        Kind::Counter,
        "Rotated refresh tokens presented again (their family is revoked).",
    ),
    (
        "writ_authz_events_appended_total",
        Kind::Counter,
        "Authz event log records appended (by any node; a group's change is one record, read as one event per member), as this node saw the log's head move.",
    ),
    (
        "writ_authz_feed_subscribers",
        Kind::Gauge,
        "Open authz event streams (SSE) on this node.",
    ),
    (
        "writ_authz_feed_lag_events",
        Kind::Gauge,
        "Events the slowest open authz event stream on this node has yet to send.",
    ),
    (
        "writ_live_streams",
        Kind::Gauge,
        "Open live streams of users' own authz events (GET /me/authz-events) on this node.",
    ),
    (
        "writ_hook_runs_total",
        Kind::Counter,
        "Hook (action) runs by trigger and outcome (success, denied, failed).",
    ),
    (
        "writ_db_pool_connections",
        Kind::Gauge,
        "Database pool connections by state (idle, used), sampled at scrape time.",
    ),
    (
        "writ_db_query_duration_seconds",
        Kind::Histogram,
        "Latency of the store calls on the token and login paths, by operation.",
    ),
    (
        "writ_http_requests_total",
        Kind::Counter,
        "HTTP requests by method, route template and status.",
    ),
    (
        "writ_http_request_duration_seconds",
        Kind::Histogram,
        "HTTP request latency (until the response head) by route template.",
    ),
    (
        "writ_audit_stream_dropped_total",
        Kind::Counter,
        "Audit entries not written to WRIT_AUDIT_STREAM (queue full or write failed).",
    ),
    (
        "writ_build_info",
        Kind::Gauge,
        "The running version (always 1).",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A handle with the label values of its series.
type Labelled<T> = (Box<[Box<str>]>, T);

/// Handles already registered, found again by their label values without building a
/// [`Key`] (which allocates every label and hashes the whole key) or asking the recorder's
/// registry. The label values of a series are bounded by the rules above, so this holds no
/// more entries than the registry itself.
struct Handles<T> {
    map: std::sync::RwLock<HashMap<u64, Vec<Labelled<T>>>>,
    hasher: RandomState,
}

impl<T> Default for Handles<T> {
    fn default() -> Self {
        Handles {
            map: Default::default(),
            hasher: RandomState::new(),
        }
    }
}

impl<T> Handles<T> {
    /// Runs `with` on the handle of the series labelled `values`, registering it with `make`
    /// the first time.
    fn with(&self, values: &[&str], make: impl FnOnce() -> T, with: impl FnOnce(&T)) {
        let hash = self.hasher.hash_one(values);
        let same = |k: &[Box<str>]| {
            k.len() == values.len() && k.iter().zip(values).all(|(a, b)| **a == **b)
        };
        {
            let map = self.map.read().expect("metric handles");
            if let Some((_, h)) = map.get(&hash).and_then(|v| v.iter().find(|(k, _)| same(k))) {
                return with(h);
            }
        }
        let mut map = self.map.write().expect("metric handles");
        let bucket = map.entry(hash).or_default();
        if let Some((_, h)) = bucket.iter().find(|(k, _)| same(k)) {
            return with(h);
        }
        let h = make();
        with(&h);
        bucket.push((values.iter().map(|v| Box::from(*v)).collect(), h));
    }
}

/// The grant types counted under their own name: every grant type a client may be given. Any
/// other is `unsupported`.
const GRANT_TYPES: &[&str] = crate::clients::GRANT_TYPES;

/// How many `grant_type` labels there are: the counted grant types, then `none` (missing) and
/// `unsupported`.
const GRANT_LABELS: usize = GRANT_TYPES.len() + 2;

/// The index of a request's `grant_type` label (see [`grant_label`]).
fn grant_index(grant_type: Option<&str>) -> usize {
    match grant_type {
        None => GRANT_TYPES.len(),
        Some(g) => GRANT_TYPES
            .iter()
            .position(|k| *k == g)
            .unwrap_or(GRANT_TYPES.len() + 1),
    }
}

/// The `grant_type` label at `index` (from [`grant_index`]).
fn grant_label(index: usize) -> &'static str {
    match GRANT_TYPES.get(index) {
        Some(g) => g,
        None if index == GRANT_TYPES.len() => "none",
        None => "unsupported",
    }
}

/// A token endpoint request as counted: what it asked for and how it ended.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    /// `grant_type` as sent (`None`: missing).
    pub grant_type: Option<&'a str>,
    /// The API of the token issued, or the one asked for.
    pub audience: Option<&'a str>,
    /// The client the request named.
    pub client_id: Option<&'a str>,
    /// `issued`, or the OAuth error code.
    pub outcome: &'a str,
    pub elapsed: Duration,
}

/// Why a password login was refused, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// A user's email with a wrong password.
    WrongPassword,
    /// An email that belongs to no user.
    UnknownUser,
    /// The right password for a blocked user.
    UserBlocked,
    /// Refused without checking: too many failures for the user from the address.
    TooManyAttempts,
    /// The store failed.
    Error,
}

impl LoginFailure {
    fn label(self) -> &'static str {
        match self {
            LoginFailure::WrongPassword => "wrong_password",
            LoginFailure::UnknownUser => "unknown_user",
            LoginFailure::UserBlocked => "user_blocked",
            LoginFailure::TooManyAttempts => "too_many_attempts",
            LoginFailure::Error => "error",
        }
    }
}

/// A node's metrics (see the module doc).
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    client_labels: bool,
    /// Counters without labels, registered once.
    lockouts: Counter,
    refresh_reuse: Counter,
    authz_appended: Counter,
    audit_dropped: Counter,
    login_duration: Histogram,
    /// `writ_token_request_duration_seconds` per grant label (see [`grant_index`]), registered
    /// at its first request.
    token_duration: [std::sync::OnceLock<Histogram>; GRANT_LABELS],
    /// `writ_tokens_issued_total` by (grant, audience, outcome\[, client\]).
    tokens_issued: Handles<Counter>,
    /// `writ_http_requests_total` by (method, route, status).
    http_requests: Handles<Counter>,
    /// `writ_http_request_duration_seconds` by route.
    http_duration: Handles<Histogram>,
    /// `writ_db_query_duration_seconds` by operation.
    db_duration: Handles<Histogram>,
}

impl Metrics {
    /// A fresh recorder; client ids become labels when `client_labels`.
    pub fn new(client_labels: bool) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        for &(name, kind, help) in DESCRIPTIONS {
            let unit = name.ends_with("_seconds").then_some(Unit::Seconds);
            let name = KeyName::from_const_str(name);
            let help = help.into();
            match kind {
                Kind::Counter => recorder.describe_counter(name, unit, help),
                Kind::Gauge => recorder.describe_gauge(name, unit, help),
                Kind::Histogram => recorder.describe_histogram(name, unit, help),
            }
        }
        let handle = recorder.handle();
        let counter = |name: &'static str| recorder.register_counter(&Key::from_name(name), &META);
        let m = Metrics {
            lockouts: counter("writ_lockouts_total"),
            refresh_reuse: counter("writ_refresh_token_reuse_total"),
            authz_appended: counter("writ_authz_events_appended_total"),
            audit_dropped: counter("writ_audit_stream_dropped_total"),
            login_duration: recorder
                .register_histogram(&Key::from_name("writ_login_duration_seconds"), &META),
            token_duration: Default::default(),
            tokens_issued: Handles::default(),
            http_requests: Handles::default(),
            http_duration: Handles::default(),
            db_duration: Handles::default(),
            recorder,
            handle,
            client_labels,
        };
        m.gauge(
            "writ_build_info",
            vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
        )
        .set(1.0);
        m
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &META)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &META)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &META)
    }

    /// Whether client ids are labels (`WRIT_METRICS_CLIENT_LABELS`).
    pub fn client_labels(&self) -> bool {
        self.client_labels
    }

    /// A token endpoint request: `writ_tokens_issued_total` and its latency.
    pub fn token_request(&self, catalog: &Catalog, userinfo_audience: &str, r: TokenRequest<'_>) {
        let gi = grant_index(r.grant_type);
        let grant = grant_label(gi);
        // An audience is a label only when it names an API (the catalog bounds them).
        let audience = r
            .audience
            .filter(|a| catalog.apis.contains_key(*a) || *a == userinfo_audience)
            .unwrap_or("none");
        // OAuth error codes are a short fixed list; anything else would be a bug, not a label.
        let outcome = if r.outcome.len() <= 32
            && r.outcome
                .bytes()
                .all(|b| b == b'_' || b.is_ascii_lowercase())
        {
            r.outcome
        } else {
            "other"
        };
        let client = self.client_labels.then(|| {
            r.client_id
                .filter(|c| catalog.clients.contains_key(*c))
                .unwrap_or("none")
        });
        let values = [grant, audience, outcome, client.unwrap_or("")];
        let values = if client.is_some() {
            &values[..]
        } else {
            &values[..3]
        };
        self.tokens_issued.with(
            values,
            || {
                let mut labels = vec![
                    Label::new("grant_type", grant),
                    Label::new("audience", audience.to_owned()),
                    Label::new("outcome", outcome.to_owned()),
                ];
                if let Some(c) = client {
                    labels.push(Label::new("client_id", c.to_owned()));
                }
                self.counter("writ_tokens_issued_total", labels)
            },
            |c| c.increment(1),
        );
        self.token_duration[gi]
            .get_or_init(|| {
                self.histogram(
                    "writ_token_request_duration_seconds",
                    vec![Label::new("grant_type", grant)],
                )
            })
            .record(r.elapsed.as_secs_f64());
    }

    /// A password login ended after `elapsed`, refused for `failure` if it was.
    pub fn login(&self, elapsed: Duration, failure: Option<LoginFailure>) {
        self.login_duration.record(elapsed.as_secs_f64());
        if let Some(f) = failure {
            self.counter(
                "writ_login_failures_total",
                vec![Label::new("reason", f.label())],
            )
            .increment(1);
        }
    }

    /// A (user, IP) pair was just blocked.
    pub fn lockout(&self) {
        self.lockouts.increment(1);
    }

    /// A rotated refresh token was presented again.
    pub fn refresh_reuse(&self) {
        self.refresh_reuse.increment(1);
    }

    /// `n` authz events were appended to the log.
    pub fn authz_events_appended(&self, n: u64) {
        self.authz_appended.increment(n);
    }

    /// The counter of audit entries that did not reach the audit stream (for its writer).
    pub fn audit_stream_dropped(&self) -> Counter {
        self.audit_dropped.clone()
    }

    /// A hook run for `trigger` ended with `outcome` (`success`, `denied`, `failed`).
    pub fn hook_run(&self, trigger: &str, outcome: &'static str) {
        let trigger = crate::hooks::TRIGGERS
            .iter()
            .find(|t| **t == trigger)
            .copied()
            .unwrap_or("other");
        self.counter(
            "writ_hook_runs_total",
            vec![
                Label::new("trigger", trigger),
                Label::new("outcome", outcome),
            ],
        )
        .increment(1);
    }

    /// Times a store call `op` (a fixed name) on the token or login path.
    pub async fn db<T>(&self, op: &'static str, call: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = call.await;
        let elapsed = started.elapsed().as_secs_f64();
        self.db_duration.with(
            &[op],
            || self.histogram("writ_db_query_duration_seconds", vec![Label::new("op", op)]),
            |h| h.record(elapsed),
        );
        out
    }

    /// An HTTP request: `route` is the route template (or `unmatched`).
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        let mut code = [0u8; 5];
        let status_label = status_str(status, &mut code);
        self.http_requests.with(
            &[method, route, status_label],
            || {
                self.counter(
                    "writ_http_requests_total",
                    vec![
                        Label::new("method", method.to_owned()),
                        Label::new("route", route.to_owned()),
                        Label::new("status", status.to_string()),
                    ],
                )
            },
            |c| c.increment(1),
        );
        self.http_duration.with(
            &[route],
            || {
                self.histogram(
                    "writ_http_request_duration_seconds",
                    vec![Label::new("route", route.to_owned())],
                )
            },
            |h| h.record(elapsed.as_secs_f64()),
        );
    }

    /// The state gauges, sampled now: the database pool and the authz feed.
    pub fn sample(&self, pool: writ_store::PoolUse, feed: crate::events::FeedState) {
        let idle = pool.idle as f64;
        let used = pool.size.saturating_sub(pool.idle) as f64;
        self.gauge(
            "writ_db_pool_connections",
            vec![Label::new("state", "idle")],
        )
        .set(idle);
        self.gauge(
            "writ_db_pool_connections",
            vec![Label::new("state", "used")],
        )
        .set(used);
        self.gauge("writ_authz_feed_subscribers", vec![])
            .set(feed.subscribers as f64);
        self.gauge("writ_authz_feed_lag_events", vec![])
            .set(feed.lag as f64);
    }

    /// The open live streams (see `live`), sampled at scrape time.
    pub fn sample_live(&self, open: usize) {
        self.gauge("writ_live_streams", vec![]).set(open as f64);
    }

    /// The scrape: every series in Prometheus' text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds histogram samples into their buckets (see [`spawn_upkeep`]).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// `status` in decimal, written into `buf` (no allocation).
fn status_str(status: u16, buf: &mut [u8; 5]) -> &str {
    let mut n = status;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

/// Runs [`Metrics::upkeep`] every [`UPKEEP_INTERVAL`] until the state is dropped.
pub fn spawn_upkeep(state: &crate::Writ) {
    let weak = state.downgrade();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP_INTERVAL).await;
            match weak.upgrade() {
                Some(w) => w.metrics.upkeep(),
                None => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series whose line starts with `series` (name and labels) in `scrape`.
    fn value(scrape: &str, series: &str) -> Option<f64> {
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn handles_found_again_count_the_same_series() {
        let m = Metrics::new(true);
        let catalog = Catalog::default();
        let d = Duration::from_millis(1);
        for status in [200, 200, 401, 200] {
            m.http_request("POST", "/oauth/token", status, d);
        }
        m.http_request("BREW", "/oauth/token", 200, d);
        m.http_request("GET", "unmatched", 404, d);
        for (grant, outcome) in [
            (Some("client_credentials"), "issued"),
            (Some("client_credentials"), "issued"),
            (Some("urn:x"), "unsupported_grant_type"),
            (None, "invalid_request"),
            (
                Some("http://auth0.com/oauth/grant-type/mfa-otp"),
                "invalid_grant",
            ),
        ] {
            let r = TokenRequest {
                grant_type: grant,
                audience: Some("https://not-an-api/"),
                client_id: Some("nobody"),
                outcome,
                elapsed: d,
            };
            m.token_request(&catalog, "https://a.example/userinfo", r);
        }
        m.upkeep();
        let s = m.render();
        let http = |labels: &str| value(&s, &format!("writ_http_requests_total{{{labels}}}"));
        assert_eq!(
            http(r#"method="POST",route="/oauth/token",status="200""#),
            Some(3.0)
        );
        assert_eq!(
            http(r#"method="POST",route="/oauth/token",status="401""#),
            Some(1.0)
        );
        assert_eq!(
            http(r#"method="other",route="/oauth/token",status="200""#),
            Some(1.0)
        );
        assert_eq!(
            http(r#"method="GET",route="unmatched",status="404""#),
            Some(1.0)
        );
        assert_eq!(
            value(
                &s,
                r#"writ_http_request_duration_seconds_count{route="/oauth/token"}"#
            ),
            Some(5.0)
        );
        let tokens = |labels: &str| value(&s, &format!("writ_tokens_issued_total{{{labels}}}"));
        assert_eq!(
            tokens(
                r#"grant_type="client_credentials",audience="none",outcome="issued",client_id="none""#
            ),
            Some(2.0)
        );
        assert_eq!(
            tokens(
                r#"grant_type="unsupported",audience="none",outcome="unsupported_grant_type",client_id="none""#
            ),
            Some(1.0)
        );
        assert_eq!(
            tokens(
                r#"grant_type="none",audience="none",outcome="invalid_request",client_id="none""#
            ),
            Some(1.0)
        );
        // The MFA grants are counted under their own names.
        assert_eq!(
            tokens(
                r#"grant_type="http://auth0.com/oauth/grant-type/mfa-otp",audience="none",outcome="invalid_grant",client_id="none""#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &s,
                r#"writ_token_request_duration_seconds_count{grant_type="client_credentials"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &s,
                r#"writ_token_request_duration_seconds_count{grant_type="none"}"#
            ),
            Some(1.0)
        );
        // A grant type no request used has no series yet.
        assert!(!s.contains(r#"writ_token_request_duration_seconds_count{grant_type="password"}"#));
    }

    #[test]
    fn status_codes_print_in_decimal() {
        let mut buf = [0u8; 5];
        for code in [0u16, 7, 99, 200, 404, 999, 65535] {
            assert_eq!(status_str(code, &mut buf), code.to_string());
        }
    }
}
