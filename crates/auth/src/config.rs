//! Authentication settings.

use std::time::Duration;

/// How strictly the gateway guards its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    /// Requests without credentials act as the demo tenant's admin; an ephemeral signing key
    /// is made up when none is configured. For a laptop, never for a deployment.
    Development,
    /// Every route but health needs a token or an API key; no signing key, no start.
    Production,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// `production` (credentials required everywhere but health; `ARAS_JWT_KEYS` required, and
    /// refused when published or weak) or `development` (what `make up` and the tests ask for:
    /// anonymous requests act as the demo tenant's admin). Unset means production, so a
    /// deployment that forgets it is closed, not open.
    #[arg(
        long = "env",
        env = "ARAS_ENV",
        value_enum,
        default_value = "production"
    )]
    pub environment: Environment,

    /// Access-token signing keys, `kid:secret` comma-separated, each secret at least 32
    /// characters. The first signs; all verify, so a new key goes first and the old one stays
    /// listed until the tokens it signed have expired.
    #[arg(long, env = "ARAS_JWT_KEYS", hide_env_values = true)]
    pub jwt_keys: Option<String>,

    /// Lifetime of an access token (a JWT; it cannot be revoked, so keep it short).
    #[arg(long, env = "ARAS_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,

    /// Lifetime of a refresh token (each use replaces it with a new one).
    #[arg(long, env = "ARAS_REFRESH_TOKEN_TTL", default_value = "30d", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,
}
