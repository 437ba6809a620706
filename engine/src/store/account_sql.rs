//! The SQL implementation of [`AccountStore`], expanded once per database like `sql.rs`.

use async_trait::async_trait;
use sqlx::{FromRow, QueryBuilder};

use super::account::{
    AccountStore, ApiToken, AuditEntry, AuditFilter, NewAudit, NewUser, RunQuery, Tenant, User,
};
use super::sql::{RunDbRow, push_list};
use super::{PgStore, SqliteStore};
use super::{Result, RunId, RunRow, now};

/// `text` for a SQL `like` pattern with `escape '!'`: its `%`, `_` and `!` match themselves.
/// (`!` rather than a backslash, which Postgres reads differently without
/// `standard_conforming_strings`.)
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

#[derive(FromRow)]
struct TenantDbRow {
    id: String,
    name: String,
    created_at: String,
}

impl From<TenantDbRow> for Tenant {
    fn from(r: TenantDbRow) -> Self {
        Tenant {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
struct UserDbRow {
    id: i64,
    email: String,
    role: String,
    disabled: bool,
    created_at: String,
    password_hash: String,
}

#[derive(FromRow)]
struct TokenDbRow {
    id: i64,
    user_id: i64,
    name: String,
    prefix: String,
    created_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl From<TokenDbRow> for ApiToken {
    fn from(r: TokenDbRow) -> Self {
        ApiToken {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(FromRow)]
struct AuditDbRow {
    id: i64,
    user_email: String,
    tenant_id: Option<String>,
    action: String,
    object_type: String,
    object_id: String,
    detail: Option<String>,
    created_at: String,
}

macro_rules! user_columns {
    () => {
        "u.id, u.email, u.role, u.disabled, u.created_at, u.password_hash"
    };
}
macro_rules! token_columns {
    () => {
        "id, user_id, name, prefix, created_at, last_used_at, revoked_at"
    };
}

macro_rules! impl_account_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Completes a user row with its tenants.
            async fn user_from(&self, r: UserDbRow) -> Result<(User, String)> {
                let tenants: Vec<String> =
                    sqlx::query_scalar("select tenant_id from user_tenant where user_id = $1 order by tenant_id")
                        .bind(r.id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok((
                    User {
                        id: r.id,
                        email: r.email,
                        role: r.role.parse()?,
                        tenants,
                        disabled: r.disabled,
                        created_at: r.created_at,
                    },
                    r.password_hash,
                ))
            }

            async fn users_from(&self, rows: Vec<UserDbRow>) -> Result<Vec<User>> {
                let mut users = Vec::with_capacity(rows.len());
                for r in rows {
                    users.push(self.user_from(r).await?.0);
                }
                Ok(users)
            }
        }

        #[async_trait]
        impl AccountStore for $store {
            async fn create_tenant(&self, id: &str, name: &str) -> Result<Option<Tenant>> {
                let at = now();
                let row: Option<TenantDbRow> = sqlx::query_as(
                    "insert into tenant (id, name, created_at, updated_at) values ($1, $2, $3, $3) \
                     on conflict (id) do nothing returning id, name, created_at",
                )
                .bind(id)
                .bind(name)
                .bind(&at)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn get_tenant(&self, id: &str) -> Result<Option<Tenant>> {
                let row: Option<TenantDbRow> = sqlx::query_as("select id, name, created_at from tenant where id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn list_tenants(&self, scope: Option<&[String]>) -> Result<Vec<Tenant>> {
                let mut q = QueryBuilder::<$db>::new("select id, name, created_at from tenant");
                if let Some(scope) = scope {
                    if scope.is_empty() {
                        return Ok(Vec::new());
                    }
                    q.push(" where id in (");
                    let mut list = q.separated(", ");
                    for t in scope {
                        list.push_bind(t);
                    }
                    q.push(")");
                }
                q.push(" order by id");
                let rows: Vec<TenantDbRow> = q.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn create_user(&self, new: &NewUser) -> Result<Option<User>> {
                let at = now();
                let mut tx = self.pool.begin().await?;
                let id: Option<i64> = sqlx::query_scalar(
                    "insert into app_user (email, password_hash, role, disabled, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $5) on conflict (email) do nothing returning id",
                )
                .bind(new.email.to_lowercase())
                .bind(&new.password_hash)
                .bind(new.role.as_str())
                .bind(false)
                .bind(&at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(id) = id else { return Ok(None) };
                for t in &new.tenants {
                    sqlx::query("insert into user_tenant (user_id, tenant_id, created_at, updated_at) values ($1, $2, $3, $3)")
                        .bind(id)
                        .bind(t)
                        .bind(&at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                self.get_user(id).await
            }

            async fn get_user(&self, id: i64) -> Result<Option<User>> {
                let row: Option<UserDbRow> = sqlx::query_as(concat!("select ", user_columns!(), " from app_user u where u.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(r) => Ok(Some(self.user_from(r).await?.0)),
                    None => Ok(None),
                }
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
                let row: Option<UserDbRow> = sqlx::query_as(concat!("select ", user_columns!(), " from app_user u where u.email = $1"))
                    .bind(email.to_lowercase())
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(r) => Ok(Some(self.user_from(r).await?)),
                    None => Ok(None),
                }
            }

            async fn list_users(&self, scope: Option<&[String]>) -> Result<Vec<User>> {
                let mut q = QueryBuilder::<$db>::new(concat!("select ", user_columns!(), " from app_user u"));
                if let Some(scope) = scope {
                    if scope.is_empty() {
                        return Ok(Vec::new());
                    }
                    push_list(&mut q, " where exists (select 1 from user_tenant ut where ut.user_id = u.id and ut.tenant_id in (", scope, "))");
                }
                q.push(" order by u.id");
                let rows: Vec<UserDbRow> = q.build_query_as().fetch_all(&self.pool).await?;
                self.users_from(rows).await
            }

            async fn set_user_disabled(&self, id: i64, disabled: bool) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("update app_user set disabled = $1, updated_at = $2 where id = $3")
                    .bind(disabled)
                    .bind(now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if disabled {
                    sqlx::query("delete from session where user_id = $1").bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn set_password(&self, id: i64, password_hash: &str) -> Result<()> {
                sqlx::query("update app_user set password_hash = $1, updated_at = $2 where id = $3")
                    .bind(password_hash)
                    .bind(now())
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn count_admins(&self) -> Result<i64> {
                Ok(sqlx::query_scalar("select count(*) from app_user where role = 'admin' and disabled = $1")
                    .bind(false)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn create_token(&self, user_id: i64, name: &str, token_hash: &str, prefix: &str) -> Result<ApiToken> {
                let row: TokenDbRow = sqlx::query_as(concat!(
                    "insert into api_token (user_id, name, token_hash, prefix, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $5) returning ", token_columns!()
                ))
                .bind(user_id)
                .bind(name)
                .bind(token_hash)
                .bind(prefix)
                .bind(now())
                .fetch_one(&self.pool)
                .await?;
                Ok(row.into())
            }

            async fn list_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
                let rows: Vec<TokenDbRow> = sqlx::query_as(concat!("select ", token_columns!(), " from api_token where user_id = $1 order by id desc"))
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn get_token(&self, id: i64) -> Result<Option<ApiToken>> {
                let row: Option<TokenDbRow> = sqlx::query_as(concat!("select ", token_columns!(), " from api_token where id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn revoke_token(&self, id: i64) -> Result<()> {
                let at = now();
                sqlx::query("update api_token set revoked_at = $1, updated_at = $1 where id = $2 and revoked_at is null")
                    .bind(&at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn user_by_token(&self, token_hash: &str) -> Result<Option<User>> {
                let at = now();
                let user_id: Option<i64> = sqlx::query_scalar(
                    "update api_token set last_used_at = $1 where token_hash = $2 and revoked_at is null returning user_id",
                )
                .bind(&at)
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(user_id) = user_id else { return Ok(None) };
                Ok(self.get_user(user_id).await?.filter(|u| !u.disabled))
            }

            async fn create_session(&self, id_hash: &str, user_id: i64, expires_at: &str) -> Result<()> {
                sqlx::query("insert into session (id_hash, user_id, expires_at, created_at, updated_at) values ($1, $2, $3, $4, $4)")
                    .bind(id_hash)
                    .bind(user_id)
                    .bind(expires_at)
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn user_by_session(&self, id_hash: &str, now_at: &str) -> Result<Option<User>> {
                let user_id: Option<i64> = sqlx::query_scalar("select user_id from session where id_hash = $1 and expires_at > $2")
                    .bind(id_hash)
                    .bind(now_at)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(user_id) = user_id else { return Ok(None) };
                Ok(self.get_user(user_id).await?.filter(|u| !u.disabled))
            }

            async fn delete_session(&self, id_hash: &str) -> Result<()> {
                sqlx::query("delete from session where id_hash = $1").bind(id_hash).execute(&self.pool).await?;
                Ok(())
            }

            async fn append_audit(&self, e: &NewAudit) -> Result<()> {
                sqlx::query(
                    "insert into audit_log (user_id, user_email, tenant_id, action, object_type, object_id, detail, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(e.user_id)
                .bind(&e.user_email)
                .bind(&e.tenant_id)
                .bind(&e.action)
                .bind(&e.object_type)
                .bind(&e.object_id)
                .bind(&e.detail)
                .bind(now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
                let mut q = QueryBuilder::<$db>::new(
                    "select id, user_email, tenant_id, action, object_type, object_id, detail, created_at \
                     from audit_log where 1 = 1",
                );
                if let Some(tenants) = &filter.tenants {
                    if tenants.is_empty() {
                        return Ok(Vec::new());
                    }
                    push_list(&mut q, " and tenant_id in (", tenants, ")");
                }
                if let Some(user) = &filter.user {
                    let pattern = format!("%{}%", like_escaped(&user.to_ascii_lowercase()));
                    q.push(" and lower(user_email) like ").push_bind(pattern).push(" escape '!'");
                }
                if let Some(action) = &filter.action {
                    let pattern = format!("{}%", like_escaped(action));
                    q.push(" and action like ").push_bind(pattern).push(" escape '!'");
                }
                if let Some(object_id) = &filter.object_id {
                    q.push(" and object_id = ").push_bind(object_id);
                }
                if let Some(since) = &filter.since {
                    q.push(" and created_at >= ").push_bind(since);
                }
                if let Some(until) = &filter.until {
                    q.push(" and created_at <= ").push_bind(until);
                }
                if let Some(before) = filter.before {
                    q.push(" and id < ").push_bind(before);
                }
                q.push(" order by id desc limit ");
                q.push_bind(filter.limit);
                let rows: Vec<AuditDbRow> = q.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| AuditEntry {
                        id: r.id,
                        user_email: r.user_email,
                        tenant_id: r.tenant_id,
                        action: r.action,
                        object_type: r.object_type,
                        object_id: r.object_id,
                        detail: r.detail,
                        created_at: r.created_at,
                    })
                    .collect())
            }

            async fn query_runs(&self, query: &RunQuery) -> Result<Vec<RunRow>> {
                let mut q = QueryBuilder::<$db>::new(concat!("select ", run_columns!(), " from run where 1 = 1"));
                if let Some(tenants) = &query.tenants {
                    if tenants.is_empty() {
                        return Ok(Vec::new());
                    }
                    push_list(&mut q, " and tenant_id in (", tenants, ")");
                }
                if let Some(flow_id) = &query.flow_id {
                    q.push(" and flow_id = ").push_bind(flow_id);
                }
                if let Some(status) = query.status {
                    q.push(" and status = ").push_bind(status.as_str());
                }
                if let Some(from) = &query.from {
                    q.push(" and started_at >= ").push_bind(from);
                }
                if let Some(to) = &query.to {
                    q.push(" and started_at < ").push_bind(to);
                }
                if let Some(key) = &query.business_key {
                    q.push(" and exists (select 1 from run_record rr where rr.run_id = run.id and rr.source_key = ")
                        .push_bind(key)
                        .push(")");
                }
                q.push(" order by id desc limit ").push_bind(query.limit);
                let rows: Vec<RunDbRow> = q.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(RunRow::try_from).collect()
            }

            async fn run_tenant(&self, run_id: RunId) -> Result<Option<String>> {
                Ok(sqlx::query_scalar("select tenant_id from run where id = $1")
                    .bind(run_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn delete_flow(&self, id: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("delete from flow_schedule where flow_id = $1").bind(id).execute(&mut *tx).await?;
                let done = sqlx::query("delete from flow where id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

impl_account_store!(SqliteStore, sqlx::Sqlite);
impl_account_store!(PgStore, sqlx::Postgres);
