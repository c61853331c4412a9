//! Device secrets: stored salted and hashed, compared in constant time.
//!
//! Device secrets are long random strings provisioned with the device (16 to 128
//! characters), not human passwords, so one salted SHA-256 is enough; a slow password hash
//! would only make every button press slower.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest accepted secret.
pub const MIN_LEN: usize = 16;
/// Longest accepted secret.
pub const MAX_LEN: usize = 128;

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

/// Checks a secret's form.
pub fn check(field: &str, secret: &str) -> Result<(), taxi_domain::FieldError> {
    let n = secret.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&n) {
        return Err(taxi_domain::FieldError::new(
            field,
            format!("must be {MIN_LEN} to {MAX_LEN} characters"),
        ));
    }
    if !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(taxi_domain::FieldError::new(
            field,
            "may hold only printable ASCII",
        ));
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
        assert_ne!(hash(&a, "s"), hash(&b, "s"));
    }

    #[test]
    fn form() {
        assert!(check("device_secret", "short").is_err());
        assert!(check("device_secret", &"x".repeat(129)).is_err());
        assert!(check("device_secret", "has a space in it!").is_err());
        assert!(check("device_secret", "0123456789abcdef").is_ok());
    }
}
