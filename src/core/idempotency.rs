//! Durable idempotency for mutating requests (AdCP 3.0 security.mdx#idempotency).
//!
//! Keys are scoped to (principal, account). A request is identified by the hash of its canonical
//! form (computed by the transport, which owns the wire format). The first request claims the
//! key; a replay with the same hash returns the stored response; the same key with another hash
//! is a conflict; errors release the key so that a retry runs again. Records outlive the replay
//! window by a grace period so that an expired key is told apart from one never seen.

use chrono::{DateTime, Duration, Utc};

use super::error::Error;
use super::ports::{Claim, SealedResponse, Store};

/// How long a completed response is replayed.
pub const REPLAY_TTL_SECONDS: i64 = 86_400;

/// Where a key lives: keys of different principals or accounts never collide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyScope {
    pub principal_id: String,
    /// The account the request acts for, or empty for account-less operations.
    pub account_scope: String,
    pub key: String,
}

/// What is stored under a key.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// The serialized response, once the first request completed.
    pub response: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the caller must do with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// Run the operation, then `finish` or `abandon`.
    Execute,
    /// Return this stored response, marked as a replay; do nothing else.
    Replay(String),
}

/// Validates an idempotency key against the AdCP pattern `^[A-Za-z0-9_.:-]{16,255}$`.
pub fn check_key(key: Option<&str>) -> Result<&str, Error> {
    let key = key.ok_or_else(|| {
        Error::invalid_with(
            "idempotency_key",
            "idempotency_key is required on mutating requests",
            "send a fresh UUID v4 as idempotency_key and reuse it only to retry the same request",
        )
    })?;
    let valid_chars = key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if !(16..=255).contains(&key.len()) || !valid_chars {
        return Err(Error::invalid_with(
            "idempotency_key",
            "idempotency_key must be 16 to 255 characters of A-Z a-z 0-9 _ . : -",
            "use a UUID v4",
        ));
    }
    Ok(key)
}

/// Claims the key or decides it is a replay, conflict or expired.
///
/// # Errors
/// `IdempotencyConflict`, `IdempotencyExpired`, `IdempotencyInProgress`, or a store failure.
pub async fn begin<S: Store>(
    store: &S,
    scope: &IdempotencyScope,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Begin, Error> {
    let expires_at = now + Duration::seconds(REPLAY_TTL_SECONDS);
    match store.claim_idempotency_key(scope, request_hash, now, expires_at).await? {
        Claim::Claimed => Ok(Begin::Execute),
        Claim::Existing(record) => decide(record, request_hash, now),
    }
}

/// Like [`begin`] without claiming: for sealed operations, whose response is stored with their
/// write (see [`Seal`]). `Execute` means the key was free when read; the sealed write decides.
///
/// # Errors
/// As [`begin`].
pub async fn check<S: Store>(
    store: &S,
    scope: &IdempotencyScope,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Begin, Error> {
    match store.idempotency_record(scope).await? {
        None => Ok(Begin::Execute),
        Some(record) => decide(record, request_hash, now),
    }
}

fn decide(record: IdempotencyRecord, request_hash: &str, now: DateTime<Utc>) -> Result<Begin, Error> {
    if record.expires_at <= now {
        return Err(Error::IdempotencyExpired);
    }
    if record.request_hash != request_hash {
        return Err(Error::IdempotencyConflict);
    }
    match record.response {
        Some(response) => Ok(Begin::Replay(response)),
        None => Err(Error::IdempotencyInProgress),
    }
}

/// How a sealed operation stores its response: rendered from the operation's outcome by the
/// transport (which owns the format) and committed in the operation's own transaction. Two
/// identical requests racing both run; the second one's write finds the key taken
/// (`StoreError::KeyTaken`), writes nothing, and the caller replays the first one's response.
pub struct Seal<'a, T> {
    pub scope: &'a IdempotencyScope,
    pub request_hash: &'a str,
    pub render: Box<dyn Fn(&T) -> String + Send + Sync + 'a>,
}

impl<T> Seal<'_, T> {
    /// The record to commit for `outcome`.
    pub fn response(&self, outcome: &T, now: DateTime<Utc>) -> SealedResponse {
        SealedResponse {
            scope: self.scope.clone(),
            request_hash: self.request_hash.to_owned(),
            response: (self.render)(outcome),
            created_at: now,
            expires_at: now + Duration::seconds(REPLAY_TTL_SECONDS),
        }
    }
}

/// Stores the response of an executed request.
pub async fn finish<S: Store>(store: &S, scope: &IdempotencyScope, response: &str) -> Result<(), Error> {
    Ok(store.complete_idempotency_key(scope, response).await?)
}

/// Releases the key after a failed execution.
pub async fn abandon<S: Store>(store: &S, scope: &IdempotencyScope) -> Result<(), Error> {
    Ok(store.release_idempotency_key(scope).await?)
}
