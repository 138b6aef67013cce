//! [`Guard`]: a [`Verifier`] whose keys come from the issuer — OIDC discovery, then the JWKS,
//! refetched on an unknown `kid` (single-flight, at most once per
//! [`GuardOptions::min_refetch_interval`]) and refreshed in the background so that a rotation's
//! `next` key is known before it signs anything.

use std::fmt;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{AccessClaims, KeySet, Verifier, VerifierConfig, VerifyError};

/// Discovery documents and JWKS larger than this are refused.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// How a [`Guard`] fetches and caches keys. Build with `..Default::default()`.
#[derive(Debug, Clone)]
pub struct GuardOptions {
    /// A token with an unknown `kid` triggers a JWKS refetch at most this often (default
    /// 10 s), so a flood of made-up kids cannot hammer the issuer. Concurrent requests share
    /// one fetch.
    pub min_refetch_interval: Duration,
    /// Background refresh of the JWKS (default every 5 minutes); `None` or zero disables it.
    pub refresh_interval: Option<Duration>,
    /// Timeout of each request to the issuer (default 10 s). Ignored with `http_client`.
    pub http_timeout: Duration,
    /// Clock leeway for `exp`/`nbf`, seconds (default 30).
    pub leeway_secs: u64,
    /// Accept `typ: JWT` (Auth0's legacy access tokens) besides `at+jwt` (default false).
    pub allow_legacy_typ: bool,
    /// The `realm` of `WWW-Authenticate: Bearer realm="…"` when a request has no token
    /// (default `api`).
    pub realm: String,
    /// A client of your own (proxy, extra root certificates, …); default: a new one.
    pub http_client: Option<reqwest::Client>,
    /// Follow Writ's authz event feed and refuse tokens made before their subject's latest
    /// permission change (`VerifyError::PermissionsChanged`). Needs a machine client with
    /// `read:authz_events` on the Management API. Default: off.
    pub events: Option<EventFeed>,
    /// The longest access-token lifetime of the APIs this guard protects (default 30 days,
    /// Auth0's maximum). A feed entry older than this can no longer matter — every token made
    /// before that change has expired — so it is dropped, which bounds memory.
    pub max_token_lifetime: Duration,
    /// What to do with tokens when nothing has been heard from the event feed (not even its
    /// 15-second keep-alive) for longer than [`GuardOptions::feed_outage_after`]. Default
    /// [`FeedOutage::Accept`].
    pub feed_outage: FeedOutage,
    /// How long the feed may be silent before [`GuardOptions::feed_outage`] applies (default
    /// 60 s; it counts from the guard's construction until the first connection).
    pub feed_outage_after: Duration,
}

/// The guard's choice when Writ's authz event feed has been unreachable for too long.
///
/// Whichever is chosen, the versions already learned keep being enforced, and on reconnection
/// the guard resumes after its last event, so no change is missed once the feed is back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FeedOutage {
    /// Availability first: accept tokens whose signature and claims are valid, without the
    /// freshness check for changes made during the outage; a warning is logged when the
    /// outage starts and when it ends. A revocation during the outage takes effect when the
    /// feed is back (or when the token expires).
    #[default]
    Accept,
    /// Consistency first: refuse every token with `503` + `Retry-After`
    /// ([`VerifyError::FreshnessUnknown`]) until the feed is reachable again.
    Reject,
}

/// Credentials of the machine client that reads `GET {issuer}api/v2/authz-events`.
///
/// While the feed is unreachable the guard keeps the versions it has seen and accepts other
/// tokens (logged); it reconnects with backoff and resumes from its last event, so nothing is
/// missed. Memory: one entry per user whose permissions changed within the last
/// `GuardOptions::max_token_lifetime` (about 100 bytes each: ~100 MB for 1,000,000 users
/// changed within that window); older entries are dropped. Writ itself drops events older than
/// its longest access-token lifetime, so what a starting guard replays is bounded the same way.
#[derive(Clone, Debug)]
pub struct EventFeed {
    pub client_id: String,
    pub client_secret: String,
    /// Where to reach Writ for the feed and its token, when that differs from the issuer URL
    /// (one node of several, an internal address); `None`: the issuer.
    pub writ_url: Option<String>,
}

