//! Operators' passwords: argon2id (the `argon2` crate's defaults), stored as PHC strings.
//! A login for an unknown name is checked against a dummy hash, so it takes as long as a
//! wrong password.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::OnceLock;

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted.
pub const MAX_LEN: usize = 128;

/// The PHC string of `password` with a fresh salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes encode");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters does not fail")
        .to_string()
}

/// Whether `password` matches `phc`; a damaged hash never matches.
pub fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification, for a name that does not exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("a password nobody has, for timing"));
    let _ = verify(phc, password);
}

/// Checks a new password's form.
pub fn check(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&n) {
        return Err(format!("must be {MIN_LEN} to {MAX_LEN} characters"));
    }
    if password.chars().any(char::is_control) {
        return Err("may not hold control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery");
        let b = hash("correct horse battery");
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify(&a, "correct horse battery"));
        assert!(!verify(&a, "correct horse batterx"));
        assert!(!verify("not a hash", "correct horse battery"));
        verify_nothing("x");
    }

    #[test]
    fn form() {
        assert!(check("short").is_err());
        assert!(check(&"x".repeat(129)).is_err());
        assert!(check("twelve chars").is_ok());
        assert!(check("twelve\nchars").is_err());
    }
}
