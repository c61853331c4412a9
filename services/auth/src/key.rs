//! Long random keys of taxis, devices, relatives and services, and one-time codes.
//!
//! These are 128-bit random strings made here, not human passwords, so one salted SHA-256
//! is enough (a slow hash would only slow every login down) and comparison is constant-time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest accepted secret.
pub const MIN_LEN: usize = 16;
/// Longest accepted secret.
pub const MAX_LEN: usize = 128;

use taxi_domain::validate::ID_ALPHABET as ALPHABET;

/// `prefix` and 128 random bits in 26 base-32 characters: an unguessable id.
pub fn new_id(prefix: &str) -> String {
    taxi_domain::validate::generated_id(prefix, rand::random())
}

/// A new secret: 32 hex characters (128 random bits).
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A new one-time code for a person to type: 4 groups of 4 base-32 characters (80 bits).
pub fn new_code() -> String {
    let mut n = rand::random::<u128>();
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[(n & 31) as usize] as char);
        n >>= 5;
    }
    out
}

/// How a typed code is looked up: upper-cased, dashes and spaces dropped, hashed.
pub fn code_digest(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(Sha256::digest(norm.as_bytes()))
}

/// A fresh random salt, hex.
pub fn new_salt() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The stored hash of `secret` with `salt`, hex.
pub fn hash(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `secret` matches the stored hash, in constant time.
pub fn verify(salt: &str, stored_hash: &str, secret: &str) -> bool {
    let got = hash(salt, secret);
    got.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Spends the time of one verification, for an id that does not exist.
pub fn verify_nothing(secret: &str) {
    let _ = verify("0000000000000000", &"0".repeat(64), secret);
}

/// Checks a secret's form; the reason when it is wrong.
pub fn check(secret: &str) -> Result<(), String> {
    let n = secret.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&n) {
        return Err(format!("must be {MIN_LEN} to {MAX_LEN} characters"));
    }
    if !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err("may hold only printable ASCII".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = new_salt();
        let b = new_salt();
        assert_ne!(a, b);
        let h = hash(&a, "correct horse battery");
        assert!(verify(&a, &h, "correct horse battery"));
        assert!(!verify(&a, &h, "correct horse batterx"));
        assert!(!verify(&b, &h, "correct horse battery"));
    }

    #[test]
    fn ids_secrets_and_codes_have_their_form() {
        let id = new_id("T");
        assert_eq!(id.len(), 27);
        assert_ne!(new_id("T"), id);
        assert_eq!(new_secret().len(), 32);
        assert!(check(&new_secret()).is_ok());
        let code = new_code();
        assert_eq!(code.len(), 19);
        assert_eq!(
            code_digest(&code),
            code_digest(&code.to_lowercase().replace('-', " "))
        );
        assert!(check("short").is_err());
        assert!(check("has a space in it!").is_err());
    }
}