impl Default for GuardOptions {
    fn default() -> Self {
        Self {
            min_refetch_interval: Duration::from_secs(10),
            refresh_interval: Some(Duration::from_secs(300)),
            http_timeout: Duration::from_secs(10),
            leeway_secs: 30,
            allow_legacy_typ: false,
            realm: "api".into(),
            http_client: None,
            events: None,
            max_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            feed_outage: FeedOutage::Accept,
            feed_outage_after: Duration::from_secs(60),
        }
    }
}

/// Why a [`Guard`] could not be built or its keys refreshed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot fetch {url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Invalid { url: String, reason: String },
    #[error(
        "the discovery document names issuer {found:?} but {expected:?} was configured (they must match exactly, trailing slash included)"
    )]
    IssuerMismatch { expected: String, found: String },
}

/// Verifies access tokens of one issuer for one API, with the issuer's keys fetched and kept
/// current. Cheap to clone (one `Arc`); clones share keys and the refetch limiter. The
/// background refresh stops when the last clone is dropped.
///
/// Needs a Tokio runtime (it is built by an `async fn` and spawns its refresh task there).
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Verifier,
    jwks_uri: String,
    client: reqwest::Client,
    realm: Arc<str>,
    min_refetch: Duration,
    /// Held for the duration of every fetch: concurrent refetches become one.
    fetch: tokio::sync::Mutex<FetchState>,
    refresher: OnceLock<tokio::task::AbortHandle>,
    /// Latest authz version per subject, from the event feed, and when it was learned.
    versions: std::sync::RwLock<std::collections::HashMap<String, (i64, Instant)>>,
    max_token_lifetime: Duration,
    feed: OnceLock<tokio::task::AbortHandle>,
    /// Set when the guard follows the feed.
    freshness: Option<Freshness>,
}

/// Feed health, for [`FeedOutage`].
struct Freshness {
    policy: FeedOutage,
    outage_after: Duration,
    /// When the guard was built; `last_contact` counts milliseconds from here.
    epoch: Instant,
    /// Milliseconds after `epoch` of the latest bytes from the feed (or of a connection).
    last_contact: std::sync::atomic::AtomicU64,
}

impl Freshness {
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_contact
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long the feed has been silent.
    fn silence(&self) -> Duration {
        let last = self.last_contact.load(std::sync::atomic::Ordering::Relaxed);
        self.epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }

    fn in_outage(&self) -> bool {
        self.silence() > self.outage_after
    }
}

#[derive(Default)]
struct FetchState {
    /// When the last refetch caused by an unknown `kid` started.
    last_on_demand: Option<Instant>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.refresher.get() {
            task.abort();
        }
        if let Some(task) = self.feed.get() {
            task.abort();
        }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cfg = self.inner.verifier.config();
        f.debug_struct("Guard")
            .field("issuer", &cfg.issuer)
            .field("audience", &cfg.audience)
            .field("jwks_uri", &self.inner.jwks_uri)
            .finish_non_exhaustive()
    }
}

/// `{issuer}.well-known/openid-configuration`, with exactly one `/` before `.well-known`.
fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, GuardError> {
    let fetch = |source| GuardError::Fetch {
        url: url.to_owned(),
        source,
    };
    let too_large = || GuardError::Invalid {
        url: url.to_owned(),
        reason: format!("larger than {MAX_DOCUMENT_BYTES} bytes"),
    };
    let mut resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(fetch)?;
    if !resp.status().is_success() {
        return Err(GuardError::Status {
            url: url.to_owned(),
            status: resp.status().as_u16(),
        });
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(fetch)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| GuardError::Invalid {
        url: url.to_owned(),
        reason: format!("not JSON: {e}"),
    })
}

