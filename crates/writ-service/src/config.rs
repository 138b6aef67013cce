//! Configuration: an optional TOML file overlaid by `WRIT_*` environment variables (env wins),
//! validated once at start so that a bad setting ends the process with one clear line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use writ_core::password_policy::{MIN_LENGTH_CEILING, MIN_LENGTH_FLOOR, PasswordPolicy};

use crate::proxies::{ForwardingHeader, TrustedProxies};

mod settings;
pub use settings::{REDACTED, SETTINGS, Setting};

/// Validated settings.
#[derive(Clone)]
pub struct Config {
    /// Issuer URL, always ending in `/`.
    pub issuer: String,
    pub listen: SocketAddr,
    pub database_url: String,
    pub bootstrap_client_id: Option<String>,
    pub bootstrap_client_secret: Option<String>,
    /// 32-byte key that encrypts signing keys at rest (base64url in config). When unset, a key
    /// file beside the SQLite database is created and used; required with PostgreSQL, whose
    /// nodes must all share it.
    pub key_encryption_key: Option<[u8; 32]>,
    /// Concurrent argon2 computations (each takes ~19 MiB). Default: twice the CPU count — at
    /// one per core, page-faulting each hash's fresh 19 MiB leaves cores idle (measured: 57% of
    /// the raw hash rate at 1×, 84% at 2×; `cargo bench --bench login`).
    pub password_hash_concurrency: usize,
    /// Whether the hosted login page offers sign-up (off by default).
    pub signup_enabled: bool,
    /// What a new password must be: its minimum length, whether common passwords and the
    /// user's own email are refused (`WRIT_PASSWORD_MIN_LENGTH`, `WRIT_PASSWORD_DICTIONARY`,
    /// `WRIT_PASSWORD_NO_PERSONAL_INFO`).
    pub password_policy: writ_core::password_policy::PasswordPolicy,
    /// Days audit log entries are kept (default 30); 0 keeps them forever.
    pub audit_retention_days: u32,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto` headers are
    /// believed (see the HTTP edge's client address); none by default.
    pub trusted_proxies: TrustedProxies,
    /// The largest access token Writ mints, in bytes (default 8 KiB, what common proxies
    /// accept in one header): a bigger one is refused with a clear error naming the claim that
    /// grew, rather than issued to fail later.
    pub max_access_token_bytes: usize,
    /// Auth0 Authorization Extension compatibility: users read through the Management API
    /// carry `app_metadata.authorization = {groups, roles, permissions}`, computed live from
    /// Writ's RBAC and read-only (off by default).
    pub authorization_extension: bool,
    /// When the hosted page and the password grant demand a second factor (`WRIT_MFA_POLICY`,
    /// default `never`: only from users who enrolled one, or as `mfa_roles`, `mfa_clients` or
    /// a post-login hook asks).
    pub mfa_policy: MfaPolicy,
    /// Role names whose holders (directly or through a group) must use a second factor
    /// (`WRIT_MFA_ROLES`; none by default).
    pub mfa_roles: Vec<String>,
    /// Client ids whose logins must use a second factor (`WRIT_MFA_CLIENTS`; none by default).
    pub mfa_clients: Vec<String>,
    /// API identifiers whose access tokens carry `amr` and `acr` (`WRIT_MFA_AMR_AUDIENCES`; a
    /// Writ extension; none by default: ID tokens always carry them).
    pub mfa_amr_audiences: Vec<String>,
    /// Days a browser is remembered after a second factor on the hosted page, its password
    /// logins not challenged meanwhile (`WRIT_MFA_REMEMBER_BROWSER_DAYS`; default 0: off).
    pub mfa_remember_browser_days: u32,
    /// Whether a password login that needed no second factor offers a user without a passkey
    /// to create one, skippable (`WRIT_PASSKEY_ENROLLMENT_OFFER`; default off). Needs an
    /// issuer whose host is a domain (see `passkeys`).
    pub passkey_enrollment_offer: bool,
    /// Each hook run's time budget (default 100 ms, at most 20 s).
    pub hook_timeout: std::time::Duration,
    /// Hook worker processes (default: one per core).
    pub hook_workers: usize,
    /// The program started as a hook worker, with the argument `hook-worker` (default: this
    /// very executable, `writ`).
    pub hook_worker: Option<PathBuf>,
    /// Whether webhook hooks may use plain `http://` URLs to any host (off by default: only
    /// to 127.0.0.1, ::1 or localhost; `WRIT_HOOK_ALLOW_HTTP`).
    pub hook_allow_http: bool,
    /// Seconds an API that starts signing with ES256 or EdDSA keeps RS256 after that key
    /// appeared in the JWKS, so verifiers' cached JWKS have it before the first token it signs
    /// (default [`JWKS_WARMUP_SECS`]: the JWKS's `max-age` plus a margin).
    pub jwks_warmup_secs: u64,
    /// Seconds a node goes on serving after it is told to stop (SIGTERM, Ctrl-C) while
    /// `/health/ready` answers 503, so load balancers take it out of rotation before it stops
    /// accepting connections (`WRIT_SHUTDOWN_DELAY_SECS`, default 0).
    pub shutdown_delay_secs: u64,
    /// Open live streams (`GET /me/authz-events`) one user may hold on this node (default
    /// [`LIVE_STREAMS_PER_USER`]; `WRIT_LIVE_STREAMS_PER_USER`): one per open tab.
    pub live_streams_per_user: usize,
    /// Open live streams this node holds for all users together (default
    /// [`LIVE_STREAMS_MAX`]; `WRIT_LIVE_STREAMS_MAX`).
    pub live_streams_max: usize,
    /// Where `/metrics` is served: this address alone (`WRIT_METRICS_LISTEN`), so it need not
    /// be public; `None` (the default): on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Whether metrics carry client ids as labels (off by default: one series per client).
    pub metrics_client_labels: bool,
    /// The log lines' format on stderr (default text).
    pub log_format: LogFormat,
    /// Where audit log entries are also streamed as JSON lines (off by default).
    pub audit_stream: Option<crate::audit_stream::Target>,
    /// The PEM files of the certificate and key the main listener serves HTTPS with
    /// (`WRIT_TLS_CERT` and `WRIT_TLS_KEY`, set together); `None` (the default): plain HTTP.
    pub tls: Option<TlsFiles>,
    /// The SMTP server mail is sent through and the sender address (`WRIT_SMTP_URL`,
    /// `WRIT_SMTP_FROM`); `None` (the default): no mail is sent (see `mail`).
    pub smtp: Option<crate::mail::sender::SmtpSettings>,
    /// A folder of email templates replacing the bundled ones (`WRIT_EMAIL_TEMPLATES`).
    pub email_templates: Option<PathBuf>,
    /// Whether a sign-up sends the new user a verification email (`WRIT_SIGNUP_VERIFY_EMAIL`,
    /// off by default).
    pub signup_verify_email: bool,
    /// The clients that issue tokens only to users whose email is verified
    /// (`WRIT_REQUIRE_VERIFIED_EMAIL`: client ids, or `*` for every client but the admin
    /// console); empty by default.
    pub require_verified_email: Vec<String>,
    /// Without SMTP, log each email's link at `warn` instead of refusing the flows that need
    /// mail: set by `writ demo` only, never by a setting.
    pub mail_log_links: bool,
}

