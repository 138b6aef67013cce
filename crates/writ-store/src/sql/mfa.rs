//! Multi-factor authentication's records (see [`crate::MfaStore`]): authenticators, recovery
//! codes, logins waiting for a second factor and the attempt buckets. Each single-use rule is
//! one conditional `UPDATE … WHERE <still usable>`: concurrent callers queue on the row
//! (PostgreSQL) or the writer lock (SQLite) and only the first still matches.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{Conn, FOR_UPDATE, Store};
use crate::common::missing;
use crate::*;

#[derive(FromRow)]
struct AuthenticatorRow {
    id: String,
    user_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    name: Option<String>,
    secret: Vec<u8>,
    confirmed: bool,
    created_at: i64,
    last_used_at: Option<i64>,
    last_step: Option<i64>,
}

impl From<AuthenticatorRow> for Authenticator {
    fn from(r: AuthenticatorRow) -> Self {
        Authenticator {
            id: r.id,
            user_id: r.user_id,
            kind: r.kind,
            name: r.name,
            secret: r.secret,
            confirmed: r.confirmed,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            last_step: r.last_step,
        }
    }
}

#[derive(FromRow)]
struct MfaLoginRow {
    id: String,
    kind: String,
    user_id: String,
    client_id: String,
    audience: Option<String>,
    scope: Option<String>,
    tx: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl From<MfaLoginRow> for MfaLogin {
    fn from(r: MfaLoginRow) -> Self {
        MfaLogin {
            id: r.id,
            kind: r.kind,
            user_id: r.user_id,
            client_id: r.client_id,
            audience: r.audience,
            scope: r.scope,
            tx: r.tx,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
        }
    }
}

/// Inserts the authenticator row of `a` (a TOTP factor, or the row a passkey hangs from);
/// `NotFound("user")` when its user does not exist.
pub(super) async fn insert_authenticator(conn: &mut Conn, a: &Authenticator) -> Result<()> {
    sqlx::query(
        "INSERT INTO authenticators (id, user_id, type, name, secret, confirmed, created_at, last_used_at, last_step) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&a.id)
    .bind(&a.user_id)
    .bind(&a.kind)
    .bind(&a.name)
    .bind(&a.secret)
    .bind(a.confirmed)
    .bind(a.created_at)
    .bind(a.last_used_at)
    .bind(a.last_step)
    .execute(&mut *conn)
    .await
    .map_err(missing("user"))?;
    Ok(())
}

#[async_trait]
impl MfaStore for Store {
    async fn create_authenticator(&self, a: &Authenticator) -> Result<()> {
        let mut tx = self.write().await?;
        insert_authenticator(&mut tx, a).await?;
        tx.commit().await
    }

    async fn authenticators(&self, user_id: &str) -> Result<Vec<Authenticator>> {
        let rows: Vec<AuthenticatorRow> = sqlx::query_as(
            "SELECT * FROM authenticators WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Authenticator::from).collect())
    }

    async fn accept_totp_step(
        &self,
        id: &str,
        step: i64,
        now: i64,
        signals: &[SsfSignal],
    ) -> Result<bool> {
        let accept = sqlx::query(
            "UPDATE authenticators SET last_step = $2, last_used_at = $3, confirmed = TRUE \
             WHERE id = $1 AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(id)
        .bind(step)
        .bind(now);
        super::ssf::signalled(self, accept, signals).await
    }

    async fn delete_authenticator(
        &self,
        user_id: &str,
        id: &str,
        signals: &[SsfSignal],
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let n = sqlx::query("DELETE FROM authenticators WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("authentication method"));
        }
        let left =
            sqlx::query("SELECT 1 FROM authenticators WHERE user_id = $1 AND confirmed LIMIT 1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if left.is_none() {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        super::ssf::insert_signals(&mut tx, signals).await?;
        tx.commit().await
    }

    async fn delete_authenticators(&self, user_id: &str, signals: &[SsfSignal]) -> Result<u64> {
        let mut tx = self.write().await?;
        let n = sqlx::query("DELETE FROM authenticators WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if n > 0 {
            super::ssf::insert_signals(&mut tx, signals).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn set_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO recovery_codes (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &str,
        next: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE id = $1 AND user_id = $2 AND used_at IS NULL",
        )
        .bind(hash)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO recovery_codes (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(next)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_mfa_login(&self, l: &MfaLogin) -> Result<()> {
        self.write_one(sqlx::query(
            "INSERT INTO mfa_logins (id, kind, user_id, client_id, audience, scope, tx, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&l.id)
        .bind(&l.kind)
        .bind(&l.user_id)
        .bind(&l.client_id)
        .bind(&l.audience)
        .bind(&l.scope)
        .bind(&l.tx)
        .bind(l.created_at)
        .bind(l.expires_at)
        .bind(l.used_at))
        .await?;
        Ok(())
    }

    async fn get_mfa_login(&self, id: &str, now: i64) -> Result<Option<MfaLogin>> {
        let r: Option<MfaLoginRow> = sqlx::query_as(
            "SELECT * FROM mfa_logins WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.map(MfaLogin::from))
    }

    async fn finish_mfa_login(&self, id: &str, now: i64) -> Result<Option<MfaLogin>> {
        let mut tx = self.write().await?;
        let r: Option<MfaLoginRow> = sqlx::query_as(
            "UPDATE mfa_logins SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING *",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.map(MfaLogin::from))
    }

    async fn take_mfa_attempt(
        &self,
        user_id: &str,
        now: i64,
        capacity: i64,
        refill_secs: i64,
    ) -> Result<Result<(), i64>> {
        let refill_secs = refill_secs.max(1);
        let mut tx = self.write().await?;
        let row: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT tokens, refill_at FROM mfa_attempts WHERE user_id = $1{FOR_UPDATE}"
        )))
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        // `refill_at`: when the bucket last gained (or, full, was last drawn from).
        let (mut tokens, mut refill_at) = row.unwrap_or((capacity, now));
        if now > refill_at {
            let gained = (now - refill_at) / refill_secs;
            tokens = (tokens + gained).min(capacity);
            refill_at = if tokens >= capacity {
                now
            } else {
                refill_at + gained * refill_secs
            };
        }
        if tokens <= 0 {
            return Ok(Err((refill_at + refill_secs - now).max(1)));
        }
        sqlx::query(
            "INSERT INTO mfa_attempts (user_id, tokens, refill_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET tokens = $2, refill_at = $3",
        )
        .bind(user_id)
        .bind(tokens - 1)
        .bind(refill_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }
}
