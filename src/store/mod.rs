//! Persistence: the only module that contains SQL.
//!
//! One [`Db`] type implements [`core::ports::Store`] for both backends. Queries are runtime
//! `sqlx::query_as` calls whose text is shared by SQLite and Postgres (`$N` placeholders,
//! `on conflict`, no dialect functions); the [`on_pool!`] macro expands each body once per backend
//! so that both are type-checked. Migrations live in `migrations/sqlite` and
//! `migrations/postgres` and are embedded in the binary.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::core::StoreError;
use crate::core::booking::BookingRecord;
use crate::core::catalog::{AdvertisingPolicy, Catalog, Format, Product, Property};
use crate::core::creative::{Creative, CreativeStatus};
use crate::core::feedback::{Feedback, ProductRecord};
use crate::core::idempotency::{IdempotencyRecord, IdempotencyScope};
use crate::core::media_buy::MediaBuy;
use crate::core::notify::OutboxRecord;
use crate::core::ports::{
    AccountFilter, Also, Assignment, AuditEntry, AuditFilter, Claim, HistoryEntry, MediaBuyFilter, PageRequest,
    SealedResponse, Store, TaskFilter,
};
use crate::core::proposals::Proposal;
use crate::core::reconcile::PlatformStatus;
use crate::core::reporting::ReportSchedule;
use crate::core::tasks::Task;
use crate::core::tenancy::{Account, AccountKey, AccountStatus, Billing, Principal, Tenant};

/// A connection pool to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(Sqlite),
    Postgres(PgPool),
}

/// SQLite allows one writer at a time. Writers queue in-process on a one-connection pool
/// instead of racing for the file lock (whose busy handler sleeps for milliseconds); readers
/// use their own pool and, under WAL, never wait for the writer.
#[derive(Clone, Debug)]
pub struct Sqlite {
    read: SqlitePool,
    write: SqlitePool,
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend `$db` is, for
/// reading.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Sqlite(sqlite) => {
                let $pool = &sqlite.read;
                $body
            }
            Db::Postgres($pool) => $body,
        }
    };
}

/// Like [`on_pool!`], for statements and transactions that write.
macro_rules! on_writer {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Sqlite(sqlite) => {
                let $pool = &sqlite.write;
                $body
            }
            Db::Postgres($pool) => $body,
        }
    };
}

/// Inside transaction `$tx`: stores a completed idempotent response under its key, or rolls
/// the transaction back and returns `KeyTaken` from the enclosing function when the key is
/// already used (by a concurrent identical request, normally). Written first in a transaction
/// so that a taken key costs no other work.
macro_rules! seal {
    ($tx:ident, $sealed:expr) => {{
        let sealed: &SealedResponse = $sealed;
        let inserted = sqlx::query(
            "insert into idempotency_keys (principal_id, account_scope, idem_key, request_hash, response,
                created_at, expires_at)
             values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
        )
        .bind(&sealed.scope.principal_id)
        .bind(&sealed.scope.account_scope)
        .bind(&sealed.scope.key)
        .bind(&sealed.request_hash)
        .bind(&sealed.response)
        .bind(sealed.created_at)
        .bind(sealed.expires_at)
        .execute(&mut *$tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if inserted != 1 {
            $tx.rollback().await.map_err(backend)?;
            return Err(StoreError::KeyTaken);
        }
    }};
}

