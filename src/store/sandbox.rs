//! Sandbox tenants' test-controller state (see `core::sandbox`).

use chrono::{DateTime, Utc};

use super::{Db, backend, corrupt, to_document};
use crate::core::StoreError;
use crate::core::catalog::Product;
use crate::core::sandbox::{Arm, ForcedArm, SimulatedDelivery};

pub(super) async fn seed_fixture(
    db: &Db,
    tenant_id: &str,
    fixture_key: &str,
    fixture: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    on_writer!(db, |pool| {
        let inserted = sqlx::query(
            "insert into sandbox_fixtures (tenant_id, fixture_key, fixture, created_at) values ($1, $2, $3, $4)
             on conflict do nothing",
        )
        .bind(tenant_id)
        .bind(fixture_key)
        .bind(fixture)
        .bind(now)
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected();
        if inserted == 1 {
            return Ok(None);
        }
        let (stored,): (String,) =
            sqlx::query_as("select fixture from sandbox_fixtures where tenant_id = $1 and fixture_key = $2")
                .bind(tenant_id)
                .bind(fixture_key)
                .fetch_one(pool)
                .await
                .map_err(backend)?;
        Ok(Some(stored))
    })
}

pub(super) async fn save_pending_product(db: &Db, tenant_id: &str, product: &Product) -> Result<(), StoreError> {
    let document = to_document(product)?;
    on_writer!(db, |pool| {
        sqlx::query(
            "insert into sandbox_products (tenant_id, product_id, document) values ($1, $2, $3)
             on conflict (tenant_id, product_id) do update set document = excluded.document",
        )
        .bind(tenant_id)
        .bind(&product.product_id)
        .bind(&document)
        .execute(pool)
        .await
        .map_err(backend)?;
        Ok(())
    })
}

pub(super) async fn pending_product(db: &Db, tenant_id: &str, product_id: &str) -> Result<Option<Product>, StoreError> {
    let row: Option<(String,)> = on_pool!(db, |pool| {
        sqlx::query_as("select document from sandbox_products where tenant_id = $1 and product_id = $2")
            .bind(tenant_id)
            .bind(product_id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?
    });
    row.map(|(document,)| serde_json::from_str(&document).map_err(corrupt)).transpose()
}

pub(super) async fn save_forced_arm(db: &Db, arm: &ForcedArm) -> Result<(), StoreError> {
    on_writer!(db, |pool| {
        sqlx::query(
            "insert into sandbox_forced_arms (tenant_id, principal_id, arm, task_id, message, created_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (tenant_id, principal_id) do update set arm = excluded.arm, task_id = excluded.task_id,
                message = excluded.message, created_at = excluded.created_at",
        )
        .bind(&arm.tenant_id)
        .bind(&arm.principal_id)
        .bind(arm.arm.as_str())
        .bind(&arm.task_id)
        .bind(&arm.message)
        .bind(arm.created_at)
        .execute(pool)
        .await
        .map_err(backend)?;
        Ok(())
    })
}

type ArmRow = (String, String, String, Option<String>, Option<String>, DateTime<Utc>);

pub(super) async fn take_forced_arm(
    db: &Db,
    tenant_id: &str,
    principal_id: &str,
) -> Result<Option<ForcedArm>, StoreError> {
    // A read first, so that the common case (nothing forced) costs no write.
    let (waiting,): (i64,) = on_pool!(db, |pool| {
        sqlx::query_as("select count(*) from sandbox_forced_arms where tenant_id = $1 and principal_id = $2")
            .bind(tenant_id)
            .bind(principal_id)
            .fetch_one(pool)
            .await
            .map_err(backend)?
    });
    if waiting == 0 {
        return Ok(None);
    }
    // The delete decides who takes it.
    let row: Option<ArmRow> = on_writer!(db, |pool| {
        sqlx::query_as(
            "delete from sandbox_forced_arms where tenant_id = $1 and principal_id = $2
             returning tenant_id, principal_id, arm, task_id, message, created_at",
        )
        .bind(tenant_id)
        .bind(principal_id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?
    });
    row.map(|(tenant_id, principal_id, arm, task_id, message, created_at)| {
        Ok(ForcedArm {
            tenant_id,
            principal_id,
            arm: Arm::parse(&arm).ok_or_else(|| corrupt(format!("forced arm {arm}")))?,
            task_id,
            message,
            created_at,
        })
    })
    .transpose()
}

pub(super) async fn save_simulated_delivery(db: &Db, simulated: &SimulatedDelivery) -> Result<(), StoreError> {
    on_writer!(db, |pool| {
        sqlx::query(
            "insert into sandbox_delivery (tenant_id, media_buy_id, impressions, clicks, conversions, spend, recorded_at)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (tenant_id, media_buy_id) do update set impressions = excluded.impressions,
                clicks = excluded.clicks, conversions = excluded.conversions, spend = excluded.spend,
                recorded_at = excluded.recorded_at",
        )
        .bind(&simulated.tenant_id)
        .bind(&simulated.media_buy_id)
        .bind(simulated.impressions)
        .bind(simulated.clicks)
        .bind(simulated.conversions)
        .bind(simulated.spend)
        .bind(simulated.recorded_at)
        .execute(pool)
        .await
        .map_err(backend)?;
        Ok(())
    })
}

type DeliveryRow = (String, String, f64, f64, f64, f64, DateTime<Utc>);

pub(super) async fn simulated_delivery(
    db: &Db,
    tenant_id: &str,
    media_buy_ids: &[String],
) -> Result<Vec<SimulatedDelivery>, StoreError> {
    if media_buy_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<DeliveryRow> = on_pool!(db, |pool| {
        let mut query = sqlx::QueryBuilder::new(
            "select tenant_id, media_buy_id, impressions, clicks, conversions, spend, recorded_at
             from sandbox_delivery where tenant_id = ",
        );
        query.push_bind(tenant_id).push(" and media_buy_id");
        super::push_in(&mut query, media_buy_ids);
        query.build_query_as().fetch_all(pool).await.map_err(backend)?
    });
    Ok(rows
        .into_iter()
        .map(|(tenant_id, media_buy_id, impressions, clicks, conversions, spend, recorded_at)| SimulatedDelivery {
            tenant_id,
            media_buy_id,
            impressions,
            clicks,
            conversions,
            spend,
            recorded_at,
        })
        .collect())
}
