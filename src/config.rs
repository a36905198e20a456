//! Configuration: a TOML file (or the built-in demo), overridden by environment and flags.
//!
//! With no file the server runs the demo: one sandbox tenant with the demo catalog and the
//! well-known token `test-token`. A production file lists real tenants with `sandbox = false`,
//! and principals are created with `sales-agent principal create`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::adapters::gam::{self, GamProduct, GamSettings};
use crate::adapters::google_auth::ServiceAccount;
use crate::adapters::http::RateLimitRetry;
use crate::adapters::kevel::{KevelProduct, KevelSettings};
use crate::adapters::triton::{self, TritonPaths, TritonProduct, TritonSettings};
use crate::core::approval::{ApprovalPolicy, BuyApproval};
use crate::core::catalog::Catalog;
use crate::core::creative::ReviewPolicy;
use crate::core::media_buy::Verbatim;
use crate::core::tenancy::{AccountPolicy, Billing, Tenant};
use crate::core::webhook::{UrlPolicy, Webhook};

const DEMO_CONFIG: &str = include_str!("../config/demo.toml");
const DEMO_CATALOG: &str = include_str!("../config/demo-catalog.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub server: ServerSection,
    pub tenants: Vec<TenantSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    /// The URL buyers use to reach /mcp, when it differs from `http://<listen>/mcp`.
    pub public_url: Option<String>,
    /// Host headers accepted (DNS-rebinding protection); defaults to loopback names.
    pub allowed_hosts: Option<Vec<String>>,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    /// Tenant that answers unauthenticated discovery calls; defaults to the first tenant.
    pub default_tenant: Option<String>,
    /// Offer the seed-era tool surface beside AdCP 3.0 (default true).
    pub seed_tools: Option<bool>,
    /// Verify RFC 9421 signed requests from the AdCP compliance suite's published test keys at
    /// `<mcp>/adcp/<operation>` (verify only: nothing is executed there). Sandbox deployments
    /// only; on by default in the demo.
    pub request_signing_test_keys: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    pub tenant_id: String,
    pub name: String,
    #[serde(default)]
    pub sandbox: bool,
    /// Catalog file seeded on first start, relative to the configuration file.
    pub catalog: Option<String>,
    #[serde(default)]
    pub publisher_domains: Vec<String>,
    pub portfolio_description: Option<String>,
    #[serde(default)]
    pub primary_countries: Vec<String>,
    #[serde(default)]
    pub accounts: AccountsSection,
    #[serde(default)]
    pub creatives: CreativesSection,
    #[serde(default)]
    pub webhooks: WebhooksSection,
    #[serde(default)]
    pub approvals: ApprovalsSection,
    /// Principals with fixed tokens; allowed only in sandbox tenants (the demo's `test-token`).
    #[serde(default)]
    pub sandbox_principals: Vec<SandboxPrincipal>,
    /// The ad server the tenant's buys are booked in.
    #[serde(default)]
    pub ad_server: AdServerSection,
}

/// `[tenants.ad_server]`: which adapter, whether it only prints its calls, its credentials.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdServerSection {
    /// `mock` (default: an in-process ad server), `gam`, `kevel` or `triton` (experimental).
    #[serde(default)]
    pub adapter: AdapterKind,
    /// Print the platform calls that would be made (`[dry-run] Would call: ...`), send nothing,
    /// answer with simulated ids.
    #[serde(default)]
    pub dry_run: bool,
    /// How often each booked buy's status and delivery are read back from a real ad server
    /// (default 300; ended buys once a day).
    pub refresh_seconds: Option<u64>,
    pub kevel: Option<KevelSection>,
    pub gam: Option<GamSection>,
    pub triton: Option<TritonSection>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdapterKind {
    #[default]
    Mock,
    Kevel,
    Gam,
    Triton,
}