/// Where the certificate and its private key are (`WRIT_TLS_CERT`, `WRIT_TLS_KEY`): paths only.
/// They are read at start and again on SIGHUP, by the HTTP edge, which also reports a file it
/// cannot read or parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, PEM: the server's certificate first, then intermediates.
    pub cert: PathBuf,
    /// The certificate's private key, PEM (PKCS #8, PKCS #1 or SEC1).
    pub key: PathBuf,
}

/// When a second factor is demanded of every login (`WRIT_MFA_POLICY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MfaPolicy {
    /// Not by the tenant: only of users who enrolled a factor, holders of `mfa_roles`, logins
    /// to `mfa_clients`, and logins a post-login hook asks it for.
    #[default]
    Never,
    /// Of every user login (users without a factor enroll one first).
    Always,
}

impl MfaPolicy {
    /// `never` or `always`.
    pub fn parse(s: &str) -> Result<MfaPolicy, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "never" => Ok(MfaPolicy::Never),
            "always" => Ok(MfaPolicy::Always),
            other => Err(ConfigError(format!(
                "WRIT_MFA_POLICY '{other}' must be never or always"
            ))),
        }
    }

    /// Its name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaPolicy::Never => "never",
            MfaPolicy::Always => "always",
        }
    }
}

/// The format of the log lines (`WRIT_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, message and the fields.
    Json,
}

impl LogFormat {
    /// `text` or `json`.
    pub fn parse(s: &str) -> Result<LogFormat, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError(format!(
                "WRIT_LOG_FORMAT '{other}' must be text or json"
            ))),
        }
    }

    /// The format a process logs in before (or without) its full configuration: the variable,
    /// else the file's `log_format`, else text; an invalid value reads as text here and is
    /// reported by [`Config::load`].
    pub fn early(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> LogFormat {
        let from_file = || {
            let text = std::fs::read_to_string(file?).ok()?;
            let v: toml::Table = toml::from_str(&text).ok()?;
            v.get("log_format")?.as_str().map(str::to_owned)
        };
        env("WRIT_LOG_FORMAT")
            .filter(|v| !v.is_empty())
            .or_else(from_file)
            .and_then(|v| LogFormat::parse(&v).ok())
            .unwrap_or_default()
    }
}

