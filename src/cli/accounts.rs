//! Accounts from the command line: the first admin at `ferry serve`'s first start, the
//! `FERRY_ADMIN_TOKEN` bootstrap (scripts and tests call the API without a login), and
//! `ferry token create --user EMAIL`, and `ferry tenant add|list|retention`.

use anyhow::{Context, bail};
use ferry_engine::http::auth::{hash_password, new_secret, secret_hash};
use ferry_engine::runtime::Runtime;
use ferry_engine::store::{NewUser, Role};

/// Email of the first admin unless `FERRY_ADMIN_EMAIL` says otherwise.
const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// Creates the first admin when there is none: password from `FERRY_ADMIN_PASSWORD`, or a
/// generated one printed once. With `FERRY_ADMIN_TOKEN`, that token is the admin's too.
pub async fn bootstrap_admin(rt: &Runtime) -> anyhow::Result<()> {
    let store = &rt.store;
    let email =
        std::env::var("FERRY_ADMIN_EMAIL").unwrap_or_else(|_| DEFAULT_ADMIN_EMAIL.to_string());
    if store.count_admins().await? == 0 {
        let (password, generated) = match std::env::var("FERRY_ADMIN_PASSWORD") {
            Ok(p) if p.chars().count() >= ferry_engine::http::auth::MIN_PASSWORD_LEN => (p, false),
            Ok(_) => bail!(
                "FERRY_ADMIN_PASSWORD needs at least {} characters",
                ferry_engine::http::auth::MIN_PASSWORD_LEN
            ),
            Err(_) => (new_secret("")[..20].to_string(), true),
        };
        store
            .create_user(&NewUser {
                email: email.clone(),
                password_hash: hash_password(&password),
                role: Role::Admin,
                tenants: Vec::new(),
            })
            .await?
            .with_context(|| format!("a user {email} exists but is not an enabled admin"))?;
        if generated {
            println!(
                "Created the first admin {email} with password {password} \
                 (shown once; change it with PUT /api/v1/me/password)"
            );
        } else {
            println!("Created the first admin {email} (password from FERRY_ADMIN_PASSWORD)");
        }
    }
    if let Ok(token) = std::env::var("FERRY_ADMIN_TOKEN") {
        if token.len() < 20 {
            bail!("FERRY_ADMIN_TOKEN needs at least 20 characters");
        }
        if store.user_by_token(&secret_hash(&token)).await?.is_none() {
            let (admin, _) = store
                .user_by_email(&email)
                .await?
                .filter(|(u, _)| u.role == Role::Admin)
                .with_context(|| format!("FERRY_ADMIN_TOKEN: no admin {email}"))?;
            store
                .create_token(
                    admin.id,
                    "FERRY_ADMIN_TOKEN",
                    &secret_hash(&token),
                    &token[..10],
                )
                .await?;
        }
    }
    Ok(())
}

/// `ferry token create --user EMAIL`: prints a new API token of that user, once.
pub async fn create_token(rt: &Runtime, email: &str, name: &str) -> anyhow::Result<()> {
    let (user, _) = rt
        .store
        .user_by_email(email)
        .await?
        .with_context(|| format!("no user {email}"))?;
    let token = new_secret("fy_");
    rt.store
        .create_token(user.id, name, &secret_hash(&token), &token[..10])
        .await?;
    println!("{token}");
    Ok(())
}

/// `ferry tenant add|list|retention`.
pub async fn tenant(
    rt: &Runtime,
    command: super::TenantCommand,
) -> anyhow::Result<std::process::ExitCode> {
    let store = &rt.store;
    match command {
        super::TenantCommand::Add { id, name } => {
            if !ferry_engine::store::valid_id(&id) {
                bail!("tenant id `{id}`: use 1 to 64 lower-case letters, digits, `-` and `_`");
            }
            let name = name.unwrap_or_else(|| id.clone());
            store
                .create_tenant(&id, &name)
                .await?
                .with_context(|| format!("a tenant `{id}` exists already"))?;
            println!("created tenant {id}");
        }
        super::TenantCommand::List => {
            let own: std::collections::BTreeMap<String, u32> =
                store.tenant_retentions().await?.into_iter().collect();
            println!("{:<24} {:<32} RETENTION", "ID", "NAME");
            for tenant in store.list_tenants(None).await? {
                let retention = match own.get(&tenant.id) {
                    Some(days) => format!("{days} days"),
                    None => "default (--retention-days)".to_string(),
                };
                println!("{:<24} {:<32} {retention}", tenant.id, tenant.name);
            }
        }
        super::TenantCommand::Retention { id, days } => {
            let days = match days.as_str() {
                "default" => None,
                n => Some(n.parse::<u32>().ok().filter(|d| *d > 0).with_context(|| {
                    format!("retention `{n}`: give a number of days (1 or more) or `default`")
                })?),
            };
            if !store.set_tenant_retention(&id, days).await? {
                bail!("no tenant `{id}` (see `ferry tenant list`)");
            }
            match days {
                Some(days) => println!("tenant {id} keeps record payloads {days} days"),
                None => println!("tenant {id} keeps record payloads the installation's default"),
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
