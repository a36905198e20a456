//! Buyer notifications (AdCP push notifications, `core/mcp-webhook-payload.json`): every status
//! change a buyer asked to hear about becomes an event in an outbox, written in the same
//! transaction as the change (`ports::Also::events`), so that a change is never told without
//! having happened nor happens without being told. A worker delivers each event at least once
//! through the [`Sender`] port: network errors, 5xx and 429 are retried with exponential backoff
//! and jitter, other answers end the event. The body is rendered once, when the event is made;
//! every attempt sends the same bytes, so the `idempotency_key` inside is byte-identical across
//! retries. An idempotent replay writes nothing, so it never emits a second event.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};

use super::approval::Wire;
use super::error::Error;
use super::media_buy::Verbatim;
use super::ports::Store;
use super::tasks::{Operation, TaskStatus};
use super::webhook::{UrlPolicy, Webhook};

/// How long a worker holds the events it claimed.
pub const LEASE_SECONDS: i64 = 60;
/// Attempts before an event is given up (about 40 minutes of retrying).
pub const MAX_ATTEMPTS: i64 = 15;
const FIRST_RETRY_MS: i64 = 1_000;
const LONGEST_RETRY_MS: i64 = 300_000;

/// One event for one destination, rendered and ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Also the payload's `idempotency_key`.
    pub event_id: String,
    pub tenant_id: String,
    pub url: String,
    /// The buyer's configuration (authentication, token), verbatim.
    pub config: Verbatim,
    /// The exact bytes every attempt sends.
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// An event in the outbox with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub notification: Notification,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub leased_until: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Given up: a terminal answer or too many attempts.
    pub failed: bool,
    pub last_error: Option<String>,
}

/// What one attempt gave, as the sender classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// 2xx.
    Delivered { status: u16 },
    /// Network error, timeout, 5xx or 429: try again later.
    Retry(String),
    /// Any other answer, or a destination the policy refuses: do not try again.
    Refused(String),
}

/// Sends one attempt of an event (signing it as its configuration says).
pub trait Sender: Send + Sync {
    fn send<'a>(
        &'a self,
        notification: &'a Notification,
        policy: UrlPolicy,
    ) -> Pin<Box<dyn Future<Output = Sent> + Send + 'a>>;
}

/// A task-status event (the payload's task fields), before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEvent<'a> {
    pub event_id: String,
    pub task_id: String,
    pub operation: Operation,
    pub status: TaskStatus,
    pub at: DateTime<Utc>,
    pub message: Option<String>,
    /// The operation's response (completed), error response (failed) or change (seller moves).
    pub result: Option<String>,
    /// The request that started the task; its `context` is echoed.
    pub request: Option<&'a str>,
}

/// A fresh event id (`whk_` + 32 hex digits: within AdCP's idempotency-key pattern).
pub fn event_id() -> String {
    format!("whk_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh task id for an operation that completed at once but is told by webhook.
pub fn sync_task_id() -> String {
    format!("sync_{}", uuid::Uuid::new_v4().simple())
}

/// The notification of `event` to `webhook`.
pub fn notification(tenant_id: &str, webhook: &Webhook, wire: &dyn Wire, event: &TaskEvent<'_>) -> Notification {
    Notification {
        event_id: event.event_id.clone(),
        tenant_id: tenant_id.to_owned(),
        url: webhook.url.clone(),
        config: webhook.config.clone(),
        body: wire.webhook_payload(event, webhook),
        created_at: event.at,
    }
}

/// The notification that `operation` completed with `result`, when the buyer gave a webhook.
pub fn completed(
    tenant_id: &str,
    webhook: Option<&Webhook>,
    wire: &dyn Wire,
    operation: Operation,
    result: String,
    request: Option<&str>,
    at: DateTime<Utc>,
) -> Option<Notification> {
    let webhook = webhook?;
    let event = TaskEvent {
        event_id: event_id(),
        task_id: sync_task_id(),
        operation,
        status: TaskStatus::Completed,
        at,
        message: None,
        result: Some(result),
        request,
    };
    Some(notification(tenant_id, webhook, wire, &event))
}

/// The wait before attempt `attempts + 1`, after `attempts` failed ones: 1 s doubling to 5
/// minutes, spread by `jitter` in [0, 1) over ±25 %.
pub fn retry_delay(attempts: i64, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 30) - 1).unwrap_or(0);
    let base = FIRST_RETRY_MS.saturating_mul(1_i64 << exponent.min(20)).min(LONGEST_RETRY_MS);
    let spread = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    Duration::milliseconds((base as f64 * spread).round() as i64)
}

/// Takes the tenant's due events (oldest first, at most `limit`) for this worker.
///
/// # Errors
/// Storage.
pub async fn claim_due<S: Store>(
    store: &S,
    tenant_id: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<OutboxRecord>, Error> {
    let until = now + Duration::seconds(LEASE_SECONDS);
    Ok(store.claim_notifications(tenant_id, now, until, limit).await?)
}

/// Makes one attempt at a claimed event and records what happened; returns the new state.
///
/// # Errors
/// Storage (the event stays leased and is tried again when the lease ends).
pub async fn attempt<S: Store>(
    store: &S,
    sender: &dyn Sender,
    policy: UrlPolicy,
    mut record: OutboxRecord,
    now: DateTime<Utc>,
    jitter: f64,
) -> Result<OutboxRecord, Error> {
    let sent = sender.send(&record.notification, policy).await;
    record.attempts += 1;
    record.leased_until = None;
    match sent {
        Sent::Delivered { .. } => {
            record.delivered_at = Some(now);
            record.last_error = None;
        }
        Sent::Refused(why) => {
            record.failed = true;
            record.last_error = Some(why);
        }
        Sent::Retry(why) if record.attempts >= MAX_ATTEMPTS => {
            record.failed = true;
            record.last_error = Some(format!("gave up after {} attempts: {why}", record.attempts));
        }
        Sent::Retry(why) => {
            record.next_attempt_at = now + retry_delay(record.attempts, jitter);
            record.last_error = Some(why);
        }
    }
    store.save_notification(&record).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_bounded_jitter() {
        assert_eq!(retry_delay(1, 0.5), Duration::seconds(1));
        assert_eq!(retry_delay(2, 0.5), Duration::seconds(2));
        assert_eq!(retry_delay(3, 0.5), Duration::seconds(4));
        assert_eq!(retry_delay(12, 0.5), Duration::minutes(5), "capped");
        assert_eq!(retry_delay(1, 0.0), Duration::milliseconds(750));
        assert_eq!(retry_delay(1, 0.999_999), Duration::milliseconds(1250));
        assert_eq!(retry_delay(40, 2.0), Duration::milliseconds(375_000), "out-of-range inputs are clamped");
    }

    #[test]
    fn event_ids_fit_the_idempotency_key_pattern() {
        let id = event_id();
        assert!((16..=255).contains(&id.len()));
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')));
        assert_ne!(id, event_id());
    }
}