impl AdapterKind {
    fn parse(text: &str) -> anyhow::Result<AdapterKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "mock" => Ok(AdapterKind::Mock),
            "kevel" => Ok(AdapterKind::Kevel),
            "gam" => Ok(AdapterKind::Gam),
            "triton" => Ok(AdapterKind::Triton),
            other => bail!("unknown adapter {other:?}; use mock, gam, kevel or triton"),
        }
    }
}

/// `[tenants.ad_server.kevel]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KevelSection {
    /// Default `https://api.kevel.co`.
    pub base_url: Option<String>,
    /// The API key: read from this environment variable, or from this file (relative to the
    /// configuration file). Never written in the configuration itself, never logged.
    pub api_key_env: Option<String>,
    pub api_key_file: Option<String>,
    /// The flight priority of products not mapped below.
    pub default_priority_id: Option<i64>,
    /// Per product id: its Kevel priority and site/zone targeting.
    #[serde(default)]
    pub products: HashMap<String, KevelProductSection>,
    /// Kevel ad type ids by creative size: `{ "300x250" = 5 }`.
    #[serde(default)]
    pub ad_types: HashMap<String, i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KevelProductSection {
    pub priority_id: Option<i64>,
    #[serde(default)]
    pub site_zones: Vec<KevelSiteZone>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KevelSiteZone {
    pub site_id: i64,
    pub zone_id: Option<i64>,
}

/// `[tenants.ad_server.gam]`: the network, the service account, and how products map to
/// inventory and line items.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GamSection {
    pub network_code: Option<String>,
    /// The service account's JSON key: read from this file (relative to the configuration
    /// file) or this environment variable. Its `token_uri` is where tokens are asked for.
    pub service_account_key_file: Option<String>,
    pub service_account_key_env: Option<String>,
    /// SOAP version, default `v202608`.
    pub api_version: Option<String>,
    /// Default `https://ads.google.com`.
    pub base_url: Option<String>,
    pub application_name: Option<String>,
    /// The orders' trafficker; default the service account's own user.
    pub trafficker_id: Option<i64>,
    /// The network's time zone (IANA), default `America/New_York`.
    pub time_zone: Option<String>,
    /// Ad units of products not mapped below.
    #[serde(default)]
    pub default_ad_unit_ids: Vec<String>,
    #[serde(default)]
    pub products: HashMap<String, GamProductSection>,
    /// GAM location ids for geo codes beyond countries, e.g. `"US-NY" = 21167`.
    #[serde(default)]
    pub locations: HashMap<String, i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GamProductSection {
    #[serde(default)]
    pub ad_unit_ids: Vec<String>,
    pub include_descendants: Option<bool>,
    #[serde(default)]
    pub placement_ids: Vec<i64>,
    pub line_item_type: Option<String>,
    pub priority: Option<i64>,
    /// Creative sizes, `"300x250"`; default the formats' sizes.
    #[serde(default)]
    pub sizes: Vec<String>,
}

/// `[tenants.ad_server.triton]` (experimental): TAP's URLs and paths, the Login API's
/// credentials, the products' stations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TritonSection {
    /// Default `https://mbapi.tritondigital.com`.
    pub base_url: Option<String>,
    /// Default `https://login.tritondigital.com/oauth2/token`.
    pub login_url: Option<String>,
    pub username: Option<String>,
    /// The password: from this environment variable or this file; never logged.
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    #[serde(default)]
    pub paths: TritonPathsSection,
    #[serde(default)]
    pub products: HashMap<String, TritonProductSection>,
}

/// Path templates of TAP's API, for when Triton's differ from the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TritonPathsSection {
    pub advertisers: Option<String>,
    pub advertiser_campaigns: Option<String>,
    pub campaign: Option<String>,
    pub campaign_flights: Option<String>,
    pub flight: Option<String>,
    pub flight_metrics: Option<String>,
    pub flight_creatives: Option<String>,
    pub flight_creative: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TritonProductSection {
    #[serde(default)]
    pub station_ids: Vec<String>,
}

/// The ad server a tenant runs on, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum AdServerConfig {
    Mock,
    Kevel(KevelSettings),
    Gam(Box<GamSettings>),
    Triton(TritonSettings),
}

