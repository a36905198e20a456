//! The JSON-over-HTTP client the REST ad-server adapters share (Kevel, Triton): one base URL and
//! its auth (static headers, or a bearer token from a [`TokenSource`], fetched again once when
//! the platform answers 401), rate limits (429) retried in the call with backoff, every other
//! failure classified for the booking outbox (transient: network, 5xx, malformed answers;
//! permanent: refusals, failed authentication), and dry-run: the call is printed, not sent.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::core::booking::AdServerError;
use crate::core::ports::Clock;

/// How a 429 is retried inside one call: `attempts` tries in all, waiting the server's
/// `Retry-After` or else a random time up to `base × 2^n` (at most `cap`). After the last the
/// call fails as retryable and the booking outbox backs off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitRetry {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RateLimitRetry {
    fn default() -> Self {
        RateLimitRetry { attempts: 6, base: Duration::from_millis(250), cap: Duration::from_secs(5) }
    }
}

impl RateLimitRetry {
    /// A random wait before retry `attempt`, up to `base × 2^attempt` (at most `cap`).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1 << attempt.min(16)).min(self.cap);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// Paces the polls of a platform's report job: 250 ms doubling to 5 s between polls, until
/// `limit` is spent.
pub struct ReportWait {
    waited: Duration,
    pause: Duration,
    limit: Duration,
}

impl ReportWait {
    pub fn new(limit: Duration) -> ReportWait {
        ReportWait { waited: Duration::ZERO, pause: Duration::from_millis(250), limit }
    }

    /// Waits before the next poll.
    ///
    /// # Errors
    /// `Retryable` once the limit is spent: the report is still running.
    pub async fn next(&mut self, platform: &str) -> Result<(), AdServerError> {
        if self.waited >= self.limit {
            return Err(AdServerError::Retryable(format!("{platform}: the delivery report is still running")));
        }
        tokio::time::sleep(self.pause).await;
        self.waited += self.pause;
        self.pause = (self.pause * 2).min(Duration::from_secs(5));
        Ok(())
    }
}

/// Prints the call a dry-run would make (`[dry-run] Would call: METHOD URL payload`) and
/// writes it to the rehearsal's recorder, if any.
pub fn print_dry_run(platform: &str, recorder: Option<&Recorder>, call: String) {
    tracing::info!(platform, "[dry-run] Would call: {call}");
    if let Some(recorder) = recorder {
        recorder.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(call);
    }
}

/// The HTTP client every adapter uses: short connect timeout, `timeout` per request, no
/// redirects.
///
/// # Errors
/// The client cannot be built (TLS setup).
pub fn client(platform: &str, timeout: Duration) -> Result<reqwest::Client, AdServerError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("adcp-sales-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AdServerError::Permanent(format!("{platform}: HTTP client: {e}")))
}

/// A stable positive id derived from ours, for the answers a dry-run simulates.
pub fn simulated_id(ours: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(ours.as_bytes());
    i64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff) + 1
}

/// Platform ids already found or made, by our key (a brand's advertiser): asked of the platform
/// once per process, not once per line.
#[derive(Debug, Default)]
pub struct KnownIds(Mutex<std::collections::HashMap<String, i64>>);

impl KnownIds {
    pub fn get(&self, key: &str) -> Option<i64> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key).copied()
    }

    pub fn keep(&self, key: &str, id: i64) -> i64 {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.to_owned(), id);
        id
    }
}

/// A bearer token kept until shortly before it expires; one fetch at a time.
pub struct TokenCache {
    clock: Arc<dyn Clock>,
    cached: tokio::sync::Mutex<Option<(String, DateTime<Utc>)>>,
}

