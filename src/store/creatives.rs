//! The creative library, and the package and assignment indexes kept beside media buys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Db, backend, corrupt};
use crate::core::StoreError;
use crate::core::catalog::FormatId;
use crate::core::creative::{Creative, CreativeStatus};
use crate::core::media_buy::Verbatim;
use crate::core::ports::{Also, Assignment, SealedResponse};

#[derive(Serialize, Deserialize)]
struct CreativeDoc {
    format_id: FormatId,
    assets: String,
    tags: Vec<String>,
    rejection_reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CreativeRow {
    creative_id: String,
    tenant_id: String,
    principal_id: String,
    account_id: String,
    name: String,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    document: String,
}

impl TryFrom<CreativeRow> for Creative {
    type Error = StoreError;

    fn try_from(row: CreativeRow) -> Result<Creative, StoreError> {
        let doc: CreativeDoc = serde_json::from_str(&row.document).map_err(corrupt)?;
        Ok(Creative {
            status: CreativeStatus::parse(&row.status)
                .ok_or_else(|| corrupt(format!("creative status {}", row.status)))?,
            creative_id: row.creative_id,
            tenant_id: row.tenant_id,
            principal_id: row.principal_id,
            account_id: row.account_id,
            name: row.name,
            format_id: doc.format_id,
            assets: Verbatim(doc.assets),
            tags: doc.tags,
            rejection_reason: doc.rejection_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(super) async fn save(db: &Db, creatives: &[Creative], also: &Also) -> Result<(), StoreError> {
    let documents: Vec<String> = creatives
        .iter()
        .map(|c| {
            serde_json::to_string(&CreativeDoc {
                format_id: c.format_id.clone(),
                assets: c.assets.0.clone(),
                tags: c.tags.clone(),
                rejection_reason: c.rejection_reason.clone(),
            })
            .map_err(corrupt)
        })
        .collect::<Result<_, _>>()?;
    on_writer!(db, |pool| {
        let mut tx = pool.begin().await.map_err(backend)?;
        super::tasks::also!(tx, also);
        for (creative, document) in creatives.iter().zip(&documents) {
            sqlx::query(
                "insert into creatives (tenant_id, principal_id, creative_id, account_id, name, format_agent_url,
                    format_id, status, created_at, updated_at, document)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 on conflict (tenant_id, principal_id, creative_id) do update set account_id = excluded.account_id,
                    name = excluded.name, format_agent_url = excluded.format_agent_url,
                    format_id = excluded.format_id, status = excluded.status, updated_at = excluded.updated_at,
                    document = excluded.document",
            )
            .bind(&creative.tenant_id)
            .bind(&creative.principal_id)
            .bind(&creative.creative_id)
            .bind(&creative.account_id)
            .bind(&creative.name)
            .bind(&creative.format_id.agent_url)
            .bind(&creative.format_id.id)
            .bind(creative.status.as_str())
            .bind(creative.created_at)
            .bind(creative.updated_at)
            .bind(document)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    })
}

pub(super) async fn list(db: &Db, tenant_id: &str, principal_id: &str) -> Result<Vec<Creative>, StoreError> {
    let rows: Vec<CreativeRow> = on_pool!(db, |pool| {
        sqlx::query_as(
            "select creative_id, tenant_id, principal_id, account_id, name, status, created_at, updated_at, document
             from creatives where tenant_id = $1 and principal_id = $2 order by created_at, creative_id",
        )
        .bind(tenant_id)
        .bind(principal_id)
        .fetch_all(pool)
        .await
        .map_err(backend)?
    });
    rows.into_iter().map(Creative::try_from).collect()
}

pub(super) async fn find(
    db: &Db,
    tenant_id: &str,
    creative_id: Option<&str>,
    status: Option<CreativeStatus>,
    limit: usize,
) -> Result<Vec<Creative>, StoreError> {
    let rows: Vec<CreativeRow> = on_pool!(db, |pool| {
        sqlx::query_as(
            "select creative_id, tenant_id, principal_id, account_id, name, status, created_at, updated_at, document
             from creatives where tenant_id = $1 and ($2 is null or creative_id = $2) and ($3 is null or status = $3)
             order by created_at, principal_id, creative_id limit $4",
        )
        .bind(tenant_id)
        .bind(creative_id)
        .bind(status.map(CreativeStatus::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
        .map_err(backend)?
    });
    rows.into_iter().map(Creative::try_from).collect()
}

pub(super) async fn assignments(db: &Db, tenant_id: &str, principal_id: &str) -> Result<Vec<Assignment>, StoreError> {
    let rows: Vec<(String, String, String, DateTime<Utc>)> = on_pool!(db, |pool| {
        sqlx::query_as(
            "select creative_id, media_buy_id, package_id, assigned_at from creative_assignments
             where tenant_id = $1 and principal_id = $2 order by creative_id, package_id",
        )
        .bind(tenant_id)
        .bind(principal_id)
        .fetch_all(pool)
        .await
        .map_err(backend)?
    });
    Ok(rows
        .into_iter()
        .map(|(creative_id, media_buy_id, package_id, assigned_at)| Assignment {
            creative_id,
            media_buy_id,
            package_id,
            assigned_at,
        })
        .collect())
}

pub(super) async fn media_buy_id_for_package(
    db: &Db,
    tenant_id: &str,
    package_id: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = on_pool!(db, |pool| {
        sqlx::query_as("select media_buy_id from packages where tenant_id = $1 and package_id = $2")
            .bind(tenant_id)
            .bind(package_id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?
    });
    Ok(row.map(|(id,)| id))
}

/// Brings the package and assignment indexes of one buy up to date inside the caller's
/// transaction: new assignments are recorded with the buy's update time, existing ones keep
/// their date, and assignments no longer on the buy are removed. `fresh` (a buy being
/// inserted) has nothing indexed yet.
macro_rules! index_buy {
    ($tx:expr, $buy:expr, fresh) => {
        $crate::store::creatives::index_buy!(@ $tx, $buy, Vec::<(String, String)>::new())
    };
    ($tx:expr, $buy:expr, changed) => {
        $crate::store::creatives::index_buy!(@ $tx, $buy, {
            let existing: Vec<(String, String)> =
                sqlx::query_as("select creative_id, package_id from creative_assignments where media_buy_id = $1")
                    .bind(&$buy.media_buy_id)
                    .fetch_all(&mut *$tx)
                    .await
                    .map_err(backend)?;
            existing
        })
    };
    (@ $tx:expr, $buy:expr, $existing:expr) => {{
        let buy: &crate::core::media_buy::MediaBuy = $buy;
        let existing: Vec<(String, String)> = $existing;
        let current: Vec<(&str, &str)> = buy
            .packages
            .iter()
            .flat_map(|p| p.creative_ids.iter().map(move |c| (c.as_str(), p.package_id.as_str())))
            .collect();
        for (creative_id, package_id) in &existing {
            if !current.contains(&(creative_id.as_str(), package_id.as_str())) {
                sqlx::query(
                    "delete from creative_assignments where media_buy_id = $1 and creative_id = $2 and package_id = $3",
                )
                .bind(&buy.media_buy_id)
                .bind(creative_id)
                .bind(package_id)
                .execute(&mut *$tx)
                .await
                .map_err(backend)?;
            }
        }
        for package in &buy.packages {
            sqlx::query(
                "insert into packages (package_id, tenant_id, media_buy_id) values ($1, $2, $3) on conflict do nothing",
            )
            .bind(&package.package_id)
            .bind(&buy.tenant_id)
            .bind(&buy.media_buy_id)
            .execute(&mut *$tx)
            .await
            .map_err(backend)?;
        }
        for (creative_id, package_id) in current {
            sqlx::query(
                "insert into creative_assignments (tenant_id, principal_id, creative_id, media_buy_id, package_id, assigned_at)
                 values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
            )
            .bind(&buy.tenant_id)
            .bind(&buy.principal_id)
            .bind(creative_id)
            .bind(&buy.media_buy_id)
            .bind(package_id)
            .bind(buy.updated_at)
            .execute(&mut *$tx)
            .await
            .map_err(backend)?;
        }
    }};
}
pub(super) use index_buy;
