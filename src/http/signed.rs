//! Verification of RFC 9421 signed requests under the AdCP request-signing profile
//! (`adcp/request-signing/v1`): the checks in the profile's order, each refusal with its
//! `request_signature_*` code, a process-wide replay cache and a per-key cap.
//!
//! The keys are those of a configured counterparty. Today the only counterparty is the AdCP
//! compliance suite's published test keys (`[server] request_signing_test_keys`, sandbox
//! deployments): signed `/mcp` calls act as the default tenant's first sandbox principal, and
//! `<mcp>/adcp/<operation>` verifies without executing anything.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::rfc9421::{self, Bare, Member};

pub const TAG: &str = "adcp/request-signing/v1";
const MAX_WINDOW_SECONDS: i64 = 300;
const CLOCK_SKEW_SECONDS: i64 = 60;
const MIN_REPLAY_TTL_SECONDS: i64 = 360;

/// The public keys of the AdCP compliance suite's signed-requests test counterparty
/// (compliance/3.0.6/test-vectors/request-signing/keys.json, private halves left out).
const TEST_COUNTERPARTY_JWKS: &str = r#"[
 {"kid":"test-ed25519-2026","kty":"OKP","crv":"Ed25519","alg":"EdDSA","key_ops":["verify"],"adcp_use":"request-signing","x":"gWUqzATUcUco5Q8fZZXn8aWwb7DQbYGBiqUzLiSDDJo"},
 {"kid":"test-es256-2026","kty":"EC","crv":"P-256","alg":"ES256","key_ops":["verify"],"adcp_use":"request-signing","x":"vGSQmjzPN1txgDY-oBb108gMsRETA9J5IPxqlBczQOY","y":"JGIbsHoOnHLL_LFqGYUW43BYDAqGYrNRZUylkE7rqSU"},
 {"kid":"test-gov-2026","kty":"OKP","crv":"Ed25519","alg":"EdDSA","key_ops":["verify"],"adcp_use":"governance-signing","x":"rkUcKP5oMd7YjV4yy5mVS5S8fA3LDXcf5jk1P1_52EA"},
 {"kid":"test-revoked-2026","kty":"OKP","crv":"Ed25519","alg":"EdDSA","key_ops":["verify"],"adcp_use":"request-signing","x":"r8wqMpVCLKzLSRNBtNmI1g71pPzQcwkATJHcyHK1lXg"}
]"#;

/// A public key as a JWK.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    pub crv: Option<String>,
    pub alg: Option<String>,
    pub key_ops: Option<Vec<String>>,
    pub adcp_use: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
}

/// Why a request was refused: its `WWW-Authenticate: Signature error="…"` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Required,
    HeaderMalformed,
    ParamsIncomplete,
    TagInvalid,
    AlgNotAllowed,
    WindowInvalid,
    ComponentsIncomplete,
    ComponentsUnexpected,
    KeyUnknown,
    KeyPurposeInvalid,
    KeyRevoked,
    Invalid,
    DigestMismatch,
    Replayed,
    RateAbuse,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Required => "request_signature_required",
            Refusal::HeaderMalformed => "request_signature_header_malformed",
            Refusal::ParamsIncomplete => "request_signature_params_incomplete",
            Refusal::TagInvalid => "request_signature_tag_invalid",
            Refusal::AlgNotAllowed => "request_signature_alg_not_allowed",
            Refusal::WindowInvalid => "request_signature_window_invalid",
            Refusal::ComponentsIncomplete => "request_signature_components_incomplete",
            Refusal::ComponentsUnexpected => "request_signature_components_unexpected",
            Refusal::KeyUnknown => "request_signature_key_unknown",
            Refusal::KeyPurposeInvalid => "request_signature_key_purpose_invalid",
            Refusal::KeyRevoked => "request_signature_key_revoked",
            Refusal::Invalid => "request_signature_invalid",
            Refusal::DigestMismatch => "request_signature_digest_mismatch",
            Refusal::Replayed => "request_signature_replayed",
            Refusal::RateAbuse => "request_signature_rate_abuse",
        }
    }
}

/// The parts of an HTTP request a signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// `scheme://authority/path?query` as received.
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A verifier for one counterparty's keys.
pub struct Verifier {
    keys: HashMap<String, Jwk>,
    revoked: HashSet<String>,
    /// Most live (not yet expired) nonces one key may have in the replay cache.
    per_key_cap: usize,
    /// keyid → nonce → expiry (Unix seconds).
    replay: Mutex<HashMap<String, HashMap<String, i64>>>,
}

