//! Outbound webhooks: the HTTP [`Sender`] of `core::notify`, and the seller's signing key.
//!
//! Each attempt resolves the destination, refuses it when any address it resolves to is one
//! the tenant's policy forbids (loopback, private, link-local/metadata, ...), and connects to
//! the checked address only (no second lookup, no redirects), with short timeouts. The body is
//! sent exactly as stored. Authentication follows the buyer's configuration:
//! `HMAC-SHA256` (`X-ADCP-Timestamp`, `X-ADCP-Signature: sha256=<hex>` over
//! `"<timestamp>.<body>"`) or `Bearer` when the buyer supplied `authentication`; otherwise the
//! RFC 9421 AdCP webhook profile (`adcp/webhook-signing/v1`): Ed25519 over `@method`,
//! `@target-uri`, `@authority`, `content-type` and `content-digest`, with a fresh nonce and a
//! 300-second window on every attempt. The public key is published at `/.well-known/jwks.json`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::core::notify::{Notification, Sender, Sent};
use crate::core::webhook::{UrlPolicy, check_address, check_url};

/// The RFC 9421 tag of AdCP webhook signatures.
pub const SIGNING_TAG: &str = "adcp/webhook-signing/v1";
/// How long a signature is valid.
const SIGNATURE_WINDOW_SECONDS: i64 = 300;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The seller's Ed25519 webhook-signing key.
#[derive(Clone)]
pub struct WebhookKey {
    kid: String,
    key: SigningKey,
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl WebhookKey {
    /// A new random key with a kid derived from its public half.
    pub fn generate() -> WebhookKey {
        let seed: [u8; 32] = rand::random();
        let key = SigningKey::from_bytes(&seed);
        let fingerprint = hex::encode(&Sha256::digest(key.verifying_key().as_bytes())[..8]);
        WebhookKey { kid: format!("sales-agent-webhook-{fingerprint}"), key }
    }

    /// A stored key: its kid and its private half as unpadded base64url.
    ///
    /// # Errors
    /// A private key that is not 32 base64url-encoded bytes.
    pub fn from_stored(kid: &str, private: &str) -> anyhow::Result<WebhookKey> {
        let bytes = URL_SAFE_NO_PAD.decode(private.trim())?;
        let seed: [u8; 32] =
            bytes.try_into().map_err(|_| anyhow::anyhow!("a webhook signing key is 32 bytes (Ed25519 seed)"))?;
        Ok(WebhookKey { kid: kid.to_owned(), key: SigningKey::from_bytes(&seed) })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private half as stored (unpadded base64url).
    pub fn private_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.to_bytes())
    }

    /// The JWKS buyers verify webhook signatures with.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{
            "kid": self.kid,
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "key_ops": ["verify"],
            "adcp_use": "webhook-signing",
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
        }]})
    }

    /// The RFC 9421 headers (`Content-Digest`, `Signature-Input`, `Signature`) of a JSON POST of
    /// `body` to `url`, signed at `created` (Unix seconds) with `nonce`.
    ///
    /// # Errors
    /// A URL without a host.
    pub fn sign(&self, url: &str, body: &[u8], created: i64, nonce: &str) -> anyhow::Result<Vec<(String, String)>> {
        let (target_uri, authority) = canonical_target(url)?;
        let digest = format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)));
        let params = format!(
            "(\"@method\" \"@target-uri\" \"@authority\" \"content-type\" \"content-digest\");created={created};\
             expires={};nonce=\"{nonce}\";keyid=\"{}\";alg=\"ed25519\";tag=\"{SIGNING_TAG}\"",
            created + SIGNATURE_WINDOW_SECONDS,
            self.kid
        );
        let base = signature_base(&target_uri, &authority, &digest, &params);
        let signature = URL_SAFE_NO_PAD.encode(self.key.sign(base.as_bytes()).to_bytes());
        Ok(vec![
            ("content-digest".to_owned(), digest),
            ("signature-input".to_owned(), format!("sig1={params}")),
            ("signature".to_owned(), format!("sig1=:{signature}:")),
        ])
    }
}

/// RFC 9421 §2.5 signature base of a webhook POST.
fn signature_base(target_uri: &str, authority: &str, digest: &str, params: &str) -> String {
    format!(
        "\"@method\": POST\n\"@target-uri\": {target_uri}\n\"@authority\": {authority}\n\
         \"content-type\": application/json\n\"content-digest\": {digest}\n\"@signature-params\": {params}"
    )
}

/// `@target-uri` and `@authority` of a webhook URL (the AdCP canonical form).
fn canonical_target(url: &str) -> anyhow::Result<(String, String)> {
    crate::rfc9421::canonical_target(url).map_err(|e| anyhow::anyhow!(e.0))
}

