//! Organisations, users, API keys and refresh tokens in Postgres. Secrets are stored only as
//! hashes: argon2id for passwords, SHA-256 for the random API keys and refresh tokens.

use std::time::{Duration, SystemTime};

use aras_domain::tenant::{Role, Tenant};
use deadpool_postgres::Pool;
use sha2::{Digest as _, Sha256};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::token::{AccessToken, Keyring, random_bytes};
use crate::{AuthError, AuthResult, Principal, Subject, password};

/// What every API key starts with, so a leaked one is recognisable (and secret scanners can
/// match it).
pub const API_KEY_PREFIX: &str = "aras_";
/// Longest API key name accepted.
const MAX_KEY_NAME_CHARS: usize = 100;
/// Longest email accepted (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn role(raw: &str) -> AuthResult<Role> {
    raw.parse()
        .map_err(|e| AuthError::Internal(format!("stored role: {e}")))
}

fn tenant(raw: &str) -> AuthResult<Tenant> {
    Tenant::parse(raw).map_err(|e| AuthError::Internal(format!("stored tenant: {e}")))
}

fn unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn foreign_key_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
}

pub async fn create_organisation(pool: &Pool, slug: &Tenant, name: &str) -> AuthResult<()> {
    if name.trim().is_empty() {
        return Err(AuthError::InvalidInput(
            "an organisation needs a name".into(),
        ));
    }
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO organisations (slug, name) VALUES ($1, $2)",
            &[&slug.as_str(), &name.trim()],
        )
        .await
        .map_err(|e| {
            if unique_violation(&e) {
                AuthError::Conflict(format!("organisation {slug} already exists"))
            } else {
                e.into()
            }
        })?;
    Ok(())
}

fn no_organisation(tenant: &Tenant) -> impl FnOnce(tokio_postgres::Error) -> AuthError + '_ {
    move |e| {
        if foreign_key_violation(&e) {
            AuthError::NotFound(format!("no organisation {tenant}"))
        } else {
            e.into()
        }
    }
}

/// Creates a user; the email is unique across tenants (it names the login).
pub async fn create_user(
    pool: &Pool,
    tenant: &Tenant,
    email: &str,
    password: &str,
    role: Role,
) -> AuthResult<Uuid> {
    let email = email.trim();
    if email.chars().count() > MAX_EMAIL_CHARS
        || !email.contains('@')
        || email.chars().any(char::is_control)
    {
        return Err(AuthError::InvalidInput(format!(
            "an email has an @, at most {MAX_EMAIL_CHARS} characters and no control character"
        )));
    }
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))??;
    let id = Uuid::new_v4();
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO users (id, tenant, email, password_hash, role) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &tenant.as_str(), &email, &hash, &role.as_str()],
        )
        .await
        .map_err(|e| {
            if unique_violation(&e) {
                AuthError::Conflict(format!("a user with email {email} already exists"))
            } else {
                no_organisation(tenant)(e)
            }
        })?;
    Ok(id)
}

/// A new API key: its id, and the key itself, which is shown this once and stored only hashed.
#[derive(Debug)]
pub struct NewApiKey {
    pub id: Uuid,
    pub key: String,
}

/// What a new API key is: whose, acting as which role, for how long, made by whom.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeySpec<'a> {
    pub tenant: &'a Tenant,
    /// What it is for; several keys may share one.
    pub name: &'a str,
    pub role: Role,
    /// Revoke the tenant's other live keys of this name in the same transaction (`make up`
    /// re-issues its key).
    pub replace: bool,
    /// Refused once this long has passed; `None`: until revoked.
    pub lifetime: Option<Duration>,
    /// Who made it: disabling the user (or the user behind the key) revokes it.
    pub created_by: Maker,
}

/// Who made an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maker {
    /// The CLI or development's anonymous admin: no user to follow.
    Nobody,
    User(Uuid),
    /// Another key: the new one follows that key's maker, so a user cannot outlive their
    /// disabling through keys made with their keys.
    ApiKey(Uuid),
}

impl<'a> ApiKeySpec<'a> {
    /// A key of `tenant` acting as `role`, living until revoked, made by no user.
    pub fn new(tenant: &'a Tenant, name: &'a str, role: Role) -> Self {
        Self {
            tenant,
            name,
            role,
            replace: false,
            lifetime: None,
            created_by: Maker::Nobody,
        }
    }
}

/// Longest lifetime a key may be given (3,650 days): beyond, ask for one that never expires.
const MAX_KEY_LIFETIME: Duration = Duration::from_hours(3650 * 24);

