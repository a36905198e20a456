//! Media buys: one row per buy (filter columns + a JSON document holding the whole buy) and an
//! append-only history. The document types here are private to the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Db, backend, corrupt};
use crate::core::StoreError;
use crate::core::catalog::{FormatId, PricingModel};
use crate::core::media_buy::{Cancellation, MediaBuy, MediaBuyStatus, Pacing, Package, Party, Verbatim};
use crate::core::ports::{Also, HistoryEntry, MediaBuyFilter, PageRequest, SealedResponse};
use crate::core::webhook::{Frequency, Webhook};

#[derive(Serialize, Deserialize)]
struct BuyDoc {
    media_buy_id: String,
    tenant_id: String,
    principal_id: String,
    account_id: String,
    brand_domain: String,
    status: String,
    currency: String,
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    confirmed_at: DateTime<Utc>,
    creative_deadline: DateTime<Utc>,
    revision: i64,
    po_number: Option<String>,
    cancellation: Option<CancellationDoc>,
    packages: Vec<PackageDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    push_notification_config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reporting_webhook: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct CancellationDoc {
    canceled_at: DateTime<Utc>,
    canceled_by: String,
    reason: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PackageDoc {
    package_id: String,
    product_id: String,
    pricing_option_id: String,
    pricing_model: PricingModel,
    rate: f64,
    currency: String,
    budget: f64,
    bid_price: Option<f64>,
    impressions: f64,
    pacing: String,
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    paused: bool,
    cancellation: Option<CancellationDoc>,
    format_ids: Vec<FormatId>,
    targeting_overlay: Option<String>,
    measurement_terms: Option<String>,
    creative_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    daily_budget: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    daily_impressions: Option<f64>,
}

fn cancellation_doc(c: &Cancellation) -> CancellationDoc {
    CancellationDoc {
        canceled_at: c.canceled_at,
        canceled_by: c.canceled_by.as_str().to_owned(),
        reason: c.reason.clone(),
    }
}

fn cancellation(doc: CancellationDoc) -> Result<Cancellation, StoreError> {
    Ok(Cancellation {
        canceled_at: doc.canceled_at,
        canceled_by: Party::parse(&doc.canceled_by).ok_or_else(|| corrupt(format!("party {}", doc.canceled_by)))?,
        reason: doc.reason,
    })
}

fn to_doc(buy: &MediaBuy) -> BuyDoc {
    BuyDoc {
        media_buy_id: buy.media_buy_id.clone(),
        tenant_id: buy.tenant_id.clone(),
        principal_id: buy.principal_id.clone(),
        account_id: buy.account_id.clone(),
        brand_domain: buy.brand_domain.clone(),
        status: buy.status.as_str().to_owned(),
        currency: buy.currency.clone(),
        start_time: buy.start_time,
        end_time: buy.end_time,
        confirmed_at: buy.confirmed_at,
        creative_deadline: buy.creative_deadline,
        revision: buy.revision,
        po_number: buy.po_number.clone(),
        cancellation: buy.cancellation.as_ref().map(cancellation_doc),
        push_notification_config: buy.push_notification.as_ref().map(|w| w.config.0.clone()),
        reporting_webhook: buy.reporting_webhook.as_ref().map(|w| w.config.0.clone()),
        packages: buy
            .packages
            .iter()
            .map(|p| PackageDoc {
                package_id: p.package_id.clone(),
                product_id: p.product_id.clone(),
                pricing_option_id: p.pricing_option_id.clone(),
                pricing_model: p.pricing_model,
                rate: p.rate,
                currency: p.currency.clone(),
                budget: p.budget,
                bid_price: p.bid_price,
                impressions: p.impressions,
                pacing: p.pacing.as_str().to_owned(),
                start_time: p.start_time,
                end_time: p.end_time,
                paused: p.paused,
                cancellation: p.cancellation.as_ref().map(cancellation_doc),
                format_ids: p.format_ids.clone(),
                targeting_overlay: p.targeting_overlay.as_ref().map(|v| v.0.clone()),
                measurement_terms: p.measurement_terms.as_ref().map(|v| v.0.clone()),
                creative_ids: p.creative_ids.clone(),
                daily_budget: p.daily_budget,
                daily_impressions: p.daily_impressions,
            })
            .collect(),
        created_at: buy.created_at,
        updated_at: buy.updated_at,
    }
}

fn from_doc(doc: BuyDoc) -> Result<MediaBuy, StoreError> {
    let mut packages = Vec::with_capacity(doc.packages.len());
    for p in doc.packages {
        packages.push(Package {
            pacing: Pacing::parse(&p.pacing).ok_or_else(|| corrupt(format!("pacing {}", p.pacing)))?,
            cancellation: p.cancellation.map(cancellation).transpose()?,
            package_id: p.package_id,
            product_id: p.product_id,
            pricing_option_id: p.pricing_option_id,
            pricing_model: p.pricing_model,
            rate: p.rate,
            currency: p.currency,
            budget: p.budget,
            bid_price: p.bid_price,
            impressions: p.impressions,
            start_time: p.start_time,
            end_time: p.end_time,
            paused: p.paused,
            format_ids: p.format_ids,
            targeting_overlay: p.targeting_overlay.map(Verbatim),
            measurement_terms: p.measurement_terms.map(Verbatim),
            creative_ids: p.creative_ids,
            daily_budget: p.daily_budget,
            daily_impressions: p.daily_impressions,
        });
    }
    Ok(MediaBuy {
        status: MediaBuyStatus::parse(&doc.status).ok_or_else(|| corrupt(format!("status {}", doc.status)))?,
        cancellation: doc.cancellation.map(cancellation).transpose()?,
        media_buy_id: doc.media_buy_id,
        tenant_id: doc.tenant_id,
        principal_id: doc.principal_id,
        account_id: doc.account_id,
        brand_domain: doc.brand_domain,
        currency: doc.currency,
        start_time: doc.start_time,
        end_time: doc.end_time,
        confirmed_at: doc.confirmed_at,
        creative_deadline: doc.creative_deadline,
        revision: doc.revision,
        po_number: doc.po_number,
        packages,
        push_notification: doc.push_notification_config.map(webhook).transpose()?,
        reporting_webhook: doc.reporting_webhook.map(webhook).transpose()?,
        created_at: doc.created_at,
        updated_at: doc.updated_at,
    })
}

/// A stored webhook configuration; its URL is read back from the verbatim JSON.
pub(super) fn webhook(config: String) -> Result<Webhook, StoreError> {
    #[derive(Deserialize)]
    struct Url {
        url: String,
        reporting_frequency: Option<String>,
    }
    let Url { url, reporting_frequency: frequency } = serde_json::from_str(&config).map_err(corrupt)?;
    Ok(Webhook { url, frequency: frequency.as_deref().and_then(Frequency::parse), config: Verbatim(config) })
}

pub(super) fn parse(document: &str) -> Result<MediaBuy, StoreError> {
    from_doc(serde_json::from_str(document).map_err(corrupt)?)
}

fn serialize(buy: &MediaBuy) -> Result<String, StoreError> {
    serde_json::to_string(&to_doc(buy)).map_err(corrupt)
}

macro_rules! insert_history {
    ($tx:expr, $id:expr, $entries:expr) => {
        if !$entries.is_empty() {
            // One statement for all entries: each statement is a round trip inside the writer's
            // transaction.
            let mut insert = sqlx::QueryBuilder::new(
                "insert into media_buy_history (media_buy_id, revision, seq, changed_at, actor, action, summary, package_id) ",
            );
            insert.push_values($entries.iter().enumerate(), |mut row, (seq, entry)| {
                row.push_bind($id)
                    .push_bind(entry.revision)
                    .push_bind(seq as i64)
                    .push_bind(entry.at)
                    .push_bind(&entry.actor)
                    .push_bind(&entry.action)
                    .push_bind(&entry.summary)
                    .push_bind(&entry.package_id);
            });
            insert.build().execute(&mut *$tx).await.map_err(backend)?;
        }
    };
}

pub(super) async fn insert(db: &Db, buy: &MediaBuy, history: &[HistoryEntry], also: &Also) -> Result<(), StoreError> {
    let document = serialize(buy)?;
    on_writer!(db, |pool| {
        let mut tx = pool.begin().await.map_err(backend)?;
        super::tasks::also!(tx, also);
        sqlx::query(
            "insert into media_buys (media_buy_id, tenant_id, principal_id, account_id, status, revision,
                start_time, end_time, created_at, updated_at, document)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&buy.media_buy_id)
        .bind(&buy.tenant_id)
        .bind(&buy.principal_id)
        .bind(&buy.account_id)
        .bind(buy.status.as_str())
        .bind(buy.revision)
        .bind(buy.start_time)
        .bind(buy.end_time)
        .bind(buy.created_at)
        .bind(buy.updated_at)
        .bind(&document)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        insert_history!(tx, &buy.media_buy_id, history);
        super::reports::want_reports!(tx, &also.reports);
        super::creatives::index_buy!(tx, buy, fresh);
        super::bookings::want_booking!(tx, buy);
        tx.commit().await.map_err(backend)
    })
}

pub(super) async fn get(db: &Db, tenant_id: &str, media_buy_id: &str) -> Result<Option<MediaBuy>, StoreError> {
    let row: Option<(String,)> = on_pool!(db, |pool| {
        sqlx::query_as("select document from media_buys where tenant_id = $1 and media_buy_id = $2")
            .bind(tenant_id)
            .bind(media_buy_id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?
    });
    row.map(|(document,)| parse(&document)).transpose()
}

pub(super) async fn update(
    db: &Db,
    buy: &MediaBuy,
    expected_revision: i64,
    history: &[HistoryEntry],
    also: &Also,
) -> Result<bool, StoreError> {
    let document = serialize(buy)?;
    on_writer!(db, |pool| {
        let mut tx = pool.begin().await.map_err(backend)?;
        let changed = sqlx::query(
            "update media_buys set status = $1, revision = $2, start_time = $3, end_time = $4, updated_at = $5,
                document = $6
             where tenant_id = $7 and media_buy_id = $8 and revision = $9",
        )
        .bind(buy.status.as_str())
        .bind(buy.revision)
        .bind(buy.start_time)
        .bind(buy.end_time)
        .bind(buy.updated_at)
        .bind(&document)
        .bind(&buy.tenant_id)
        .bind(&buy.media_buy_id)
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if changed != 1 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        // After the buy's compare-and-set, so that a stale buy answers false before the seal
        // or the task is looked at.
        super::tasks::also!(tx, also);
        insert_history!(tx, &buy.media_buy_id, history);
        super::reports::want_reports!(tx, &also.reports);
        super::creatives::index_buy!(tx, buy, changed);
        super::bookings::want_booking!(tx, buy);
        tx.commit().await.map_err(backend)?;
        Ok(true)
    })
}

/// `+tenant_id` in the by-ids variants keeps SQLite from preferring the tenant index over the
/// primary key (it has no statistics to tell which is narrower).
macro_rules! sqlite_filter {
    () => {
        "tenant_id = $1
         and ($2 is null or principal_id = $2)
         and ($3 is null or account_id = $3)
         and ($4 is null or status in (select value from json_each($4)))"
    };
}

const SQLITE_LIST: &str = concat!(
    "select document from media_buys where ",
    sqlite_filter!(),
    " and ($6 is null or media_buy_id > $6) order by media_buy_id limit $7"
);
const SQLITE_LIST_BY_IDS: &str = concat!(
    "select document from media_buys where media_buy_id in (select value from json_each($5)) and +",
    sqlite_filter!(),
    " and ($6 is null or media_buy_id > $6) order by media_buy_id limit $7"
);
const SQLITE_COUNT: &str = concat!("select count(*) from media_buys where ", sqlite_filter!());
const SQLITE_COUNT_BY_IDS: &str = concat!(
    "select count(*) from media_buys where media_buy_id in (select value from json_each($5)) and +",
    sqlite_filter!()
);

/// A list as a JSON array for SQLite's `json_each`, or null when empty (no filter).
fn json_list<'a>(items: impl Iterator<Item = &'a str>) -> Option<String> {
    let items: Vec<&str> = items.collect();
    (!items.is_empty()).then(|| serde_json::to_string(&items).unwrap_or_default())
}

/// `($n is null or …)` cannot express list filters portably, so the statuses and ids travel as
/// one comma-separated text each and are matched with `instr` on SQLite and `= any` on Postgres.
pub(super) async fn list(db: &Db, filter: &MediaBuyFilter, page: &PageRequest) -> Result<Vec<MediaBuy>, StoreError> {
    let statuses = joined(filter.statuses.iter().map(|s| s.as_str()));
    let ids = joined(filter.media_buy_ids.iter().map(String::as_str));
    let rows: Vec<(String,)> = match db {
        // SQLite: ids and statuses travel as JSON arrays; a lookup by ids goes through the
        // primary key (an `or` around it would make SQLite scan the tenant's buys).
        Db::Sqlite(sqlite) => {
            let pool = &sqlite.read;
            let sql = if filter.media_buy_ids.is_empty() { SQLITE_LIST } else { SQLITE_LIST_BY_IDS };
            sqlx::query_as(sql)
                .bind(&filter.tenant_id)
                .bind(&filter.principal_id)
                .bind(&filter.account_id)
                .bind(json_list(filter.statuses.iter().map(|s| s.as_str())))
                .bind(json_list(filter.media_buy_ids.iter().map(String::as_str)))
                .bind(&page.after)
                .bind(page.limit as i64)
                .fetch_all(pool)
                .await
                .map_err(backend)?
        }
        Db::Postgres(pool) => sqlx::query_as(
            "select document from media_buys where tenant_id = $1
             and ($2::text is null or principal_id = $2)
             and ($3::text is null or account_id = $3)
             and ($4::text is null or status = any(string_to_array($4, ',')))
             and ($5::text is null or media_buy_id = any(string_to_array($5, ',')))
             and ($6::text is null or media_buy_id > $6)
             order by media_buy_id limit $7",
        )
        .bind(&filter.tenant_id)
        .bind(&filter.principal_id)
        .bind(&filter.account_id)
        .bind(&statuses)
        .bind(&ids)
        .bind(&page.after)
        .bind(page.limit as i64)
        .fetch_all(pool)
        .await
        .map_err(backend)?,
    };
    rows.iter().map(|(document,)| parse(document)).collect()
}

pub(super) async fn count(db: &Db, filter: &MediaBuyFilter) -> Result<u64, StoreError> {
    let statuses = joined(filter.statuses.iter().map(|s| s.as_str()));
    let ids = joined(filter.media_buy_ids.iter().map(String::as_str));
    let (count,): (i64,) = match db {
        Db::Sqlite(sqlite) => {
            let pool = &sqlite.read;
            let by_ids = !filter.media_buy_ids.is_empty();
            let query = sqlx::query_as(if by_ids { SQLITE_COUNT_BY_IDS } else { SQLITE_COUNT })
                .bind(&filter.tenant_id)
                .bind(&filter.principal_id)
                .bind(&filter.account_id)
                .bind(json_list(filter.statuses.iter().map(|s| s.as_str())));
            let query =
                if by_ids { query.bind(json_list(filter.media_buy_ids.iter().map(String::as_str))) } else { query };
            query.fetch_one(pool).await.map_err(backend)?
        }
        Db::Postgres(pool) => sqlx::query_as(
            "select count(*) from media_buys where tenant_id = $1
             and ($2::text is null or principal_id = $2)
             and ($3::text is null or account_id = $3)
             and ($4::text is null or status = any(string_to_array($4, ',')))
             and ($5::text is null or media_buy_id = any(string_to_array($5, ',')))",
        )
        .bind(&filter.tenant_id)
        .bind(&filter.principal_id)
        .bind(&filter.account_id)
        .bind(&statuses)
        .bind(&ids)
        .fetch_one(pool)
        .await
        .map_err(backend)?,
    };
    Ok(count.max(0) as u64)
}

pub(super) async fn history(db: &Db, media_buy_id: &str, limit: u32) -> Result<Vec<HistoryEntry>, StoreError> {
    let rows: Vec<HistoryRow> = on_pool!(db, |pool| {
        sqlx::query_as(
            "select revision, changed_at, actor, action, summary, package_id from media_buy_history
             where media_buy_id = $1 order by revision desc, seq desc limit $2",
        )
        .bind(media_buy_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(backend)?
    });
    Ok(rows
        .into_iter()
        .map(|r| HistoryEntry {
            revision: r.revision,
            at: r.changed_at,
            actor: r.actor,
            action: r.action,
            summary: r.summary,
            package_id: r.package_id,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    revision: i64,
    changed_at: DateTime<Utc>,
    actor: String,
    action: String,
    summary: String,
    package_id: Option<String>,
}

/// The list as one comma-joined text. Stored ids and statuses never contain commas; a
/// requested id that does can only split into ids that the tenant and principal filters still
/// scope, so it never widens what the caller may see.
fn joined<'a>(items: impl Iterator<Item = &'a str>) -> Option<String> {
    let items: Vec<&str> = items.collect();
    (!items.is_empty()).then(|| items.join(","))
}

/// Buys whose flight start or end has passed while they still wait for it.
pub(super) async fn due(
    db: &Db,
    tenant_id: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<MediaBuy>, StoreError> {
    let rows: Vec<(String,)> = on_pool!(db, |pool| {
        sqlx::query_as(
            "select document from media_buys where tenant_id = $1 and (
                (status = 'pending_start' and start_time <= $2)
                or (status in ('pending_creatives', 'pending_start', 'active', 'paused') and end_time <= $2))
             order by media_buy_id limit $3",
        )
        .bind(tenant_id)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(pool)
        .await
        .map_err(backend)?
    });
    rows.iter().map(|(document,)| parse(document)).collect()
}