impl AdServerConfig {
    pub fn dry_run(&self) -> bool {
        match self {
            AdServerConfig::Mock => false,
            AdServerConfig::Kevel(settings) => settings.dry_run,
            AdServerConfig::Gam(settings) => settings.dry_run,
            AdServerConfig::Triton(settings) => settings.dry_run,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsSection {
    #[serde(default = "default_billing")]
    pub supported_billing: Vec<String>,
    #[serde(default = "default_terms")]
    pub payment_terms: Vec<String>,
    #[serde(default)]
    pub require_approval: bool,
}

impl Default for AccountsSection {
    fn default() -> Self {
        AccountsSection {
            supported_billing: default_billing(),
            payment_terms: default_terms(),
            require_approval: false,
        }
    }
}

fn default_billing() -> Vec<String> {
    vec!["operator".into(), "agent".into()]
}

fn default_terms() -> Vec<String> {
    vec!["net_30".into(), "net_45".into(), "prepay".into()]
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreativesSection {
    /// `auto` approves valid creatives on upload; `human` holds them for publisher review;
    /// `rules` approves those matching `auto_approve_formats` or `auto_approve_principals` and
    /// holds the rest.
    #[serde(default)]
    pub review: CreativeReview,
    #[serde(default)]
    pub auto_approve_formats: Vec<String>,
    #[serde(default)]
    pub auto_approve_principals: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    /// Accept `http` and loopback or private webhook URLs from buyers (a sandbox whose buyers
    /// run local receivers). Off by default: production accepts public https URLs only.
    #[serde(default)]
    pub allow_private_urls: bool,
}

/// When a buyer's operation waits for a person at the publisher (see `core::approval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsSection {
    /// `never` (default), `always`, `above_budget` (buys whose total budget exceeds
    /// `budget_threshold`) or `untrusted` (buys of principals not in `trusted_principals`).
    #[serde(default)]
    pub media_buys: BuyApprovalMode,
    pub budget_threshold: Option<f64>,
    #[serde(default)]
    pub trusted_principals: Vec<String>,
    /// Updates raising a buy's total budget by more than this share (0.25 = 25 %) wait for a
    /// person; unset, none do.
    pub budget_increase_share: Option<f64>,
    /// Hours a task may wait before it is overdue and escalated.
    #[serde(default = "default_due_hours")]
    pub due_hours: u32,
    /// Publisher ops' chat webhook (Slack-compatible `{"text": ...}`), told of new and
    /// overdue tasks.
    pub ops_webhook_url: Option<String>,
    /// Buys of guaranteed inventory wait for the publisher's countersigned insertion order (in a
    /// sandbox tenant the sandbox countersigns it at once).
    #[serde(default)]
    pub guaranteed_io: bool,
    /// Sandbox tenants only: held operations are approved by the system at once, through the
    /// same task, so that a buyer's tests see the submitted arm and then its completion.
    #[serde(default)]
    pub sandbox_auto_approve: bool,
}

impl Default for ApprovalsSection {
    fn default() -> Self {
        ApprovalsSection {
            media_buys: BuyApprovalMode::Never,
            budget_threshold: None,
            trusted_principals: Vec::new(),
            budget_increase_share: None,
            due_hours: default_due_hours(),
            ops_webhook_url: None,
            guaranteed_io: false,
            sandbox_auto_approve: false,
        }
    }
}

fn default_due_hours() -> u32 {
    24
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuyApprovalMode {
    #[default]
    Never,
    Always,
    AboveBudget,
    Untrusted,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreativeReview {
    #[default]
    Human,
    Auto,
    Rules,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxPrincipal {
    pub principal_id: String,
    pub name: String,
    pub token: Secret,
    #[serde(default)]
    pub admin: bool,
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Overrides from flags and the environment (flags win; clap reads the env vars).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub allowed_hosts: Option<Vec<String>>,
    pub log_format: Option<String>,
    pub seed_tools: Option<bool>,
    /// Every tenant on this adapter (`SALES_AGENT_ADAPTER`).
    pub adapter: Option<String>,
    /// Every tenant's adapter in dry-run (`AdCP_DRY_RUN`).
    pub dry_run: Option<bool>,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub public_url: String,
    pub allowed_hosts: Vec<String>,
    pub json_logs: bool,
    pub default_tenant: String,
    /// The seed-era tools (discover_products, get_avails, ...) are offered beside AdCP 3.0.
    pub seed_tools: bool,
    /// The compliance suite's signed-requests test counterparty is verified (sandbox only).
    pub request_signing_test_keys: bool,
    pub tenants: Vec<TenantConfig>,
    /// True when running the built-in demo (no configuration file).
    pub demo: bool,
}

#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub tenant: Tenant,
    pub catalog: Option<Catalog>,
    pub sandbox_principals: Vec<SandboxPrincipal>,
    pub ad_server: AdServerConfig,
    /// How often reconciliation reads each booked buy back from a real ad server.
    pub ad_server_refresh: std::time::Duration,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How often a real ad server is read back by default (`ad_server.refresh_seconds`).
pub const DEFAULT_AD_SERVER_REFRESH: std::time::Duration = std::time::Duration::from_secs(300);
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/sales-agent.db";

impl Config {
    /// Loads `path`, or the built-in demo when `None`, and applies overrides.
    ///
    /// # Errors
    /// Unreadable or invalid files, unknown fields, inconsistent tenants or catalogs.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let (file, base, demo): (ConfigFile, Option<PathBuf>, bool) = match path {
            None => (toml::from_str(DEMO_CONFIG).context("built-in demo configuration")?, None, true),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                let file = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
                (file, path.parent().map(Path::to_path_buf), false)
            }
        };
        let server = file.server;
        let listen_text = overrides.listen.or(server.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr =
            listen_text.parse().with_context(|| format!("listen address {listen_text:?} is not host:port"))?;
        let database_url =
            overrides.database_url.or(server.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let public_url = overrides.public_url.or(server.public_url).unwrap_or_else(|| format!("http://{listen}/mcp"));
        let allowed_hosts = overrides
            .allowed_hosts
            .or(server.allowed_hosts)
            .unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]);
        let json_logs = match overrides.log_format.or(server.log_format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("log_format {other:?} must be text or json"),
        };
        let seed_tools = overrides.seed_tools.or(server.seed_tools).unwrap_or(true);
        if file.tenants.is_empty() {
            bail!("configuration lists no tenants");
        }
        let mut tenants = Vec::new();
        let adapter = overrides.adapter.as_deref().map(AdapterKind::parse).transpose()?;
        for mut section in file.tenants {
            if let Some(adapter) = adapter {
                section.ad_server.adapter = adapter;
            }
            if let Some(dry_run) = overrides.dry_run {
                section.ad_server.dry_run = dry_run;
            }
            tenants.push(tenant_config(section, base.as_deref(), &public_url)?);
        }
        let default_tenant = server.default_tenant.unwrap_or_else(|| tenants[0].tenant.tenant_id.clone());
        if !tenants.iter().any(|t| t.tenant.tenant_id == default_tenant) {
            bail!("default_tenant {default_tenant:?} is not one of the tenants");
        }
        let request_signing_test_keys = server.request_signing_test_keys.unwrap_or(demo);
        if request_signing_test_keys && !tenants.iter().all(|t| t.tenant.sandbox) {
            bail!(
                "request_signing_test_keys trusts publicly known test keys; it is allowed only when every tenant is a sandbox"
            );
        }
        Ok(Config {
            listen,
            database_url,
            public_url,
            allowed_hosts,
            json_logs,
            default_tenant,
            seed_tools,
            request_signing_test_keys,
            tenants,
            demo,
        })
    }

    pub fn tenant(&self, tenant_id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.tenant.tenant_id == tenant_id)
    }
}

fn tenant_config(section: TenantSection, base: Option<&Path>, public_url: &str) -> anyhow::Result<TenantConfig> {
    let id = &section.tenant_id;
    if !section.sandbox && !section.sandbox_principals.is_empty() {
        bail!(
            "tenant {id}: sandbox_principals are only allowed in sandbox tenants; use `sales-agent principal create`"
        );
    }
    let mut supported_billing = Vec::new();
    for billing in &section.accounts.supported_billing {
        supported_billing
            .push(Billing::parse(billing).with_context(|| format!("tenant {id}: unknown billing {billing:?}"))?);
    }
    let catalog = match (&section.catalog, base) {
        (None, _) => None,
        (Some(name), None) if name == "demo-catalog.toml" => Some(parse_catalog(DEMO_CATALOG, "toml")?),
        (Some(name), None) => {
            bail!("tenant {id}: catalog {name:?} cannot be resolved without a configuration file")
        }
        (Some(name), Some(base)) => Some(read_catalog(&base.join(name))?),
    };
    let tenant = Tenant {
        tenant_id: section.tenant_id.clone(),
        name: section.name,
        sandbox: section.sandbox,
        agent_url: public_url.to_owned(),
        publisher_domains: section.publisher_domains,
        portfolio_description: section.portfolio_description,
        primary_countries: section.primary_countries,
        account_policy: AccountPolicy {
            supported_billing,
            payment_terms: section.accounts.payment_terms,
            require_approval: section.accounts.require_approval,
        },
        creative_review: match section.creatives.review {
            CreativeReview::Auto => ReviewPolicy::AutoApprove,
            CreativeReview::Human => ReviewPolicy::Human,
            CreativeReview::Rules => ReviewPolicy::Rules {
                auto_approve_formats: section.creatives.auto_approve_formats,
                auto_approve_principals: section.creatives.auto_approve_principals,
            },
        },
        webhook_urls: UrlPolicy { allow_private: section.webhooks.allow_private_urls },
        approvals: approval_policy(
            id,
            section.sandbox,
            section.approvals,
            UrlPolicy { allow_private: section.webhooks.allow_private_urls },
        )?,
    };
    let ad_server_refresh = match section.ad_server.refresh_seconds {
        None => DEFAULT_AD_SERVER_REFRESH,
        Some(seconds @ 1..=86_400) => std::time::Duration::from_secs(seconds),
        Some(other) => bail!("tenant {id}: ad_server.refresh_seconds {other} must be between 1 and 86400"),
    };
    let ad_server = ad_server_config(id, section.ad_server, base)?;
    Ok(TenantConfig { tenant, catalog, sandbox_principals: section.sandbox_principals, ad_server, ad_server_refresh })
}

/// Resolves a tenant's ad server: the adapter's credentials are read here (from the
/// environment or a file), and only a dry-run may go without them.
fn ad_server_config(id: &str, section: AdServerSection, base: Option<&Path>) -> anyhow::Result<AdServerConfig> {
    match section.adapter {
        AdapterKind::Mock => Ok(AdServerConfig::Mock),
        AdapterKind::Kevel => {
            let kevel = section.kevel.unwrap_or_default();
            let api_key = secret(
                id,
                "ad_server.kevel.api_key",
                kevel.api_key_env.as_deref(),
                kevel.api_key_file.as_deref(),
                base,
            )?;
            let api_key = match (api_key, section.dry_run) {
                (Some(key), _) => key,
                (None, true) => "dry-run".to_owned(),
                (None, false) => bail!(
                    "tenant {id}: the kevel adapter needs an API key (ad_server.kevel.api_key_env or api_key_file); \
                     without one only a dry-run (AdCP_DRY_RUN=true) can run"
                ),
            };
            let base_url = http_url(
                id,
                "ad_server.kevel.base_url",
                kevel.base_url.unwrap_or_else(|| crate::adapters::kevel::DEFAULT_BASE_URL.to_owned()),
            )?;
            let products = kevel
                .products
                .into_iter()
                .map(|(product_id, p)| {
                    let site_zones = p.site_zones.into_iter().map(|sz| (sz.site_id, sz.zone_id)).collect();
                    (product_id, KevelProduct { priority_id: p.priority_id, site_zones })
                })
                .collect();
            let ad_types = kevel
                .ad_types
                .iter()
                .map(|(size, ad_type)| {
                    Ok((creative_size(&format!("tenant {id}: ad_server.kevel.ad_types"), size)?, *ad_type))
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(AdServerConfig::Kevel(KevelSettings {
                ad_types,
                base_url,
                api_key,
                default_priority_id: kevel.default_priority_id.unwrap_or(1),
                products,
                dry_run: section.dry_run,
                retry: RateLimitRetry::default(),
                report_wait: std::time::Duration::from_secs(60),
            }))
        }
        AdapterKind::Gam => gam_config(id, section.gam.unwrap_or_default(), section.dry_run, base),
        AdapterKind::Triton => triton_config(id, section.triton.unwrap_or_default(), section.dry_run, base),
    }
}

/// A `WIDTHxHEIGHT` size.
fn creative_size(what: &str, size: &str) -> anyhow::Result<(u32, u32)> {
    size.split_once('x')
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
        .filter(|(w, h)| *w > 0 && *h > 0)
        .ok_or_else(|| anyhow::anyhow!("{what}: {size:?} is not WIDTHxHEIGHT"))
}

fn http_url(id: &str, what: &str, url: String) -> anyhow::Result<String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url)
    } else {
        bail!("tenant {id}: {what} {url:?} is not an http(s) URL")
    }
}

fn triton_config(
    id: &str,
    triton: TritonSection,
    dry_run: bool,
    base: Option<&Path>,
) -> anyhow::Result<AdServerConfig> {
    let password = secret(
        id,
        "ad_server.triton's password",
        triton.password_env.as_deref(),
        triton.password_file.as_deref(),
        base,
    )?;
    let (username, password) = match (triton.username, password, dry_run) {
        (Some(user), Some(password), _) if !user.trim().is_empty() => (user, password),
        (_, _, true) => ("dry-run".to_owned(), "dry-run".to_owned()),
        _ => bail!(
            "tenant {id}: the triton adapter needs Login API credentials (ad_server.triton.username and \
             password_env or password_file); without them only a dry-run (AdCP_DRY_RUN=true) can run"
        ),
    };
    let defaults = TritonPaths::default();
    let paths = triton.paths;
    let path = |given: Option<String>, default: String, what: &str| -> anyhow::Result<String> {
        let path = given.unwrap_or(default);
        if !path.starts_with('/') {
            bail!("tenant {id}: ad_server.triton.paths.{what} {path:?} must start with /");
        }
        Ok(path)
    };
    Ok(AdServerConfig::Triton(TritonSettings {
        base_url: http_url(
            id,
            "ad_server.triton.base_url",
            triton.base_url.unwrap_or_else(|| triton::DEFAULT_BASE_URL.to_owned()),
        )?,
        login_url: http_url(
            id,
            "ad_server.triton.login_url",
            triton.login_url.unwrap_or_else(|| triton::DEFAULT_LOGIN_URL.to_owned()),
        )?,
        username,
        password,
        paths: TritonPaths {
            advertisers: path(paths.advertisers, defaults.advertisers, "advertisers")?,
            advertiser_campaigns: path(
                paths.advertiser_campaigns,
                defaults.advertiser_campaigns,
                "advertiser_campaigns",
            )?,
            campaign: path(paths.campaign, defaults.campaign, "campaign")?,
            campaign_flights: path(paths.campaign_flights, defaults.campaign_flights, "campaign_flights")?,
            flight: path(paths.flight, defaults.flight, "flight")?,
            flight_metrics: path(paths.flight_metrics, defaults.flight_metrics, "flight_metrics")?,
            flight_creatives: path(paths.flight_creatives, defaults.flight_creatives, "flight_creatives")?,
            flight_creative: path(paths.flight_creative, defaults.flight_creative, "flight_creative")?,
        },
        products: triton
            .products
            .into_iter()
            .map(|(product_id, p)| (product_id, TritonProduct { station_ids: p.station_ids }))
            .collect(),
        dry_run,
        retry: RateLimitRetry::default(),
    }))
}

/// A credential from an environment variable or a file (relative to the configuration file),
/// trimmed; `None` when neither is set or the variable is empty.
fn secret(
    id: &str,
    what: &str,
    env: Option<&str>,
    file: Option<&str>,
    base: Option<&Path>,
) -> anyhow::Result<Option<String>> {
    match (env, file) {
        (Some(_), Some(_)) => bail!("tenant {id}: {what} is read from an environment variable or a file, not both"),
        (Some(var), None) => Ok(std::env::var(var).ok().filter(|k| !k.trim().is_empty()).map(|k| k.trim().to_owned())),
        (None, Some(file)) => {
            let path = base.map_or_else(|| PathBuf::from(file), |b| b.join(file));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("tenant {id}: reading {what} from {}", path.display()))?;
            Ok(Some(text.trim().to_owned()))
        }
        (None, None) => Ok(None),
    }
}