impl Guard {
    /// Reads the issuer's OIDC discovery document (`{issuer}.well-known/openid-configuration`),
    /// checks that its `issuer` is exactly `issuer`, fetches its `jwks_uri` and returns a guard
    /// for tokens whose `aud` contains `audience`.
    pub async fn discover(
        issuer: &str,
        audience: &str,
        opts: GuardOptions,
    ) -> Result<Guard, GuardError> {
        let client = client(&opts)?;
        let url = discovery_url(issuer);
        let doc = get_json(&client, &url).await?;
        let field = |name: &str| {
            doc.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| GuardError::Invalid {
                    url: url.clone(),
                    reason: format!("no `{name}` string"),
                })
        };
        let found = field("issuer")?;
        if found != issuer {
            return Err(GuardError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: found.to_owned(),
            });
        }
        let jwks_uri = field("jwks_uri")?.to_owned();
        Self::build(client, issuer, audience, jwks_uri, opts).await
    }

    /// Like [`Guard::discover`] for an issuer without discovery: the JWKS is read from
    /// `jwks_uri`.
    pub async fn from_jwks_uri(
        issuer: &str,
        audience: &str,
        jwks_uri: &str,
        opts: GuardOptions,
    ) -> Result<Guard, GuardError> {
        let client = client(&opts)?;
        Self::build(client, issuer, audience, jwks_uri.to_owned(), opts).await
    }

    async fn build(
        client: reqwest::Client,
        issuer: &str,
        audience: &str,
        jwks_uri: String,
        opts: GuardOptions,
    ) -> Result<Guard, GuardError> {
        let mut cfg = VerifierConfig::new(issuer, audience);
        cfg.leeway_secs = opts.leeway_secs;
        cfg.allow_legacy_typ = opts.allow_legacy_typ;
        let inner = Arc::new(Inner {
            verifier: Verifier::new(cfg, KeySet::default()),
            jwks_uri,
            client,
            realm: opts.realm.into(),
            min_refetch: opts.min_refetch_interval,
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            refresher: OnceLock::new(),
            versions: Default::default(),
            max_token_lifetime: opts.max_token_lifetime,
            feed: OnceLock::new(),
            freshness: opts.events.as_ref().map(|_| Freshness {
                policy: opts.feed_outage,
                outage_after: opts.feed_outage_after,
                epoch: Instant::now(),
                last_contact: Default::default(),
            }),
        });
        inner.fetch_keys().await?;
        if let Some(feed) = opts.events {
            let task = tokio::spawn(feed_loop(
                Arc::downgrade(&inner),
                inner.client.clone(),
                issuer.to_owned(),
                feed,
            ));
            let _ = inner.feed.set(task.abort_handle());
        }
        if let Some(every) = opts.refresh_interval.filter(|d| !d.is_zero()) {
            let task = tokio::spawn(refresh_loop(Arc::downgrade(&inner), every));
            let _ = inner.refresher.set(task.abort_handle());
        }
        Ok(Guard { inner })
    }

    /// Verifies a compact JWS access token. A token whose `kid` is unknown causes one JWKS
    /// refetch (shared with concurrent requests, rate limited) and one more attempt.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        match self.verify_cached(token) {
            Err(VerifyError::UnknownKey) => {}
            done => return done,
        }
        let claims = self.verify_after_refetch(token).await?;
        self.check_fresh(claims)
    }

    /// [`Guard::verify`] with the keys at hand, without waiting for a JWKS refetch: a token
    /// signed by a key the guard does not know yet gets [`VerifyError::UnknownKey`]. For
    /// synchronous callers; the same checks otherwise (signature, claims, freshness).
    pub fn verify_cached(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let claims = self.inner.verifier.verify(token)?;
        self.check_fresh(claims)
    }

    /// The freshness checks: the feed-outage policy, then `authz_ver` against the subject's
    /// latest version.
    fn check_fresh(&self, claims: AccessClaims) -> Result<AccessClaims, VerifyError> {
        if let Some(f) = &self.inner.freshness
            && f.policy == FeedOutage::Reject
            && f.in_outage()
        {
            return Err(VerifyError::FreshnessUnknown);
        }
        if let Some(v) = claims.authz_ver
            && let Some((latest, _)) = self
                .inner
                .versions
                .read()
                .expect("versions lock")
                .get(&claims.sub)
            && v < *latest
        {
            return Err(VerifyError::PermissionsChanged);
        }
        Ok(claims)
    }

    /// Records that `sub`'s permissions are at `version`, as the event feed does: tokens made
    /// at an older version are refused from now on. For a feed of your own, tests and
    /// benchmarks; a lower version than the one known is ignored.
    pub fn record_version(&self, sub: &str, version: i64) {
        note_version(&self.inner, sub, version);
    }

    /// The latest authz version this guard knows for `sub` (from the event feed or
    /// [`Guard::record_version`]); `None` when none is known. Tokens with an older `authz_ver`
    /// are refused. For monitoring and benchmarks (how soon a change reached this guard).
    pub fn known_version(&self, sub: &str) -> Option<i64> {
        self.inner
            .versions
            .read()
            .expect("versions lock")
            .get(sub)
            .map(|(v, _)| *v)
    }

    /// For a token whose `kid` was unknown: refetch the JWKS (if allowed) and try again.
    async fn verify_after_refetch(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
            return Err(VerifyError::UnknownKey);
        };
        if self.inner.refetch_for(&kid).await {
            self.inner.verifier.verify(token)
        } else {
            Err(VerifyError::UnknownKey)
        }
    }

    /// Fetches the JWKS now (waiting for a fetch already in flight first). On failure the
    /// keys in use are kept.
    pub async fn refresh(&self) -> Result<(), GuardError> {
        let _flight = self.inner.fetch.lock().await;
        self.inner.fetch_keys().await.map(|_| ())
    }

    /// The verifier with the current keys (synchronous checks, `knows_kid`, configuration).
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// Where keys are fetched from.
    pub fn jwks_uri(&self) -> &str {
        &self.inner.jwks_uri
    }

    /// The `realm` announced to requests without a token.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    pub(crate) fn realm_arc(&self) -> Arc<str> {
        self.inner.realm.clone()
    }
}