/// How the buyer asked to be authenticated to (`push_notification_config.authentication`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    Signature,
    Hmac(String),
    Bearer(String),
}

fn auth_of(config: &str) -> Auth {
    let Ok(config) = serde_json::from_str::<Value>(config) else { return Auth::Signature };
    let Some(authentication) = config.get("authentication") else { return Auth::Signature };
    let credentials = authentication.get("credentials").and_then(Value::as_str).unwrap_or_default().to_owned();
    let scheme = authentication
        .get("schemes")
        .and_then(Value::as_array)
        .and_then(|schemes| schemes.first())
        .and_then(Value::as_str)
        .unwrap_or_default();
    match scheme {
        "HMAC-SHA256" if !credentials.is_empty() => Auth::Hmac(credentials),
        "Bearer" if !credentials.is_empty() => Auth::Bearer(credentials),
        _ => Auth::Signature,
    }
}

/// `X-ADCP-Signature` of the legacy HMAC scheme.
pub fn hmac_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers notifications over HTTP(S).
pub struct HttpSender {
    key: WebhookKey,
    user_agent: String,
}

impl HttpSender {
    pub fn new(key: WebhookKey) -> HttpSender {
        HttpSender { key, user_agent: format!("adcp-sales-agent/{}", env!("CARGO_PKG_VERSION")) }
    }

    async fn deliver(&self, notification: &Notification, policy: UrlPolicy) -> Sent {
        // The URL was checked when the buyer gave it; the policy may have changed since.
        if let Err(error) = check_url(&notification.url, "url", policy) {
            return Sent::Refused(error.to_string());
        }
        let url = match reqwest::Url::parse(&notification.url) {
            Ok(url) => url,
            Err(error) => return Sent::Refused(format!("unparsable URL: {error}")),
        };
        let (Some(host), Some(port)) = (url.host_str().map(str::to_owned), url.port_or_known_default()) else {
            return Sent::Refused("the URL has no host".to_owned());
        };
        let lookup = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let addresses: Vec<SocketAddr> = match tokio::net::lookup_host((lookup.as_str(), port)).await {
            Ok(found) => found.collect(),
            Err(error) => return Sent::Retry(format!("cannot resolve {host}: {error}")),
        };
        // Every address must pass: a name that also points inside is refused (DNS rebinding).
        for address in &addresses {
            if let Err(why) = check_address(address.ip(), policy) {
                return Sent::Refused(format!("{host} resolves to a refused {why}"));
            }
        }
        let Some(address) = addresses.first().copied() else {
            return Sent::Retry(format!("{host} resolves to no address"));
        };
        let client = match reqwest::Client::builder()
            .resolve(&lookup, address)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(&self.user_agent)
            .build()
        {
            Ok(client) => client,
            Err(error) => return Sent::Retry(format!("HTTP client: {error}")),
        };
        let body = notification.body.as_bytes();
        let mut request = client.post(url.clone()).header("content-type", "application/json");
        match auth_of(&notification.config.0) {
            Auth::Hmac(secret) => {
                let timestamp = chrono::Utc::now().timestamp();
                request = request
                    .header("x-adcp-timestamp", timestamp.to_string())
                    .header("x-adcp-signature", hmac_signature(&secret, timestamp, body));
            }
            Auth::Bearer(token) => request = request.bearer_auth(token),
            Auth::Signature => {
                let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
                match self.key.sign(url.as_str(), body, chrono::Utc::now().timestamp(), &nonce) {
                    Ok(headers) => {
                        for (name, value) in headers {
                            request = request.header(name, value);
                        }
                    }
                    Err(error) => return Sent::Refused(format!("cannot sign for this URL: {error}")),
                }
            }
        }
        match request.body(notification.body.clone()).send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    Sent::Delivered { status: status.as_u16() }
                } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                    Sent::Retry(format!("HTTP {status}"))
                } else if status.is_redirection() {
                    Sent::Refused(format!("HTTP {status}: redirects are not followed"))
                } else {
                    Sent::Refused(format!("HTTP {status}"))
                }
            }
            Err(error) => Sent::Retry(format!("network error: {}", without_url(&error))),
        }
    }
}

/// A transport error's text without the URL (which may carry the buyer's secrets).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

