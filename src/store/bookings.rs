//! The booking outbox beside media buys (see `core::booking`).

use chrono::{DateTime, Utc};

use super::{Db, backend, corrupt};
use crate::core::StoreError;
use crate::core::booking::{Booking, BookingRecord};
use crate::core::delivery::{Metrics, Reported, ReportedDay};
use crate::core::reconcile::PlatformStatus;

/// Inside transaction `$tx`: asks for the booking of `$buy`'s revision (the outbox write that
/// commits with every buy write). A change also clears an earlier refusal and retry count, and
/// has reconciliation read the platform back as soon as the change is booked.
macro_rules! want_booking {
    ($tx:ident, $buy:expr) => {{
        let buy: &crate::core::media_buy::MediaBuy = $buy;
        sqlx::query(
            "insert into bookings (media_buy_id, tenant_id, wanted_revision, next_attempt_at) values ($1, $2, $3, $4)
             on conflict (media_buy_id) do update set wanted_revision = excluded.wanted_revision,
                next_attempt_at = excluded.next_attempt_at, attempts = 0, failed = false, platform_due_at = null",
        )
        .bind(&buy.media_buy_id)
        .bind(&buy.tenant_id)
        .bind(buy.revision)
        .bind(buy.updated_at)
        .execute(&mut *$tx)
        .await
        .map_err(backend)?;
    }};
}
pub(super) use want_booking;

/// Inside transaction `$tx`: marks the bookings of `$buys` behind their buy's revision (and
/// clears a refusal), so the sync plans them again.
macro_rules! rebook {
    ($tx:ident, $buys:expr) => {{
        let buys: &[String] = $buys;
        for media_buy_id in buys {
            sqlx::query(
                "update bookings set synced_revision = case when synced_revision >= wanted_revision
                    then wanted_revision - 1 else synced_revision end, attempts = 0, failed = false
                 where media_buy_id = $1",
            )
            .bind(media_buy_id)
            .execute(&mut *$tx)
            .await
            .map_err(backend)?;
        }
    }};
}
pub(super) use rebook;

#[derive(sqlx::FromRow)]
struct BookingRow {
    media_buy_id: String,
    tenant_id: String,
    wanted_revision: i64,
    synced_revision: i64,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    failed: bool,
    leased_until: Option<DateTime<Utc>>,
    document: String,
    platform_status: Option<String>,
    delivery_as_of: Option<DateTime<Utc>>,
}

impl TryFrom<BookingRow> for BookingRecord {
    type Error = StoreError;

    fn try_from(row: BookingRow) -> Result<BookingRecord, StoreError> {
        let booking: Booking = serde_json::from_str(&row.document).map_err(corrupt)?;
        let platform = row.platform_status.as_deref().map(serde_json::from_str).transpose().map_err(corrupt)?;
        Ok(BookingRecord {
            tenant_id: row.tenant_id,
            media_buy_id: row.media_buy_id,
            wanted_revision: row.wanted_revision,
            synced_revision: row.synced_revision,
            booking,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            failed: row.failed,
            leased_until: row.leased_until,
            platform,
            delivery_as_of: row.delivery_as_of,
        })
    }
}

macro_rules! columns {
    () => {
        "media_buy_id, tenant_id, wanted_revision, synced_revision, attempts, next_attempt_at, last_error, failed, \
         leased_until, document, platform_status, delivery_as_of"
    };
}

