//! Google OAuth 2.0 for service accounts (the JWT-bearer grant, RFC 7523): the key file's
//! `client_email`, `private_key` (PKCS#8 PEM), `private_key_id` and `token_uri`; an RS256
//! assertion signed with the key, exchanged at `token_uri` for an access token that is cached
//! until a minute before it expires. Nothing here logs the key or a token.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;

use super::http::{TokenCache, TokenSource};
use crate::core::booking::AdServerError;
use crate::core::ports::Clock;

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// A service account's signing identity.
#[derive(Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    pub token_uri: String,
    key_id: Option<String>,
    key: Arc<RsaKeyPair>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ServiceAccount {
    fn eq(&self, other: &Self) -> bool {
        self.client_email == other.client_email && self.token_uri == other.token_uri && self.key_id == other.key_id
    }
}

pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

impl ServiceAccount {
    /// Reads a service-account key file (the JSON Google issues).
    ///
    /// # Errors
    /// Not such a key file, or its private key is not an RSA PKCS#8 PEM.
    pub fn from_json(text: &str) -> Result<ServiceAccount, String> {
        let file: KeyFile = serde_json::from_str(text).map_err(|e| format!("not a service-account key file ({e})"))?;
        if file.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(format!("a key file of type {:?}, not service_account", file.kind.unwrap_or_default()));
        }
        let der = pem_body(&file.private_key, "PRIVATE KEY").ok_or("private_key is not a PEM \"PRIVATE KEY\" block")?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("private_key is not an RSA PKCS#8 key ({e})"))?;
        let token_uri = file.token_uri.unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        if !(token_uri.starts_with("https://") || token_uri.starts_with("http://")) {
            return Err(format!("token_uri {token_uri:?} is not an http(s) URL"));
        }
        Ok(ServiceAccount {
            client_email: file.client_email,
            token_uri,
            key_id: file.private_key_id,
            key: Arc::new(key),
        })
    }

    /// The signed JWT assertion for `scope`, issued at `now`, valid for an hour.
    ///
    /// # Errors
    /// Signing failed.
    pub fn assertion(&self, scope: &str, now: DateTime<Utc>) -> Result<String, AdServerError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.clone().into();
        }
        let issued = now.timestamp();
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + 3600,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| AdServerError::Permanent("gam: signing the service-account assertion failed".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// The base64 body of the first PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let text: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(text).ok()
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<i64>,
}

/// Access tokens for one service account and scope, fetched when needed and cached.
pub struct ServiceAccountTokens {
    account: ServiceAccount,
    scope: String,
    client: reqwest::Client,
    cache: TokenCache,
}

impl ServiceAccountTokens {
    pub fn new(account: ServiceAccount, scope: &str, client: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        ServiceAccountTokens { account, scope: scope.to_owned(), client, cache: TokenCache::new(clock) }
    }

    async fn fetch(&self) -> Result<(String, DateTime<Utc>), AdServerError> {
        let now = self.cache.now();
        let assertion = self.account.assertion(&self.scope, now)?;
        let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let response = self
            .client
            .post(&self.account.token_uri)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| AdServerError::Retryable(format!("gam: token endpoint: {}", e.without_url())))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| AdServerError::Retryable(format!("gam: token endpoint: reading the answer: {e}")))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(AdServerError::Retryable(format!("gam: token endpoint: HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            let said: Option<serde_json::Value> = serde_json::from_str(&text).ok();
            let said = said
                .as_ref()
                .and_then(|v| v.get("error_description").or_else(|| v.get("error")))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("no reason given")
                .to_owned();
            return Err(AdServerError::Permanent(format!(
                "gam: authentication failed at the token endpoint (HTTP {}): {said}; check the service account {} and its access to the network",
                status.as_u16(),
                self.account.client_email
            )));
        }
        let answer: TokenAnswer = serde_json::from_str(&text)
            .map_err(|e| AdServerError::Retryable(format!("gam: token endpoint: unreadable answer ({e})")))?;
        let lifetime = answer.expires_in.unwrap_or(3600).clamp(60, 3600);
        Ok((answer.access_token, now + Duration::seconds(lifetime - 60)))
    }
}

impl TokenSource for ServiceAccountTokens {
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<String, AdServerError>> + Send + '_>> {
        Box::pin(self.cache.get(self.fetch()))
    }

    fn invalidate(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.cache.clear())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_that_are_not_service_accounts_are_refused() {
        assert!(ServiceAccount::from_json("{}").unwrap_err().contains("not a service-account key file"));
        let user = r#"{"type":"authorized_user","client_email":"a","private_key":"x"}"#;
        assert!(ServiceAccount::from_json(user).unwrap_err().contains("authorized_user"));
        let bad_key = r#"{"type":"service_account","client_email":"a","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#;
        assert!(ServiceAccount::from_json(bad_key).unwrap_err().contains("not an RSA PKCS#8 key"));
    }
}