/// The default of [`Config::hook_timeout`], and the most it may be.
pub const HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);
pub const MAX_HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The `max-age` of the JWKS (and discovery) responses, in seconds.
pub const JWKS_MAX_AGE_SECS: u64 = 60;

/// The JWKS responses' `Cache-Control`, which says [`JWKS_MAX_AGE_SECS`].
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=60";

/// The default of [`Config::jwks_warmup_secs`]: the JWKS's `max-age` plus as much again, for
/// caches that refetch late (PyJWT's `PyJWKClient` refetches an unknown `kid` at most every
/// 30 s) and for the other nodes of a deployment, which publish the key at their next catalog
/// reload.
pub const JWKS_WARMUP_SECS: u64 = 2 * JWKS_MAX_AGE_SECS;

/// Default of [`Config::live_streams_per_user`]: tabs of one user open at once on one node.
pub const LIVE_STREAMS_PER_USER: usize = 16;
/// Default of [`Config::live_streams_max`]: a stream costs a connection and a few kilobytes.
pub const LIVE_STREAMS_MAX: usize = 20_000;

/// The default of [`Config::max_access_token_bytes`].
pub const MAX_ACCESS_TOKEN_BYTES: usize = 8192;

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("listen", &self.listen)
            .field("database_url", &self.database_url_redacted())
            .field("bootstrap_client_id", &self.bootstrap_client_id)
            .finish_non_exhaustive()
    }
}

/// The file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    issuer: Option<String>,
    listen: Option<String>,
    database_url: Option<String>,
    bootstrap_client_id: Option<String>,
    bootstrap_client_secret: Option<String>,
    key_encryption_key: Option<String>,
    password_hash_concurrency: Option<usize>,
    signup_enabled: Option<bool>,
    password_min_length: Option<usize>,
    password_dictionary: Option<bool>,
    password_no_personal_info: Option<bool>,
    audit_retention_days: Option<u32>,
    trusted_proxies: Option<StringOrList>,
    trusted_proxy_header: Option<String>,
    max_access_token_bytes: Option<usize>,
    authorization_extension: Option<bool>,
    mfa_policy: Option<String>,
    mfa_roles: Option<StringOrList>,
    mfa_clients: Option<StringOrList>,
    mfa_amr_audiences: Option<StringOrList>,
    mfa_remember_browser_days: Option<u32>,
    passkey_enrollment_offer: Option<bool>,
    hook_timeout_ms: Option<u64>,
    hook_workers: Option<usize>,
    hook_worker: Option<PathBuf>,
    hook_allow_http: Option<bool>,
    jwks_warmup_secs: Option<u64>,
    shutdown_delay_secs: Option<u64>,
    live_streams_per_user: Option<usize>,
    live_streams_max: Option<usize>,
    metrics_listen: Option<String>,
    metrics_client_labels: Option<bool>,
    log_format: Option<String>,
    audit_stream: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    email_templates: Option<PathBuf>,
    signup_verify_email: Option<bool>,
    require_verified_email: Option<StringOrList>,
}

/// A list setting in TOML: a comma-separated string or an array of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    String(String),
    List(Vec<String>),
}

impl StringOrList {
    fn joined(self) -> String {
        match self {
            StringOrList::String(s) => s,
            StringOrList::List(l) => l.join(","),
        }
    }
}

/// A true/false setting: the variable `var` (`true`/`false`, also `1`/`0`, `yes`/`no`; empty
/// reads as false), else the file's value, else `default`.
fn flag(
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
    file: Option<bool>,
    default: bool,
) -> Result<bool, ConfigError> {
    match env(var).as_deref() {
        Some("1" | "true" | "yes") => Ok(true),
        Some("0" | "false" | "no" | "") => Ok(false),
        Some(v) => Err(ConfigError(format!("{var} '{v}' must be true or false"))),
        None => Ok(file.unwrap_or(default)),
    }
}

/// A number setting: the variable `var` (empty reads as unset), else the file's value; `None`
/// when neither is set. `unit` ends the error's sentence (`" of seconds"`).
fn number<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
    file: Option<T>,
    unit: &str,
) -> Result<Option<T>, ConfigError> {
    match env(var).filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ConfigError(format!("{var} '{v}' is not a number{unit}"))),
        None => Ok(file),
    }
}

