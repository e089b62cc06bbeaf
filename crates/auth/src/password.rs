//! Password hashes: argon2id with the crate's defaults (OWASP's minimum: 19 MiB, 2 passes), in
//! the PHC string format, so parameters can be raised later without breaking stored hashes.
//! Hashing is deliberately slow (tens of milliseconds): callers run it off the async threads.

use std::cell::RefCell;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

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

thread_local! {
    /// The thread's argon2 working memory (19 MiB at the default parameters), kept between
    /// checks: allocated afresh each time, every freed block stayed in the allocator's arena of
    /// the thread (measured: +200 MiB per checking thread after a flood of logins).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Whether `password` matches `stored` (a PHC string). A malformed stored hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.chars().count() > MAX_CHARS {
        return false;
    }
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let mut salt_bytes = [0; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut computed = vec![0; expected.len()];
    let hashed = BLOCKS.with_borrow_mut(|blocks| {
        blocks.resize(params.block_count(), Block::default());
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut computed,
                &mut blocks[..],
            )
            .is_ok()
    });
    // `Output`'s equality runs in constant time.
    hashed && Output::new(&computed).is_ok_and(|computed| computed == expected)
}

/// Verifies against a hash of nothing anyone knows: a login for an unknown email costs what a
/// wrong password costs, so timing does not tell which emails exist.
fn verify_nothing(password: &str) {
    static NOBODY: LazyLock<String> = LazyLock::new(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(salt.as_str().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    });
    let _ = verify(password, &NOBODY);
}

/// Runs password checks on threads of their own, one per allowed concurrent check (each holds
/// 19 MiB and a core for tens of milliseconds), with a bounded number of callers waiting: past
/// both, [`AuthError::Busy`] at once. A flood of logins then costs a fixed amount of memory
/// and leaves cores for everything else. Own threads, not Tokio's blocking pool: the
/// allocator keeps a freed 19 MiB block in the arena of the thread that used it, so every
/// thread that ever hashed would keep one (measured: +500 MiB after a 400-login flood).
pub struct HashingPool {
    threads: rayon::ThreadPool,
    /// Checks running or waiting.
    admitted: Arc<Semaphore>,
}

impl HashingPool {
    /// `concurrent` checks at once (one per core is all a CPU-bound hash can use), `queue` more
    /// waiting.
    pub fn new(concurrent: usize, queue: usize) -> AuthResult<Self> {
        let concurrent = concurrent.max(1);
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(concurrent)
            .thread_name(|i| format!("password-check-{i}"))
            .build()
            .map_err(|e| AuthError::Internal(format!("password-check threads: {e}")))?;
        Ok(Self {
            threads,
            admitted: Arc::new(Semaphore::new(concurrent + queue)),
        })
    }

    /// Whether `password` matches `stored`; without a stored hash (an unknown email), the same
    /// work against a hash of nothing, so timing does not tell which emails exist.
    pub async fn verify(&self, password: String, stored: Option<String>) -> AuthResult<bool> {
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| AuthError::Busy)?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        // The permit goes with the check, not the request: a caller who hangs up does not free
        // a slot while its check still waits or runs.
        self.threads.spawn(move || {
            let matches = if let Some(stored) = stored {
                verify(&password, &stored)
            } else {
                verify_nothing(&password);
                false
            };
            // Free the slot before answering: the caller may ask again at once.
            drop(admitted);
            let _ = answer.send(matches);
        });
        answered
            .await
            .map_err(|_| AuthError::Internal("a password check was dropped".into()))
    }
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

    #[tokio::test]
    async fn a_full_pool_refuses_at_once() {
        let stored = hash("correct horse battery").unwrap();
        let pool = std::sync::Arc::new(HashingPool::new(1, 1).unwrap());
        assert!(
            pool.verify("correct horse battery".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("correct horse battery".into(), None)
                .await
                .unwrap()
        );
        // One running, one waiting: a third caller is refused, not queued.
        let checks: Vec<_> = (0..3)
            .map(|_| {
                let (pool, stored) = (std::sync::Arc::clone(&pool), stored.clone());
                tokio::spawn(
                    async move { pool.verify("wrong password!".into(), Some(stored)).await },
                )
            })
            .collect();
        let mut busy = 0;
        for check in checks {
            match check.await.unwrap() {
                Ok(matched) => assert!(!matched),
                Err(AuthError::Busy) => busy += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(busy, 1);
    }
}