/// Creates an API key as `spec` says.
pub async fn create_api_key(pool: &Pool, spec: &ApiKeySpec<'_>) -> AuthResult<NewApiKey> {
    let ApiKeySpec {
        tenant,
        name,
        role,
        replace,
        lifetime,
        created_by,
    } = *spec;
    if lifetime.is_some_and(|l| l.is_zero() || l > MAX_KEY_LIFETIME) {
        return Err(AuthError::InvalidInput(
            "an API key's lifetime (expires_in_days) is more than zero and at most 3650 days"
                .into(),
        ));
    }
    if name.trim().is_empty()
        || name.chars().count() > MAX_KEY_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(AuthError::InvalidInput(format!(
            "an API key needs a name of at most {MAX_KEY_NAME_CHARS} characters, none of them control characters"
        )));
    }
    let key = format!("{API_KEY_PREFIX}{}", hex::encode(random_bytes::<24>()?));
    let id = Uuid::new_v4();
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    if replace {
        transaction
            .execute(
                "UPDATE api_keys SET revoked_at = now() WHERE tenant = $1 AND name = $2 AND revoked_at IS NULL",
                &[&tenant.as_str(), &name.trim()],
            )
            .await?;
    }
    transaction
        .execute(
            "INSERT INTO api_keys (id, tenant, name, role, secret_hash, expires_at, created_by)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6),
                     COALESCE($7, (SELECT created_by FROM api_keys WHERE id = $8)))",
            &[
                &id,
                &tenant.as_str(),
                &name.trim(),
                &role.as_str(),
                &sha256(&key),
                &lifetime.map(|l| l.as_secs_f64()),
                &match created_by {
                    Maker::User(user) => Some(user),
                    Maker::Nobody | Maker::ApiKey(_) => None,
                },
                &match created_by {
                    Maker::ApiKey(key) => Some(key),
                    Maker::Nobody | Maker::User(_) => None,
                },
            ],
        )
        .await
        .map_err(no_organisation(tenant))?;
    transaction.commit().await?;
    Ok(NewApiKey { id, key })
}

/// Revokes key `id` (of `tenant`, when given); `NotFound` when there is no such live key.
pub async fn revoke_api_key(pool: &Pool, id: Uuid, tenant: Option<&Tenant>) -> AuthResult<()> {
    let client = pool.get().await?;
    let revoked = client
        .execute(
            "UPDATE api_keys SET revoked_at = now()
             WHERE id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR tenant = $2)",
            &[&id, &tenant.map(Tenant::as_str)],
        )
        .await?;
    if revoked == 0 {
        return Err(AuthError::NotFound(format!("no live API key {id}")));
    }
    Ok(())
}

/// A live API key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub created_at: SystemTime,
    /// When it stops working; `None`: when revoked.
    pub expires_at: Option<SystemTime>,
}