fn client(opts: &GuardOptions) -> Result<reqwest::Client, GuardError> {
    if let Some(c) = &opts.http_client {
        return Ok(c.clone());
    }
    reqwest::Client::builder()
        .timeout(opts.http_timeout)
        .user_agent(concat!("writ-guard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(GuardError::Client)
}

impl Inner {
    /// Fetches the JWKS and swaps the keys in. Callers hold `fetch`, except at construction.
    async fn fetch_keys(&self) -> Result<usize, GuardError> {
        let doc = get_json(&self.client, &self.jwks_uri).await?;
        let keys = KeySet::from_jwks(&doc).map_err(|e| GuardError::Invalid {
            url: self.jwks_uri.clone(),
            reason: format!("not a JWKS: {e}"),
        })?;
        let n = keys.len();
        self.verifier.set_keys(keys);
        Ok(n)
    }

    /// Makes sure `kid` is known if the issuer publishes it, within the rate limit. Returns
    /// whether it is known afterwards.
    async fn refetch_for(&self, kid: &str) -> bool {
        let mut state = self.fetch.lock().await;
        // Another request's fetch (or the background refresh) may have brought it meanwhile.
        if self.verifier.knows_kid(kid) {
            return true;
        }
        if state
            .last_on_demand
            .is_some_and(|t| t.elapsed() < self.min_refetch)
        {
            tracing::debug!(kid, "unknown kid; JWKS refetch rate limited");
            return false;
        }
        state.last_on_demand = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(_) => self.verifier.knows_kid(kid),
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refetch after an unknown kid failed; keeping the current keys");
                false
            }
        }
    }
}

fn note_version(inner: &Inner, sub: &str, version: i64) {
    let mut versions = inner.versions.write().expect("versions lock");
    let now = Instant::now();
    let v = versions.entry(sub.to_owned()).or_insert((version, now));
    if version >= v.0 {
        *v = (version, now);
    }
}

async fn refresh_loop(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { break };
        let _flight = inner.fetch.lock().await;
        if let Err(e) = inner.fetch_keys().await {
            tracing::warn!(error = %e, "scheduled JWKS refresh failed; keeping the current keys");
        }
    }
}