impl Verifier {
    /// The compliance suite's test counterparty: its four public keys, `test-revoked-2026`
    /// revoked, 100 live nonces per key, either digest form.
    pub fn test_counterparty() -> Verifier {
        let keys: Vec<Jwk> = serde_json::from_str(TEST_COUNTERPARTY_JWKS).unwrap_or_default();
        Verifier {
            keys: keys.into_iter().map(|k| (k.kid.clone(), k)).collect(),
            revoked: HashSet::from(["test-revoked-2026".to_owned()]),
            per_key_cap: 100,
            replay: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies `request` at `now` (Unix seconds); the key id that signed it.
    ///
    /// # Errors
    /// The first check that fails, in the profile's order.
    pub fn verify(&self, request: &SignedRequest<'_>, now: i64) -> Result<String, Refusal> {
        let input = header(request.headers, "signature-input");
        let signature = header(request.headers, "signature");
        let (input, signature) = match (input, signature) {
            (None, None) => return Err(Refusal::Required),
            (Some(input), Some(signature)) => (input, signature),
            _ => return Err(Refusal::HeaderMalformed),
        };
        // 1. Parse.
        let inputs = rfc9421::parse_dictionary(&input).map_err(|_| Refusal::HeaderMalformed)?;
        let (label, member) = inputs
            .iter()
            .find(|(label, _)| label == "sig1")
            .or_else(|| inputs.first())
            .ok_or(Refusal::HeaderMalformed)?;
        let Member::InnerList(items, params) = member else { return Err(Refusal::HeaderMalformed) };
        let mut covered = Vec::with_capacity(items.len());
        for (item, _) in items {
            let Bare::String(name) = item else { return Err(Refusal::HeaderMalformed) };
            covered.push(name.clone());
        }
        let string = |key: &str| -> Result<Option<String>, Refusal> {
            match params.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
                None => Ok(None),
                Some(Bare::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Refusal::HeaderMalformed),
            }
        };
        let integer = |key: &str| -> Result<Option<i64>, Refusal> {
            match params.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
                None => Ok(None),
                Some(Bare::Integer(n)) => Ok(Some(*n)),
                Some(_) => Err(Refusal::HeaderMalformed),
            }
        };
        let (nonce, keyid, alg, tag) = (string("nonce")?, string("keyid")?, string("alg")?, string("tag")?);
        let (created, expires) = (integer("created")?, integer("expires")?);
        let signatures = rfc9421::parse_dictionary(&signature).map_err(|_| Refusal::HeaderMalformed)?;
        let signature_bytes = match signatures.iter().find(|(l, _)| l == label).map(|(_, m)| m) {
            Some(Member::Item(Bare::Bytes(text), _)) => decode_base64(text).ok_or(Refusal::HeaderMalformed)?,
            _ => return Err(Refusal::HeaderMalformed),
        };
        let (target_uri, authority) = rfc9421::canonical_target(request.url).map_err(|_| Refusal::HeaderMalformed)?;
        if !authority.is_ascii() {
            return Err(Refusal::HeaderMalformed);
        }
        let digest_header = header(request.headers, "content-digest");
        if covered.iter().any(|c| c == "content-type")
            && header(request.headers, "content-type").is_some_and(|v| has_top_level_comma(&v))
        {
            return Err(Refusal::HeaderMalformed);
        }
        let digests = match (&digest_header, covered.iter().any(|c| c == "content-digest")) {
            (Some(value), true) => Some(rfc9421::parse_dictionary(value).map_err(|_| Refusal::HeaderMalformed)?),
            _ => None,
        };
        // 2. Parameters.
        let (Some(created), Some(expires), Some(nonce), Some(keyid), Some(alg), Some(tag)) =
            (created, expires, nonce, keyid, alg, tag)
        else {
            return Err(Refusal::ParamsIncomplete);
        };
        // 3. Tag; 4. algorithm.
        if tag != TAG {
            return Err(Refusal::TagInvalid);
        }
        let jwk_alg = match alg.as_str() {
            "ed25519" => "EdDSA",
            "ecdsa-p256-sha256" => "ES256",
            _ => return Err(Refusal::AlgNotAllowed),
        };
        // 5. Window.
        if expires <= created
            || expires - created > MAX_WINDOW_SECONDS
            || now > expires + CLOCK_SKEW_SECONDS
            || now < created - CLOCK_SKEW_SECONDS
        {
            return Err(Refusal::WindowInvalid);
        }
        // 6. Components.
        for required in ["@method", "@target-uri", "@authority"] {
            if !covered.iter().any(|c| c == required) {
                return Err(Refusal::ComponentsIncomplete);
            }
        }
        // Signatures may cover content-digest or not (`covers_content_digest: "either"`).
        if !request.body.is_empty() && !covered.iter().any(|c| c == "content-type") {
            return Err(Refusal::ComponentsIncomplete);
        }
        let mut components = Vec::with_capacity(covered.len());
        for name in &covered {
            let value = match name.as_str() {
                "@method" => request.method.to_ascii_uppercase(),
                "@target-uri" => target_uri.clone(),
                "@authority" => authority.clone(),
                derived if derived.starts_with('@') => return Err(Refusal::ComponentsUnexpected),
                field => header(request.headers, field).ok_or(Refusal::ComponentsIncomplete)?,
            };
            components.push((name.clone(), value));
        }
        // 7. Key; 8. its purpose.
        let jwk = self.keys.get(&keyid).filter(|k| k.kid == keyid).ok_or(Refusal::KeyUnknown)?;
        let usable = jwk.adcp_use.as_deref() == Some("request-signing")
            && jwk.key_ops.as_ref().is_some_and(|ops| ops.iter().any(|o| o == "verify"))
            && jwk.alg.as_deref() == Some(jwk_alg)
            && match jwk_alg {
                "EdDSA" => jwk.kty == "OKP" && jwk.crv.as_deref() == Some("Ed25519"),
                _ => jwk.kty == "EC" && jwk.crv.as_deref() == Some("P-256"),
            };
        if !usable {
            return Err(Refusal::KeyPurposeInvalid);
        }
        // 9. Revocation; the per-key cap and replays before any cryptography.
        if self.revoked.contains(&keyid) {
            return Err(Refusal::KeyRevoked);
        }
        {
            let mut replay = self.replay.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let seen = replay.entry(keyid.clone()).or_default();
            seen.retain(|_, expiry| *expiry > now);
            if seen.contains_key(&nonce) {
                return Err(Refusal::Replayed);
            }
            if seen.len() >= self.per_key_cap {
                return Err(Refusal::RateAbuse);
            }
        }
        // 10. The signature.
        let base = rfc9421::signature_base(&components, &rfc9421::serialize_inner_list(items, params));
        if !verify_signature(jwk, jwk_alg, base.as_bytes(), &signature_bytes) {
            return Err(Refusal::Invalid);
        }
        // 11. The body digest.
        if let Some(digests) = digests
            && !digest_matches(&digests, request.body)
        {
            return Err(Refusal::DigestMismatch);
        }
        // 12. Remember the nonce.
        let mut replay = self.replay.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = replay.entry(keyid.clone()).or_default();
        if seen.contains_key(&nonce) {
            return Err(Refusal::Replayed);
        }
        if seen.len() >= self.per_key_cap {
            return Err(Refusal::RateAbuse);
        }
        seen.insert(nonce, now + (expires - now + CLOCK_SKEW_SECONDS).max(MIN_REPLAY_TTL_SECONDS));
        Ok(keyid)
    }
}

