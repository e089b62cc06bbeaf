//! Access tokens: HS256 JWTs naming the user, tenant and role, signed by the first key of a
//! keyring and verified by any of its keys, chosen by the token's `kid`. Rotation: put a new
//! key first, keep the old one listed until the tokens it signed have expired, then drop it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aras_domain::tenant::{Role, Tenant};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::TryRngCore as _;
use serde::{Deserialize, Serialize};

use crate::{AuthError, AuthResult, Principal, Subject};

/// Shortest signing secret accepted (HS256 wants at least its 256-bit output).
pub const MIN_SECRET_CHARS: usize = 32;
const ISSUER: &str = "aras";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    /// The user's id.
    sub: String,
    tenant: String,
    role: String,
    iat: u64,
    exp: u64,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

pub struct Keyring {
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    /// What a valid token must be, built once: every request with a token is checked by it.
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Keyring {
    // Never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("signing_kid", &self.signing_kid)
            .field("kids", &self.verifying.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signing secrets written in this repository, now or in its history (the dev overlay, the
/// scripts, tests and docs): anyone can sign tokens with them, so production refuses them.
const PUBLISHED_SECRETS: [&str; 6] = [
    "dev-only-signing-key-not-a-secret-0123456789",
    "stand-in-secret-of-at-least-32-chars",
    "first-signing-secret-of-at-least-32-chars",
    "second-signing-secret-of-at-least-32-chars",
    "a-secret-of-at-least-thirty-two-chars",
    "another-secret-at-least-thirty-two-chars",
];

/// Least entropy of a production secret, in bits, estimated from its character frequencies:
/// 32 random hex digits carry about 117 by this estimate (rarely under 92), a repeated or
/// patterned phrase far less.
const MIN_SECRET_BITS: f64 = 80.0;

/// Shannon's estimate over the secret's own characters, times its length.
fn estimated_bits(secret: &str) -> f64 {
    let mut counts = HashMap::<char, usize>::new();
    for c in secret.chars() {
        *counts.entry(c).or_default() += 1;
    }
    #[allow(clippy::cast_precision_loss)] // a secret's length is far below 2^52
    let total = secret.chars().count() as f64;
    #[allow(clippy::cast_precision_loss)]
    let per_char: f64 = counts
        .values()
        .map(|&n| {
            let p = n as f64 / total;
            -p * p.log2()
        })
        .sum();
    per_char * total
}

impl Keyring {
    /// As [`Keyring::parse`], refusing what must not sign production tokens: a secret written
    /// in this repository, or one with little entropy (`secret-secret-secret…`).
    pub fn parse_for_production(spec: &str, ttl: Duration) -> AuthResult<Self> {
        let keyring = Self::parse(spec, ttl)?;
        for (kid, secret) in spec.split(',').filter_map(|e| e.trim().split_once(':')) {
            if PUBLISHED_SECRETS.contains(&secret) {
                return Err(AuthError::InvalidInput(format!(
                    "ARAS_JWT_KEYS: key {kid:?} is a secret published in ARAS's repository; generate one (openssl rand -hex 32)"
                )));
            }
            if estimated_bits(secret) < MIN_SECRET_BITS {
                return Err(AuthError::InvalidInput(format!(
                    "ARAS_JWT_KEYS: key {kid:?} has too little entropy (about {:.0} bits, at least {MIN_SECRET_BITS} wanted); generate one (openssl rand -hex 32)",
                    estimated_bits(secret)
                )));
            }
        }
        Ok(keyring)
    }

    /// Parses `kid:secret[,kid:secret…]`; the first key signs.
    pub fn parse(spec: &str, ttl: Duration) -> AuthResult<Self> {
        let mut keys = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, secret) = entry.split_once(':').ok_or_else(|| {
                AuthError::InvalidInput("ARAS_JWT_KEYS: each key is kid:secret".into())
            })?;
            if kid.is_empty() || secret.chars().count() < MIN_SECRET_CHARS {
                return Err(AuthError::InvalidInput(format!(
                    "ARAS_JWT_KEYS: key {kid:?} needs a kid and a secret of at least {MIN_SECRET_CHARS} characters"
                )));
            }
            keys.push((kid.to_owned(), secret.as_bytes().to_vec()));
        }
        Self::from_keys(keys, ttl)
    }

    /// One random key, for development without configured keys: tokens die with the process.
    pub fn ephemeral(ttl: Duration) -> AuthResult<Self> {
        let secret = random_bytes::<32>()?;
        Self::from_keys(
            vec![(
                format!("ephemeral-{}", hex::encode(&secret[..4])),
                secret.to_vec(),
            )],
            ttl,
        )
    }

    fn from_keys(keys: Vec<(String, Vec<u8>)>, ttl: Duration) -> AuthResult<Self> {
        let Some((signing_kid, signing_secret)) = keys.first().cloned() else {
            return Err(AuthError::InvalidInput("ARAS_JWT_KEYS lists no key".into()));
        };
        let mut verifying = HashMap::new();
        for (kid, secret) in keys {
            if verifying
                .insert(kid.clone(), DecodingKey::from_secret(&secret))
                .is_some()
            {
                return Err(AuthError::InvalidInput(format!(
                    "ARAS_JWT_KEYS lists kid {kid:?} twice"
                )));
            }
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Ok(Self {
            signing_kid,
            signing: EncodingKey::from_secret(&signing_secret),
            verifying,
            validation,
            ttl,
        })
    }

    pub fn issue(&self, user: uuid::Uuid, tenant: &Tenant, role: Role) -> AuthResult<AccessToken> {
        let issued = now();
        let claims = Claims {
            iss: ISSUER.into(),
            sub: user.to_string(),
            tenant: tenant.as_str().into(),
            role: role.as_str().into(),
            iat: issued,
            exp: issued + self.ttl.as_secs(),
        };
        let header = Header {
            kid: Some(self.signing_kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.signing)
            .map_err(|e| AuthError::Internal(format!("signing an access token: {e}")))?;
        Ok(AccessToken {
            token,
            expires_in: self.ttl,
        })
    }

    /// The principal of a valid access token. Refused: anything malformed, another algorithm
    /// than HS256 (`none` included), an unknown or missing `kid`, a bad signature, an expired
    /// token, or claims that are not ours.
    pub fn verify(&self, token: &str) -> AuthResult<Principal> {
        const INVALID: AuthError = AuthError::Unauthenticated("invalid access token");
        let header = jsonwebtoken::decode_header(token).map_err(|_| INVALID)?;
        if header.alg != Algorithm::HS256 {
            return Err(INVALID);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(INVALID)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => INVALID,
            })?
            .claims;
        Ok(Principal {
            tenant: Tenant::parse(&claims.tenant).map_err(|_| INVALID)?,
            role: claims.role.parse().map_err(|_| INVALID)?,
            subject: Subject::User(claims.sub.parse().map_err(|_| INVALID)?),
        })
    }
}

/// `N` bytes from the operating system's generator.
pub(crate) fn random_bytes<const N: usize>() -> AuthResult<[u8; N]> {
    let mut bytes = [0; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| AuthError::Internal(format!("no randomness: {e}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_mins(15);
    const SECRET_A: &str = "a-secret-of-at-least-thirty-two-chars";
    const SECRET_B: &str = "another-secret-at-least-thirty-two-chars";

    #[test]
    fn production_refuses_published_and_weak_secrets() {
        for published in PUBLISHED_SECRETS {
            let error = Keyring::parse_for_production(&format!("k1:{published}"), TTL).unwrap_err();
            assert!(error.to_string().contains("published"), "{error}");
        }
        for weak in ["a".repeat(64), "ab".repeat(20), "abc".repeat(12)] {
            let error = Keyring::parse_for_production(&format!("k1:{weak}"), TTL).unwrap_err();
            assert!(error.to_string().contains("entropy"), "{weak}: {error}");
        }
        // 32 random bytes in hex, as the docs say to make one; one weak key spoils a list.
        let random = hex::encode(random_bytes::<32>().unwrap());
        assert!(Keyring::parse_for_production(&format!("k1:{random}"), TTL).is_ok());
        let half = hex::encode(random_bytes::<16>().unwrap());
        assert!(Keyring::parse_for_production(&format!("k1:{half}"), TTL).is_ok());
        assert!(
            Keyring::parse_for_production(&format!("k2:{random},k1:{}", "x".repeat(40)), TTL)
                .is_err()
        );
    }

    fn principal(keyring: &Keyring) -> (uuid::Uuid, String) {
        let user = uuid::Uuid::new_v4();
        let token = keyring
            .issue(user, &Tenant::parse("acme").unwrap(), Role::Manager)
            .unwrap();
        assert_eq!(token.expires_in, TTL);
        (user, token.token)
    }

    #[test]
    fn a_token_verifies_to_its_principal() {
        let keyring = Keyring::parse(&format!("k1:{SECRET_A}"), TTL).unwrap();
        let (user, token) = principal(&keyring);
        assert_eq!(
            keyring.verify(&token).unwrap(),
            Principal {
                tenant: Tenant::parse("acme").unwrap(),
                role: Role::Manager,
                subject: Subject::User(user),
            }
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_while_their_key_is_listed() {
        let old = Keyring::parse(&format!("k1:{SECRET_A}"), TTL).unwrap();
        let (_, token) = principal(&old);
        let rotated = Keyring::parse(&format!("k2:{SECRET_B},k1:{SECRET_A}"), TTL).unwrap();
        assert!(rotated.verify(&token).is_ok());
        let (_, new_token) = principal(&rotated);
        assert!(
            old.verify(&new_token).is_err(),
            "k2 is unknown to the old keyring"
        );
        let dropped = Keyring::parse(&format!("k2:{SECRET_B}"), TTL).unwrap();
        assert!(dropped.verify(&token).is_err());
        assert!(dropped.verify(&new_token).is_ok());
    }

    #[test]
    fn same_kid_other_secret_is_refused() {
        let signer = Keyring::parse(&format!("k1:{SECRET_A}"), TTL).unwrap();
        let (_, token) = principal(&signer);
        let verifier = Keyring::parse(&format!("k1:{SECRET_B}"), TTL).unwrap();
        assert!(matches!(
            verifier.verify(&token),
            Err(AuthError::Unauthenticated("invalid access token"))
        ));
    }

    #[test]
    fn refuses_bad_key_specs() {
        for spec in [
            "",
            "k1",
            "k1:short",
            &format!(":{SECRET_A}"),
            &format!("k:{SECRET_A},k:{SECRET_B}"),
        ] {
            assert!(
                matches!(Keyring::parse(spec, TTL), Err(AuthError::InvalidInput(_))),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn ephemeral_keyrings_differ() {
        let a = Keyring::ephemeral(TTL).unwrap();
        let b = Keyring::ephemeral(TTL).unwrap();
        let (_, token) = principal(&a);
        assert!(a.verify(&token).is_ok());
        assert!(b.verify(&token).is_err());
    }
}
