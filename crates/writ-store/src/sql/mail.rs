//! The outbox of outgoing mail and one-time links (tickets).
//!
//! Claiming: one `UPDATE … WHERE id IN (due, unleased) AND <still unleased>` sets the lease.
//! On PostgreSQL a racing claimer that read the same rows waits on their row locks and then
//! re-checks the outer condition against the committed lease, so it skips them; on SQLite the
//! single writer serializes claims. Either way a message has one holder at a time.
//!
//! Tickets: one `UPDATE … SET used_at WHERE unused AND unexpired RETURNING` marks the ticket
//! used inside the transaction that makes its change (verify the email, set the password), so
//! exactly one of concurrent consumers succeeds, and only together with its change.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{Store, bump};
use crate::common::{Affected, missing, new_id};
use crate::*;

#[derive(FromRow)]
struct MailRow {
    id: String,
    recipient: String,
    kind: String,
    subject: String,
    text_body: String,
    html_body: String,
    created_at: i64,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_error: Option<String>,
    sent_at: Option<i64>,
}

impl From<MailRow> for OutboxMail {
    fn from(r: MailRow) -> Self {
        OutboxMail {
            id: r.id,
            recipient: r.recipient,
            kind: r.kind,
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
            created_at: r.created_at,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            sent_at: r.sent_at,
        }
    }
}

const MAIL_COLUMNS: &str = "id, recipient, kind, subject, text_body, html_body, created_at, \
     attempts, next_attempt_at, last_error, sent_at";

#[derive(FromRow)]
struct TicketRow {
    id: String,
    user_id: String,
    kind: String,
    client_id: Option<String>,
    result_url: Option<String>,
    mark_email_verified: bool,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<TicketRow> for Ticket {
    type Error = StoreError;
    fn try_from(r: TicketRow) -> Result<Self> {
        let kind = match r.kind.as_str() {
            "verify" => TicketKind::Verify,
            "reset" => TicketKind::Reset,
            other => return Err(StoreError::Corrupt(format!("ticket kind {other}"))),
        };
        Ok(Ticket {
            id: r.id,
            user_id: r.user_id,
            kind,
            client_id: r.client_id,
            result_url: r.result_url,
            mark_email_verified: r.mark_email_verified,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
        })
    }
}

const TICKET_COLUMNS: &str = "id, user_id, kind, client_id, result_url, mark_email_verified, \
     created_at, expires_at, used_at";

/// Marks the ticket `id` of `kind` used at `now` if it is unused and unexpired, inside `tx`;
/// the ticket as it was, or `None`.
async fn consume(
    conn: &mut super::Conn,
    id: &str,
    kind: TicketKind,
    now: i64,
) -> Result<Option<Ticket>> {
    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE user_tickets SET used_at = $3 \
         WHERE id = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3 \
         RETURNING {TICKET_COLUMNS}"
    )))
    .bind(id)
    .bind(kind.as_str())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        let mut t = Ticket::try_from(r)?;
        t.used_at = None;
        Ok(t)
    })
    .transpose()
}

#[async_trait]
impl MailStore for Store {
    async fn queue_mail(&self, m: &NewMail, now: i64) -> Result<String> {
        let id = new_id("mail_");
        self.write_one(
            sqlx::query(
                "INSERT INTO mail_outbox (id, recipient, kind, subject, text_body, html_body, \
             created_at, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $7)",
            )
            .bind(&id)
            .bind(&m.recipient)
            .bind(&m.kind)
            .bind(&m.subject)
            .bind(&m.text_body)
            .bind(&m.html_body)
            .bind(now),
        )
        .await?;
        Ok(id)
    }