/// A header's value, several field lines joined by ", ".
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::trim).collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn has_top_level_comma(value: &str) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => return true,
            _ => {}
        }
    }
    false
}

/// Standard or URL-safe base64, padding optional; never the two alphabets mixed.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let standard = text.contains(['+', '/']);
    let url_safe = text.contains(['-', '_']);
    if standard && url_safe {
        return None;
    }
    let trimmed = text.trim_end_matches('=');
    if standard {
        base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).ok()
    } else {
        URL_SAFE_NO_PAD.decode(trimmed).ok()
    }
}

fn verify_signature(jwk: &Jwk, alg: &str, base: &[u8], signature: &[u8]) -> bool {
    let coordinate = |value: &Option<String>| value.as_deref().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    match alg {
        "EdDSA" => {
            let Some(Ok(key)) = coordinate(&jwk.x).map(|x| <[u8; 32]>::try_from(x.as_slice())) else { return false };
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else { return false };
            let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else { return false };
            key.verify_strict(base, &signature).is_ok()
        }
        _ => {
            let (Some(x), Some(y)) = (coordinate(&jwk.x), coordinate(&jwk.y)) else { return false };
            if x.len() != 32 || y.len() != 32 || signature.len() != 64 {
                return false;
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(base, signature)
                .is_ok()
        }
    }
}

/// Whether `Content-Digest` holds the body's SHA-256 (or SHA-512); an algorithm named twice
/// is refused by the dictionary parser.
fn digest_matches(digests: &[(String, Member)], body: &[u8]) -> bool {
    let mut checked = false;
    for (algorithm, member) in digests {
        let Member::Item(Bare::Bytes(text), _) = member else { return false };
        let Some(given) = decode_base64(text) else { return false };
        let computed = match algorithm.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        if !bool::from(given.ct_eq(&computed)) {
            return false;
        }
        checked = true;
    }
    checked
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const NOW: i64 = 1_776_520_800;
    const INPUT_001: &str = r#"sig1=("@method" "@target-uri" "@authority" "content-type");created=1776520800;expires=1776521100;nonce="KXYnfEfJ0PBRZXQyVXfVQA";keyid="test-ed25519-2026";alg="ed25519";tag="adcp/request-signing/v1""#;
    const SIGNATURE_001: &str =
        "sig1=:VKun2ReD5-CpIV8lc9Clxr808iUTeUQ6s-LxlP3Ch5nWsamLHfOnJPuss4A29aiUBAZkvJYUObBS_7J_-BU0AA:";
    const BODY_001: &[u8] =
        br#"{"plan_id":"plan_001","packages":[{"package_id":"pkg_1","budget":{"amount":1000,"currency":"USD"}}]}"#;
    const URL_001: &str = "http://127.0.0.1:8080/mcp/adcp/create_media_buy";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn verify(
        verifier: &Verifier,
        url: &str,
        pairs: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<String, Refusal> {
        let headers = headers(pairs);
        verifier.verify(&SignedRequest { method: "POST", url, headers: &headers, body }, now)
    }

    #[test]
    fn the_suites_signed_request_verifies_once() {
        let verifier = Verifier::test_counterparty();
        let pairs =
            [("content-type", "application/json"), ("signature-input", INPUT_001), ("signature", SIGNATURE_001)];
        assert_eq!(verify(&verifier, URL_001, &pairs, BODY_001, NOW).as_deref(), Ok("test-ed25519-2026"));
        assert_eq!(verify(&verifier, URL_001, &pairs, BODY_001, NOW), Err(Refusal::Replayed));
        let fresh = Verifier::test_counterparty();
        assert_eq!(verify(&fresh, URL_001, &pairs, BODY_001, NOW + 400), Err(Refusal::WindowInvalid));
        assert_eq!(verify(&fresh, URL_001, &pairs, b"{}", NOW), Ok("test-ed25519-2026".into()), "body not covered");
        let other = Verifier::test_counterparty();
        let elsewhere = "http://127.0.0.1:8080/mcp/adcp/update_media_buy";
        assert_eq!(verify(&other, elsewhere, &pairs, BODY_001, NOW), Err(Refusal::Invalid));
    }

    #[test]
    fn percent_encodings_and_digests_follow_the_profile() {
        let verifier = Verifier::test_counterparty();
        let input = r#"sig1=("@method" "@target-uri" "@authority" "content-type");created=1776520800;expires=1776521100;nonce="KXYnfEfJ0PBRZXQyVXfVQA";keyid="test-ed25519-2026";alg="ed25519";tag="adcp/request-signing/v1""#;
        let pairs = [
            ("content-type", "application/json"),
            ("signature-input", input),
            (
                "signature",
                "sig1=:h0ZJC7699fNUbuVGiEsQ4_GZ8z3ROMnpvp1HtPGxlbVUN-rKxPY59pKupAmnnVsIIB650TGNcD84IYVyBMrQAw:",
            ),
        ];
        let url = "http://127.0.0.1:8080/mcp/adcp/a%7Eb%2Dc%5Fd%2Ee/create_media_buy";
        assert!(verify(&verifier, url, &pairs, br#"{"plan_id":"plan_001"}"#, NOW).is_ok());

        let digest_input = r#"sig1=("@method" "@target-uri" "@authority" "content-type" "content-digest");created=1776520800;expires=1776521100;nonce="KXYnfEfJ0PBRZXQyVXfVQA";keyid="test-ed25519-2026";alg="ed25519";tag="adcp/request-signing/v1""#;
        let with_digest = |digest: &'static str| {
            [
                ("content-type", "application/json"),
                ("content-digest", digest),
                ("signature-input", digest_input),
                (
                    "signature",
                    "sig1=:wClQv6YNHGnbdYUTJxKIZ4dk773roGMmjRME8s_gybx0v8SLL8HBWP1j9wwZCm9UiTJxaJdLg4OIF5wsSvl6Aw:",
                ),
            ]
        };
        let body = br#"{"plan_id":"plan_001"}"#;
        let good = with_digest("sha-256=:SNIVma8dgUBx/U1CBaYFQnsJep9S0/tXaNXlQQOdoxQ=:");
        assert!(verify(&Verifier::test_counterparty(), URL_001, &good, body, NOW).is_ok());
        let twice = with_digest("sha-256=:SNIVma8dgUBx/U1CBaYFQnsJep9S0/tXaNXlQQOdoxQ=:, sha-256=:AA==:");
        assert_eq!(verify(&Verifier::test_counterparty(), URL_001, &twice, body, NOW), Err(Refusal::HeaderMalformed));
    }

    #[test]
    fn refusals_come_in_the_profiles_order() {
        let verifier = Verifier::test_counterparty();
        let with_input = |input: String| {
            [
                ("content-type", "application/json".to_owned()),
                ("signature-input", input),
                ("signature", SIGNATURE_001.to_owned()),
            ]
        };
        let check = |input: String, expected: Refusal| {
            let pairs = with_input(input);
            let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(verify(&verifier, URL_001, &borrowed, BODY_001, NOW), Err(expected));
        };
        check(INPUT_001.replace("adcp/request-signing/v1", "example-org/signing/v1"), Refusal::TagInvalid);
        check(INPUT_001.replace("alg=\"ed25519\"", "alg=\"rsa-pss-sha512\""), Refusal::AlgNotAllowed);
        check(INPUT_001.replace("expires=1776521100", "expires=1776521101"), Refusal::WindowInvalid);
        check(INPUT_001.replace(";expires=1776521100", ""), Refusal::ParamsIncomplete);
        check(INPUT_001.replace(" \"@authority\"", ""), Refusal::ComponentsIncomplete);
        check(INPUT_001.replace("test-ed25519-2026", "unknown-key-9999"), Refusal::KeyUnknown);
        check(INPUT_001.replace("test-ed25519-2026", "test-gov-2026"), Refusal::KeyPurposeInvalid);
        check(INPUT_001.replace("test-ed25519-2026", "test-revoked-2026"), Refusal::KeyRevoked);
        check(INPUT_001.replace("keyid=\"test-ed25519-2026\"", "keyid=test-ed25519-2026"), Refusal::HeaderMalformed);
        check(format!("{INPUT_001}, {INPUT_001}"), Refusal::HeaderMalformed);
        check(INPUT_001.replace(" \"content-type\"", " \"@path\" \"content-type\""), Refusal::ComponentsUnexpected);
        let unsigned = verify(&verifier, URL_001, &[("content-type", "application/json")], BODY_001, NOW);
        assert_eq!(unsigned, Err(Refusal::Required));
        let half = verify(&verifier, URL_001, &[("signature", SIGNATURE_001)], BODY_001, NOW);
        assert_eq!(half, Err(Refusal::HeaderMalformed));
    }

    #[test]
    fn a_key_has_at_most_its_cap_of_live_nonces() {
        let verifier = Verifier { per_key_cap: 1, ..Verifier::test_counterparty() };
        let pairs =
            [("content-type", "application/json"), ("signature-input", INPUT_001), ("signature", SIGNATURE_001)];
        assert!(verify(&verifier, URL_001, &pairs, BODY_001, NOW).is_ok());
        let another = INPUT_001.replace("KXYnfEfJ0PBRZXQyVXfVQA", "another-nonce");
        let pairs =
            [("content-type", "application/json"), ("signature-input", another.as_str()), ("signature", SIGNATURE_001)];
        assert_eq!(verify(&verifier, URL_001, &pairs, BODY_001, NOW), Err(Refusal::RateAbuse));
    }
}