impl Sender for HttpSender {
    fn send<'a>(
        &'a self,
        notification: &'a Notification,
        policy: UrlPolicy,
    ) -> Pin<Box<dyn Future<Output = Sent> + Send + 'a>> {
        Box::pin(self.deliver(notification, policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// positive/001-basic-post.json of the AdCP 3.0.6 webhook-signing vectors, signed with the
    /// published test key `test-ed25519-webhook-2026`: the base and the (deterministic) Ed25519
    /// signature must come out byte for byte.
    #[test]
    fn signs_the_conformance_vector_byte_for_byte() {
        let key = WebhookKey::from_stored("test-ed25519-webhook-2026", "V0Z2ktvVfcWISjh4xmUlt-bSOJML9QBlzWzDkMFvgJw")
            .unwrap();
        let body = r#"{"idempotency_key":"whk_01HW9D3H8FZP2N6R8T0V4X6Z9B","task_id":"task_456","operation_id":"op_abc","status":"completed","result":{"media_buy_id":"mb_001"}}"#;
        let url = "https://buyer.example.com/adcp/webhook/create_media_buy/agent_123/op_abc";
        let headers = key.sign(url, body.as_bytes(), 1_776_520_800, "KXYnfEfJ0PBRZXQyVXfVQA").unwrap();
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("content-digest"), "sha-256=:dJ2koiIMZIhdGE7tidErCHV13FFvOIowCcXDiwyG54I=:");
        assert_eq!(
            get("signature-input"),
            "sig1=(\"@method\" \"@target-uri\" \"@authority\" \"content-type\" \"content-digest\");created=1776520800;\
             expires=1776521100;nonce=\"KXYnfEfJ0PBRZXQyVXfVQA\";keyid=\"test-ed25519-webhook-2026\";alg=\"ed25519\";\
             tag=\"adcp/webhook-signing/v1\""
        );
        assert_eq!(
            get("signature"),
            "sig1=:nqTKCpjlqf1OqZPuJyPeiF7HJ01G8KmPNSzzmad0PAJv7OUVKthI7ks_j4G-6x1H4mBpXDIISgX_iZQiYvG7Dg:"
        );
        assert_eq!(key.jwks()["keys"][0]["x"], "y7tTfeqazsFeTn3ccCzQlcJ4qFWuYsu-JkJAcfc9VoA");
    }

    #[test]
    fn target_uris_are_canonical() {
        // Unreserved characters are decoded, other percent-encodings upper-cased (AdCP profile).
        let (uri, authority) = canonical_target("HTTPS://Buyer.Example.com:443/a/%7euser%2fx?b=2&a=1").unwrap();
        assert_eq!(uri, "https://buyer.example.com/a/~user%2Fx?b=2&a=1");
        assert_eq!(authority, "buyer.example.com");
        let (uri, authority) = canonical_target("http://127.0.0.1:8080/step/x/op").unwrap();
        assert_eq!((uri.as_str(), authority.as_str()), ("http://127.0.0.1:8080/step/x/op", "127.0.0.1:8080"));
    }

    /// static/test-vectors/webhook-hmac-sha256.json of AdCP 3.0.6: the key is the secret
    /// string's UTF-8 bytes (not hex-decoded), the message `"<timestamp>.<raw body>"`.
    #[test]
    fn hmac_matches_the_legacy_conformance_vectors() {
        let secret = "cc237f7fe354609bb41360c6530a2deb7926f3cc55e91df3ff90e37202950b6c";
        let vectors = [
            (
                r#"{"event":"creative.status_changed","creative_id":"creative_123","status":"approved"}"#,
                "sha256=0987f9b3e89d331142297dbc0e992edbc13b2ae29e7038ed8f948b565aa05c4b",
            ),
            ("{}", "sha256=06338bfc687c7a3677ea16420e527469d6717bb966451d29c685de8f0270f073"),
            (
                "{\"brand_name\":\"Café Münchën\",\"tagline\":\"日本語テスト\"}",
                "sha256=0e445863247724694581d538497527218443961f15c9645d656b52d8fdca4f9c",
            ),
        ];
        for (body, expected) in vectors {
            assert_eq!(hmac_signature(secret, 1_700_000_000, body.as_bytes()), expected, "{body}");
        }
    }

    #[test]
    fn authentication_is_read_from_the_buyer_configuration() {
        assert_eq!(auth_of(r#"{"url":"https://x.example/h"}"#), Auth::Signature);
        assert_eq!(
            auth_of(
                r#"{"url":"u","authentication":{"schemes":["HMAC-SHA256"],"credentials":"s3cret-s3cret-s3cret-s3cret-32"}}"#
            ),
            Auth::Hmac("s3cret-s3cret-s3cret-s3cret-32".into())
        );
        assert_eq!(
            auth_of(r#"{"url":"u","authentication":{"schemes":["Bearer"],"credentials":"tok"}}"#),
            Auth::Bearer("tok".into())
        );
    }
}
