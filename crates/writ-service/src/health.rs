//! Readiness: whether this node can serve requests now, for an orchestrator or load balancer
//! (`GET /health/ready`). Liveness needs no check here: a process that answers is alive, and a
//! database outage must not get every node restarted.
//!
//! A node is ready when its database answers within [`DATABASE_TIMEOUT`], the schema fits this
//! build (every migration it knows applied, any newer one additive: see
//! `writ_store::migrate`), its signing keys are loaded, and, where the store has a push
//! channel (PostgreSQL's `LISTEN`), that channel is connected; and never once it has been told
//! to stop (see `Config::shutdown_delay_secs`). The checks read nothing secret
//! and say what failed in a short message; the underlying error goes to the log.

use std::time::Duration;

use writ_core::SigningAlg;

use crate::Writ;

/// How long the database may take to answer a readiness check.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// One check of [`Readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `database`, `migrations`, `signing_keys`, `authz_feed`, or `shutdown` (listed, down,
    /// only once the node has been told to stop).
    pub name: &'static str,
    pub up: bool,
    /// Why it is down (no secrets).
    pub message: Option<String>,
}

impl Check {
    fn up(name: &'static str) -> Self {
        Check {
            name,
            up: true,
            message: None,
        }
    }

    fn down(name: &'static str, message: impl Into<String>) -> Self {
        Check {
            name,
            up: false,
            message: Some(message.into()),
        }
    }
}

/// The outcome of every readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub checks: Vec<Check>,
}

impl Readiness {
    /// Whether every check is up.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|c| c.up)
    }
}

impl Writ {
    /// Runs the readiness checks (one database round trip, bounded by [`DATABASE_TIMEOUT`]).
    pub async fn readiness(&self) -> Readiness {
        let mut checks = Vec::with_capacity(5);
        if *self.closing.borrow() {
            // Told to stop: out of rotation while in-flight work (and the shutdown delay) runs.
            checks.push(Check::down("shutdown", "this node is shutting down"));
        }
        match tokio::time::timeout(DATABASE_TIMEOUT, self.store.schema_status()).await {
            Ok(Ok(status)) => {
                checks.push(Check::up("database"));
                checks.push(match status.problem() {
                    None => Check::up("migrations"),
                    Some(p) => Check::down("migrations", p),
                });
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the database did not answer");
                checks.push(Check::down("database", "the database did not answer"));
                checks.push(Check::down("migrations", "unknown: no database"));
            }
            Err(_) => {
                tracing::warn!(
                    "readiness: the database did not answer within {DATABASE_TIMEOUT:?}"
                );
                checks.push(Check::down(
                    "database",
                    format!("no answer within {} s", DATABASE_TIMEOUT.as_secs()),
                ));
                checks.push(Check::down("migrations", "unknown: no database"));
            }
        }
        checks.push(self.signing_keys_check());
        if let Some(connected) = self.store.wakeups_connected() {
            checks.push(if connected {
                Check::up("authz_feed")
            } else {
                Check::down(
                    "authz_feed",
                    "the database notification connection (LISTEN) is down",
                )
            });
        }
        Readiness { checks }
    }

    /// Up when a key signs for RS256 (ID tokens) and for what every API signs with now.
    fn signing_keys_check(&self) -> Check {
        let ring = self.keys.load();
        let catalog = self.catalog.load();
        let missing: Vec<String> = std::iter::once(SigningAlg::RS256)
            .chain(
                catalog
                    .apis
                    .values()
                    .map(|a| self.effective_signing(a.signing_alg).alg),
            )
            .filter(|alg| ring.signer(*alg).is_none())
            .map(|alg| format!("{alg:?}"))
            .collect();
        if missing.is_empty() {
            Check::up("signing_keys")
        } else {
            let mut missing = missing;
            missing.sort();
            missing.dedup();
            Check::down(
                "signing_keys",
                format!("no signing key loaded for {}", missing.join(", ")),
            )
        }
    }
}
