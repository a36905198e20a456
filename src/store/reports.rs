//! Reporting-webhook schedules beside media buys (see `core::reporting`).

use chrono::{DateTime, Utc};

use super::{Db, backend};
use crate::core::StoreError;
use crate::core::media_buy::MediaBuy;
use crate::core::ports::{Also, SealedResponse};
use crate::core::reporting::ReportSchedule;

/// Inside transaction `$tx`, after the buy's own write: sets up a buy's report schedule, or
/// restarts it (new period and due time, not done) keeping the reports already sent.
macro_rules! want_reports {
    ($tx:ident, $schedule:expr) => {{
        let schedule: &Option<crate::core::reporting::ReportSchedule> = $schedule;
        if let Some(schedule) = schedule {
            sqlx::query(
                "insert into delivery_reports (media_buy_id, tenant_id, sequence, period_start, next_at, done)
                 values ($1, $2, $3, $4, $5, $6)
                 on conflict (media_buy_id) do update set next_at = excluded.next_at, done = excluded.done",
            )
            .bind(&schedule.media_buy_id)
            .bind(&schedule.tenant_id)
            .bind(schedule.sequence)
            .bind(schedule.period_start)
            .bind(schedule.next_at)
            .bind(schedule.done)
            .execute(&mut *$tx)
            .await
            .map_err(backend)?;
        }
    }};
}
pub(super) use want_reports;

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    media_buy_id: String,
    tenant_id: String,
    sequence: i64,
    period_start: DateTime<Utc>,
    next_at: DateTime<Utc>,
    done: bool,
}

impl From<ScheduleRow> for ReportSchedule {
    fn from(row: ScheduleRow) -> ReportSchedule {
        ReportSchedule {
            media_buy_id: row.media_buy_id,
            tenant_id: row.tenant_id,
            sequence: row.sequence,
            period_start: row.period_start,
            next_at: row.next_at,
            done: row.done,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DueRow {
    #[sqlx(flatten)]
    schedule: ScheduleRow,
    document: String,
}

pub(super) async fn due(
    db: &Db,
    tenant_id: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(MediaBuy, ReportSchedule)>, StoreError> {
    let rows: Vec<DueRow> = on_pool!(db, |pool| {
        sqlx::query_as(
            "select r.media_buy_id, r.tenant_id, r.sequence, r.period_start, r.next_at, r.done, m.document
             from delivery_reports r join media_buys m on m.media_buy_id = r.media_buy_id
             where r.tenant_id = $1 and not r.done
               and (r.next_at <= $2 or m.status in ('completed', 'canceled', 'rejected'))
             order by r.next_at, r.media_buy_id limit $3",
        )
        .bind(tenant_id)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
        .map_err(backend)?
    });
    rows.into_iter()
        .map(|row| Ok((super::media_buys::parse(&row.document)?, ReportSchedule::from(row.schedule))))
        .collect()
}

pub(super) async fn save(
    db: &Db,
    schedule: &ReportSchedule,
    expected_sequence: i64,
    also: &Also,
) -> Result<bool, StoreError> {
    on_writer!(db, |pool| {
        let mut tx = pool.begin().await.map_err(backend)?;
        let changed = sqlx::query(
            "update delivery_reports set sequence = $1, period_start = $2, next_at = $3, done = $4
             where tenant_id = $5 and media_buy_id = $6 and sequence = $7",
        )
        .bind(schedule.sequence)
        .bind(schedule.period_start)
        .bind(schedule.next_at)
        .bind(schedule.done)
        .bind(&schedule.tenant_id)
        .bind(&schedule.media_buy_id)
        .bind(expected_sequence)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if changed != 1 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        super::tasks::also!(tx, also);
        tx.commit().await.map_err(backend)?;
        Ok(true)
    })
}

pub(super) async fn get(db: &Db, tenant_id: &str, media_buy_id: &str) -> Result<Option<ReportSchedule>, StoreError> {
    let row: Option<ScheduleRow> = on_pool!(db, |pool| {
        sqlx::query_as(
            "select media_buy_id, tenant_id, sequence, period_start, next_at, done from delivery_reports
             where tenant_id = $1 and media_buy_id = $2",
        )
        .bind(tenant_id)
        .bind(media_buy_id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?
    });
    Ok(row.map(ReportSchedule::from))
}
