//! Time moves buys along: pending_start → active when the flight starts, active or paused →
//! completed when it ends or the budget is spent, and a buy whose flight ended before it ever
//! had creatives is canceled by the seller with a reason. The worker calls [`advance`] on a
//! timer with the injected clock; tests call it with any instant.

use chrono::{DateTime, Utc};

use super::approval::Wire;
use super::catalog::Catalog;
use super::delivery::{AdServer, PackageLine, cumulative, live_intervals, stored_days};
use super::error::Error;
use super::media_buy::{Cancellation, Event, MediaBuy, MediaBuyStatus, Party, transition};
use super::notify::{self, TaskEvent};
use super::ports::{Also, HistoryEntry, MediaBuyFilter, PageRequest, Store};
use super::tasks::{Operation, TaskStatus};
use super::tenancy::Tenant;

/// A status change the scheduler made.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub media_buy_id: String,
    pub from: MediaBuyStatus,
    pub to: MediaBuyStatus,
}

/// How many buys one pass looks at, per kind of change.
const BATCH: usize = 500;

/// One scheduler pass over a tenant. Flight starts and ends are found by query. Budget
/// exhaustion needs the ad server's figures, so each pass checks one page of active buys,
/// continuing after `budget_cursor` (`None` starts over); the returned cursor is where the next
/// pass resumes, so every active buy is checked in turn without any pass growing with the
/// number of buys.
///
/// # Errors
/// Storage failures. Buys changed concurrently are left for the next pass.
pub async fn advance<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    wire: &dyn Wire,
    catalog: &Catalog,
    tenant: &Tenant,
    now: DateTime<Utc>,
    budget_cursor: Option<String>,
) -> Result<(Vec<Moved>, Option<String>), Error> {
    let mut moved = Vec::new();
    for buy in store.media_buys_due(&tenant.tenant_id, now, BATCH).await? {
        let (event, action, summary) = if buy.end_time <= now {
            match buy.status {
                MediaBuyStatus::Active | MediaBuyStatus::Paused => (Event::Finished, "completed", "Flight ended"),
                _ => (Event::Cancel, "canceled", "Flight ended before creatives were supplied"),
            }
        } else {
            (Event::FlightStarted, "activated", "Flight started")
        };
        if let Some(change) = seller_move(store, wire, buy, event, action, summary, now).await? {
            moved.push(change);
        }
    }
    // Budget exhaustion: active buys whose every live package has spent its budget.
    let filter = MediaBuyFilter {
        tenant_id: tenant.tenant_id.clone(),
        principal_id: None,
        account_id: None,
        statuses: vec![MediaBuyStatus::Active],
        media_buy_ids: vec![],
    };
    let page = store.list_media_buys(&filter, &PageRequest { after: budget_cursor, limit: BATCH }).await?;
    let next = if page.len() == BATCH { page.last().map(|b| b.media_buy_id.clone()) } else { None };
    for buy in page {
        if spent_out(store, ad_server, catalog, &buy, now).await?
            && let Some(change) =
                seller_move(store, wire, buy, Event::Finished, "completed", "Budget spent", now).await?
        {
            moved.push(change);
        }
    }
    Ok((moved, next))
}

async fn spent_out<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    catalog: &Catalog,
    buy: &MediaBuy,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let live: Vec<_> = buy.packages.iter().filter(|p| !p.is_canceled()).collect();
    if live.is_empty() {
        return Ok(false);
    }
    let history = store.media_buy_history(&buy.media_buy_id, 10_000).await?;
    let stored = stored_days(store, ad_server, &buy.tenant_id, std::slice::from_ref(&buy.media_buy_id)).await?;
    for package in live {
        let line = PackageLine {
            media_buy_id: buy.media_buy_id.clone(),
            package: package.clone(),
            channel: catalog.product(&package.product_id).and_then(|p| p.channels.first().copied()),
            live: live_intervals(buy, package, &history),
            ended: false,
        };
        let delivered = cumulative(ad_server, &stored, &line, &[now]).await?;
        if delivered.first().is_none_or(|m| m.spend < package.budget - 0.005) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Moves a buy by a seller-side event, recording `action` and `summary` in its history
/// (canceling also records the seller's cancellation and releases the creatives). `None` when
/// the event does not apply or the buy changed concurrently.
pub(crate) async fn seller_move<S: Store>(
    store: &S,
    wire: &dyn Wire,
    buy: MediaBuy,
    event: Event,
    action: &str,
    summary: &str,
    now: DateTime<Utc>,
) -> Result<Option<Moved>, Error> {
    let from = buy.status;
    let Ok(to) = transition(from, event) else {
        return Ok(None);
    };
    if to == from {
        return Ok(None);
    }
    move_to(store, wire, buy, to, ("seller", "system:seller"), action, summary, now).await
}

/// Moves a buy to `to` (a status the caller found reachable), recording `action` and `summary`
/// in its history as `actor` (history name, audit name), auditing the change and telling the
/// buyer; `None` when the buy changed concurrently.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_to<S: Store>(
    store: &S,
    wire: &dyn Wire,
    mut buy: MediaBuy,
    to: MediaBuyStatus,
    actor: (&str, &str),
    action: &str,
    summary: &str,
    now: DateTime<Utc>,
) -> Result<Option<Moved>, Error> {
    let from = buy.status;
    let expected = buy.revision;
    buy.status = to;
    buy.revision += 1;
    buy.updated_at = now;
    if to == MediaBuyStatus::Canceled {
        buy.cancellation =
            Some(Cancellation { canceled_at: now, canceled_by: Party::Seller, reason: Some(summary.to_owned()) });
        for package in &mut buy.packages {
            package.creative_ids.clear();
        }
    }
    let entry = HistoryEntry {
        revision: buy.revision,
        at: now,
        actor: actor.0.to_owned(),
        action: action.to_owned(),
        summary: summary.to_owned(),
        package_id: None,
    };
    let audit = super::buying::status_audit(&buy, from, actor.1, Some(summary.to_owned()), now);
    let told = buy.push_notification.as_ref().map(|hook| {
        let status = match to {
            MediaBuyStatus::Canceled => TaskStatus::Canceled,
            MediaBuyStatus::Rejected => TaskStatus::Rejected,
            _ => TaskStatus::Completed,
        };
        let event = TaskEvent {
            event_id: notify::event_id(),
            task_id: notify::sync_task_id(),
            operation: Operation::UpdateMediaBuy,
            status,
            at: now,
            message: Some(summary.to_owned()),
            result: Some(wire.buy_changed(&buy, summary)),
            request: None,
        };
        notify::notification(&buy.tenant_id, hook, wire, &event)
    });
    let also = Also { audit: audit.into_iter().collect(), events: told.into_iter().collect(), ..Also::default() };
    let changed = store.update_media_buy(&buy, expected, &[entry], &also).await?;
    Ok(changed.then_some(Moved { media_buy_id: buy.media_buy_id, from, to }))
}
