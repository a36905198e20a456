//! Reporting webhooks (AdCP `reporting_webhook`, DIGEST §3.3): a buy that asked for delivery
//! reports gets one per UTC period of its frequency while it runs (`scheduled`), and one
//! `final` report once it ends (completed, canceled or its flight over). Each report is the
//! buy's delivery over the period, rendered by the transport and queued in the webhook outbox
//! in the same transaction as the schedule's advance (compare-and-set on the sequence), so a
//! report is neither lost nor sent twice, whatever restarts in between.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

use super::approval::Wire;
use super::catalog::Catalog;
use super::delivery::{AdServer, report_buys};
use super::error::Error;
use super::media_buy::MediaBuy;
use super::notify::{self, Notification};
use super::ports::{Also, Store};
use super::tenancy::Tenant;
use super::webhook::Frequency;

/// How many due reports one pass sends per tenant.
const BATCH: usize = 100;

/// Where a buy's reports stand.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSchedule {
    pub media_buy_id: String,
    pub tenant_id: String,
    /// Reports sent so far (the next one is `sequence + 1`).
    pub sequence: i64,
    /// Where the next report's period starts.
    pub period_start: DateTime<Utc>,
    /// When the next scheduled report is due (the end of its period).
    pub next_at: DateTime<Utc>,
    /// The final report went out.
    pub done: bool,
}

/// The first instant after `after` where a period of `frequency` begins (UTC).
pub fn next_boundary(after: DateTime<Utc>, frequency: Frequency) -> DateTime<Utc> {
    let day = Utc.from_utc_datetime(&after.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
    match frequency {
        Frequency::Hourly => {
            let hour = day + Duration::hours(i64::from(after.hour()));
            hour + Duration::hours(1)
        }
        Frequency::Daily => day + Duration::days(1),
        Frequency::Monthly => {
            let (year, month) =
                if after.month() == 12 { (after.year() + 1, 1) } else { (after.year(), after.month() + 1) };
            Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().unwrap_or(day + Duration::days(31))
        }
    }
}

/// The schedule of a buy that asks for reports (first period from its start, or from now
/// when the webhook is added later); `None` when it asks for none.
pub fn schedule_for(buy: &MediaBuy, now: DateTime<Utc>) -> Option<ReportSchedule> {
    let frequency = buy.reporting_webhook.as_ref()?.frequency?;
    let period_start = buy.start_time.max(now);
    Some(ReportSchedule {
        media_buy_id: buy.media_buy_id.clone(),
        tenant_id: buy.tenant_id.clone(),
        sequence: 0,
        period_start,
        next_at: next_boundary(period_start, frequency).min(buy.end_time.max(period_start)),
        done: false,
    })
}

/// What kind of report a notification is (`notification_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Scheduled,
    Final,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Scheduled => "scheduled",
            ReportKind::Final => "final",
        }
    }
}

/// One report, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<'a> {
    pub event_id: String,
    pub kind: ReportKind,
    pub sequence: i64,
    pub next_expected_at: Option<DateTime<Utc>>,
    pub delivery: &'a super::delivery::DeliveryReport,
}

/// Sends the tenant's due reports; returns (buy, sequence) of each report queued.
///
/// # Errors
/// Storage or ad-server failures (what was queued stays queued; the rest is tried next pass).
pub async fn send_due<S: Store>(
    store: &S,
    ad_server: &dyn AdServer,
    wire: &dyn Wire,
    catalog: &Catalog,
    tenant: &Tenant,
    now: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, Error> {
    let mut sent = Vec::new();
    for (buy, schedule) in store.reports_due(&tenant.tenant_id, now, BATCH).await? {
        let Some(hook) = buy.reporting_webhook.clone() else {
            // The buyer took the webhook away: nothing more to send.
            let done = ReportSchedule { done: true, ..schedule.clone() };
            store.save_report(&done, schedule.sequence, &Also::default()).await?;
            continue;
        };
        let frequency = hook.frequency.unwrap_or(Frequency::Daily);
        let ended = buy.status.is_terminal() || now >= buy.end_time;
        let kind = if ended { ReportKind::Final } else { ReportKind::Scheduled };
        let period_end = match kind {
            ReportKind::Scheduled => schedule.next_at,
            ReportKind::Final => {
                let stop = buy.cancellation.as_ref().map_or(buy.end_time, |c| c.canceled_at.min(buy.end_time));
                stop.min(now).max(schedule.period_start)
            }
        };
        let delivery =
            report_buys(store, ad_server, catalog, tenant, vec![buy.clone()], schedule.period_start, period_end, now)
                .await?;
        let next_at = next_boundary(period_end, frequency).min(buy.end_time.max(period_end));
        let report = Report {
            event_id: notify::event_id(),
            kind,
            sequence: schedule.sequence + 1,
            next_expected_at: (kind == ReportKind::Scheduled).then_some(next_at),
            delivery: &delivery,
        };
        let notification = Notification {
            event_id: report.event_id.clone(),
            tenant_id: tenant.tenant_id.clone(),
            url: hook.url.clone(),
            config: hook.config.clone(),
            body: wire.delivery_report(&report, &hook),
            created_at: now,
        };
        let advanced = ReportSchedule {
            sequence: report.sequence,
            period_start: period_end,
            next_at,
            done: kind == ReportKind::Final,
            ..schedule.clone()
        };
        let also = Also { events: vec![notification], ..Also::default() };
        if store.save_report(&advanced, schedule.sequence, &also).await? {
            sent.push((buy.media_buy_id.clone(), report.sequence));
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn periods_follow_utc_boundaries() {
        let t = at("2026-12-31T23:15:00Z");
        assert_eq!(next_boundary(t, Frequency::Hourly), at("2027-01-01T00:00:00Z"));
        assert_eq!(next_boundary(t, Frequency::Daily), at("2027-01-01T00:00:00Z"));
        assert_eq!(next_boundary(t, Frequency::Monthly), at("2027-01-01T00:00:00Z"));
        let midnight = at("2026-02-01T00:00:00Z");
        assert_eq!(next_boundary(midnight, Frequency::Hourly), at("2026-02-01T01:00:00Z"), "strictly after");
        assert_eq!(next_boundary(midnight, Frequency::Daily), at("2026-02-02T00:00:00Z"));
        assert_eq!(next_boundary(midnight, Frequency::Monthly), at("2026-03-01T00:00:00Z"));
    }
}
