//! Who calls ARAS and for which tenant: organisations and their users (passwords hashed with
//! argon2), API keys for machine clients (random, stored as SHA-256, shown once), short-lived
//! JWT access tokens signed by a rotating keyring (`kid`), and refresh tokens that rotate on use
//! and revoke their whole family when a used one comes back.
//!
//! Layout:
//! - [`config`]: `ARAS_ENV` and the token settings.
//! - [`password`]: argon2id hashing and verification.
//! - [`token`]: the signing keyring, access tokens in and out.
//! - [`store`]: organisations, users, API keys and refresh tokens in Postgres.
//! - [`Principal`]: who a request acts as, once authenticated.

pub mod config;
pub mod password;
pub mod store;
pub mod token;

use aras_domain::tenant::{Role, Tenant};

pub use config::{AuthConfig, Environment};
pub use token::Keyring;

/// Who a request acts as: a tenant, a role, and the user or key behind them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: Tenant,
    pub role: Role,
    pub subject: Subject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    User(uuid::Uuid),
    ApiKey(uuid::Uuid),
    /// Development mode's caller without credentials.
    Anonymous,
}

impl Subject {
    /// `user:<id>`, `key:<id>` or `anonymous`: safe to log (an id, never a secret).
    pub fn label(&self) -> String {
        match self {
            Subject::User(id) => format!("user:{id}"),
            Subject::ApiKey(id) => format!("key:{id}"),
            Subject::Anonymous => "anonymous".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, wrong, expired or revoked credentials. The message is safe to show: it never
    /// says which part of a login was wrong.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// An access token we signed, past its lifetime: normal traffic (the client should
    /// refresh), so not counted as a failed authentication.
    #[error("access token expired")]
    Expired,
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Every password-hashing slot is taken and the queue before them is full: a flood of
    /// logins. Try again in a second.
    #[error("too many password checks at once")]
    Busy,
    /// Postgres cannot be reached.
    #[error("credential store unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type AuthResult<T> = Result<T, AuthError>;

impl From<deadpool_postgres::PoolError> for AuthError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<tokio_postgres::Error> for AuthError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(db) => Self::Internal(format!("{} ({})", db.message(), db.code().code())),
            None => Self::Unavailable(error.to_string()),
        }
    }
}
