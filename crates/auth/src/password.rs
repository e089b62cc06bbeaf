//! Password hashes: argon2id with the crate's defaults (OWASP's minimum: 19 MiB, 2 passes), in
//! the PHC string format, so parameters can be raised later without breaking stored hashes.
//! Hashing is deliberately slow (tens of milliseconds): callers run it off the async threads.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};

use crate::{AuthError, AuthResult};

/// Shortest password accepted.
pub const MIN_CHARS: usize = 12;
/// Longest password accepted (argon2 reads all of it; a megabyte "password" is an attack).
pub const MAX_CHARS: usize = 256;

pub fn hash(password: &str) -> AuthResult<String> {
    let chars = password.chars().count();
    if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
        return Err(AuthError::InvalidInput(format!(
            "a password is {MIN_CHARS} to {MAX_CHARS} characters"
        )));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Internal(format!("argon2: {e}")))
}

/// Whether `password` matches `stored` (a PHC string). A malformed stored hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.chars().count() > MAX_CHARS {
        return false;
    }
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Verifies against a hash of nothing anyone knows: a login for an unknown email costs what a
/// wrong password costs, so timing does not tell which emails exist.
pub fn verify_nothing(password: &str) {
    static NOBODY: LazyLock<String> = LazyLock::new(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(salt.as_str().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    });
    let _ = verify(password, &NOBODY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_password_and_nothing_else() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("", &stored));
        assert!(!verify("correct horse battery", "not a hash"));
        // Salted: the same password hashes differently each time.
        assert_ne!(stored, hash("correct horse battery").unwrap());
    }

    #[test]
    fn refuses_short_and_huge_passwords() {
        for bad in ["short", &"x".repeat(MAX_CHARS + 1)] {
            assert!(matches!(hash(bad), Err(AuthError::InvalidInput(_))));
        }
    }
}