/// A configuration error, printed as one line.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Defaults, then the file (if any), then `WRIT_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let fc: FileConfig = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", p.display())))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError(format!("{}: {}", p.display(), e.message())))?
            }
            None => FileConfig::default(),
        };
        let pick = |var: &str, file: Option<String>| env(var).filter(|v| !v.is_empty()).or(file);
        let issuer =
            pick("WRIT_ISSUER", fc.issuer).unwrap_or_else(|| "http://127.0.0.1:3000/".into());
        let u = url::Url::parse(&issuer)
            .map_err(|e| ConfigError(format!("WRIT_ISSUER '{issuer}' is not a URL: {e}")))?;
        if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
            return Err(ConfigError(format!(
                "WRIT_ISSUER '{issuer}' must be an http(s) URL"
            )));
        }
        if !issuer.ends_with('/') {
            return Err(ConfigError(format!(
                "WRIT_ISSUER '{issuer}' must end with '/' (for example '{issuer}/')"
            )));
        }
        if u.query().is_some() || u.fragment().is_some() {
            return Err(ConfigError(format!(
                "WRIT_ISSUER '{issuer}' must not have a query or fragment"
            )));
        }
        let listen_s = pick("WRIT_LISTEN", fc.listen).unwrap_or_else(|| "127.0.0.1:3000".into());
        let listen = listen_s.parse().map_err(|_| {
            ConfigError(format!(
                "WRIT_LISTEN '{listen_s}' is not an address like 127.0.0.1:3000"
            ))
        })?;
        let database_url = pick("WRIT_DATABASE_URL", fc.database_url)
            .unwrap_or_else(|| "sqlite://writ-data/writ.db".into());
        let Some(backend) = writ_store::Backend::of_url(&database_url) else {
            return Err(ConfigError(format!(
                "WRIT_DATABASE_URL '{}': expected a sqlite:// or postgres:// URL",
                redact_url(&database_url)
            )));
        };
        let bootstrap_client_id = pick("WRIT_BOOTSTRAP_CLIENT_ID", fc.bootstrap_client_id);
        let bootstrap_client_secret =
            pick("WRIT_BOOTSTRAP_CLIENT_SECRET", fc.bootstrap_client_secret);
        if bootstrap_client_id.is_some() != bootstrap_client_secret.is_some() {
            return Err(ConfigError(
                "WRIT_BOOTSTRAP_CLIENT_ID and WRIT_BOOTSTRAP_CLIENT_SECRET must be set together"
                    .into(),
            ));
        }
        if let Some(s) = &bootstrap_client_secret
            && s.len() < 16
        {
            return Err(ConfigError(
                "WRIT_BOOTSTRAP_CLIENT_SECRET must be at least 16 characters".into(),
            ));
        }
        let key_encryption_key = match pick("WRIT_KEY_ENCRYPTION_KEY", fc.key_encryption_key) {
            None => None,
            Some(k) => Some(crate::crypto::decode_kek(&k).ok_or_else(|| {
                ConfigError(
                    "WRIT_KEY_ENCRYPTION_KEY must be 32 bytes, base64url-encoded (43 characters)"
                        .into(),
                )
            })?),
        };
        if backend == writ_store::Backend::Postgres && key_encryption_key.is_none() {
            return Err(ConfigError(
                "WRIT_KEY_ENCRYPTION_KEY is required with a PostgreSQL database (signing keys are \
                 stored there encrypted, and every node must decrypt them with the same key)"
                    .into(),
            ));
        }
        let password_hash_concurrency = number(
            &env,
            "WRIT_PASSWORD_HASH_CONCURRENCY",
            fc.password_hash_concurrency,
            "",
        )?
        .unwrap_or_else(|| 2 * std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
        let signup_enabled = flag(&env, "WRIT_SIGNUP_ENABLED", fc.signup_enabled, false)?;
        let password_min_length =
            number(&env, "WRIT_PASSWORD_MIN_LENGTH", fc.password_min_length, "")?
                .unwrap_or(MIN_LENGTH_FLOOR);
        if !(MIN_LENGTH_FLOOR..=MIN_LENGTH_CEILING).contains(&password_min_length) {
            return Err(ConfigError(format!(
                "WRIT_PASSWORD_MIN_LENGTH {password_min_length} must be between \
                 {MIN_LENGTH_FLOOR} and {MIN_LENGTH_CEILING}"
            )));
        }
        let password_policy = PasswordPolicy::new(
            password_min_length,
            flag(
                &env,
                "WRIT_PASSWORD_DICTIONARY",
                fc.password_dictionary,
                true,
            )?,
            flag(
                &env,
                "WRIT_PASSWORD_NO_PERSONAL_INFO",
                fc.password_no_personal_info,
                false,
            )?,
        );
        let authorization_extension = flag(
            &env,
            "WRIT_AUTHORIZATION_EXTENSION",
            fc.authorization_extension,
            false,
        )?;
        let mfa_policy = MfaPolicy::parse(
            &pick("WRIT_MFA_POLICY", fc.mfa_policy).unwrap_or_else(|| "never".into()),
        )?;
        let list = |var: &str, file: Option<StringOrList>| -> Vec<String> {
            pick(var, file.map(StringOrList::joined))
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mfa_roles = list("WRIT_MFA_ROLES", fc.mfa_roles);
        let mfa_clients = list("WRIT_MFA_CLIENTS", fc.mfa_clients);
        let mfa_amr_audiences = list("WRIT_MFA_AMR_AUDIENCES", fc.mfa_amr_audiences);
        let mfa_remember_browser_days = number(
            &env,
            "WRIT_MFA_REMEMBER_BROWSER_DAYS",
            fc.mfa_remember_browser_days,
            " of days (0: off)",
        )?
        .unwrap_or(0);
        let passkey_enrollment_offer = flag(
            &env,
            "WRIT_PASSKEY_ENROLLMENT_OFFER",
            fc.passkey_enrollment_offer,
            false,
        )?;
        let hook_allow_http = flag(&env, "WRIT_HOOK_ALLOW_HTTP", fc.hook_allow_http, false)?;
        let audit_retention_days = number(
            &env,
            "WRIT_AUDIT_RETENTION_DAYS",
            fc.audit_retention_days,
            " of days (0 keeps entries forever)",
        )?
        .unwrap_or(30);
        let trusted_proxies = match pick(
            "WRIT_TRUSTED_PROXIES",
            fc.trusted_proxies.map(StringOrList::joined),
        ) {
            Some(list) => TrustedProxies::parse(&list)
                .map_err(|e| ConfigError(format!("WRIT_TRUSTED_PROXIES: {e}")))?,
            None => TrustedProxies::default(),
        };
        let trusted_proxies = match pick("WRIT_TRUSTED_PROXY_HEADER", fc.trusted_proxy_header) {
            Some(h) => trusted_proxies.with_header(
                ForwardingHeader::parse(&h)
                    .map_err(|e| ConfigError(format!("WRIT_TRUSTED_PROXY_HEADER: {e}")))?,
            ),
            None => trusted_proxies,
        };
        let max_access_token_bytes = number(
            &env,
            "WRIT_MAX_ACCESS_TOKEN_BYTES",
            fc.max_access_token_bytes,
            " of bytes",
        )?
        .unwrap_or(MAX_ACCESS_TOKEN_BYTES);
        if max_access_token_bytes < 1024 {
            return Err(ConfigError(format!(
                "WRIT_MAX_ACCESS_TOKEN_BYTES {max_access_token_bytes} is below 1024: no access token would fit"
            )));
        }
        let hook_timeout_ms = number(
            &env,
            "WRIT_HOOK_TIMEOUT_MS",
            fc.hook_timeout_ms,
            " of milliseconds",
        )?
        .unwrap_or(HOOK_TIMEOUT.as_millis() as u64);
        if hook_timeout_ms == 0 || hook_timeout_ms > MAX_HOOK_TIMEOUT.as_millis() as u64 {
            return Err(ConfigError(format!(
                "WRIT_HOOK_TIMEOUT_MS {hook_timeout_ms} must be between 1 and {}",
                MAX_HOOK_TIMEOUT.as_millis()
            )));
        }
        let hook_workers = number(&env, "WRIT_HOOK_WORKERS", fc.hook_workers, "")?
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if hook_workers == 0 {
            return Err(ConfigError("WRIT_HOOK_WORKERS must be at least 1".into()));
        }
        let hook_worker = env("WRIT_HOOK_WORKER")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or(fc.hook_worker);
        let jwks_warmup_secs = number(
            &env,
            "WRIT_JWKS_WARMUP_SECS",
            fc.jwks_warmup_secs,
            " of seconds",
        )?
        .unwrap_or(JWKS_WARMUP_SECS);
        let shutdown_delay_secs = number(
            &env,
            "WRIT_SHUTDOWN_DELAY_SECS",
            fc.shutdown_delay_secs,
            " of seconds",
        )?
        .unwrap_or(0);
        let at_least_one = |var: &str, file: Option<usize>, default: usize| {
            let n = number(&env, var, file, "")?.unwrap_or(default);
            if n == 0 {
                return Err(ConfigError(format!("{var} must be at least 1")));
            }
            Ok(n)
        };
        let live_streams_per_user = at_least_one(
            "WRIT_LIVE_STREAMS_PER_USER",
            fc.live_streams_per_user,
            LIVE_STREAMS_PER_USER,
        )?;
        let live_streams_max = at_least_one(
            "WRIT_LIVE_STREAMS_MAX",
            fc.live_streams_max,
            LIVE_STREAMS_MAX,
        )?;
        let metrics_listen = match pick("WRIT_METRICS_LISTEN", fc.metrics_listen) {
            None => None,
            Some(a) => Some(a.parse().map_err(|_| {
                ConfigError(format!(
                    "WRIT_METRICS_LISTEN '{a}' is not an address like 127.0.0.1:9100"
                ))
            })?),
        };
        let metrics_client_labels = flag(
            &env,
            "WRIT_METRICS_CLIENT_LABELS",
            fc.metrics_client_labels,
            false,
        )?;
        let log_format = match pick("WRIT_LOG_FORMAT", fc.log_format) {
            Some(f) => LogFormat::parse(&f)?,
            None => LogFormat::Text,
        };
        let audit_stream = match pick("WRIT_AUDIT_STREAM", fc.audit_stream) {
            Some(t) => Some(
                crate::audit_stream::Target::parse(&t)
                    .map_err(|e| ConfigError(format!("WRIT_AUDIT_STREAM {e}")))?,
            ),
            None => None,
        };
        let path = |var: &str, file: Option<PathBuf>| {
            env(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or(file)
        };
        let tls = match (
            path("WRIT_TLS_CERT", fc.tls_cert),
            path("WRIT_TLS_KEY", fc.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError(
                    "WRIT_TLS_CERT is set but WRIT_TLS_KEY is not: set both (HTTPS) or neither \
                     (plain HTTP)"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError(
                    "WRIT_TLS_KEY is set but WRIT_TLS_CERT is not: set both (HTTPS) or neither \
                     (plain HTTP)"
                        .into(),
                ));
            }
        };
        let smtp = match (
            pick("WRIT_SMTP_URL", fc.smtp_url),
            pick("WRIT_SMTP_FROM", fc.smtp_from),
        ) {
            (None, _) => None,
            (Some(url), from) => Some(
                crate::mail::sender::SmtpSettings::parse(&url, from.as_deref().unwrap_or(""))
                    .map_err(ConfigError)?,
            ),
        };
        let email_templates = path("WRIT_EMAIL_TEMPLATES", fc.email_templates);
        if let Some(dir) = &email_templates {
            crate::mail::Templates::load(Some(dir))
                .map_err(|e| ConfigError(format!("WRIT_EMAIL_TEMPLATES: {e}")))?;
        }
        let signup_verify_email = flag(
            &env,
            "WRIT_SIGNUP_VERIFY_EMAIL",
            fc.signup_verify_email,
            false,
        )?;
        let mut require_verified_email =
            list("WRIT_REQUIRE_VERIFIED_EMAIL", fc.require_verified_email);
        require_verified_email.sort();
        require_verified_email.dedup();
        Ok(Config {
            require_verified_email,
            smtp,
            email_templates,
            signup_verify_email,
            mail_log_links: false,
            tls,
            metrics_listen,
            metrics_client_labels,
            log_format,
            audit_stream,
            hook_timeout: std::time::Duration::from_millis(hook_timeout_ms),
            hook_workers,
            hook_worker,
            hook_allow_http,
            jwks_warmup_secs,
            shutdown_delay_secs,
            live_streams_per_user,
            live_streams_max,
            authorization_extension,
            mfa_policy,
            mfa_roles,
            mfa_clients,
            mfa_amr_audiences,
            mfa_remember_browser_days,
            passkey_enrollment_offer,
            max_access_token_bytes,
            trusted_proxies,
            signup_enabled,
            password_policy,
            audit_retention_days,
            issuer,
            listen,
            database_url,
            bootstrap_client_id,
            bootstrap_client_secret,
            key_encryption_key,
            password_hash_concurrency,
        })
    }

    /// Loads from the process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, |k| std::env::var(k).ok())
    }

    /// The file path of a `sqlite://` database, if it is a file.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
    }

    /// The SMTP URL with its password replaced by `***`, if one is set.
    pub fn smtp_url_redacted(&self) -> Option<String> {
        self.smtp.as_ref().map(|s| redact_url(s.url()))
    }

    /// The database URL with any password replaced by `***`, for logs and errors.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url)
    }

    /// The Management API's identifier: `{issuer}api/v2/`.
    pub fn management_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }
}

