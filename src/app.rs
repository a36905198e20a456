//! The application context shared by every transport: store, tenants, clock, ranker, and a
//! catalog cache that follows the stored catalog version.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context;

use crate::adapters::Rehearsal;
use crate::adapters::webhook::WebhookKey;
use crate::config::Config;
use crate::core::auth;
use crate::core::catalog::Catalog;
use crate::core::delivery::AdServer;
use crate::core::ports::{Clock, Store};
use crate::core::ranking::Ranker;
use crate::core::tenancy::{Principal, Tenant};
use crate::core::{Error, StoreError};
use crate::store::Db;

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    config: Config,
    clock: Arc<dyn Clock>,
    ranker: Arc<dyn Ranker>,
    ad_servers: AdServers,
    /// Signs outbound webhooks; its public half is published at /.well-known/jwks.json.
    webhook_key: WebhookKey,
    /// Per tenant: the catalog and the feedback records, with the versions they were read at.
    tenants: RwLock<HashMap<String, TenantCache>>,
}

/// What [`App`] keeps per tenant between requests. One read of the tenant's versions per
/// request tells whether either part is stale (a CLI import or another server instance may
/// have changed them).
#[derive(Clone)]
struct TenantCache {
    catalog_version: i64,
    /// With `self` resolved to this agent's URL.
    catalog: Arc<Catalog>,
    /// Read on first use by brief ranking.
    records: Option<(i64, Arc<ProductRecords>)>,
}

type ProductRecords = HashMap<String, crate::core::feedback::ProductRecord>;

/// The placeholder a catalog file uses for this agent's own URL in format ids.
pub const SELF_AGENT_URL: &str = "self";

/// The ad server of each tenant, and the one of tenants not listed (with how to rehearse on
/// it: a dry-run twin for one request's `X-Dry-Run`; the mock's by default).
#[derive(Clone)]
pub struct AdServers {
    pub default: Arc<dyn AdServer>,
    pub tenants: HashMap<String, (Arc<dyn AdServer>, RehearsalFactory)>,
}

pub type RehearsalFactory = Arc<dyn Fn() -> Rehearsal + Send + Sync>;

impl AdServers {
    /// One ad server for every tenant.
    pub fn single(ad_server: Arc<dyn AdServer>) -> AdServers {
        AdServers { default: ad_server, tenants: HashMap::new() }
    }
}

impl App {
    pub fn new(
        db: Db,
        config: Config,
        clock: Arc<dyn Clock>,
        ranker: Arc<dyn Ranker>,
        ad_servers: AdServers,
        webhook_key: WebhookKey,
    ) -> App {
        let tenants = RwLock::new(HashMap::new());
        App { inner: Arc::new(Inner { db, config, clock, ranker, ad_servers, webhook_key, tenants }) }
    }

    /// The seller's webhook-signing key.
    pub fn webhook_key(&self) -> &WebhookKey {
        &self.inner.webhook_key
    }

    /// The ad server the tenant books in.
    pub fn ad_server(&self, tenant_id: &str) -> &dyn AdServer {
        let servers = &self.inner.ad_servers;
        servers.tenants.get(tenant_id).map_or(&servers.default, |(server, _)| server).as_ref()
    }

    /// A dry-run twin of the tenant's ad server that records the calls it would make.
    pub fn rehearsal(&self, tenant_id: &str) -> Rehearsal {
        match self.inner.ad_servers.tenants.get(tenant_id) {
            Some((_, rehearse)) => rehearse(),
            None => Rehearsal::mock(),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    pub fn ranker(&self) -> &dyn Ranker {
        self.inner.ranker.as_ref()
    }

    /// The tenant a principal belongs to, or the default tenant for anonymous calls.
    ///
    /// # Errors
    /// A principal whose tenant is no longer configured.
    pub fn tenant_for(&self, principal: Option<&Principal>) -> Result<&Tenant, Error> {
        let tenant_id = principal.map_or(self.inner.config.default_tenant.as_str(), |p| p.tenant_id.as_str());
        self.inner
            .config
            .tenant(tenant_id)
            .map(|t| &t.tenant)
            .ok_or_else(|| Error::PermissionDenied(format!("tenant {tenant_id} is not served by this agent")))
    }

    /// The tenant's catalog, reloaded only when its stored version changed (a CLI import in
    /// another process bumps it).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn catalog(&self, tenant: &Tenant) -> Result<Arc<Catalog>, Error> {
        Ok(self.tenant_data(tenant, false).await?.0)
    }

    /// The tenant's catalog and buyers' performance record per product (which brief ranking
    /// takes into account), each read again only when its version changed.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn catalog_and_records(&self, tenant: &Tenant) -> Result<(Arc<Catalog>, Arc<ProductRecords>), Error> {
        let (catalog, records) = self.tenant_data(tenant, true).await?;
        Ok((catalog, records.unwrap_or_default()))
    }