    async fn claim_mail(
        &self,
        worker: &str,
        now: i64,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMail>> {
        let claim = sqlx::AssertSqlSafe(format!(
            "UPDATE mail_outbox SET claimed_by = $1, claimed_until = $2 + $3, \
             attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM mail_outbox WHERE next_attempt_at <= $2 \
                 AND (claimed_until IS NULL OR claimed_until <= $2) \
                 ORDER BY next_attempt_at, id LIMIT $4) \
             AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until <= $2) \
             RETURNING {MAIL_COLUMNS}"
        ));
        let rows: Vec<MailRow> = self.claim(claim, worker, now, lease, limit).await?;
        let mut out: Vec<OutboxMail> = rows.into_iter().map(OutboxMail::from).collect();
        out.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(out)
    }

    async fn mail_sent(&self, id: &str, worker: &str, now: i64) -> Result<bool> {
        let n = self.write_one(sqlx::query(
            "UPDATE mail_outbox SET sent_at = $3, next_attempt_at = NULL, last_error = NULL, \
             text_body = '', html_body = '', claimed_by = NULL, claimed_until = NULL \
             WHERE id = $1 AND claimed_by = $2",
        )
        .bind(id)
        .bind(worker)
        .bind(now))
        .await?;
        Ok(n == 1)
    }

    async fn mail_failed(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool> {
        self.release_failed(
            "UPDATE mail_outbox SET last_error = $3, next_attempt_at = $4, \
             claimed_by = NULL, claimed_until = NULL, \
             text_body = CASE WHEN $4 IS NULL THEN '' ELSE text_body END, \
             html_body = CASE WHEN $4 IS NULL THEN '' ELSE html_body END \
             WHERE id = $1 AND claimed_by = $2",
            id,
            worker,
            error,
            retry_at,
        )
        .await
    }

    async fn list_outbox(&self, page: Page) -> Result<Paged<OutboxMail>> {
        self.paged(
            sqlx::AssertSqlSafe(format!(
                "SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY created_at DESC, id DESC \
                 LIMIT $1 OFFSET $2"
            )),
            "SELECT COUNT(*) FROM mail_outbox",
            &[],
            page,
            |r: MailRow| Ok(OutboxMail::from(r)),
        )
        .await
    }

    async fn next_mail_due(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM mail_outbox")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn prune_mail(&self, before: i64) -> Result<u64> {
        let mut n = 0;
        for sql in [
            "DELETE FROM mail_outbox WHERE next_attempt_at IS NULL AND created_at < $1",
            "DELETE FROM user_tickets WHERE expires_at < $1",
        ] {
            n += self.write_one(sqlx::query(sql).bind(before)).await?;
        }
        Ok(n)
    }

    async fn create_ticket(&self, t: &Ticket) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO user_tickets (id, user_id, kind, client_id, result_url, \
             mark_email_verified, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&t.id)
            .bind(&t.user_id)
            .bind(t.kind.as_str())
            .bind(&t.client_id)
            .bind(&t.result_url)
            .bind(t.mark_email_verified)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.used_at),
        )
        .await
        .map_err(missing("user"))?;
        Ok(())
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>> {
        let select = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM user_tickets WHERE id = $1"
        ));
        let row: Option<TicketRow> = self.by_key(select, id).await?;
        row.map(Ticket::try_from).transpose()
    }

    async fn verify_email_with_ticket(&self, id: &str, now: i64) -> Result<TicketOutcome> {
        let mut tx = self.authz_write().await?;
        let Some(t) = consume(&mut tx, id, TicketKind::Verify, now).await? else {
            return Ok(TicketOutcome::Invalid);
        };
        sqlx::query("UPDATE users SET email_verified = TRUE, updated_at = $2 WHERE id = $1")
            .bind(&t.user_id)
            .bind(crate::common::now_rfc3339())
            .execute(&mut *tx)
            .await?;
        bump(&mut tx, Affected::User(&t.user_id), "email_verified").await?;
        tx.commit().await?;
        Ok(TicketOutcome::Used(t))
    }

    async fn reset_password_with_ticket(
        &self,
        id: &str,
        now: i64,
        password_hash: &str,
    ) -> Result<TicketOutcome> {
        let mut tx = self.authz_write().await?;
        let Some(t) = consume(&mut tx, id, TicketKind::Reset, now).await? else {
            return Ok(TicketOutcome::Invalid);
        };
        sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3, \
             email_verified = (email_verified OR $4) WHERE id = $1",
        )
        .bind(&t.user_id)
        .bind(password_hash)
        .bind(crate::common::now_rfc3339())
        .bind(t.mark_email_verified)
        .execute(&mut *tx)
        .await?;
        bump(&mut tx, Affected::User(&t.user_id), "password_changed").await?;
        super::end_user_sessions(&mut tx, &t.user_id).await?;
        tx.commit().await?;
        Ok(TicketOutcome::Used(t))
    }
}
