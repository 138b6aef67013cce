//! [`Writ`], the handle every use case takes: the store, and the in-memory catalog that keeps
//! the token hot path free of database reads (APIs, clients, client grants and the key ring,
//! loaded once and swapped atomically after every change), the password hasher, the
//! brute-force limiter, the permission cache and the node's view of the authz event log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use writ_core::{Client, ClientGrant, ResourceServer, SigningAlg};
use writ_guard::{KeySet, Verifier, VerifierConfig};
use writ_store::{Store, StoreError};

use crate::config::Config;
use crate::crypto::{KeyCipher, PasswordHasherPool};
use crate::limiter::Limiter;
use crate::signing_keys::KeyRing;

/// Slowly changing records needed on every token request.
#[derive(Default)]
pub struct Catalog {
    /// By identifier (the audience).
    pub apis: HashMap<String, Arc<ResourceServer>>,
    pub clients: HashMap<String, Arc<Client>>,
    /// Browser origins some client allows (`web_origins` ∪ `allowed_origins`), for CORS.
    pub origins: std::collections::HashSet<String>,
    /// By client_id, then audience (looked up by `&str`, no allocation on the hot path).
    pub grants: HashMap<String, HashMap<String, Arc<ClientGrant>>>,
    /// A writ-guard verifier per audience Writ itself checks tokens for (every API, for
    /// introspection, and `{issuer}userinfo`), over the published keys: built once per reload,
    /// not per request.
    pub verifiers: HashMap<String, Verifier>,
}

/// Cheap-to-clone handle on everything a request needs.
#[derive(Clone)]
pub struct Writ(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub catalog: ArcSwap<Catalog>,
    pub keys: ArcSwap<KeyRing>,
    /// Verifies tokens for the Management API with writ-guard, the code APIs use.
    pub mgmt_verifier: Verifier,
    pub cipher: KeyCipher,
    pub hasher: PasswordHasherPool,
    pub limiter: Limiter,
    pub perms: crate::permissions::PermCache,
    /// Users' roles and groups by authz version, for the tokens of APIs that carry them.
    pub memberships: crate::memberships::MembershipCache,
    /// The signing keys' certificates, made once each (see `certificates`).
    pub certificates: crate::certificates::CertificateCache,
    /// The hooks' worker pool (see `hooks`).
    pub hooks: crate::hooks::Hooks,
    /// Highest authz event seq seen (see `events`); SSE subscribers wait on it.
    pub authz_head: tokio::sync::watch::Sender<i64>,
    /// Wakes the authz-head watcher at once after a write through this node (see
    /// `events::spawn_head_watcher`).
    pub watcher_wake: Arc<tokio::sync::Notify>,
    /// Set when the server starts shutting down: long-lived streams end.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// This node's metrics (see `metrics`).
    pub metrics: crate::metrics::Metrics,
    /// This node's open authz event streams (see `events::Feed`).
    pub feed: crate::events::Feed,
    /// Users' own live streams, by subject, fed by one dispatcher (see `live`).
    pub live: Arc<crate::live::LiveHub>,
    /// The audit log's copy as JSON lines, when configured (see `audit_stream`).
    pub audit_stream: crate::audit_stream::AuditStream,
    /// Outgoing mail: templates and the sender's wake-up (see `mail`).
    pub mail: crate::mail::Mail,
    /// `{issuer}userinfo`, computed once (it is read on every token issuance).
    userinfo_aud: String,
    /// `{issuer}api/v2/`, computed once (it is compared on every user token issuance).
    management_aud: String,
    reload_lock: tokio::sync::Mutex<()>,
    /// The store's catalog version when the catalog in memory was read (see
    /// `events::spawn_head_watcher`: another node's change makes it reload).
    catalog_loaded: std::sync::atomic::AtomicI64,
}

impl std::ops::Deref for Writ {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A handle that does not keep the state alive (for background tasks).
pub struct WeakWrit(std::sync::Weak<Inner>);

impl WeakWrit {
    pub fn upgrade(&self) -> Option<Writ> {
        self.0.upgrade().map(Writ)
    }
}

impl Writ {
    pub fn downgrade(&self) -> WeakWrit {
        WeakWrit(Arc::downgrade(&self.0))
    }

