//! `aras admin …`: bootstrap tenants, users and API keys straight in Postgres (the gateway's
//! admin API needs an admin to exist first).

use std::io::BufRead as _;

use aras_auth::store;
use aras_catalog::DatabaseConfig;
use aras_domain::tenant::{Role, Tenant};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an organisation (a tenant).
    CreateOrg {
        /// Its slug: the tenant id, 1 to 63 characters of a-z, 0-9 and '-'.
        #[arg(long, value_parser = parse_tenant)]
        slug: Tenant,
        /// Its display name.
        #[arg(long)]
        name: String,
    },
    /// Create a user. The password is read from ARAS_USER_PASSWORD, else from the first line
    /// of standard input (never from a flag, which shell history and `ps` would show).
    CreateUser {
        #[arg(long = "org", value_parser = parse_tenant)]
        tenant: Tenant,
        #[arg(long)]
        email: String,
        /// viewer, user, manager or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Create an API key and print it (once: only its hash is stored) on standard output.
    CreateKey {
        #[arg(long = "org", value_parser = parse_tenant)]
        tenant: Tenant,
        /// viewer, user, manager or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// What the key is for ("ci", "billing service").
        #[arg(long)]
        name: String,
        /// Revoke the organisation's other live keys of this name.
        #[arg(long)]
        replace: bool,
        /// Refuse the key once this long has passed (e.g. 90d); without it, it lives until
        /// revoked.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// Revoke an API key by id: requests with it are refused from then on.
    RevokeKey {
        #[arg(long)]
        id: uuid::Uuid,
    },
}

fn parse_tenant(raw: &str) -> Result<Tenant, String> {
    Tenant::parse(raw).map_err(|e| e.to_string())
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse()
        .map_err(|e: aras_domain::tenant::UnknownRole| e.to_string())
}

pub async fn run(database: &DatabaseConfig, command: AdminCommand) -> anyhow::Result<()> {
    database.create_database_if_missing().await?;
    let pool = database.pool()?;
    aras_catalog::db::migrate(&pool).await?;
    match command {
        AdminCommand::CreateOrg { slug, name } => {
            store::create_organisation(&pool, &slug, &name).await?;
            eprintln!("organisation {slug} created");
        }
        AdminCommand::CreateUser {
            tenant,
            email,
            role,
        } => {
            let password = if let Ok(password) = std::env::var("ARAS_USER_PASSWORD") {
                password
            } else {
                eprintln!("password (one line on standard input):");
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            };
            let id = store::create_user(&pool, &tenant, &email, &password, role).await?;
            eprintln!("user {id} ({email}, {role} of {tenant}) created");
        }
        AdminCommand::CreateKey {
            tenant,
            role,
            name,
            replace,
            expires_in,
        } => {
            let spec = store::ApiKeySpec {
                replace,
                lifetime: expires_in,
                ..store::ApiKeySpec::new(&tenant, &name, role)
            };
            let key = store::create_api_key(&pool, &spec).await?;
            eprintln!(
                "API key {} ({role} of {tenant}, \"{name}\") created; it is shown only now:",
                key.id
            );
            println!("{}", key.key);
        }
        AdminCommand::RevokeKey { id } => {
            store::revoke_api_key(&pool, id, None).await?;
            eprintln!("API key {id} revoked");
        }
    }
    Ok(())
}