/// Hides passwords in a database URL, in the user info (`scheme://user:***@host/…`) and in a
/// `password=` query parameter; other URLs are returned unchanged.
fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.find("://").map(|i| i + 3) {
        Some(start) => {
            let end = base[start..].find('/').map_or(base.len(), |i| start + i);
            match base[start..end].rfind('@').map(|i| start + i) {
                Some(at) => match base[start..at].find(':') {
                    Some(colon) => format!("{}:***{}", &base[..start + colon], &base[at..]),
                    None => base.to_string(),
                },
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out = format!("{out}?{}", params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Config::load(None, move |k| {
            vars.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone())
        })
    }

    #[test]
    fn defaults() {
        let c = load(&[]).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:3000/");
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.sqlite_path().unwrap(), PathBuf::from("writ-data/writ.db"));
        assert_eq!(c.management_audience(), "http://127.0.0.1:3000/api/v2/");
        assert_eq!(c.audit_retention_days, 30);
        assert_eq!(
            load(&[("WRIT_AUDIT_RETENTION_DAYS", "0")])
                .unwrap()
                .audit_retention_days,
            0
        );
    }

    #[test]
    fn hook_allow_http_is_off_unless_set() {
        assert!(!load(&[]).unwrap().hook_allow_http);
        assert!(
            load(&[("WRIT_HOOK_ALLOW_HTTP", "true")])
                .unwrap()
                .hook_allow_http
        );
        let e = load(&[("WRIT_HOOK_ALLOW_HTTP", "maybe")]).unwrap_err().0;
        assert!(e.contains("WRIT_HOOK_ALLOW_HTTP"), "{e}");
    }

    #[test]
    fn rejects_bad_values() {
        assert!(
            load(&[("WRIT_ISSUER", "http://x.example")])
                .unwrap_err()
                .0
                .contains("must end with '/'")
        );
        assert!(load(&[("WRIT_ISSUER", "not a url/")]).is_err());
        assert!(load(&[("WRIT_LISTEN", "nope")]).is_err());
        assert!(load(&[("WRIT_BOOTSTRAP_CLIENT_ID", "x")]).is_err());
        assert!(load(&[("WRIT_KEY_ENCRYPTION_KEY", "short")]).is_err());
        assert!(load(&[("WRIT_DATABASE_URL", "mysql://h/db")]).is_err());
        assert!(load(&[("WRIT_AUDIT_RETENTION_DAYS", "-1")]).is_err());
        let e = load(&[("WRIT_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.300/32")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "configuration error: WRIT_TRUSTED_PROXIES: '10.0.0.300/32' is not a CIDR range like 10.0.0.0/8 or ::1/128"
        );
    }

    #[test]
    fn trusted_proxies() {
        assert!(load(&[]).unwrap().trusted_proxies.is_empty());
        let c = load(&[("WRIT_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1/32, ::1/128")]).unwrap();
        assert!(c.trusted_proxies.contains("10.2.3.4".parse().unwrap()));
        assert!(c.trusted_proxies.contains("::1".parse().unwrap()));
        assert!(!c.trusted_proxies.contains("127.0.0.2".parse().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        for text in [
            "trusted_proxies = \"192.168.0.0/16, fd00::/8\"\n",
            "trusted_proxies = [\"192.168.0.0/16\", \"fd00::/8\"]\n",
        ] {
            std::fs::write(&p, text).unwrap();
            let c = Config::load(Some(&p), |_| None).unwrap();
            assert!(
                c.trusted_proxies.contains("192.168.4.5".parse().unwrap()),
                "{text}"
            );
            assert!(
                c.trusted_proxies.contains("fd00::7".parse().unwrap()),
                "{text}"
            );
        }
        std::fs::write(&p, "trusted_proxies = \"bogus\"\n").unwrap();
        assert!(Config::load(Some(&p), |_| None).is_err());
        // X-Forwarded-For unless told otherwise.
        assert_eq!(c.trusted_proxies.header(), ForwardingHeader::XForwardedFor);
        let c = load(&[
            ("WRIT_TRUSTED_PROXIES", "10.0.0.0/8"),
            ("WRIT_TRUSTED_PROXY_HEADER", "forwarded"),
        ])
        .unwrap();
        assert_eq!(c.trusted_proxies.header(), ForwardingHeader::Forwarded);
        assert!(load(&[("WRIT_TRUSTED_PROXY_HEADER", "x-real-ip")]).is_err());
    }

    #[test]
    fn postgres_urls_need_a_key_encryption_key() {
        let url = "postgres://writ:s3cret@db.internal:5432/writ";
        let e = load(&[("WRIT_DATABASE_URL", url)]).unwrap_err().0;
        assert!(e.contains("WRIT_KEY_ENCRYPTION_KEY is required"), "{e}");
        let kek = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for u in [url, "postgresql://db.internal/writ"] {
            let c = load(&[("WRIT_DATABASE_URL", u), ("WRIT_KEY_ENCRYPTION_KEY", kek)]).unwrap();
            assert_eq!(c.database_url, u);
            assert!(c.sqlite_path().is_none());
        }
        let c = load(&[("WRIT_DATABASE_URL", url), ("WRIT_KEY_ENCRYPTION_KEY", kek)]).unwrap();
        assert_eq!(
            c.database_url_redacted(),
            "postgres://writ:***@db.internal:5432/writ"
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            redact_url("postgres://writ@h/db?sslmode=require&password=x"),
            "postgres://writ@h/db?sslmode=require&password=***"
        );
        assert_eq!(redact_url("sqlite://a@b:c/x.db"), "sqlite://a@b:c/x.db");
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(
            &p,
            "issuer = \"https://auth.example/\"\nlisten = \"127.0.0.1:4000\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&p), |k| {
            (k == "WRIT_LISTEN").then(|| "127.0.0.1:5000".to_string())
        })
        .unwrap();
        assert_eq!(c.issuer, "https://auth.example/");
        assert_eq!(c.listen.port(), 5000);
        std::fs::write(&p, "bogus = 1\n").unwrap();
        assert!(Config::load(Some(&p), |_| None).is_err());
    }

    #[test]
    fn observability_settings() {
        let c = load(&[]).unwrap();
        assert_eq!(c.metrics_listen, None);
        assert!(!c.metrics_client_labels);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.audit_stream, None);
        let c = load(&[
            ("WRIT_METRICS_LISTEN", "127.0.0.1:9100"),
            ("WRIT_METRICS_CLIENT_LABELS", "true"),
            ("WRIT_LOG_FORMAT", "json"),
            ("WRIT_AUDIT_STREAM", "file:/tmp/audit.jsonl"),
        ])
        .unwrap();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert!(c.metrics_client_labels);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            c.audit_stream,
            Some(crate::audit_stream::Target::File("/tmp/audit.jsonl".into()))
        );
        for (k, v) in [
            ("WRIT_METRICS_LISTEN", "9100"),
            ("WRIT_METRICS_CLIENT_LABELS", "maybe"),
            ("WRIT_LOG_FORMAT", "xml"),
            ("WRIT_AUDIT_STREAM", "syslog"),
        ] {
            let e = load(&[(k, v)]).unwrap_err().0;
            assert!(e.contains(k), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(
            &p,
            "log_format = \"json\"\naudit_stream = \"stdout\"\nmetrics_listen = \"127.0.0.1:9100\"\nmetrics_client_labels = true\n",
        )
        .unwrap();
        let c = Config::load(Some(&p), |_| None).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.audit_stream, Some(crate::audit_stream::Target::Stdout));
        assert!(c.metrics_client_labels && c.metrics_listen.is_some());
        assert_eq!(LogFormat::early(Some(&p), |_| None), LogFormat::Json);
        assert_eq!(
            LogFormat::early(Some(&p), |k| (k == "WRIT_LOG_FORMAT")
                .then(|| "text".into())),
            LogFormat::Text
        );
        assert_eq!(LogFormat::early(None, |_| None), LogFormat::Text);
    }

    #[test]
    fn tls_files_are_set_together() {
        assert_eq!(load(&[]).unwrap().tls, None);
        let c = load(&[
            ("WRIT_TLS_CERT", "/etc/writ/tls/fullchain.pem"),
            ("WRIT_TLS_KEY", "/etc/writ/tls/key.pem"),
        ])
        .unwrap();
        assert_eq!(
            c.tls,
            Some(TlsFiles {
                cert: "/etc/writ/tls/fullchain.pem".into(),
                key: "/etc/writ/tls/key.pem".into(),
            })
        );
        // One without the other is refused, naming both; an empty variable is unset.
        for vars in [
            vec![("WRIT_TLS_CERT", "/c.pem")],
            vec![("WRIT_TLS_KEY", "/k.pem")],
            vec![("WRIT_TLS_CERT", "/c.pem"), ("WRIT_TLS_KEY", "")],
        ] {
            let e = load(&vars).unwrap_err().0;
            assert!(
                e.contains("WRIT_TLS_CERT") && e.contains("WRIT_TLS_KEY"),
                "{vars:?}: {e}"
            );
        }
        // From the file, with the environment winning key by key.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(&p, "tls_cert = \"/f/cert.pem\"\ntls_key = \"/f/key.pem\"\n").unwrap();
        let c = Config::load(Some(&p), |k| {
            (k == "WRIT_TLS_KEY").then(|| "/env/key.pem".to_string())
        })
        .unwrap();
        assert_eq!(
            c.tls,
            Some(TlsFiles {
                cert: "/f/cert.pem".into(),
                key: "/env/key.pem".into(),
            })
        );
        std::fs::write(&p, "tls_key = \"/f/key.pem\"\n").unwrap();
        assert!(Config::load(Some(&p), |_| None).is_err());
    }

    #[test]
    fn jwks_warmup_outlasts_the_jwks_cache_by_default() {
        assert_eq!(
            JWKS_CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}")
        );
        let c = load(&[]).unwrap();
        assert_eq!(c.jwks_warmup_secs, JWKS_WARMUP_SECS);
        assert!(c.jwks_warmup_secs > JWKS_MAX_AGE_SECS);
        assert_eq!(
            load(&[("WRIT_JWKS_WARMUP_SECS", "2")])
                .unwrap()
                .jwks_warmup_secs,
            2
        );
        assert!(load(&[("WRIT_JWKS_WARMUP_SECS", "soon")]).is_err());
    }
}
