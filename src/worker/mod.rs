//! Background work owned by the server: the scheduler that moves buys along with time (and
//! escalates overdue human tasks), and the booking sync that brings the ad server in line with the buys. Each worker runs until the
//! shutdown token is cancelled; its state lives in the database, so a restart loses nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::core::approval;
use crate::core::booking::{self, SyncOutcome};
use crate::core::notify::{self, Sender};
use crate::core::reconcile::{self, Reconciled};
use crate::core::{reporting, schedule};
use crate::mcp::wire_tasks::Deferred;

/// Runs a scheduler pass over every tenant each `interval`, until `shutdown`.
pub async fn run_scheduler(app: App, interval: Duration, shutdown: CancellationToken) {
    // Where each tenant's budget check resumes on the next pass.
    let mut cursors: std::collections::HashMap<String, Option<String>> = std::collections::HashMap::new();
    loop {
        for tenant_config in &app.config().tenants {
            let tenant = &tenant_config.tenant;
            let now = app.clock().now();
            let cursor = cursors.get(&tenant.tenant_id).cloned().flatten();
            let outcome = match app.catalog(tenant).await {
                Ok(catalog) => {
                    schedule::advance(
                        app.db(),
                        app.ad_server(&tenant.tenant_id),
                        &Deferred,
                        &catalog,
                        tenant,
                        now,
                        cursor,
                    )
                    .await
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok((moved, next)) => {
                    cursors.insert(tenant.tenant_id.clone(), next);
                    for change in moved {
                        tracing::info!(
                            media_buy = %change.media_buy_id,
                            from = change.from.as_str(),
                            to = change.to.as_str(),
                            "media buy moved by the scheduler"
                        );
                    }
                }
                Err(error) => {
                    tracing::warn!(tenant = %tenant.tenant_id, %error, "scheduler pass failed; retrying next tick")
                }
            }
            let reports = match app.catalog(tenant).await {
                Ok(catalog) => {
                    reporting::send_due(app.db(), app.ad_server(&tenant.tenant_id), &Deferred, &catalog, tenant, now)
                        .await
                }
                Err(error) => Err(error),
            };
            match reports {
                Ok(sent) => {
                    for (media_buy_id, sequence) in sent {
                        tracing::info!(media_buy = %media_buy_id, sequence, "delivery report queued");
                    }
                }
                Err(error) => tracing::warn!(tenant = %tenant.tenant_id, %error, "delivery reports failed; retrying"),
            }
            match approval::escalate_overdue(app.db(), &Deferred, tenant, now).await {
                Ok(escalated) => {
                    for task in escalated {
                        tracing::warn!(
                            task = %task.task_id,
                            task_type = %task.task_type,
                            priority = task.priority.as_str(),
                            "human task overdue; escalated"
                        );
                    }
                }
                Err(error) => tracing::warn!(tenant = %tenant.tenant_id, %error, "task escalation failed; retrying"),
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Reads back what the real ad servers say of the buys booked in them (status and delivery),
/// each `interval`, until `shutdown` (see `core::reconcile`; each buy is asked at most every
/// `ad_server.refresh_seconds`).
pub async fn run_reconciliation(app: App, interval: Duration, shutdown: CancellationToken) {
    loop {
        for tenant_config in &app.config().tenants {
            let tenant = &tenant_config.tenant;
            let ad_server = app.ad_server(&tenant.tenant_id);
            if !ad_server.remote() {
                continue;
            }
            let now = app.clock().now();
            let recheck =
                chrono::Duration::from_std(tenant_config.ad_server_refresh).unwrap_or(chrono::Duration::minutes(5));
            let outcome = match app.catalog(tenant).await {
                Ok(catalog) => {
                    reconcile::reconcile_due(app.db(), ad_server, &Deferred, tenant, &catalog, recheck, now).await
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok(done) => {
                    for outcome in done {
                        match outcome {
                            Reconciled::Recorded { media_buy_id, state } => {
                                tracing::debug!(media_buy = %media_buy_id, state = state.as_str(), "ad server status read");
                            }
                            Reconciled::Moved { media_buy_id, state } => {
                                tracing::info!(media_buy = %media_buy_id, state = state.as_str(),
                                    "the ad server ended the buy; so did the seller");
                            }
                            Reconciled::Unreadable { media_buy_id, error } => {
                                tracing::warn!(media_buy = %media_buy_id, %error, "ad server unreadable");
                            }
                        }
                    }
                }
                Err(error) => tracing::error!(tenant = %tenant.tenant_id, %error, "reconciliation failed"),
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Drains the booking outbox of every tenant each `interval`, until `shutdown`.
pub async fn run_bookings(app: App, interval: Duration, shutdown: CancellationToken) {
    loop {
        for tenant_config in &app.config().tenants {
            let tenant = &tenant_config.tenant;
            let now = app.clock().now();
            let catalog = match app.catalog(tenant).await {
                Ok(catalog) => catalog,
                Err(error) => {
                    tracing::error!(tenant = %tenant.tenant_id, %error, "booking sync: the catalog is unreadable");
                    continue;
                }
            };
            let ad_server = app.ad_server(&tenant.tenant_id);
            match booking::sync_due(app.db(), ad_server, &Deferred, tenant, &catalog, now).await {
                Ok(outcomes) => {
                    for outcome in outcomes {
                        match outcome {
                            SyncOutcome::Synced { media_buy_id, revision, ops } => {
                                tracing::debug!(media_buy = %media_buy_id, revision, ops, "booking in sync");
                            }
                            SyncOutcome::Retrying { media_buy_id, attempts, next_attempt_at, error } => {
                                tracing::warn!(media_buy = %media_buy_id, attempts, %next_attempt_at, %error,
                                    "booking failed; will retry");
                            }
                            SyncOutcome::Refused { media_buy_id, error } => {
                                tracing::error!(media_buy = %media_buy_id, %error, "the ad server refused the booking");
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(tenant = %tenant.tenant_id, %error, "booking pass failed; retrying next tick")
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// How many webhook attempts run at once.
const WEBHOOK_CONCURRENCY: usize = 16;

/// Delivers due buyer notifications of every tenant each `interval`, until `shutdown`; several
/// at once, so that one slow receiver does not hold up the others.
pub async fn run_webhooks(app: App, sender: Arc<dyn Sender>, interval: Duration, shutdown: CancellationToken) {
    loop {
        for tenant_config in &app.config().tenants {
            let tenant = &tenant_config.tenant;
            let claimed = match notify::claim_due(app.db(), &tenant.tenant_id, app.clock().now(), 64).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(tenant = %tenant.tenant_id, %error, "webhook claim failed; retrying next tick");
                    continue;
                }
            };
            let mut running = tokio::task::JoinSet::new();
            for record in claimed {
                while running.len() >= WEBHOOK_CONCURRENCY {
                    running.join_next().await;
                }
                let (app, sender, policy) = (app.clone(), sender.clone(), tenant.webhook_urls);
                running.spawn(async move {
                    let event_id = record.notification.event_id.clone();
                    let now = app.clock().now();
                    match notify::attempt(app.db(), sender.as_ref(), policy, record, now, rand::random()).await {
                        Ok(done) if done.delivered_at.is_some() => {
                            tracing::info!(event = %event_id, attempts = done.attempts, "webhook delivered");
                        }
                        Ok(done) if done.failed => {
                            tracing::warn!(event = %event_id, attempts = done.attempts,
                                error = done.last_error.as_deref().unwrap_or(""), "webhook given up");
                        }
                        Ok(done) => {
                            tracing::info!(event = %event_id, attempts = done.attempts, next = %done.next_attempt_at,
                                error = done.last_error.as_deref().unwrap_or(""), "webhook attempt failed; will retry");
                        }
                        Err(error) => tracing::warn!(event = %event_id, %error, "webhook state not saved"),
                    }
                });
            }
            while running.join_next().await.is_some() {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Checkpoints SQLite's write-ahead log each `interval`, until `shutdown`: small, frequent,
/// passive checkpoints off the request path (see `Db::checkpoint`).
pub async fn run_checkpoints(app: App, interval: Duration, shutdown: CancellationToken) {
    loop {
        if let Err(error) = app.db().checkpoint().await {
            tracing::warn!(%error, "database checkpoint failed; retrying next tick");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
