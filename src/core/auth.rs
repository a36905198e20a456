//! Bearer tokens: random, shown once, stored only as a SHA-256 hash, compared in constant time.
//!
//! Tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching): the
//! database never holds anything that authenticates by itself.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::Error;
use super::ports::Store;
use super::tenancy::Principal;

/// Prefix that makes tokens recognisable in logs and secret scanners.
const TOKEN_PREFIX: &str = "sa_";

/// A fresh random token (`sa_` + 43 base64url characters).
pub fn generate_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The principal a token belongs to, if any active one does.
///
/// # Errors
/// Storage failures only; an unknown token is `Ok(None)`.
pub async fn authenticate<S: Store>(store: &S, token: &str) -> Result<Option<Principal>, Error> {
    let presented = hash_token(token);
    let Some((principal, stored)) = store.principal_by_token_hash(&presented).await? else {
        return Ok(None);
    };
    // The lookup already matched on the hash; comparing again in constant time keeps the check
    // independent of how the database compares strings.
    let same: bool = stored.as_bytes().ct_eq(presented.as_bytes()).into();
    Ok(same.then_some(principal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with("sa_") && a.len() == 46);
        assert_eq!(hash_token("test-token"), hash_token("test-token"));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