pub(super) async fn claim(
    db: &Db,
    tenant_id: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<BookingRecord>, StoreError> {
    // The outer condition is checked again on the row a concurrent claim may just have taken
    // (Postgres re-reads updated rows under read committed; SQLite has one writer).
    const SQL: &str = concat!(
        "update bookings set leased_until = $1
         where media_buy_id in (
             select media_buy_id from bookings where tenant_id = $2 and synced_revision < wanted_revision
             and not failed and next_attempt_at <= $3 and (leased_until is null or leased_until <= $3)
             order by next_attempt_at, media_buy_id limit $4)
         and (leased_until is null or leased_until <= $3)
         returning ",
        columns!()
    );
    let mut rows: Vec<BookingRow> = on_writer!(db, |pool| {
        sqlx::query_as(SQL)
            .bind(until)
            .bind(tenant_id)
            .bind(now)
            .bind(limit as i64)
            .fetch_all(pool)
            .await
            .map_err(backend)?
    });
    rows.sort_by(|a, b| a.next_attempt_at.cmp(&b.next_attempt_at).then_with(|| a.media_buy_id.cmp(&b.media_buy_id)));
    rows.into_iter().map(BookingRecord::try_from).collect()
}

pub(super) async fn save(db: &Db, record: &BookingRecord) -> Result<(), StoreError> {
    let document = serde_json::to_string(&record.booking).map_err(corrupt)?;
    on_writer!(db, |pool| {
        sqlx::query(
            "update bookings set synced_revision = $1, attempts = $2, next_attempt_at = $3, last_error = $4,
                failed = $5, document = $6, leased_until = $7
             where tenant_id = $8 and media_buy_id = $9",
        )
        .bind(record.synced_revision)
        .bind(record.attempts)
        .bind(record.next_attempt_at)
        .bind(&record.last_error)
        .bind(record.failed)
        .bind(&document)
        .bind(record.leased_until)
        .bind(&record.tenant_id)
        .bind(&record.media_buy_id)
        .execute(pool)
        .await
        .map_err(backend)?;
    });
    Ok(())
}

pub(super) async fn get(db: &Db, tenant_id: &str, media_buy_id: &str) -> Result<Option<BookingRecord>, StoreError> {
    const SQL: &str = concat!("select ", columns!(), " from bookings where tenant_id = $1 and media_buy_id = $2");
    let row: Option<BookingRow> = on_pool!(db, |pool| {
        sqlx::query_as(SQL).bind(tenant_id).bind(media_buy_id).fetch_optional(pool).await.map_err(backend)?
    });
    row.map(BookingRecord::try_from).transpose()
}

pub(super) async fn many(db: &Db, tenant_id: &str, media_buy_ids: &[String]) -> Result<Vec<BookingRecord>, StoreError> {
    if media_buy_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<BookingRow> = on_pool!(db, |pool| {
        let mut query = sqlx::QueryBuilder::new(concat!("select ", columns!(), " from bookings where tenant_id = "));
        query.push_bind(tenant_id).push(" and media_buy_id");
        super::push_in(&mut query, media_buy_ids);
        query.build_query_as().fetch_all(pool).await.map_err(backend)?
    });
    rows.into_iter().map(BookingRecord::try_from).collect()
}

pub(super) async fn to_reconcile(
    db: &Db,
    tenant_id: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<BookingRecord>, StoreError> {
    const SQL: &str = concat!(
        "select ",
        columns!(),
        " from bookings where tenant_id = $1 and synced_revision >= wanted_revision
          and (leased_until is null or leased_until <= $2)
          and (platform_due_at is null or platform_due_at <= $2)
          order by platform_due_at nulls first, media_buy_id limit $3"
    );
    let rows: Vec<BookingRow> = on_pool!(db, |pool| {
        sqlx::query_as(SQL).bind(tenant_id).bind(now).bind(limit as i64).fetch_all(pool).await.map_err(backend)?
    });
    rows.into_iter().map(BookingRecord::try_from).collect()
}

pub(super) async fn record_platform_status(
    db: &Db,
    media_buy_id: &str,
    status: Option<&PlatformStatus>,
    next_check: DateTime<Utc>,
) -> Result<(), StoreError> {
    let document = status.map(serde_json::to_string).transpose().map_err(corrupt)?;
    on_writer!(db, |pool| {
        sqlx::query(
            "update bookings set platform_status = coalesce($1, platform_status), platform_due_at = $2
             where media_buy_id = $3",
        )
        .bind(&document)
        .bind(next_check)
        .bind(media_buy_id)
        .execute(pool)
        .await
        .map_err(backend)?;
    });
    Ok(())
}

pub(super) async fn record_delivery(
    db: &Db,
    tenant_id: &str,
    media_buy_id: &str,
    reported: &Reported,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_writer!(db, |pool| {
        let mut tx = pool.begin().await.map_err(backend)?;
        sqlx::query("delete from platform_delivery where tenant_id = $1 and media_buy_id = $2 and day_start >= $3")
            .bind(tenant_id)
            .bind(media_buy_id)
            .bind(reported.since)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for day in &reported.days {
            sqlx::query(
                "insert into platform_delivery (tenant_id, media_buy_id, package_id, day_start, impressions, spend,
                    clicks, completed_views)
                 values ($1, $2, $3, $4, $5, $6, $7, $8)
                 on conflict (media_buy_id, package_id, day_start) do update set impressions = excluded.impressions,
                    spend = excluded.spend, clicks = excluded.clicks, completed_views = excluded.completed_views",
            )
            .bind(tenant_id)
            .bind(media_buy_id)
            .bind(&day.package_id)
            .bind(day.from)
            .bind(day.metrics.impressions)
            .bind(day.metrics.spend)
            .bind(day.metrics.clicks)
            .bind(day.metrics.completed_views)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        sqlx::query("update bookings set delivery_as_of = $1 where tenant_id = $2 and media_buy_id = $3")
            .bind(as_of)
            .bind(tenant_id)
            .bind(media_buy_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
    });
    Ok(())
}

type DayRow = (String, String, DateTime<Utc>, f64, f64, f64, f64);

pub(super) async fn delivery(
    db: &Db,
    tenant_id: &str,
    media_buy_ids: &[String],
) -> Result<Vec<(String, ReportedDay)>, StoreError> {
    if media_buy_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<DayRow> = on_pool!(db, |pool| {
        let mut query = sqlx::QueryBuilder::new(
            "select media_buy_id, package_id, day_start, impressions, spend, clicks, completed_views
             from platform_delivery where tenant_id = ",
        );
        query.push_bind(tenant_id).push(" and media_buy_id");
        super::push_in(&mut query, media_buy_ids);
        query.build_query_as().fetch_all(pool).await.map_err(backend)?
    });
    Ok(rows
        .into_iter()
        .map(|(media_buy_id, package_id, from, impressions, spend, clicks, completed_views)| {
            (
                media_buy_id,
                ReportedDay { package_id, from, metrics: Metrics { impressions, spend, clicks, completed_views } },
            )
        })
        .collect())
}
