//! An AdCP 3.0 media-buy sales agent: AI buying agents discover a publisher's products over MCP.
//!
//! Reading order: [`core`] (domain, no IO), [`store`] (SQL for SQLite and Postgres), [`mcp`]
//! (tools and AdCP wire shapes), [`http`] (axum host, auth), [`app`] (shared context),
//! [`config`], [`cli`]. See ARCHITECTURE.md.

pub mod adapters;
pub mod app;
pub mod cli;
pub mod config;
pub mod core;
pub mod http;
pub mod mcp;
pub mod rfc9421;
pub mod store;
pub mod worker;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::adapters::Rehearsal;
use crate::adapters::gam::Gam;
use crate::adapters::kevel::Kevel;
use crate::adapters::mock::MockAdServer;
use crate::adapters::triton::Triton;
use crate::adapters::webhook::{HttpSender, WebhookKey};
use crate::app::{AdServers, App, RehearsalFactory};
use crate::config::{AdServerConfig, Config};
use crate::core::delivery::AdServer;
use crate::core::ports::{Clock, SystemClock};
use crate::core::ranking::KeywordRanker;
use crate::store::Db;

/// How often the scheduler moves buys along (flight start and end, budget exhaustion).
pub const SCHEDULER_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// How often the booking outbox is drained (buy changes reach the ad server within this).
pub const BOOKING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the reconciliation worker looks for buys whose ad-server status and delivery are
/// due (more often when a tenant reads its ad server back more often).
pub const RECONCILE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// How often the webhook outbox is drained (a buyer hears of a change within this, plus its
/// receiver's time).
pub const WEBHOOK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// How often SQLite's write-ahead log is checkpointed (small and often keeps each fsync short).
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Connects the database, applies migrations and configuration, and serves on `listener`
/// until `shutdown` is cancelled.
///
/// # Errors
/// Database, bootstrap or listener failures.
pub async fn run(config: Config, listener: tokio::net::TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with_clock(config, listener, shutdown, Arc::new(SystemClock)).await
}

/// Each tenant's ad server as configured: the in-process mock (one, shared) or a platform's
/// adapter.
///
/// # Errors
/// An adapter that cannot be set up.
pub fn ad_servers(config: &Config, clock: &Arc<dyn Clock>) -> anyhow::Result<AdServers> {
    let mock: Arc<dyn AdServer> = Arc::new(MockAdServer::new());
    let mut servers = AdServers::single(mock);
    for tenant in &config.tenants {
        let (server, rehearse): (Arc<dyn AdServer>, RehearsalFactory) = match &tenant.ad_server {
            AdServerConfig::Mock => continue,
            AdServerConfig::Kevel(settings) => {
                let kevel = Arc::new(Kevel::new(settings.clone())?);
                let twin = kevel.clone();
                (kevel, Arc::new(move || Rehearsal::kevel(&twin)))
            }
            AdServerConfig::Gam(settings) => {
                let gam = Arc::new(Gam::new(settings.as_ref().clone(), clock.clone())?);
                let twin = gam.clone();
                (gam, Arc::new(move || Rehearsal::gam(&twin)))
            }
            AdServerConfig::Triton(settings) => {
                let triton = Arc::new(Triton::new(settings.clone(), clock.clone())?);
                let twin = triton.clone();
                (triton, Arc::new(move || Rehearsal::triton(&twin)))
            }
        };
        tracing::info!(
            tenant = %tenant.tenant.tenant_id,
            adapter = server.name(),
            dry_run = tenant.ad_server.dry_run(),
            "ad server"
        );
        servers.tenants.insert(tenant.tenant.tenant_id.clone(), (server, rehearse));
    }
    Ok(servers)
}

/// [`run`] with an injected clock (tests).
///
/// # Errors
/// Database, bootstrap or listener failures.
pub async fn run_with_clock(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    app::bootstrap(&db, &config).await?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        backend = db.backend_name(),
        agent_url = %config.public_url,
        tenants = config.tenants.len(),
        "sales agent listening; MCP at /mcp"
    );
    let fresh = WebhookKey::generate();
    let (kid, private) = db.signing_key(fresh.kid(), &fresh.private_text(), clock.now()).await?;
    let webhook_key = WebhookKey::from_stored(&kid, &private)?;
    let ad_servers = ad_servers(&config, &clock)?;
    let app = App::new(db.clone(), config, clock, Arc::new(KeywordRanker), ad_servers, webhook_key.clone());
    let sender = Arc::new(HttpSender::new(webhook_key));
    let scheduler = tokio::spawn(worker::run_scheduler(app.clone(), SCHEDULER_INTERVAL, shutdown.child_token()));
    let bookings = tokio::spawn(worker::run_bookings(app.clone(), BOOKING_INTERVAL, shutdown.child_token()));
    // A tenant reading its ad server back more often than the worker looks is looked for as often.
    let reconcile_every =
        app.config().tenants.iter().map(|t| t.ad_server_refresh).fold(RECONCILE_INTERVAL, std::cmp::min);
    let reconciliation = tokio::spawn(worker::run_reconciliation(app.clone(), reconcile_every, shutdown.child_token()));
    let webhooks = tokio::spawn(worker::run_webhooks(app.clone(), sender, WEBHOOK_INTERVAL, shutdown.child_token()));
    let checkpoints = tokio::spawn(worker::run_checkpoints(app.clone(), CHECKPOINT_INTERVAL, shutdown.child_token()));
    let served = http::serve(listener, app, shutdown.clone()).await;
    shutdown.cancel();
    for (name, task) in [
        ("scheduler", scheduler),
        ("booking sync", bookings),
        ("reconciliation", reconciliation),
        ("webhook delivery", webhooks),
        ("checkpoints", checkpoints),
    ] {
        if let Err(error) = task.await {
            tracing::error!(%error, worker = name, "worker stopped abnormally");
        }
    }
    db.close().await;
    Ok(served?)
}