fn gam_config(id: &str, gam: GamSection, dry_run: bool, base: Option<&Path>) -> anyhow::Result<AdServerConfig> {
    let key = secret(
        id,
        "ad_server.gam's service account key",
        gam.service_account_key_env.as_deref(),
        gam.service_account_key_file.as_deref(),
        base,
    )?;
    let service_account = match (key, dry_run) {
        (Some(text), _) => Some(
            ServiceAccount::from_json(&text)
                .map_err(|e| anyhow::anyhow!("tenant {id}: ad_server.gam's service account key: {e}"))?,
        ),
        (None, true) => None,
        (None, false) => bail!(
            "tenant {id}: the gam adapter needs a service account key (ad_server.gam.service_account_key_file or \
             service_account_key_env); without one only a dry-run (AdCP_DRY_RUN=true) can run"
        ),
    };
    let network_code = match (gam.network_code, dry_run) {
        (Some(code), _) if !code.is_empty() && code.chars().all(|c| c.is_ascii_digit()) => code,
        (Some(code), _) => bail!("tenant {id}: ad_server.gam.network_code {code:?} is not a GAM network code (digits)"),
        (None, true) => "0".to_owned(),
        (None, false) => bail!("tenant {id}: the gam adapter needs ad_server.gam.network_code"),
    };
    let api_version = gam.api_version.unwrap_or_else(|| gam::DEFAULT_VERSION.to_owned());
    if !(api_version.len() == 7 && api_version.starts_with('v') && api_version[1..].chars().all(|c| c.is_ascii_digit()))
    {
        bail!(
            "tenant {id}: ad_server.gam.api_version {api_version:?} is not a version like {:?}",
            gam::DEFAULT_VERSION
        );
    }
    let base_url =
        http_url(id, "ad_server.gam.base_url", gam.base_url.unwrap_or_else(|| gam::DEFAULT_BASE_URL.to_owned()))?;
    let zone = gam.time_zone.unwrap_or_else(|| gam::DEFAULT_TIME_ZONE.to_owned());
    let time_zone: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| anyhow::anyhow!("tenant {id}: ad_server.gam.time_zone {zone:?} is not an IANA time zone"))?;
    let mut products = HashMap::new();
    for (product_id, p) in gam.products {
        let at = format!("tenant {id}: ad_server.gam.products.{product_id:?}");
        if let Some(kind) = &p.line_item_type
            && !gam::LINE_ITEM_TYPES.contains(&kind.as_str())
        {
            bail!("{at}.line_item_type {kind:?} is not one of {:?}", gam::LINE_ITEM_TYPES);
        }
        if let Some(priority) = p.priority
            && !(1..=16).contains(&priority)
        {
            bail!("{at}.priority {priority} is not between 1 and 16");
        }
        let sizes =
            p.sizes.iter().map(|size| creative_size(&format!("{at}.sizes"), size)).collect::<anyhow::Result<_>>()?;
        products.insert(
            product_id,
            GamProduct {
                ad_unit_ids: p.ad_unit_ids,
                include_descendants: p.include_descendants.unwrap_or(true),
                placement_ids: p.placement_ids,
                line_item_type: p.line_item_type,
                priority: p.priority,
                sizes,
            },
        );
    }
    Ok(AdServerConfig::Gam(Box::new(GamSettings {
        base_url,
        api_version,
        network_code,
        application_name: gam.application_name.unwrap_or_else(|| "adcp-sales-agent".to_owned()),
        service_account,
        trafficker_id: gam.trafficker_id,
        time_zone,
        default_ad_unit_ids: gam.default_ad_unit_ids,
        products,
        locations: gam.locations,
        dry_run,
        retry: RateLimitRetry::default(),
        report_wait: std::time::Duration::from_secs(120),
    })))
}

