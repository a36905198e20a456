//! Command line: `serve` (default), `principal create|list|revoke`, `catalog import`, `migrate`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides, read_catalog};
use crate::core::Store;
use crate::core::auth;
use crate::core::tenancy::Principal;
use crate::store::Db;

#[derive(Debug, Parser)]
#[command(name = "sales-agent", version, about = "AdCP 3.0 media-buy sales agent (MCP over streamable HTTP)")]
pub struct Cli {
    /// Configuration file (TOML). Without one, the built-in demo tenant runs.
    #[arg(long, global = true, env = "SALES_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://path (default sqlite://data/sales-agent.db) or postgres://…
    #[arg(long, global = true, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, global = true, env = "SALES_AGENT_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, global = true, env = "SALES_AGENT_LISTEN")]
    pub listen: Option<String>,
    /// Public URL of the MCP endpoint (default http://<listen>/mcp).
    #[arg(long, global = true, env = "SALES_AGENT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Accepted Host headers, comma separated (default localhost,127.0.0.1,::1).
    #[arg(long, global = true, env = "SALES_AGENT_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Option<Vec<String>>,
    /// Offer the seed-era tools (discover_products, get_avails, ...) beside AdCP 3.0: true
    /// (default) or false for a pure AdCP 3.0 tools/list.
    #[arg(long, global = true, env = "SALES_AGENT_SEED_TOOLS")]
    pub seed_tools: Option<bool>,
    /// Book every tenant's buys in this ad server: mock, gam, kevel or triton (else each tenant's
    /// `[tenants.ad_server] adapter`, default mock).
    #[arg(long, global = true, env = "SALES_AGENT_ADAPTER")]
    pub adapter: Option<String>,
    /// Dry-run every tenant's ad server: print the platform calls that would be made, send
    /// nothing, answer with simulated ids. `AdCP_DRY_RUN=true sales-agent serve --adapter gam`
    /// needs no credentials.
    #[arg(long, global = true, env = "AdCP_DRY_RUN")]
    pub dry_run: Option<bool>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over HTTP (the default).
    Serve,
    /// Manage principals (buyers and publisher ops) and their tokens.
    #[command(subcommand)]
    Principal(PrincipalCommand),
    /// Manage a tenant's catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Apply database migrations and exit.
    Migrate,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal and print its token (shown once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Publisher ops: may use admin-only tools and see every principal's data.
        #[arg(long)]
        admin: bool,
    },
    /// List active principals of a tenant.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a principal's token.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Replace a tenant's catalog with a file (TOML or JSON, in AdCP product and format shapes).
    Import {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
    },
    /// Check a catalog file without importing it.
    Check { file: PathBuf },
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            database_url: self.database_url.clone(),
            public_url: self.public_url.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            log_format: self.log_format.clone(),
            seed_tools: self.seed_tools,
            adapter: self.adapter.clone(),
            dry_run: self.dry_run,
        }
    }

    /// # Errors
    /// See [`Config::load`].
    pub fn load_config(&self) -> anyhow::Result<Config> {
        Config::load(self.config.as_deref(), self.overrides())
    }
}

/// Runs an administrative command against the configured database.
///
/// # Errors
/// Invalid input, unknown tenants, storage failures.
pub async fn run_admin(config: &Config, command: &Command) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    crate::app::bootstrap(&db, config).await?;
    let known_tenant = |tenant: &str| -> anyhow::Result<()> {
        if config.tenant(tenant).is_none() {
            bail!("unknown tenant {tenant:?}; configured tenants: {}", tenant_ids(config));
        }
        Ok(())
    };
    match command {
        Command::Principal(PrincipalCommand::Create { tenant, name, admin }) => {
            known_tenant(tenant)?;
            let token = auth::generate_token();
            let principal = Principal {
                principal_id: format!("p_{}", uuid::Uuid::new_v4().simple()),
                tenant_id: tenant.clone(),
                name: name.clone(),
                admin: *admin,
                created_at: chrono::Utc::now(),
            };
            db.insert_principal(&principal, &auth::hash_token(&token)).await?;
            println!("principal_id: {}", principal.principal_id);
            println!("tenant: {tenant}");
            println!("admin: {admin}");
            println!("token: {token}");
            eprintln!("Store the token now: it is not kept and cannot be shown again.");
        }
        Command::Principal(PrincipalCommand::List { tenant }) => {
            known_tenant(tenant)?;
            for principal in db.list_principals(tenant).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    principal.principal_id,
                    if principal.admin { "admin" } else { "buyer" },
                    principal.created_at.to_rfc3339(),
                    principal.name
                );
            }
        }
        Command::Principal(PrincipalCommand::Revoke { tenant, id }) => {
            known_tenant(tenant)?;
            if !db.revoke_principal(tenant, id, chrono::Utc::now()).await? {
                bail!("no active principal {id:?} in tenant {tenant:?}");
            }
            println!("revoked {id}");
        }
        Command::Catalog(CatalogCommand::Import { tenant, file }) => {
            known_tenant(tenant)?;
            let catalog = read_catalog(file)?;
            let version = db
                .replace_catalog(tenant, &catalog, None, chrono::Utc::now())
                .await
                .with_context(|| format!("importing into tenant {tenant}"))?;
            println!(
                "imported {} products, {} formats, {} properties into {tenant} (catalog version {version})",
                catalog.products.len(),
                catalog.formats.len(),
                catalog.properties.len()
            );
        }
        Command::Catalog(CatalogCommand::Check { .. }) => {
            bail!("catalog check needs no database; run it directly")
        }
        Command::Migrate => println!("database at version: migrations applied ({})", db.backend_name()),
        Command::Serve => bail!("serve is not an administrative command"),
    }
    db.close().await;
    Ok(())
}

fn tenant_ids(config: &Config) -> String {
    config.tenants.iter().map(|t| t.tenant.tenant_id.as_str()).collect::<Vec<_>>().join(", ")
}
