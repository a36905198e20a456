//! Reconciliation: what the ad server says of the buys booked in it. A worker asks each real
//! ad server, buy by buy (each every few minutes, as the tenant chose), for the status of the
//! order and its lines in the platform's own words; the adapter normalizes them by its
//! platform's table to a [`PlatformState`]; the result is kept beside the booking (and shown
//! with the buy), and a buy the platform ended on its side (an order rejected or canceled in
//! the ad server's own UI) moves with it, as a seller move that the buyer hears of. The same
//! pass pulls the order's delivery report (one per order, from where the last pull left off
//! less the days platforms restate) and stores it per package and day: delivery reads it from
//! there.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::approval::Wire;
use super::catalog::Catalog;
use super::delivery::{AdServer, ReportRequest};
use super::error::Error;
use super::media_buy::{Event, transition};
use super::ports::Store;
use super::schedule::seller_move;
use super::tenancy::Tenant;

/// An ended buy's platform status and delivery are read again once a day.
const RECHECK_ENDED: Duration = Duration::days(1);
/// How far back each delivery pull reads again: platforms restate recent days (late events,
/// invalid traffic taken out).
pub const RESTATED: Duration = Duration::days(3);
/// How many buys one pass reads.
const BATCH: usize = 50;

/// A platform status, normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformState {
    /// Not yet approved or activated on the platform.
    PendingApproval,
    /// Waiting for creatives.
    PendingCreatives,
    /// Approved, not delivering yet (before its start, or nothing served so far).
    Ready,
    Delivering,
    Paused,
    Completed,
    Rejected,
    Canceled,
    /// A word the table does not know.
    Unknown,
}

impl PlatformState {
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformState::PendingApproval => "pending_approval",
            PlatformState::PendingCreatives => "pending_creatives",
            PlatformState::Ready => "ready",
            PlatformState::Delivering => "delivering",
            PlatformState::Paused => "paused",
            PlatformState::Completed => "completed",
            PlatformState::Rejected => "rejected",
            PlatformState::Canceled => "canceled",
            PlatformState::Unknown => "unknown",
        }
    }
}

/// One line (line item, flight) as the platform has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformLine {
    pub package_id: String,
    /// The platform's own word (`DELIVERING`, `Paused`, ...).
    pub status: String,
    pub state: PlatformState,
}

/// The order (campaign) and its lines as the platform has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformStatus {
    pub platform: String,
    pub status: String,
    pub state: PlatformState,
    pub lines: Vec<PlatformLine>,
    pub checked_at: DateTime<Utc>,
}

/// An approved order's state from its lines: delivering when a line delivers, paused or
/// completed when every line is.
pub fn from_lines(order: PlatformState, lines: &[PlatformLine]) -> PlatformState {
    let all = |state: PlatformState| !lines.is_empty() && lines.iter().all(|l| l.state == state);
    match order {
        PlatformState::Ready if lines.iter().any(|l| l.state == PlatformState::Delivering) => PlatformState::Delivering,
        PlatformState::Ready if all(PlatformState::Paused) => PlatformState::Paused,
        PlatformState::Ready if all(PlatformState::Completed) => PlatformState::Completed,
        other => other,
    }
}

/// What one reconciliation did for a buy.
#[derive(Debug, Clone, PartialEq)]
pub enum Reconciled {
    /// The status was recorded.
    Recorded { media_buy_id: String, state: PlatformState },
    /// The platform ended the buy; so did the seller.
    Moved { media_buy_id: String, state: PlatformState },
    /// The platform could not be asked (for the status, or for the delivery report after the
    /// status was recorded); the next pass tries again.
    Unreadable { media_buy_id: String, error: String },
}

/// One pass over the tenant's booked buys whose platform status is due; each is read again
/// after `recheck` (once a day when ended).
///
/// # Errors
/// Storage; the platform's failures are reported per buy.
pub async fn reconcile_due<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    wire: &dyn Wire,
    tenant: &Tenant,
    catalog: &Catalog,
    recheck: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Reconciled>, Error> {
    let mut done = Vec::new();
    for record in store.bookings_to_reconcile(&tenant.tenant_id, now, BATCH).await? {
        let media_buy_id = record.media_buy_id.clone();
        let Some(buy) = store.media_buy(&tenant.tenant_id, &media_buy_id).await? else { continue };
        let next = now + if buy.status.is_terminal() { RECHECK_ENDED } else { recheck };
        let status = match ad_server.status(&record.booking, now).await {
            Ok(Some(status)) => status,
            // Nothing booked yet to ask about.
            Ok(None) => {
                store.record_platform_status(&media_buy_id, None, next).await?;
                continue;
            }
            Err(error) => {
                store.record_platform_status(&media_buy_id, None, now + recheck).await?;
                done.push(Reconciled::Unreadable { media_buy_id, error: error.to_string() });
                continue;
            }
        };
        store.record_platform_status(&media_buy_id, Some(&status), next).await?;
        // Delivery, once the flight began: one report of the order.
        if now > buy.start_time {
            let from = record.delivery_as_of.map_or(buy.start_time, |at| (at - RESTATED).max(buy.start_time));
            let video = buy
                .packages
                .iter()
                .filter_map(|p| catalog.product(&p.product_id))
                .any(|p| p.channels.iter().any(|c| c.plays()));
            let request = ReportRequest { booking: &record.booking, from, until: now, video };
            match ad_server.reported(request).await {
                Ok(Some(reported)) => {
                    store.record_platform_delivery(&tenant.tenant_id, &media_buy_id, &reported, now).await?;
                }
                Ok(None) => {}
                Err(error) => done.push(Reconciled::Unreadable {
                    media_buy_id: media_buy_id.clone(),
                    error: format!("delivery report: {error}"),
                }),
            }
        }
        let state = status.state;
        let event = match state {
            // Declined in the ad server: a seller's rejection while the buy is being set up, a
            // cancellation once it ran.
            PlatformState::Rejected if transition(buy.status, Event::Reject).is_ok() => Some(Event::Reject),
            PlatformState::Rejected | PlatformState::Canceled => Some(Event::Cancel),
            _ => None,
        };
        let moved = match event {
            Some(event) if !buy.status.is_terminal() => {
                let summary = format!("the ad server ({}) shows the order {}", status.platform, status.status);
                seller_move(store, wire, buy, event, "ad_server", &summary, now).await?.is_some()
            }
            _ => false,
        };
        done.push(if moved {
            Reconciled::Moved { media_buy_id, state }
        } else {
            Reconciled::Recorded { media_buy_id, state }
        });
    }
    Ok(done)
}