fn approval_policy(
    id: &str,
    sandbox: bool,
    section: ApprovalsSection,
    policy: UrlPolicy,
) -> anyhow::Result<ApprovalPolicy> {
    if section.sandbox_auto_approve && !sandbox {
        bail!(
            "tenant {id}: approvals.sandbox_auto_approve is for sandbox tenants only; a person approves in production"
        );
    }
    let media_buys = match (section.media_buys, section.budget_threshold) {
        (BuyApprovalMode::Never, _) => BuyApproval::Never,
        (BuyApprovalMode::Always, _) => BuyApproval::Always,
        (BuyApprovalMode::AboveBudget, Some(limit)) if limit.is_finite() && limit >= 0.0 => {
            BuyApproval::AboveBudget(limit)
        }
        (BuyApprovalMode::AboveBudget, _) => {
            bail!("tenant {id}: approvals.media_buys = \"above_budget\" needs a non-negative budget_threshold")
        }
        (BuyApprovalMode::Untrusted, _) => BuyApproval::UntrustedPrincipals(section.trusted_principals),
    };
    if let Some(share) = section.budget_increase_share
        && !(share.is_finite() && share >= 0.0)
    {
        bail!("tenant {id}: approvals.budget_increase_share must be a non-negative number (0.25 = 25 %)");
    }
    if section.due_hours == 0 {
        bail!("tenant {id}: approvals.due_hours must be at least 1");
    }
    let ops_webhook = match section.ops_webhook_url {
        Some(url) => {
            crate::core::webhook::check_url(&url, "approvals.ops_webhook_url", policy)
                .map_err(|e| anyhow::anyhow!("tenant {id}: {e}"))?;
            let config = serde_json::json!({ "url": url }).to_string();
            Some(Webhook { url, config: Verbatim(config), frequency: None })
        }
        None => None,
    };
    Ok(ApprovalPolicy {
        media_buys,
        budget_increase_share: section.budget_increase_share,
        due_in: chrono::Duration::hours(i64::from(section.due_hours)),
        ops_webhook,
        guaranteed_io: section.guaranteed_io,
        sandbox_auto_approve: section.sandbox_auto_approve,
    })
}

/// Reads a catalog file (`.toml` or `.json`) and checks its invariants.
///
/// # Errors
/// Unreadable or unparsable files, unknown fields, broken references.
pub fn read_catalog(path: &Path) -> anyhow::Result<Catalog> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading catalog {}", path.display()))?;
    let kind = if path.extension().is_some_and(|e| e == "json") { "json" } else { "toml" };
    parse_catalog(&text, kind).with_context(|| format!("catalog {}", path.display()))
}

fn parse_catalog(text: &str, kind: &str) -> anyhow::Result<Catalog> {
    let catalog: Catalog = if kind == "json" {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| anyhow::anyhow!("at {}: {}", e.path(), e.inner()))?
    } else {
        toml::from_str(text)?
    };
    if let Err(problems) = catalog.validate() {
        bail!("invalid catalog:\n  {}", problems.join("\n  "));
    }
    Ok(catalog)
}
