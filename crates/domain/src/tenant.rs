//! Tenants and what their members may do: the organisation a request acts for, the four roles
//! and the permission each route class needs.

use std::fmt;
use std::str::FromStr;

/// The organisation (marketplace) a request acts for, by its slug: 1 to 63 characters of
/// `[a-z0-9-]`, starting with a letter or digit. Safe in logs, cache keys and metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

/// The tenant `make up` bootstraps, and the one development mode serves anonymous requests as.
pub const DEMO_TENANT: &str = "demo";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tenant is 1 to 63 characters of a-z, 0-9 and '-', not starting with '-'; got {0:?}")]
pub struct InvalidTenant(pub String);

impl Tenant {
    pub fn parse(slug: &str) -> Result<Self, InvalidTenant> {
        let valid = (1..=63).contains(&slug.len())
            && !slug.starts_with('-')
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(slug.to_owned()))
        } else {
            Err(InvalidTenant(slug.to_owned()))
        }
    }

    pub fn demo() -> Self {
        Self(DEMO_TENANT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a member of a tenant may do; each role has every permission of the roles below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    User,
    Manager,
    Admin,
}

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Read the catalog, reviews and one's tasks.
    Read,
    /// Read a courier's profile and live position: where a person is, so not a viewer's.
    ReadFleet,
    /// Ask for recommendations, rankings, sentiment, embeddings; submit jobs.
    Infer,
    /// Create, change and delete vehicles; register couriers and report their positions.
    WriteCatalog,
    /// Manage users and keys, re-index, invalidate the cache, read the stats.
    Administer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::User, Role::Manager, Role::Admin];

    /// The least role that holds `permission`.
    pub fn least_for(permission: Permission) -> Role {
        match permission {
            Permission::Read => Role::Viewer,
            Permission::ReadFleet | Permission::Infer => Role::User,
            Permission::WriteCatalog => Role::Manager,
            Permission::Administer => Role::Admin,
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        self >= Self::least_for(permission)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::User => "user",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected viewer, user, manager or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_slugs() {
        for good in ["demo", "acme-2", "a", &"x".repeat(63), "9lives"] {
            assert_eq!(Tenant::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-acme",
            "Acme",
            "ac me",
            "acme:1",
            "é",
            &"x".repeat(64),
            "a_b",
        ] {
            assert_eq!(Tenant::parse(bad), Err(InvalidTenant(bad.to_owned())));
        }
    }

    #[test]
    fn each_role_holds_exactly_the_permissions_at_or_below_it() {
        use Permission::{Administer, Infer, Read, ReadFleet, WriteCatalog};
        let table = [
            (Role::Viewer, [true, false, false, false, false]),
            (Role::User, [true, true, true, false, false]),
            (Role::Manager, [true, true, true, true, false]),
            (Role::Admin, [true, true, true, true, true]),
        ];
        for (role, expected) in table {
            let held = [Read, ReadFleet, Infer, WriteCatalog, Administer].map(|p| role.allows(p));
            assert_eq!(held, expected, "{role}");
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".into())));
        assert_eq!("Admin".parse::<Role>(), Err(UnknownRole("Admin".into())));
    }
}