    /// Builds the state and loads the catalog and keys; audit entries are also streamed to
    /// `audit_sink` when given (see `audit_stream`).
    pub async fn new(
        config: Config,
        store: Arc<dyn Store>,
        cipher: KeyCipher,
        audit_sink: Option<crate::audit_stream::Sink>,
    ) -> Result<Self, StoreError> {
        let mgmt_verifier = Verifier::new(
            VerifierConfig::new(config.issuer.clone(), config.management_audience()),
            KeySet::default(),
        );
        let hasher = PasswordHasherPool::new(config.password_hash_concurrency);
        let userinfo_aud = format!("{}userinfo", config.issuer);
        let management_aud = config.management_audience();
        let metrics = crate::metrics::Metrics::new(config.metrics_client_labels);
        let audit_stream =
            crate::audit_stream::AuditStream::start(audit_sink, metrics.audit_stream_dropped());
        let mail = crate::mail::Mail::new(config.email_templates.as_deref());
        let live = Arc::new(crate::live::LiveHub::new(
            config.live_streams_per_user,
            config.live_streams_max,
        ));
        let state = Writ(Arc::new(Inner {
            mail,
            config,
            store,
            catalog: ArcSwap::from_pointee(Catalog::default()),
            keys: ArcSwap::from_pointee(KeyRing::build(&[], &cipher, &HashSet::new())?),
            mgmt_verifier,
            cipher,
            hasher,
            limiter: Limiter::default(),
            perms: Default::default(),
            memberships: Default::default(),
            certificates: Default::default(),
            hooks: Default::default(),
            userinfo_aud,
            management_aud,
            authz_head: tokio::sync::watch::Sender::new(0),
            closing: tokio::sync::watch::Sender::new(false),
            watcher_wake: Default::default(),
            metrics,
            feed: Default::default(),
            live,
            audit_stream,
            reload_lock: tokio::sync::Mutex::new(()),
            catalog_loaded: std::sync::atomic::AtomicI64::new(-1),
        }));
        state.reload().await?;
        // The live dispatcher starts at the head: a stream opened from now on is told what
        // follows (and catches up on what it missed from the store, see `live`).
        state.live.start_at(state.store.authz_head().await?);
        crate::events::spawn_head_watcher(&state);
        crate::live::spawn_dispatcher(&state);
        crate::metrics::spawn_upkeep(&state);
        crate::mail::sender::spawn(&state);
        crate::ssf::spawn(&state);
        Ok(state)
    }