/// The tenant's live API keys, newest first.
pub async fn list_api_keys(pool: &Pool, tenant: &Tenant) -> AuthResult<Vec<ApiKeyInfo>> {
    let client = pool.get().await?;
    client
        .query(
            "SELECT id, name, role, created_at, expires_at FROM api_keys
             WHERE tenant = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
             ORDER BY created_at DESC, id",
            &[&tenant.as_str()],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(ApiKeyInfo {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                role: role(row.try_get("role")?)?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .collect()
}

/// An enabled user as listed: never its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_at: SystemTime,
}

/// The tenant's enabled users, by email.
pub async fn list_users(pool: &Pool, tenant: &Tenant) -> AuthResult<Vec<UserInfo>> {
    let client = pool.get().await?;
    client
        .query(
            "SELECT id, email, role, created_at FROM users
             WHERE tenant = $1 AND disabled_at IS NULL ORDER BY lower(email)",
            &[&tenant.as_str()],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(UserInfo {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
                role: role(row.try_get("role")?)?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// Disables the tenant's user `id`: it can no longer log in or refresh (its sessions are
/// revoked), and the API keys it made are revoked; access tokens already issued live out their
/// short lifetime. `NotFound` when the tenant has no such enabled user.
pub async fn disable_user(pool: &Pool, tenant: &Tenant, id: Uuid) -> AuthResult<()> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let disabled = transaction
        .execute(
            "UPDATE users SET disabled_at = now()
             WHERE id = $1 AND tenant = $2 AND disabled_at IS NULL",
            &[&id, &tenant.as_str()],
        )
        .await?;
    if disabled == 0 {
        return Err(AuthError::NotFound(format!("no user {id}")));
    }
    transaction
        .execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            &[&id],
        )
        .await?;
    transaction
        .execute(
            "UPDATE api_keys SET revoked_at = now() WHERE created_by = $1 AND revoked_at IS NULL",
            &[&id],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// The principal of a live API key (not revoked, not expired).
pub async fn api_key_principal(pool: &Pool, key: &str) -> AuthResult<Principal> {
    const INVALID: AuthError = AuthError::Unauthenticated("invalid or revoked API key");
    if !key.starts_with(API_KEY_PREFIX) {
        return Err(INVALID);
    }
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT id, tenant, role FROM api_keys
             WHERE secret_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&sha256(key)])
        .await?
        .ok_or(INVALID)?;
    Ok(Principal {
        tenant: tenant(row.try_get("tenant")?)?,
        role: role(row.try_get("role")?)?,
        subject: Subject::ApiKey(row.try_get("id")?),
    })
}

/// What a login or a refresh hands out.
#[derive(Debug)]
pub struct Session {
    pub access: AccessToken,
    pub refresh_token: String,
    pub refresh_expires_in: Duration,
}

const INVALID_REFRESH: AuthError =
    AuthError::Unauthenticated("invalid, expired or revoked refresh token");

/// An enabled user found by email, for a login: its password is checked next.
pub struct Account {
    pub id: Uuid,
    tenant: Tenant,
    role: Role,
    /// argon2id, PHC string.
    pub password_hash: String,
}

// Not Debug: the hash must not reach a log line by accident.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The enabled user an email logs in as, if any (whatever the email's case).
pub async fn find_account(pool: &Pool, email: &str) -> AuthResult<Option<Account>> {
    // No account has such an email (and Postgres text cannot hold NUL).
    if email.chars().count() > MAX_EMAIL_CHARS || email.chars().any(char::is_control) {
        return Ok(None);
    }
    let row = pool
        .get()
        .await?
        .query_opt(
            "SELECT id, tenant, role, password_hash FROM users
             WHERE lower(email) = lower($1) AND disabled_at IS NULL",
            &[&email.trim()],
        )
        .await?;
    row.map(|row| {
        Ok(Account {
            id: row.try_get("id")?,
            tenant: tenant(row.try_get("tenant")?)?,
            role: role(row.try_get("role")?)?,
            password_hash: row.try_get("password_hash")?,
        })
    })
    .transpose()
}

/// A login's one answer to a wrong email or password: it never says which.
pub const WRONG_LOGIN: AuthError = AuthError::Unauthenticated("invalid email or password");

/// Opens a session (a new refresh-token family) for an account whose password was checked.
pub async fn open_session(
    pool: &Pool,
    keyring: &Keyring,
    refresh_ttl: Duration,
    account: &Account,
) -> AuthResult<Session> {
    let access = keyring.issue(account.id, &account.tenant, account.role)?;
    let refresh_token =
        new_refresh_token(&pool.get().await?, account.id, Uuid::new_v4(), refresh_ttl).await?;
    Ok(Session {
        access,
        refresh_token,
        refresh_expires_in: refresh_ttl,
    })
}

async fn new_refresh_token(
    client: &impl deadpool_postgres::GenericClient,
    user: Uuid,
    family: Uuid,
    ttl: Duration,
) -> AuthResult<String> {
    let token = hex::encode(random_bytes::<32>()?);
    client
        .execute(
            "INSERT INTO refresh_tokens (token_hash, family, user_id, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            &[&sha256(&token), &family, &user, &ttl.as_secs_f64()],
        )
        .await?;
    Ok(token)
}

/// Trades a refresh token for a new access token and the next refresh token of its family.
/// A token used before comes back only if it leaked: the whole family is revoked, so neither
/// the thief nor the owner can go on without logging in again.
pub async fn refresh(
    pool: &Pool,
    keyring: &Keyring,
    refresh_ttl: Duration,
    token: &str,
) -> AuthResult<Session> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let row = transaction
        .query_opt(
            "SELECT t.family, t.user_id, t.used_at IS NOT NULL AS used, t.revoked_at IS NOT NULL AS revoked,
                    t.expires_at < now() AS expired, u.tenant, u.role, u.disabled_at IS NOT NULL AS disabled
             FROM refresh_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 FOR UPDATE OF t",
            &[&sha256(token)],
        )
        .await?
        .ok_or(INVALID_REFRESH)?;
    let family: Uuid = row.try_get("family")?;
    if row.try_get("used")? {
        transaction
            .execute(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
                &[&family],
            )
            .await?;
        transaction.commit().await?;
        tracing::warn!(%family, "a used refresh token was presented again; its family is revoked");
        return Err(AuthError::Unauthenticated(
            "refresh token already used: the session is revoked, log in again",
        ));
    }
    if row.try_get("revoked")? || row.try_get("expired")? || row.try_get("disabled")? {
        return Err(INVALID_REFRESH);
    }
    let user: Uuid = row.try_get("user_id")?;
    transaction
        .execute(
            "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
            &[&sha256(token)],
        )
        .await?;
    let refresh_token = new_refresh_token(&transaction, user, family, refresh_ttl).await?;
    let access = keyring.issue(
        user,
        &tenant(row.try_get("tenant")?)?,
        role(row.try_get("role")?)?,
    )?;
    transaction.commit().await?;
    Ok(Session {
        access,
        refresh_token,
        refresh_expires_in: refresh_ttl,
    })
}

/// Ends the session of a refresh token: its whole family is revoked. An unknown token is not
/// an error (logging out twice is fine, and the answer must not confirm which tokens exist).
pub async fn logout(pool: &Pool, token: &str) -> AuthResult<()> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE refresh_tokens SET revoked_at = now()
             WHERE revoked_at IS NULL
               AND family = (SELECT family FROM refresh_tokens WHERE token_hash = $1)",
            &[&sha256(token)],
        )
        .await?;
    Ok(())
}
