//! Passkeys' records (see [`crate::PasskeyStore`]): each credential beside its row of
//! `authenticators` (created together, deleted with it by the foreign key), and the WebAuthn
//! ceremonies under way. A ceremony is taken by one `DELETE … RETURNING`, and a new signature
//! counter is stored by one `UPDATE … WHERE sign_count = <the one read>`: of concurrent callers
//! only the first matches, on both databases.

use async_trait::async_trait;
use sqlx::FromRow;

use super::Store;
use crate::common::unique;
use crate::*;

#[derive(FromRow)]
struct CredentialRow {
    authenticator_id: String,
    user_id: String,
    credential_id: String,
    user_handle: String,
    static_state: Vec<u8>,
    dynamic_state: Vec<u8>,
    sign_count: i64,
    backup_eligible: bool,
    backed_up: bool,
    transports: i64,
}

impl From<CredentialRow> for PasskeyCredential {
    fn from(r: CredentialRow) -> Self {
        PasskeyCredential {
            authenticator_id: r.authenticator_id,
            user_id: r.user_id,
            credential_id: r.credential_id,
            user_handle: r.user_handle,
            static_state: r.static_state,
            dynamic_state: r.dynamic_state,
            sign_count: r.sign_count,
            backup_eligible: r.backup_eligible,
            backed_up: r.backed_up,
            transports: r.transports,
        }
    }
}

#[derive(FromRow)]
struct ChallengeRow {
    id: String,
    kind: String,
    binding: String,
    user_id: Option<String>,
    state: Vec<u8>,
    created_at: i64,
    expires_at: i64,
}

impl From<ChallengeRow> for PasskeyChallenge {
    fn from(r: ChallengeRow) -> Self {
        PasskeyChallenge {
            id: r.id,
            kind: r.kind,
            binding: r.binding,
            user_id: r.user_id,
            state: r.state,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

const CREDENTIAL_COLUMNS: &str = "authenticator_id, user_id, credential_id, user_handle, static_state, dynamic_state, \
     sign_count, backup_eligible, backed_up, transports";

#[async_trait]
impl PasskeyStore for Store {
    async fn create_passkey(
        &self,
        a: &Authenticator,
        c: &PasskeyCredential,
        signals: &[SsfSignal],
    ) -> Result<()> {
        let mut tx = self.write().await?;
        super::mfa::insert_authenticator(&mut tx, a).await?;
        sqlx::query(
            "INSERT INTO passkeys (authenticator_id, user_id, credential_id, user_handle, static_state, dynamic_state, \
             sign_count, backup_eligible, backed_up, transports) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&c.authenticator_id)
        .bind(&c.user_id)
        .bind(&c.credential_id)
        .bind(&c.user_handle)
        .bind(&c.static_state)
        .bind(&c.dynamic_state)
        .bind(c.sign_count)
        .bind(c.backup_eligible)
        .bind(c.backed_up)
        .bind(c.transports)
        .execute(&mut *tx)
        .await
        .map_err(unique("This passkey is already registered."))?;
        super::ssf::insert_signals(&mut tx, signals).await?;
        tx.commit().await
    }

    async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyCredential>> {
        let select = sqlx::AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM passkeys WHERE credential_id = $1"
        ));
        let r: Option<CredentialRow> = self.by_key(select, credential_id).await?;
        Ok(r.map(PasskeyCredential::from))
    }

    async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyCredential>> {
        let rows: Vec<CredentialRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY authenticator_id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(PasskeyCredential::from).collect())
    }

    async fn update_passkey_state(
        &self,
        authenticator_id: &str,
        previous_count: i64,
        c: &PasskeyCredential,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE passkeys SET dynamic_state = $3, sign_count = $4, backed_up = $5 \
             WHERE authenticator_id = $1 AND sign_count = $2",
        )
        .bind(authenticator_id)
        .bind(previous_count)
        .bind(&c.dynamic_state)
        .bind(c.sign_count)
        .bind(c.backed_up)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE authenticators SET last_used_at = $2 WHERE id = $1")
            .bind(authenticator_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_passkey_challenge(&self, c: &PasskeyChallenge) -> Result<()> {
        self.write_one(sqlx::query(
            "INSERT INTO passkey_challenges (id, kind, binding, user_id, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.id)
        .bind(&c.kind)
        .bind(&c.binding)
        .bind(&c.user_id)
        .bind(&c.state)
        .bind(c.created_at)
        .bind(c.expires_at))
        .await?;
        Ok(())
    }

    async fn take_passkey_challenge(
        &self,
        id: &str,
        kind: &str,
        binding: &str,
        now: i64,
    ) -> Result<Option<PasskeyChallenge>> {
        let mut tx = self.write().await?;
        let r: Option<ChallengeRow> = sqlx::query_as(
            "DELETE FROM passkey_challenges WHERE id = $1 AND kind = $2 AND binding = $3 \
             RETURNING id, kind, binding, user_id, state, created_at, expires_at",
        )
        .bind(id)
        .bind(kind)
        .bind(binding)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.map(PasskeyChallenge::from).filter(|c| c.expires_at > now))
    }
}