    /// Reloads the catalog and key ring from the store.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _g = self.reload_lock.lock().await;
        // Read first: a change landing while the catalog loads makes the next check reload.
        let version = self.store.catalog_version().await?;
        let apis = self.store.all_resource_servers().await?;
        let clients = self.store.all_clients().await?;
        let grants = self.store.all_client_grants().await?;
        let keys = self.store.signing_keys().await?;
        let publications = self.store.key_publications().await?;
        let algs: HashSet<SigningAlg> = apis.iter().map(|a| a.signing_alg).collect();
        let ring = KeyRing::build_published(
            &keys,
            &self.cipher,
            &publications,
            &algs,
            self.config.jwks_warmup_secs,
        )?;
        let keyset =
            KeySet::from_jwks(&ring.all_public).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let verifiers = apis
            .iter()
            .map(|a| a.identifier.as_str())
            .chain([self.userinfo_aud.as_str()])
            .map(|aud| {
                let cfg = VerifierConfig::new(self.config.issuer.clone(), aud);
                (aud.to_owned(), Verifier::new(cfg, keyset.clone()))
            })
            .collect();
        self.mgmt_verifier.set_keys(keyset);
        self.keys.store(Arc::new(ring));
        // Actions and bindings are part of the catalog: read again at the next token request.
        self.hooks.forget();
        let origins = clients
            .iter()
            .flat_map(|c| {
                c.web_origins
                    .iter()
                    .chain(c.allowed_origins.iter())
                    .cloned()
            })
            .collect();
        self.catalog.store(Arc::new(Catalog {
            verifiers,
            origins,
            apis: apis
                .into_iter()
                .map(|a| (a.identifier.clone(), Arc::new(a)))
                .collect(),
            clients: clients
                .into_iter()
                .map(|c| (c.client_id.clone(), Arc::new(c)))
                .collect(),
            grants: grants.into_iter().fold(HashMap::new(), |mut m, g| {
                m.entry(g.client_id.clone())
                    .or_insert_with(HashMap::new)
                    .insert(g.audience.clone(), Arc::new(g));
                m
            }),
        }));
        self.catalog_loaded
            .store(version, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// The scrape of `/metrics`: the state gauges sampled now (the database pool, the authz
    /// feed), then every series.
    pub fn render_metrics(&self) -> String {
        let head = *self.authz_head.borrow();
        self.metrics
            .sample(self.store.pool_use(), self.feed.state(head));
        self.metrics.sample_live(self.live.open_streams());
        self.metrics.render()
    }

    /// The catalog version the in-memory catalog was loaded at.
    pub fn catalog_loaded(&self) -> i64 {
        self.catalog_loaded
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// What signs the tokens of an API whose `signing_alg` is `alg` now: RS256 while that
    /// algorithm's newly published keys warm up in verifiers' JWKS caches (see `signing_keys`).
    pub fn effective_signing(&self, alg: SigningAlg) -> crate::signing_keys::EffectiveSigning {
        self.keys
            .load()
            .effective(alg, crate::time::now_utc().timestamp_millis())
    }

    /// Verifies an access token Writ issued, for any of its APIs or for `/userinfo`: the
    /// audience is taken from the token (the first one Writ serves), then the token is verified
    /// by that audience's writ-guard verifier over the published keys (signature with the
    /// key's own algorithm, `typ`, issuer, audience, expiry). Returns the claims and the
    /// audience it was verified for. Freshness (`authz_ver`) is the caller's to check.
    pub fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<(writ_guard::AccessClaims, String), writ_guard::VerifyError> {
        use writ_guard::VerifyError;
        // Bounded before the unverified decode; the verifier checks its own limit again.
        if token.len() > 4 * self.config.max_access_token_bytes.max(8192) {
            return Err(VerifyError::TooLarge);
        }
        let unverified =
            jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token)
                .map_err(|_| VerifyError::Malformed)?;
        let auds: Vec<&str> = match &unverified["aud"] {
            serde_json::Value::String(a) => vec![a.as_str()],
            serde_json::Value::Array(v) => v.iter().filter_map(|a| a.as_str()).collect(),
            _ => vec![],
        };
        let catalog = self.catalog.load();
        let (aud, verifier) = auds
            .into_iter()
            .find_map(|a| catalog.verifiers.get(a).map(|v| (a, v)))
            .ok_or(VerifyError::Audience)?;
        Ok((verifier.verify(token)?, aud.to_owned()))
    }

    /// `{issuer}userinfo`: the audience of tokens that may call `/userinfo`.
    pub fn userinfo_audience(&self) -> &str {
        &self.userinfo_aud
    }

    /// `{issuer}api/v2/`: the Management API's identifier.
    pub fn management_audience(&self) -> &str {
        &self.management_aud
    }

    /// The pseudo-API of tokens requested without an audience: they only reach `/userinfo`.
    pub fn userinfo_api(&self) -> writ_core::ResourceServer {
        writ_core::ResourceServer {
            id: String::new(),
            identifier: self.userinfo_aud.clone(),
            name: "userinfo".into(),
            scopes: vec![],
            signing_alg: writ_core::SigningAlg::RS256,
            token_lifetime: 86_400,
            enforce_policies: false,
            token_dialect: writ_core::TokenDialect::AccessToken,
            allow_offline_access: true,
            is_system: true,
            token_claims: Default::default(),
        }
    }

    /// Longest access-token lifetime of any API (how long a retired key must stay published).
    pub fn max_token_lifetime(&self) -> i64 {
        self.catalog
            .load()
            .apis
            .values()
            .map(|a| a.token_lifetime)
            .max()
            .unwrap_or(86400)
            .max(writ_core::protocol::ID_TOKEN_LIFETIME)
    }
}

impl Writ {
    /// Runs a Management API write, `change` (every use case that writes goes through here
    /// once): records its outcome by `actor` in the audit log, the entry of a success inside
    /// the change's own transaction ([`crate::audit::api_change`]), and, when the write
    /// succeeded (and so committed), wakes this node's authz event streams at once rather than
    /// at the next poll.
    pub async fn recorded<T>(
        &self,
        actor: &crate::Actor,
        op: crate::audit::Operation,
        change: impl Future<Output = crate::Result<T>>,
    ) -> crate::Result<T> {
        let result = crate::audit::api_change(self, actor, &op, change).await;
        if result.is_ok() {
            self.watcher_wake.notify_one();
        }
        result
    }

    /// A change to what the in-memory catalog holds (APIs, clients, client grants, keys):
    /// `write`, then the catalog reloaded; recorded as `op` by [`Writ::recorded`].
    pub(crate) async fn catalog_write<T>(
        &self,
        actor: &crate::Actor,
        op: crate::audit::Operation,
        write: impl Future<Output = crate::Result<T>>,
    ) -> crate::Result<T> {
        let change = async {
            let v = write.await?;
            self.reload().await?;
            Ok(v)
        };
        self.recorded(actor, op, change).await
    }
}