impl TokenCache {
    pub fn new(clock: Arc<dyn Clock>) -> TokenCache {
        TokenCache { clock, cached: tokio::sync::Mutex::default() }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The cached token, or the one `fetch` gets (with the instant it stops being used).
    ///
    /// # Errors
    /// As `fetch`.
    pub async fn get<F>(&self, fetch: F) -> Result<String, AdServerError>
    where
        F: Future<Output = Result<(String, DateTime<Utc>), AdServerError>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && self.clock.now() < *until
        {
            return Ok(token.clone());
        }
        let (token, until) = fetch.await?;
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    pub async fn clear(&self) {
        *self.cached.lock().await = None;
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where bearer tokens come from (a platform's login).
pub trait TokenSource: Send + Sync {
    /// A valid access token.
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<String, AdServerError>> + Send + '_>>;
    /// Drops the cached token (the API refused it).
    fn invalidate(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Where a dry-run also writes the calls it would make (`METHOD URL payload`), for a request
/// that asks to see them.
pub type Recorder = Arc<Mutex<Vec<String>>>;

/// One platform's API: base URL, auth headers (never logged), dry-run or live.
#[derive(Clone)]
pub struct JsonApi {
    platform: &'static str,
    base_url: String,
    headers: Vec<(&'static str, String)>,
    client: reqwest::Client,
    tokens: Option<Arc<dyn TokenSource>>,
    dry_run: bool,
    retry: RateLimitRetry,
    recorder: Option<Recorder>,
}

impl std::fmt::Debug for JsonApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonApi")
            .field("platform", &self.platform)
            .field("base_url", &self.base_url)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl JsonApi {
    /// # Errors
    /// The HTTP client cannot be built (TLS setup).
    pub fn new(
        platform: &'static str,
        base_url: &str,
        headers: Vec<(&'static str, String)>,
        dry_run: bool,
        retry: RateLimitRetry,
    ) -> Result<JsonApi, AdServerError> {
        let client = client(platform, REQUEST_TIMEOUT)?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        Ok(JsonApi { platform, base_url, headers, client, tokens: None, dry_run, retry, recorder: None })
    }

    /// The same API, authenticated by bearer tokens from `tokens`.
    pub fn with_tokens(self, tokens: Arc<dyn TokenSource>) -> JsonApi {
        JsonApi { tokens: Some(tokens), ..self }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The same API in dry-run, writing the calls it would make to `recorder` too.
    pub fn rehearsal(&self, recorder: Recorder) -> JsonApi {
        JsonApi { dry_run: true, recorder: Some(recorder), ..self.clone() }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends one call and returns its JSON answer (`Null` for an empty body). In dry-run it
    /// prints `[dry-run] Would call: METHOD URL` and the payload, sends nothing and returns
    /// `Null`: the adapter simulates the answer.
    ///
    /// # Errors
    /// `Retryable` for network failures, timeouts, 5xx, a rate limit that outlasts the retries
    /// and unreadable answers; `Permanent` for refusals (other 4xx, naming the platform's
    /// message) and failed authentication.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, AdServerError> {
        let url = self.url(path);
        if self.dry_run {
            let payload = body.map(|b| format!(" {b}")).unwrap_or_default();
            print_dry_run(self.platform, self.recorder.as_ref(), format!("{method} {url}{payload}"));
            return Ok(Value::Null);
        }
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let mut request = self.client.request(method.clone(), &url);
            for (name, value) in &self.headers {
                request = request.header(*name, value);
            }
            if let Some(tokens) = &self.tokens {
                request = request.bearer_auth(tokens.token().await?);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| {
                AdServerError::Retryable(format!("{}: {method} {path}: {}", self.platform, e.without_url()))
            })?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && let Some(tokens) = &self.tokens
            {
                // A token revoked or expired early: one fresh token, then the answer stands.
                tokens.invalidate().await;
                refreshed = true;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < self.retry.attempts {
                let wait = retry_after(&response).unwrap_or_else(|| self.retry.backoff(attempt));
                tracing::warn!(platform = self.platform, %method, path, attempt, ?wait, "rate limited; retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            let text = response.text().await.map_err(|e| {
                AdServerError::Retryable(format!("{}: {method} {path}: reading the answer: {}", self.platform, e))
            })?;
            return self.classify(&method, path, status, &text);
        }
    }

    fn classify(&self, method: &Method, path: &str, status: StatusCode, text: &str) -> Result<Value, AdServerError> {
        let platform = self.platform;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(text).map_err(|e| {
                AdServerError::Retryable(format!("{platform}: {method} {path}: unreadable answer ({e})"))
            });
        }
        let message = platform_message(text);
        let what = format!("{platform}: {method} {path}: HTTP {}", status.as_u16());
        match status {
            StatusCode::TOO_MANY_REQUESTS => Err(AdServerError::Retryable(format!("{what}: rate limited"))),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(AdServerError::Permanent(format!(
                "{what}: authentication failed; check the tenant's {platform} credentials{message}"
            ))),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                Err(AdServerError::Retryable(format!("{what}{message}")))
            }
            _ => Err(AdServerError::Permanent(format!("{what}{message}"))),
        }
    }
}

/// `Retry-After` in seconds (HTTP dates are not used by these platforms).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(60)))
}

/// The platform's own words from an error body: `{"Error": ...}`, `{"message": ...}` or the text.
fn platform_message(text: &str) -> String {
    let value: Option<Value> = serde_json::from_str(text).ok();
    let said = value
        .as_ref()
        .and_then(|v| ["Error", "error", "message", "Message"].iter().find_map(|k| v.get(*k)))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .unwrap_or_else(|| text.trim().chars().take(300).collect());
    if said.is_empty() { String::new() } else { format!(": {said}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_ids_are_stable_and_positive() {
        assert_eq!(simulated_id("mb_1"), simulated_id("mb_1"));
        assert_ne!(simulated_id("mb_1"), simulated_id("mb_2"));
        assert!(simulated_id("anything") > 0);
    }

    #[test]
    fn platform_messages_are_read_from_their_usual_places() {
        assert_eq!(platform_message(r#"{"Error":"StartDateISO is required"}"#), ": StartDateISO is required");
        assert_eq!(platform_message(r#"{"message":"bad key"}"#), ": bad key");
        assert_eq!(platform_message("Service Unavailable"), ": Service Unavailable");
        assert_eq!(platform_message(""), "");
    }
}