/// Follows `GET {issuer}api/v2/authz-events` (SSE) for as long as the guard lives, reconnecting
/// with backoff and resuming after the last event seen.
async fn feed_loop(weak: Weak<Inner>, client: reqwest::Client, issuer: String, feed: EventFeed) {
    let mut seq = 0i64;
    let mut backoff = Duration::from_millis(200);
    let mut outage_logged = false;
    while weak.strong_count() > 0 {
        match follow(&weak, &client, &issuer, &feed, &mut seq, &mut outage_logged).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => tracing::warn!(error = %e, "authz event feed unreachable; retrying"),
        }
        if let Some(inner) = weak.upgrade()
            && let Some(f) = &inner.freshness
            && f.in_outage()
            && !outage_logged
        {
            outage_logged = true;
            match f.policy {
                FeedOutage::Accept => tracing::warn!(
                    silent_secs = f.silence().as_secs(),
                    "authz event feed unreachable for too long: accepting tokens without checking permission changes made since (FeedOutage::Accept)"
                ),
                FeedOutage::Reject => tracing::error!(
                    silent_secs = f.silence().as_secs(),
                    "authz event feed unreachable for too long: refusing every token with 503 until it is back (FeedOutage::Reject)"
                ),
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn follow(
    weak: &Weak<Inner>,
    client: &reqwest::Client,
    issuer: &str,
    feed: &EventFeed,
    seq: &mut i64,
    outage_logged: &mut bool,
) -> Result<(), String> {
    let base = match &feed.writ_url {
        Some(u) => format!("{}/", u.trim_end_matches('/')),
        None => issuer.to_owned(),
    };
    let token: Value = client
        .post(format!("{base}oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", feed.client_id.as_str()),
            ("client_secret", feed.client_secret.as_str()),
            ("audience", &format!("{issuer}api/v2/")),
        ])
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("token: {e}"))?
        .json()
        .await
        .map_err(|e| format!("token: {e}"))?;
    let at = token["access_token"]
        .as_str()
        .ok_or("token: no access_token")?;
    let mut resp = client
        .get(format!("{base}api/v2/authz-events"))
        .bearer_auth(at)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .header("last-event-id", seq.to_string())
        // A stream, not a request: reconnect (and renew the token) hourly.
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("feed: {e}"))?;
    let touch = |outage_logged: &mut bool| {
        let Some(inner) = weak.upgrade() else { return };
        if let Some(f) = &inner.freshness {
            f.touch();
        }
        if std::mem::take(outage_logged) {
            tracing::info!("authz event feed reachable again; resuming after the last event seen");
        }
    };
    touch(outage_logged);
    let mut buf = String::new();
    let mut last_prune = Instant::now();
    // A silent connection (no keep-alive) counts as an outage: give up on it and reconnect.
    let silence_limit = Duration::from_secs(45);
    while let Some(chunk) = tokio::time::timeout(silence_limit, resp.chunk())
        .await
        .map_err(|_| "feed: no keep-alive for 45 s".to_owned())?
        .map_err(|e| format!("feed: {e}"))?
    {
        touch(outage_logged);
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            // The resume point is the SSE id: a change to a group is one event per member with
            // one seq, and only the last carries the id, so a stream cut inside it resumes at
            // its start.
            if let Some(id) = frame
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .and_then(|id| id.trim().parse::<i64>().ok())
            {
                *seq = (*seq).max(id);
            }
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let Ok(ev) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            // `subject` is the `sub` of the tokens concerned: a user id or, for a machine
            // client, `<client_id>@clients` (servers before it had only `user_id`).
            let (Some(user), Some(version)) = (
                ev["subject"].as_str().or_else(|| ev["user_id"].as_str()),
                ev["version"].as_i64(),
            ) else {
                continue;
            };
            let Some(inner) = weak.upgrade() else {
                return Ok(());
            };
            note_version(&inner, user, version);
        }
        // On events and keep-alives alike, so a quiet feed still sheds old entries.
        if last_prune.elapsed() >= Duration::from_secs(60) {
            let Some(inner) = weak.upgrade() else {
                return Ok(());
            };
            let keep = inner.max_token_lifetime;
            let mut versions = inner.versions.write().expect("versions lock");
            versions.retain(|_, (_, seen)| seen.elapsed() < keep);
            last_prune = Instant::now();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::discovery_url;

    #[test]
    fn discovery_url_has_one_slash() {
        assert_eq!(
            discovery_url("https://auth.example/"),
            "https://auth.example/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://auth.example/t/acme"),
            "https://auth.example/t/acme/.well-known/openid-configuration"
        );
    }
}