mod avails;
mod bookings;
mod creatives;
mod media_buys;
mod outbox;
mod proposals;
mod reports;
mod sandbox;
mod tasks;

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and applies pending migrations.
    /// SQLite files and their directory are created when missing.
    ///
    /// # Errors
    /// An unsupported URL, an unreachable database or a failed migration.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(backend)?;
            sqlx::migrate!("migrations/postgres").run(&pool).await.map_err(|e| StoreError::Backend(e.to_string()))?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(backend)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Checkpoints (and their fsync) run from `Db::checkpoint`, off the write path.
                .pragma("wal_autocheckpoint", "0");
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Backend(e.to_string()))?;
            }
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await
                .map_err(backend)?;
            sqlx::migrate!("migrations/sqlite").run(&write).await.map_err(|e| StoreError::Backend(e.to_string()))?;
            let read = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(backend)?;
            Ok(Db::Sqlite(Sqlite { read, write }))
        } else {
            Err(StoreError::Backend(format!(
                "unsupported database URL scheme in {:?}: use sqlite:// or postgres://",
                url.split(':').next().unwrap_or_default()
            )))
        }
    }

    /// Copies SQLite's write-ahead log into the database file without blocking readers or
    /// writers (a passive checkpoint); the server calls it four times a second, so that no
    /// request pays for the checkpoint and its fsync. Nothing to do on Postgres.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(sqlite) => {
                sqlx::query("pragma wal_checkpoint(passive)").execute(&sqlite.read).await.map_err(backend)?;
                Ok(())
            }
            Db::Postgres(_) => Ok(()),
        }
    }

    /// The seller's webhook-signing key as (kid, private key): the one stored, or `fresh` stored
    /// now when there is none yet, so that the key published to buyers outlives restarts.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn signing_key(
        &self,
        fresh_kid: &str,
        fresh_private: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, String), StoreError> {
        outbox::signing_key(self, fresh_kid, fresh_private, now).await
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(sqlite) => {
                sqlite.read.close().await;
                sqlite.write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

fn backend(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        _ => StoreError::Backend(error.to_string()),
    }
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    principal_id: String,
    tenant_id: String,
    name: String,
    admin: bool,
    created_at: DateTime<Utc>,
}

impl From<PrincipalRow> for Principal {
    fn from(row: PrincipalRow) -> Principal {
        Principal {
            principal_id: row.principal_id,
            tenant_id: row.tenant_id,
            name: row.name,
            admin: row.admin,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    account_id: String,
    tenant_id: String,
    owner_principal_id: String,
    brand_domain: String,
    brand_id: String,
    operator: String,
    sandbox: bool,
    name: String,
    status: String,
    billing: String,
    payment_terms: Option<String>,
    billing_entity_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> Result<Account, StoreError> {
        Ok(Account {
            status: AccountStatus::parse(&row.status)
                .ok_or_else(|| corrupt(format!("account status {}", row.status)))?,
            billing: Billing::parse(&row.billing).ok_or_else(|| corrupt(format!("account billing {}", row.billing)))?,
            account_id: row.account_id,
            tenant_id: row.tenant_id,
            owner_principal_id: row.owner_principal_id,
            key: AccountKey {
                brand_domain: row.brand_domain,
                brand_id: (!row.brand_id.is_empty()).then_some(row.brand_id),
                operator: row.operator,
                sandbox: row.sandbox,
            },
            name: row.name,
            payment_terms: row.payment_terms,
            billing_entity_name: row.billing_entity_name,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct IdempotencyRow {
    request_hash: String,
    response: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The account columns, in `AccountRow` order, as a literal so that queries stay `&'static str`.
macro_rules! account_columns {
    () => {
        "account_id, tenant_id, owner_principal_id, brand_domain, brand_id, operator, sandbox, \
         name, status, billing, payment_terms, billing_entity_name, created_at, updated_at"
    };
}

fn documents<T: serde::de::DeserializeOwned>(rows: Vec<(String,)>, kind: &str) -> Result<Vec<T>, StoreError> {
    rows.into_iter()
        .map(|(document,)| serde_json::from_str(&document).map_err(|e| corrupt(format!("{kind} document: {e}"))))
        .collect()
}

/// Appends ` in (<one bind per value>)` to `query`.
fn push_in<'a, DB: sqlx::Database>(query: &mut sqlx::QueryBuilder<DB>, values: &'a [String])
where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query.push(" in (");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
}

fn to_document<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(corrupt)
}

impl Store for Db {
    async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query("select 1").execute(pool).await.map(|_| ()).map_err(backend))
    }

    async fn upsert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let now = Utc::now();
        on_writer!(self, |pool| {
            sqlx::query(
                "insert into tenants (tenant_id, name, sandbox, updated_at) values ($1, $2, $3, $4)
                 on conflict (tenant_id) do update set name = excluded.name, sandbox = excluded.sandbox,
                 updated_at = excluded.updated_at",
            )
            .bind(&tenant.tenant_id)
            .bind(&tenant.name)
            .bind(tenant.sandbox)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(backend)
        })
    }

    async fn insert_principal(&self, principal: &Principal, token_hash: &str) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "insert into principals (principal_id, tenant_id, name, admin, token_hash, created_at)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&principal.principal_id)
            .bind(&principal.tenant_id)
            .bind(&principal.name)
            .bind(principal.admin)
            .bind(token_hash)
            .bind(principal.created_at)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(backend)
        })
    }

    async fn principal_by_token_hash(&self, token_hash: &str) -> Result<Option<(Principal, String)>, StoreError> {
        let row: Option<(PrincipalRow, String)> = on_pool!(self, |pool| {
            sqlx::query_as::<_, PrincipalRowWithHash>(
                "select principal_id, tenant_id, name, admin, created_at, token_hash from principals
                 where token_hash = $1 and revoked_at is null",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
            .map_err(backend)?
            .map(|row| (row.principal, row.token_hash))
        });
        Ok(row.map(|(principal, hash)| (principal.into(), hash)))
    }

    async fn list_principals(&self, tenant_id: &str) -> Result<Vec<Principal>, StoreError> {
        let rows: Vec<PrincipalRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "select principal_id, tenant_id, name, admin, created_at from principals
                 where tenant_id = $1 and revoked_at is null order by created_at, principal_id",
            )
            .bind(tenant_id)
            .fetch_all(pool)
            .await
            .map_err(backend)?
        });
        Ok(rows.into_iter().map(Principal::from).collect())
    }

    async fn revoke_principal(
        &self,
        tenant_id: &str,
        principal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "update principals set revoked_at = $1
                 where tenant_id = $2 and principal_id = $3 and revoked_at is null",
            )
            .bind(now)
            .bind(tenant_id)
            .bind(principal_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
            .map_err(backend)
        })
    }

    async fn tenant_versions(&self, tenant_id: &str) -> Result<(Option<i64>, i64), StoreError> {
        let versions: Option<(i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as("select catalog_version, feedback_generation from tenants where tenant_id = $1")
                .bind(tenant_id)
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        Ok(versions.map_or((None, 0), |(catalog, feedback)| ((catalog > 0).then_some(catalog), feedback)))
    }

    async fn load_catalog(&self, tenant_id: &str) -> Result<(i64, Catalog), StoreError> {
        on_pool!(self, |pool| {
            // One transaction so that the version and the entries agree.
            let mut tx = pool.begin().await.map_err(backend)?;
            let (version, policy): (i64, String) =
                sqlx::query_as("select catalog_version, advertising_policy from tenants where tenant_id = $1")
                    .bind(tenant_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?
                    .ok_or_else(|| StoreError::Corrupt(format!("tenant {tenant_id} does not exist")))?;
            let mut kinds: Vec<Vec<(String,)>> = Vec::with_capacity(3);
            for sql in [
                "select document from products where tenant_id = $1 order by position",
                "select document from formats where tenant_id = $1 order by position",
                "select document from properties where tenant_id = $1 order by position",
            ] {
                kinds.push(sqlx::query_as(sql).bind(tenant_id).fetch_all(&mut *tx).await.map_err(backend)?);
            }
            let [products, formats, properties]: [Vec<(String,)>; 3] =
                kinds.try_into().map_err(|_| StoreError::Corrupt("catalog kinds".to_owned()))?;
            tx.commit().await.map_err(backend)?;
            let catalog = Catalog {
                products: documents::<Product>(products, "product")?,
                formats: documents::<Format>(formats, "format")?,
                properties: documents::<Property>(properties, "property")?,
                policy: serde_json::from_str::<AdvertisingPolicy>(&policy).map_err(corrupt)?,
                ..Catalog::default()
            };
            Ok((version, catalog))
        })
    }

    async fn replace_catalog(
        &self,
        tenant_id: &str,
        catalog: &Catalog,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let products: Vec<(String, String)> = catalog
            .products
            .iter()
            .map(|p| Ok((p.product_id.clone(), to_document(p)?)))
            .collect::<Result<_, StoreError>>()?;
        let formats: Vec<(String, String, String)> = catalog
            .formats
            .iter()
            .map(|f| Ok((f.format_id.agent_url.clone(), f.format_id.id.clone(), to_document(f)?)))
            .collect::<Result<_, StoreError>>()?;
        let properties: Vec<(String, String)> = catalog
            .properties
            .iter()
            .map(|p| Ok((p.property_id.clone(), to_document(p)?)))
            .collect::<Result<_, StoreError>>()?;
        let policy = to_document(&catalog.policy)?;
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await.map_err(backend)?;
            for table in ["products", "formats", "properties"] {
                let sql = match table {
                    "products" => "delete from products where tenant_id = $1",
                    "formats" => "delete from formats where tenant_id = $1",
                    _ => "delete from properties where tenant_id = $1",
                };
                sqlx::query(sql).bind(tenant_id).execute(&mut *tx).await.map_err(backend)?;
            }
            for (position, (product_id, document)) in products.iter().enumerate() {
                sqlx::query("insert into products (tenant_id, product_id, position, document) values ($1, $2, $3, $4)")
                    .bind(tenant_id)
                    .bind(product_id)
                    .bind(position as i64)
                    .bind(document)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            for (position, (agent_url, format_id, document)) in formats.iter().enumerate() {
                sqlx::query(
                    "insert into formats (tenant_id, agent_url, format_id, position, document) values ($1, $2, $3, $4, $5)",
                )
                .bind(tenant_id)
                .bind(agent_url)
                .bind(format_id)
                .bind(position as i64)
                .bind(document)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            for (position, (property_id, document)) in properties.iter().enumerate() {
                sqlx::query(
                    "insert into properties (tenant_id, property_id, position, document) values ($1, $2, $3, $4)",
                )
                .bind(tenant_id)
                .bind(property_id)
                .bind(position as i64)
                .bind(document)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            // Without an expected version, the current one is expected.
            let (version,): (i64,) = sqlx::query_as(
                "update tenants set catalog_version = catalog_version + 1, advertising_policy = $1, updated_at = $2
                 where tenant_id = $3 and catalog_version = coalesce($4, catalog_version)
                 returning catalog_version",
            )
            .bind(&policy)
            .bind(now)
            .bind(tenant_id)
            .bind(expected_version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .ok_or_else(|| {
                StoreError::Conflict(format!("tenant {tenant_id}: no such tenant, or its catalog changed"))
            })?;
            tx.commit().await.map_err(backend)?;
            Ok(version)
        })
    }

    async fn account_by_key(
        &self,
        tenant_id: &str,
        owner_principal_id: &str,
        key: &AccountKey,
    ) -> Result<Option<Account>, StoreError> {
        let sql = concat!(
            "select ",
            account_columns!(),
            " from accounts where tenant_id = $1 and owner_principal_id = $2
             and brand_domain = $3 and brand_id = $4 and operator = $5 and sandbox = $6"
        );
        let row: Option<AccountRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(tenant_id)
                .bind(owner_principal_id)
                .bind(&key.brand_domain)
                .bind(key.brand_id.as_deref().unwrap_or(""))
                .bind(&key.operator)
                .bind(key.sandbox)
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        row.map(Account::try_from).transpose()
    }

    async fn account_by_id(&self, tenant_id: &str, account_id: &str) -> Result<Option<Account>, StoreError> {
        let sql = concat!("select ", account_columns!(), " from accounts where tenant_id = $1 and account_id = $2");
        let row: Option<AccountRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql).bind(tenant_id).bind(account_id).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(Account::try_from).transpose()
    }

    async fn save_accounts(&self, accounts: &[Account]) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await.map_err(backend)?;
            for account in accounts {
                sqlx::query(
                    "insert into accounts (account_id, tenant_id, owner_principal_id, brand_domain, brand_id, operator,
                        sandbox, name, status, billing, payment_terms, billing_entity_name, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                     on conflict (account_id) do update set name = excluded.name, status = excluded.status,
                        billing = excluded.billing, payment_terms = excluded.payment_terms,
                        billing_entity_name = excluded.billing_entity_name, updated_at = excluded.updated_at",
                )
                .bind(&account.account_id)
                .bind(&account.tenant_id)
                .bind(&account.owner_principal_id)
                .bind(&account.key.brand_domain)
                .bind(account.key.brand_id.as_deref().unwrap_or(""))
                .bind(&account.key.operator)
                .bind(account.key.sandbox)
                .bind(&account.name)
                .bind(account.status.as_str())
                .bind(account.billing.as_str())
                .bind(&account.payment_terms)
                .bind(&account.billing_entity_name)
                .bind(account.created_at)
                .bind(account.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    async fn list_accounts(&self, filter: &AccountFilter, page: &PageRequest) -> Result<Vec<Account>, StoreError> {
        let sql = concat!(
            "select ",
            account_columns!(),
            " from accounts where tenant_id = $1
             and ($2 is null or owner_principal_id = $2)
             and ($3 is null or status = $3)
             and ($4 is null or sandbox = $4)
             and ($5 is null or account_id > $5)
             order by account_id limit $6"
        );
        let rows: Vec<AccountRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(&filter.tenant_id)
                .bind(&filter.owner_principal_id)
                .bind(filter.status.map(AccountStatus::as_str))
                .bind(filter.sandbox)
                .bind(&page.after)
                .bind(page.limit as i64)
                .fetch_all(pool)
                .await
                .map_err(backend)?
        });
        rows.into_iter().map(Account::try_from).collect()
    }

    async fn count_accounts(&self, filter: &AccountFilter) -> Result<u64, StoreError> {
        let (count,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "select count(*) from accounts where tenant_id = $1
                 and ($2 is null or owner_principal_id = $2)
                 and ($3 is null or status = $3)
                 and ($4 is null or sandbox = $4)",
            )
            .bind(&filter.tenant_id)
            .bind(&filter.owner_principal_id)
            .bind(filter.status.map(AccountStatus::as_str))
            .bind(filter.sandbox)
            .fetch_one(pool)
            .await
            .map_err(backend)?
        });
        Ok(count.max(0) as u64)
    }

    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        request_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        on_writer!(self, |pool| {
            let inserted = sqlx::query(
                "insert into idempotency_keys (principal_id, account_scope, idem_key, request_hash, created_at, expires_at)
                 values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
            )
            .bind(&scope.principal_id)
            .bind(&scope.account_scope)
            .bind(&scope.key)
            .bind(request_hash)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map_err(backend)?
            .rows_affected();
            if inserted == 1 {
                return Ok(Claim::Claimed);
            }
        });
        match self.idempotency_record(scope).await? {
            Some(record) => Ok(Claim::Existing(record)),
            // Released between our insert and select: the key is free again, so the caller
            // retries and will normally claim it.
            None => Err(StoreError::Conflict("idempotency key released concurrently".to_owned())),
        }
    }

    async fn complete_idempotency_key(&self, scope: &IdempotencyScope, response: &str) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "update idempotency_keys set response = $1
                 where principal_id = $2 and account_scope = $3 and idem_key = $4",
            )
            .bind(response)
            .bind(&scope.principal_id)
            .bind(&scope.account_scope)
            .bind(&scope.key)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(backend)
        })
    }

    async fn release_idempotency_key(&self, scope: &IdempotencyScope) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            sqlx::query(
                "delete from idempotency_keys
                 where principal_id = $1 and account_scope = $2 and idem_key = $3 and response is null",
            )
            .bind(&scope.principal_id)
            .bind(&scope.account_scope)
            .bind(&scope.key)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(backend)
        })
    }

    async fn idempotency_record(&self, scope: &IdempotencyScope) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row: Option<IdempotencyRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "select request_hash, response, created_at, expires_at from idempotency_keys
                 where principal_id = $1 and account_scope = $2 and idem_key = $3",
            )
            .bind(&scope.principal_id)
            .bind(&scope.account_scope)
            .bind(&scope.key)
            .fetch_optional(pool)
            .await
            .map_err(backend)?
        });
        Ok(row.map(|row| IdempotencyRecord {
            request_hash: row.request_hash,
            response: row.response,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }))
    }

    async fn seal_idempotency_key(&self, sealed: &SealedResponse) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await.map_err(backend)?;
            seal!(tx, sealed);
            tx.commit().await.map_err(backend)
        })
    }

    async fn claim_bookings(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<BookingRecord>, StoreError> {
        bookings::claim(self, tenant_id, now, until, limit).await
    }

    async fn save_booking(&self, record: &BookingRecord) -> Result<(), StoreError> {
        bookings::save(self, record).await
    }

    async fn booking(&self, tenant_id: &str, media_buy_id: &str) -> Result<Option<BookingRecord>, StoreError> {
        bookings::get(self, tenant_id, media_buy_id).await
    }

    async fn bookings(&self, tenant_id: &str, media_buy_ids: &[String]) -> Result<Vec<BookingRecord>, StoreError> {
        bookings::many(self, tenant_id, media_buy_ids).await
    }

    async fn bookings_to_reconcile(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<BookingRecord>, StoreError> {
        bookings::to_reconcile(self, tenant_id, now, limit).await
    }

    async fn record_platform_status(
        &self,
        media_buy_id: &str,
        status: Option<&PlatformStatus>,
        next_check: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        bookings::record_platform_status(self, media_buy_id, status, next_check).await
    }

    async fn record_platform_delivery(
        &self,
        tenant_id: &str,
        media_buy_id: &str,
        reported: &crate::core::delivery::Reported,
        as_of: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        bookings::record_delivery(self, tenant_id, media_buy_id, reported, as_of).await
    }

    async fn platform_delivery(
        &self,
        tenant_id: &str,
        media_buy_ids: &[String],
    ) -> Result<Vec<(String, crate::core::delivery::ReportedDay)>, StoreError> {
        bookings::delivery(self, tenant_id, media_buy_ids).await
    }

    async fn insert_media_buy(
        &self,
        media_buy: &MediaBuy,
        history: &[HistoryEntry],
        also: &Also,
    ) -> Result<(), StoreError> {
        media_buys::insert(self, media_buy, history, also).await
    }

    async fn media_buy(&self, tenant_id: &str, media_buy_id: &str) -> Result<Option<MediaBuy>, StoreError> {
        media_buys::get(self, tenant_id, media_buy_id).await
    }

    async fn update_media_buy(
        &self,
        media_buy: &MediaBuy,
        expected_revision: i64,
        history: &[HistoryEntry],
        also: &Also,
    ) -> Result<bool, StoreError> {
        media_buys::update(self, media_buy, expected_revision, history, also).await
    }

    async fn insert_task(&self, task: &Task, also: &Also) -> Result<(), StoreError> {
        tasks::insert(self, task, also).await
    }

    async fn save_task(&self, task: &Task, expected_revision: i64, also: &Also) -> Result<bool, StoreError> {
        tasks::save(self, task, expected_revision, also).await
    }

    async fn task(&self, tenant_id: &str, task_id: &str) -> Result<Option<Task>, StoreError> {
        tasks::get(self, tenant_id, task_id).await
    }

    async fn list_tasks(&self, filter: &TaskFilter, page: &PageRequest) -> Result<Vec<Task>, StoreError> {
        tasks::list(self, filter, page).await
    }

    async fn count_tasks(&self, filter: &TaskFilter) -> Result<u64, StoreError> {
        tasks::count(self, filter).await
    }

    async fn audit_log(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        tasks::audit_log(self, filter, page).await
    }

    async fn claim_notifications(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        outbox::claim(self, tenant_id, now, until, limit).await
    }

    async fn save_notification(&self, record: &OutboxRecord) -> Result<(), StoreError> {
        outbox::save(self, record).await
    }

    async fn notifications(&self, tenant_id: &str, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        outbox::list(self, tenant_id, limit).await
    }

    async fn reports_due(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(MediaBuy, ReportSchedule)>, StoreError> {
        reports::due(self, tenant_id, now, limit).await
    }

    async fn save_report(
        &self,
        schedule: &ReportSchedule,
        expected_sequence: i64,
        also: &Also,
    ) -> Result<bool, StoreError> {
        reports::save(self, schedule, expected_sequence, also).await
    }

    async fn report_schedule(&self, tenant_id: &str, media_buy_id: &str) -> Result<Option<ReportSchedule>, StoreError> {
        reports::get(self, tenant_id, media_buy_id).await
    }

    async fn principal(&self, tenant_id: &str, principal_id: &str) -> Result<Option<Principal>, StoreError> {
        let row: Option<PrincipalRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "select principal_id, tenant_id, name, admin, created_at from principals
                 where tenant_id = $1 and principal_id = $2 and revoked_at is null",
            )
            .bind(tenant_id)
            .bind(principal_id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?
        });
        Ok(row.map(Principal::from))
    }

    async fn list_media_buys(&self, filter: &MediaBuyFilter, page: &PageRequest) -> Result<Vec<MediaBuy>, StoreError> {
        media_buys::list(self, filter, page).await
    }

    async fn count_media_buys(&self, filter: &MediaBuyFilter) -> Result<u64, StoreError> {
        media_buys::count(self, filter).await
    }

    async fn media_buy_history(&self, media_buy_id: &str, limit: u32) -> Result<Vec<HistoryEntry>, StoreError> {
        media_buys::history(self, media_buy_id, limit).await
    }

    async fn save_creatives(&self, creatives: &[Creative], also: &Also) -> Result<(), StoreError> {
        creatives::save(self, creatives, also).await
    }

    async fn find_creatives(
        &self,
        tenant_id: &str,
        creative_id: Option<&str>,
        status: Option<CreativeStatus>,
        limit: usize,
    ) -> Result<Vec<Creative>, StoreError> {
        creatives::find(self, tenant_id, creative_id, status, limit).await
    }

    async fn creatives(&self, tenant_id: &str, principal_id: &str) -> Result<Vec<Creative>, StoreError> {
        creatives::list(self, tenant_id, principal_id).await
    }

    async fn assignments(&self, tenant_id: &str, principal_id: &str) -> Result<Vec<Assignment>, StoreError> {
        creatives::assignments(self, tenant_id, principal_id).await
    }

    async fn media_buy_id_for_package(&self, tenant_id: &str, package_id: &str) -> Result<Option<String>, StoreError> {
        creatives::media_buy_id_for_package(self, tenant_id, package_id).await
    }

    async fn media_buys_due(
        &self,
        tenant_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<MediaBuy>, StoreError> {
        media_buys::due(self, tenant_id, now, limit).await
    }

    async fn save_proposal(&self, proposal: &Proposal) -> Result<(), StoreError> {
        proposals::save(self, proposal).await
    }

    async fn proposal(
        &self,
        tenant_id: &str,
        principal_id: &str,
        proposal_id: &str,
    ) -> Result<Option<Proposal>, StoreError> {
        proposals::get(self, tenant_id, principal_id, proposal_id).await
    }

    async fn proposals(
        &self,
        tenant_id: &str,
        principal_id: &str,
        proposal_ids: &[String],
    ) -> Result<Vec<Proposal>, StoreError> {
        proposals::get_many(self, tenant_id, principal_id, proposal_ids).await
    }

    async fn seed_fixture(
        &self,
        tenant_id: &str,
        fixture_key: &str,
        fixture: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        sandbox::seed_fixture(self, tenant_id, fixture_key, fixture, now).await
    }

    async fn save_pending_product(&self, tenant_id: &str, product: &Product) -> Result<(), StoreError> {
        sandbox::save_pending_product(self, tenant_id, product).await
    }

    async fn pending_product(&self, tenant_id: &str, product_id: &str) -> Result<Option<Product>, StoreError> {
        sandbox::pending_product(self, tenant_id, product_id).await
    }

    async fn save_forced_arm(&self, arm: &crate::core::sandbox::ForcedArm) -> Result<(), StoreError> {
        sandbox::save_forced_arm(self, arm).await
    }

    async fn take_forced_arm(
        &self,
        tenant_id: &str,
        principal_id: &str,
    ) -> Result<Option<crate::core::sandbox::ForcedArm>, StoreError> {
        sandbox::take_forced_arm(self, tenant_id, principal_id).await
    }

    async fn save_simulated_delivery(
        &self,
        simulated: &crate::core::sandbox::SimulatedDelivery,
    ) -> Result<(), StoreError> {
        sandbox::save_simulated_delivery(self, simulated).await
    }

    async fn simulated_delivery(
        &self,
        tenant_id: &str,
        media_buy_ids: &[String],
    ) -> Result<Vec<crate::core::sandbox::SimulatedDelivery>, StoreError> {
        sandbox::simulated_delivery(self, tenant_id, media_buy_ids).await
    }

    async fn insert_quotes(&self, quotes: &[crate::core::avails::Quote]) -> Result<(), StoreError> {
        avails::insert(self, quotes).await
    }

    async fn quote(&self, tenant_id: &str, quote_id: &str) -> Result<Option<crate::core::avails::Quote>, StoreError> {
        avails::get(self, tenant_id, quote_id).await
    }

    async fn insert_feedback(&self, feedback: &[Feedback]) -> Result<(), StoreError> {
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await.map_err(backend)?;
            for item in feedback {
                sqlx::query(
                    "insert into performance_feedback (feedback_id, tenant_id, principal_id, media_buy_id, package_id,
                        creative_id, product_id, period_start, period_end, performance_index, metric_type,
                        feedback_source, notes, received_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&item.feedback_id)
                .bind(&item.tenant_id)
                .bind(&item.principal_id)
                .bind(&item.media_buy_id)
                .bind(&item.package_id)
                .bind(&item.creative_id)
                .bind(&item.product_id)
                .bind(item.input.period.map(|p| p.0).unwrap_or(item.received_at))
                .bind(item.input.period.map(|p| p.1).unwrap_or(item.received_at))
                .bind(item.input.performance_index)
                .bind(&item.input.metric_type)
                .bind(&item.input.feedback_source)
                .bind(&item.input.notes)
                .bind(item.received_at)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            let mut tenants: Vec<&str> = feedback.iter().map(|f| f.tenant_id.as_str()).collect();
            tenants.dedup();
            for tenant_id in tenants {
                sqlx::query("update tenants set feedback_generation = feedback_generation + 1 where tenant_id = $1")
                    .bind(tenant_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)
        })
    }

    async fn product_records(&self, tenant_id: &str) -> Result<HashMap<String, ProductRecord>, StoreError> {
        let rows: Vec<(String, f64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "select product_id, avg(performance_index), count(*) from performance_feedback
                 where tenant_id = $1 and product_id is not null and performance_index > 0
                 group by product_id",
            )
            .bind(tenant_id)
            .fetch_all(pool)
            .await
            .map_err(backend)?
        });
        Ok(rows
            .into_iter()
            .map(|(product, mean, count)| (product, ProductRecord { mean_index: mean, reports: count.max(0) as u64 }))
            .collect())
    }
}

#[derive(sqlx::FromRow)]
struct PrincipalRowWithHash {
    #[sqlx(flatten)]
    principal: PrincipalRow,
    token_hash: String,
}
