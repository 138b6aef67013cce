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

/// The grant types counted under their own name; any other is `unsupported`.
const GRANT_TYPES: &[&str] = &[
    "client_credentials",
    "authorization_code",
    "refresh_token",
    "password",
    "http://auth0.com/oauth/grant-type/password-realm",
];

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
        let grant = match r.grant_type {
            None => "none",
            Some(g) => GRANT_TYPES
                .iter()
                .find(|k| **k == g)
                .copied()
                .unwrap_or("unsupported"),
        };
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
        let mut labels = vec![
            Label::new("grant_type", grant),
            Label::new("audience", audience.to_owned()),
            Label::new("outcome", outcome.to_owned()),
        ];
        if self.client_labels {
            let client = r
                .client_id
                .filter(|c| catalog.clients.contains_key(*c))
                .unwrap_or("none");
            labels.push(Label::new("client_id", client.to_owned()));
        }
        self.counter("writ_tokens_issued_total", labels)
            .increment(1);
        self.histogram(
            "writ_token_request_duration_seconds",
            vec![Label::new("grant_type", grant)],
        )
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
        self.histogram("writ_db_query_duration_seconds", vec![Label::new("op", op)])
            .record(started.elapsed().as_secs_f64());
        out
    }

    /// An HTTP request: `route` is the route template (or `unmatched`).
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.counter(
            "writ_http_requests_total",
            vec![
                Label::new("method", method.to_owned()),
                Label::new("route", route.to_owned()),
                Label::new("status", status.to_string()),
            ],
        )
        .increment(1);
        self.histogram(
            "writ_http_request_duration_seconds",
            vec![Label::new("route", route.to_owned())],
        )
        .record(elapsed.as_secs_f64());
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

    /// The scrape: every series in Prometheus' text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds histogram samples into their buckets (see [`spawn_upkeep`]).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
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
