//! The webhook outbox (see `core::notify`) and the seller's signing keys.

use chrono::{DateTime, Utc};

use super::{Db, backend};
use crate::core::StoreError;
use crate::core::media_buy::Verbatim;
use crate::core::notify::{Notification, OutboxRecord};

/// Inside transaction `$tx`: enqueues notifications in one statement.
macro_rules! enqueue {
    ($tx:ident, $events:expr) => {{
        let events: &[crate::core::notify::Notification] = $events;
        if !events.is_empty() {
            let mut insert = sqlx::QueryBuilder::new(
                "insert into webhook_outbox (event_id, tenant_id, url, config, body, created_at, next_attempt_at) ",
            );
            insert.push_values(events.iter(), |mut row, event| {
                row.push_bind(&event.event_id)
                    .push_bind(&event.tenant_id)
                    .push_bind(&event.url)
                    .push_bind(&event.config.0)
                    .push_bind(&event.body)
                    .push_bind(event.created_at)
                    .push_bind(event.created_at);
            });
            insert.build().execute(&mut *$tx).await.map_err(backend)?;
        }
    }};
}
pub(super) use enqueue;

#[derive(sqlx::FromRow)]
struct OutboxRow {
    event_id: String,
    tenant_id: String,
    url: String,
    config: String,
    body: String,
    created_at: DateTime<Utc>,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    leased_until: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    failed: bool,
    last_error: Option<String>,
}

impl From<OutboxRow> for OutboxRecord {
    fn from(row: OutboxRow) -> OutboxRecord {
        OutboxRecord {
            notification: Notification {
                event_id: row.event_id,
                tenant_id: row.tenant_id,
                url: row.url,
                config: Verbatim(row.config),
                body: row.body,
                created_at: row.created_at,
            },
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            leased_until: row.leased_until,
            delivered_at: row.delivered_at,
            failed: row.failed,
            last_error: row.last_error,
        }
    }
}

macro_rules! columns {
    () => {
        "event_id, tenant_id, url, config, body, created_at, attempts, next_attempt_at, leased_until, delivered_at, \
         failed, last_error"
    };
}

pub(super) async fn claim(
    db: &Db,
    tenant_id: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OutboxRecord>, StoreError> {
    // The outer condition is checked again on rows a concurrent claim may just have taken
    // (Postgres re-reads updated rows under read committed; SQLite has one writer).
    const SQL: &str = concat!(
        "update webhook_outbox set leased_until = $1
         where event_id in (
             select event_id from webhook_outbox where tenant_id = $2 and delivered_at is null and not failed
             and next_attempt_at <= $3 and (leased_until is null or leased_until <= $3)
             order by next_attempt_at, event_id limit $4)
         and (leased_until is null or leased_until <= $3)
         returning ",
        columns!()
    );
    let mut rows: Vec<OutboxRow> = on_writer!(db, |pool| {
        sqlx::query_as(SQL)
            .bind(until)
            .bind(tenant_id)
            .bind(now)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(backend)?
    });
    rows.sort_by(|a, b| a.next_attempt_at.cmp(&b.next_attempt_at).then_with(|| a.event_id.cmp(&b.event_id)));
    Ok(rows.into_iter().map(OutboxRecord::from).collect())
}

pub(super) async fn save(db: &Db, record: &OutboxRecord) -> Result<(), StoreError> {
    on_writer!(db, |pool| {
        sqlx::query(
            "update webhook_outbox set attempts = $1, next_attempt_at = $2, leased_until = $3, delivered_at = $4,
                failed = $5, last_error = $6
             where tenant_id = $7 and event_id = $8",
        )
        .bind(record.attempts)
        .bind(record.next_attempt_at)
        .bind(record.leased_until)
        .bind(record.delivered_at)
        .bind(record.failed)
        .bind(&record.last_error)
        .bind(&record.notification.tenant_id)
        .bind(&record.notification.event_id)
        .execute(pool)
        .await
        .map_err(backend)?;
    });
    Ok(())
}

pub(super) async fn list(db: &Db, tenant_id: &str, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
    const SQL: &str = concat!(
        "select ",
        columns!(),
        " from webhook_outbox where tenant_id = $1 order by created_at, event_id limit $2"
    );
    let rows: Vec<OutboxRow> = on_pool!(db, |pool| {
        sqlx::query_as(SQL)
            .bind(tenant_id)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(backend)?
    });
    Ok(rows.into_iter().map(OutboxRecord::from).collect())
}

/// The seller's signing key (kid, private key): the oldest stored, or `fresh` stored as the
/// first one. Servers starting together on a new database may both store one; all of them then
/// use the oldest.
pub(super) async fn signing_key(
    db: &Db,
    fresh_kid: &str,
    fresh_private: &str,
    now: DateTime<Utc>,
) -> Result<(String, String), StoreError> {
    const OLDEST: &str = "select kid, private_key from signing_keys order by created_at, kid limit 1";
    let existing: Option<(String, String)> =
        on_pool!(db, |pool| sqlx::query_as(OLDEST).fetch_optional(pool).await.map_err(backend)?);
    if let Some(key) = existing {
        return Ok(key);
    }
    on_writer!(db, |pool| {
        sqlx::query(
            "insert into signing_keys (kid, private_key, created_at) values ($1, $2, $3) on conflict do nothing",
        )
        .bind(fresh_kid)
        .bind(fresh_private)
        .bind(now)
        .execute(pool)
        .await
        .map_err(backend)?;
    });
    let key: (String, String) = on_writer!(db, |pool| sqlx::query_as(OLDEST).fetch_one(pool).await.map_err(backend)?);
    Ok(key)
}