    async fn tenant_data(
        &self,
        tenant: &Tenant,
        with_records: bool,
    ) -> Result<(Arc<Catalog>, Option<Arc<ProductRecords>>), Error> {
        let (catalog_version, feedback) = self.inner.db.tenant_versions(&tenant.tenant_id).await?;
        let catalog_version = catalog_version.unwrap_or(0);
        let cached = self.inner.tenants.read().expect("tenant cache lock").get(&tenant.tenant_id).cloned();
        let mut changed = false;
        let mut entry = match cached {
            Some(entry) if entry.catalog_version == catalog_version => entry,
            _ => {
                changed = true;
                let (version, mut catalog) = if catalog_version == 0 {
                    (0, Catalog::default())
                } else {
                    self.inner.db.load_catalog(&tenant.tenant_id).await?
                };
                resolve_self_urls(&mut catalog, &tenant.agent_url);
                TenantCache { catalog_version: version, catalog: Arc::new(catalog), records: None }
            }
        };
        let records = match (&entry.records, with_records) {
            (_, false) => None,
            (Some((generation, records)), true) if *generation == feedback => Some(records.clone()),
            (_, true) => {
                let records = Arc::new(crate::core::feedback::records(&self.inner.db, &tenant.tenant_id).await?);
                entry.records = Some((feedback, records.clone()));
                changed = true;
                Some(records)
            }
        };
        let catalog = entry.catalog.clone();
        if changed {
            self.inner.tenants.write().expect("tenant cache lock").insert(tenant.tenant_id.clone(), entry);
        }
        Ok((catalog, records))
    }

    /// Resolves a bearer token to its principal.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, Error> {
        auth::authenticate(&self.inner.db, token).await
    }

    /// The principal that requests signed with the compliance suite's test keys act as: the
    /// default tenant's first sandbox principal (`None` when it has none).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn signing_principal(&self) -> Result<Option<Principal>, Error> {
        let config = &self.inner.config;
        let Some(tenant) = config.tenant(&config.default_tenant) else { return Ok(None) };
        let Some(sandbox) = tenant.sandbox_principals.first() else { return Ok(None) };
        Ok(self.inner.db.principal(&tenant.tenant.tenant_id, &sandbox.principal_id).await?)
    }
}

fn resolve_self_urls(catalog: &mut Catalog, agent_url: &str) {
    let resolve = |url: &mut String| {
        if url == SELF_AGENT_URL {
            *url = agent_url.to_owned();
        }
    };
    for format in &mut catalog.formats {
        resolve(&mut format.format_id.agent_url);
    }
    for product in &mut catalog.products {
        for format_id in &mut product.format_ids {
            resolve(&mut format_id.agent_url);
        }
    }
}

/// Brings the database in line with the configuration: tenants exist, a tenant with no catalog
/// yet gets its configured one, sandbox principals exist with their fixed tokens.
///
/// # Errors
/// Storage failures, or a sandbox token already used by another principal.
pub async fn bootstrap(db: &Db, config: &Config) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    for tenant_config in &config.tenants {
        let tenant = &tenant_config.tenant;
        db.upsert_tenant(tenant).await.with_context(|| format!("tenant {}", tenant.tenant_id))?;
        if db.tenant_versions(&tenant.tenant_id).await?.0.is_none()
            && let Some(catalog) = &tenant_config.catalog
        {
            db.replace_catalog(&tenant.tenant_id, catalog, None, now).await?;
            tracing::info!(
                tenant = %tenant.tenant_id,
                products = catalog.products.len(),
                formats = catalog.formats.len(),
                "seeded catalog"
            );
        }
        for sandbox_principal in &tenant_config.sandbox_principals {
            let hash = auth::hash_token(sandbox_principal.token.expose());
            match db.principal_by_token_hash(&hash).await? {
                Some((existing, _)) if existing.principal_id == sandbox_principal.principal_id => {}
                Some((existing, _)) => anyhow::bail!(
                    "sandbox principal {}: its token already belongs to principal {}",
                    sandbox_principal.principal_id,
                    existing.principal_id
                ),
                None => {
                    let principal = Principal {
                        principal_id: sandbox_principal.principal_id.clone(),
                        tenant_id: tenant.tenant_id.clone(),
                        name: sandbox_principal.name.clone(),
                        admin: sandbox_principal.admin,
                        created_at: now,
                    };
                    db.insert_principal(&principal, &hash).await.map_err(|e| match e {
                        StoreError::Conflict(_) => anyhow::anyhow!(
                            "sandbox principal {} exists with another token; revoke it or pick another id",
                            principal.principal_id
                        ),
                        other => other.into(),
                    })?;
                }
            }
            if config.demo {
                // The demo token is public by design (README, seeds); real tokens are never logged.
                tracing::info!(
                    tenant = %tenant.tenant_id,
                    principal = %sandbox_principal.principal_id,
                    token = sandbox_principal.token.expose(),
                    "demo mode: sandbox principal ready; send it as `x-adcp-auth` or `Authorization: Bearer`"
                );
            }
        }
    }
    Ok(())
}
