//! `get_avails` quotes (see `core::avails`).

use chrono::{DateTime, Utc};

use super::{Db, backend};
use crate::core::StoreError;
use crate::core::avails::Quote;
use crate::core::media_buy::Verbatim;

#[derive(sqlx::FromRow)]
struct QuoteRow {
    quote_id: String,
    tenant_id: String,
    principal_id: String,
    product_id: String,
    pricing_option_id: String,
    name: String,
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    impressions: i64,
    cpm: f64,
    total_cost: f64,
    availability: f64,
    targeting: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<QuoteRow> for Quote {
    fn from(row: QuoteRow) -> Quote {
        Quote {
            quote_id: row.quote_id,
            tenant_id: row.tenant_id,
            principal_id: row.principal_id,
            product_id: row.product_id,
            pricing_option_id: row.pricing_option_id,
            name: row.name,
            start_time: row.start_time,
            end_time: row.end_time,
            impressions: row.impressions.max(0) as u64,
            cpm: row.cpm,
            total_cost: row.total_cost,
            availability: row.availability,
            targeting: row.targeting.map(Verbatim),
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

/// Stores the quotes of one `get_avails` answer in one transaction, and drops the tenant's
/// quotes that expired more than a day ago (nobody can buy them; a buy made from one keeps its
/// own copy of everything it needs).
pub(super) async fn insert(db: &Db, quotes: &[Quote]) -> Result<(), StoreError> {
    let Some(first) = quotes.first() else { return Ok(()) };
    on_writer!(db, |pool| {
        let mut tx = pool.begin().await.map_err(backend)?;
        for quote in quotes {
            sqlx::query(
                "insert into avails (quote_id, tenant_id, principal_id, product_id, pricing_option_id, name,
                    start_time, end_time, impressions, cpm, total_cost, availability, targeting, created_at,
                    expires_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(&quote.quote_id)
            .bind(&quote.tenant_id)
            .bind(&quote.principal_id)
            .bind(&quote.product_id)
            .bind(&quote.pricing_option_id)
            .bind(&quote.name)
            .bind(quote.start_time)
            .bind(quote.end_time)
            .bind(i64::try_from(quote.impressions).unwrap_or(i64::MAX))
            .bind(quote.cpm)
            .bind(quote.total_cost)
            .bind(quote.availability)
            .bind(quote.targeting.as_ref().map(|t| t.0.as_str()))
            .bind(quote.created_at)
            .bind(quote.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        sqlx::query("delete from avails where tenant_id = $1 and expires_at < $2")
            .bind(&first.tenant_id)
            .bind(first.created_at - chrono::Duration::days(1))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    })
}

pub(super) async fn get(db: &Db, tenant_id: &str, quote_id: &str) -> Result<Option<Quote>, StoreError> {
    let row: Option<QuoteRow> = on_pool!(db, |pool| {
        sqlx::query_as(
            "select quote_id, tenant_id, principal_id, product_id, pricing_option_id, name, start_time, end_time,
                impressions, cpm, total_cost, availability, targeting, created_at, expires_at
             from avails where tenant_id = $1 and quote_id = $2",
        )
        .bind(tenant_id)
        .bind(quote_id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?
    });
    Ok(row.map(Quote::from))
}
