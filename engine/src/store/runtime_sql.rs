//! The SQL implementation of [`RuntimeStore`], expanded once per database like `sql.rs`.

use async_trait::async_trait;
use sqlx::{FromRow, QueryBuilder};

use super::runtime::{FailedRecord, FlowRecord, PruneScope, Pruned, RuntimeStore, ScheduleRow};
use super::sql::{INSERT_CHUNK, RunDbRow, compress};
use super::{NewRun, Result, RunId, RunRow, now};
use super::{PgStore, SqliteStore};

#[derive(FromRow)]
struct FlowDbRow {
    id: String,
    name: String,
    definition: String,
    version: String,
    base_dir: String,
    enabled: bool,
    webhook_token: String,
    tenant_id: String,
}

impl From<FlowDbRow> for FlowRecord {
    fn from(r: FlowDbRow) -> Self {
        FlowRecord {
            id: r.id,
            name: r.name,
            definition: r.definition,
            version: r.version,
            base_dir: r.base_dir,
            enabled: r.enabled,
            webhook_token: r.webhook_token,
            tenant: r.tenant_id,
        }
    }
}

#[derive(FromRow)]
struct ScheduleDbRow {
    flow_id: String,
    spec: String,
    next_run_at: String,
    last_run_at: Option<String>,
    last_run_id: Option<i64>,
}

impl From<ScheduleDbRow> for ScheduleRow {
    fn from(r: ScheduleDbRow) -> Self {
        ScheduleRow {
            flow_id: r.flow_id,
            spec: r.spec,
            next_run_at: r.next_run_at,
            last_run_at: r.last_run_at,
            last_run_id: r.last_run_id,
        }
    }
}

#[derive(FromRow)]
struct FailedDbRow {
    flow_id: String,
    business_key: String,
    run_id: i64,
    seq: i64,
    step_id: Option<String>,
    error: Option<String>,
    updated_at: String,
    retry_at: Option<String>,
    parked_count: i64,
}

// Column lists as macros so queries stay `&'static str` (as in `sql.rs`).
macro_rules! flow_columns {
    () => {
        "id, name, definition, version, base_dir, enabled, webhook_token, tenant_id"
    };
}
macro_rules! schedule_columns {
    () => {
        "flow_id, spec, next_run_at, last_run_at, last_run_id"
    };
}

macro_rules! impl_runtime_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl RuntimeStore for $store {
            async fn upsert_flow(&self, flow: &FlowRecord) -> Result<FlowRecord> {
                let at = now();
                let row: FlowDbRow = sqlx::query_as(
                    "insert into flow (id, name, definition, version, base_dir, enabled, webhook_token, created_at, updated_at, tenant_id) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) on conflict (tenant_id, id) do update set \
                     name = excluded.name, definition = excluded.definition, version = excluded.version, \
                     base_dir = excluded.base_dir, enabled = excluded.enabled, updated_at = excluded.updated_at \
                     returning id, name, definition, version, base_dir, enabled, webhook_token, tenant_id",
                )
                .bind(&flow.id)
                .bind(&flow.name)
                .bind(&flow.definition)
                .bind(&flow.version)
                .bind(&flow.base_dir)
                .bind(flow.enabled)
                .bind(&flow.webhook_token)
                .bind(&at)
                .bind(&flow.tenant)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.into())
            }

            async fn get_flow(&self, id: &str) -> Result<Option<FlowRecord>> {
                let row: Option<FlowDbRow> = sqlx::query_as(concat!("select ", flow_columns!(), " from flow where id = $1")).bind(id).fetch_optional(&self.pool).await?;
                Ok(row.map(Into::into))
            }

            async fn list_flows(&self) -> Result<Vec<FlowRecord>> {
                let rows: Vec<FlowDbRow> = sqlx::query_as(concat!("select ", flow_columns!(), " from flow order by id")).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn set_schedule(&self, flow_id: &str, spec: &str, next_run_at: &str) -> Result<()> {
                let at = now();
                sqlx::query(
                    "insert into flow_schedule (flow_id, spec, next_run_at, created_at, updated_at) values ($1, $2, $3, $4, $4) \
                     on conflict (tenant_id, flow_id) do update set \
                     next_run_at = case when flow_schedule.spec = excluded.spec then flow_schedule.next_run_at else excluded.next_run_at end, \
                     spec = excluded.spec, updated_at = excluded.updated_at",
                )
                .bind(flow_id)
                .bind(spec)
                .bind(next_run_at)
                .bind(&at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delete_schedule(&self, flow_id: &str) -> Result<()> {
                sqlx::query("delete from flow_schedule where tenant_id = 'default' and flow_id = $1")
                    .bind(flow_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn list_schedules(&self) -> Result<Vec<ScheduleRow>> {
                let rows: Vec<ScheduleDbRow> = sqlx::query_as(concat!("select ", schedule_columns!(), " from flow_schedule where tenant_id = 'default' order by flow_id")).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn due_schedules(&self, now_at: &str) -> Result<Vec<ScheduleRow>> {
                let rows: Vec<ScheduleDbRow> = sqlx::query_as(concat!(
                    "select ", schedule_columns!(), " from flow_schedule s where s.next_run_at <= $1 \
                     and exists (select 1 from flow f where f.tenant_id = s.tenant_id and f.id = s.flow_id and f.enabled = $2) \
                     order by s.next_run_at"
                )).bind(now_at).bind(true).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn claim_schedule(&self, flow_id: &str, expected_next: &str, next_run_at: &str, now_at: &str) -> Result<bool> {
                let done = sqlx::query(
                    "update flow_schedule set next_run_at = $1, last_run_at = $2, updated_at = $2 \
                     where tenant_id = 'default' and flow_id = $3 and next_run_at = $4",
                )
                .bind(next_run_at)
                .bind(now_at)
                .bind(flow_id)
                .bind(expected_next)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_schedule_run(&self, flow_id: &str, run_id: RunId) -> Result<()> {
                sqlx::query("update flow_schedule set last_run_id = $1 where tenant_id = 'default' and flow_id = $2")
                    .bind(run_id)
                    .bind(flow_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn create_queued_run(&self, new: &NewRun, inputs: &[String]) -> Result<RunId> {
                let at = now();
                let mut tx = self.pool.begin().await?;
                let id: i64 = sqlx::query_scalar(
                    "insert into run (flow_id, flow_version, trigger, status, started_at, created_at, updated_at, tenant_id) \
                     values ($1, $2, $3, 'queued', $4, $4, $4, coalesce((select tenant_id from flow where id = $1), 'default')) returning id",
                )
                .bind(&new.flow_id)
                .bind(&new.flow_version)
                .bind(&new.trigger)
                .bind(&at)
                .fetch_one(&mut *tx)
                .await?;
                let numbered: Vec<(i64, &String)> = inputs.iter().enumerate().map(|(i, b)| (i as i64, b)).collect();
                for chunk in numbered.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("insert into run_input (run_id, seq, body, created_at, updated_at) ");
                    q.push_values(chunk, |mut b, (seq, body)| {
                        b.push_bind(id).push_bind(*seq).push_bind(compress(body)).push_bind(&at).push_bind(&at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(id)
            }

            async fn claim_run(&self, run_id: RunId, owner: &str, lease_until: &str, now_at: &str) -> Result<Option<RunRow>> {
                let row: Option<RunDbRow> = sqlx::query_as(concat!(
                    "update run set status = 'running', lease_owner = $1, lease_until = $2, attempt = attempt + 1, updated_at = $3 \
                     where id = $4 and (status = 'queued' or (status = 'running' and lease_until is not null and lease_until < $3)) \
                     returning ",
                    run_columns!()
                ))
                    .bind(owner)
                    .bind(lease_until)
                    .bind(now_at)
                    .bind(run_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(RunRow::try_from).transpose()
            }

            async fn renew_lease(&self, run_id: RunId, owner: &str, lease_until: &str) -> Result<bool> {
                let done = sqlx::query(
                    "update run set lease_until = $1 where id = $2 and lease_owner = $3 and status = 'running'",
                )
                .bind(lease_until)
                .bind(run_id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_run(&self, run_id: RunId, owner: &str) -> Result<bool> {
                let done = sqlx::query(
                    "update run set status = 'queued', lease_owner = null, lease_until = null, finished_at = null, \
                     error = null, updated_at = $1 where id = $2 and lease_owner = $3",
                )
                .bind(crate::store::now())
                .bind(run_id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn requeue_expired(&self, now_at: &str) -> Result<Vec<RunId>> {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "update run set status = 'queued', lease_owner = null, updated_at = $1 \
                     where status = 'running' and lease_until is not null and lease_until < $1 returning id",
                )
                .bind(now_at)
                .fetch_all(&self.pool)
                .await?;
                Ok(ids)
            }

            async fn stale_queued(&self, before: &str, now_at: &str) -> Result<Vec<RunId>> {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "update run set updated_at = $1 where status = 'queued' and updated_at < $2 returning id",
                )
                .bind(now_at)
                .bind(before)
                .fetch_all(&self.pool)
                .await?;
                Ok(ids)
            }

            async fn record_webhook_delivery(&self, flow_id: &str, delivery_id: &str) -> Result<bool> {
                let at = now();
                let done = sqlx::query(
                    "insert into webhook_delivery (flow_id, delivery_id, created_at, updated_at) values ($1, $2, $3, $3) \
                     on conflict (tenant_id, flow_id, delivery_id) do nothing",
                )
                .bind(flow_id)
                .bind(delivery_id)
                .bind(&at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn failed_records(&self, flow_id: &str, limit: i64) -> Result<Vec<FailedRecord>> {
                let rows: Vec<FailedDbRow> = sqlx::query_as(
                    "select flow_id, business_key, run_id, seq, step_id, error, updated_at, retry_at, cast(parked_count as bigint) as parked_count from failed_record \
                     where tenant_id = 'default' and flow_id = $1 order by updated_at, business_key limit $2",
                )
                .bind(flow_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| FailedRecord {
                        flow_id: r.flow_id,
                        business_key: r.business_key,
                        run_id: r.run_id,
                        seq: r.seq,
                        step_id: r.step_id,
                        error: r.error,
                        failed_at: r.updated_at,
                        retry_at: r.retry_at,
                        parked_count: r.parked_count,
                    })
                    .collect())
            }

            async fn take_due_retries(&self, now_at: &str) -> Result<Vec<(String, String)>> {
                Ok(sqlx::query_as(
                    "update failed_record set retry_at = null \
                     where tenant_id = 'default' and retry_at is not null and retry_at <= $1 returning flow_id, business_key",
                )
                .bind(now_at)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn failed_inputs(&self, flow_id: &str, keys: Option<&[String]>) -> Result<Vec<(String, String)>> {
                let mut q = QueryBuilder::<$db>::new(
                    "select f.business_key, r.run_id, r.input, r.input_page, r.input_start, r.input_len, r.page_attempt \
                     from failed_record f join run_record r on r.run_id = f.run_id and r.seq = f.seq \
                     where f.tenant_id = 'default' and (r.input is not null or r.input_page is not null) and f.flow_id = ",
                );
                q.push_bind(flow_id);
                if let Some(keys) = keys {
                    if keys.is_empty() {
                        return Ok(Vec::new());
                    }
                    q.push(" and f.business_key in (");
                    let mut list = q.separated(", ");
                    for key in keys {
                        list.push_bind(key);
                    }
                    q.push(")");
                }
                q.push(" order by f.run_id, f.seq");
                type Row = (String, RunId, Option<Vec<u8>>, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
                let rows: Vec<Row> = q.build_query_as().fetch_all(&self.pool).await?;
                let page_of = |(_, run_id, input, page, _, _, attempt): &Row| super::sql::page_of(*run_id, input.as_deref(), *page, *attempt);
                let wanted: Vec<_> = rows.iter().filter_map(page_of).collect();
                let pages = self.page_texts(wanted, false).await?;
                let mut inputs = Vec::with_capacity(rows.len());
                for row in &rows {
                    let (key, _, input, _, start, len, _) = row;
                    // A page pruned by retention takes its records' inputs with it.
                    let text = super::sql::row_text(super::sql::PageText::Input, input.as_deref(), page_of(row), (*start, *len), &pages)?;
                    if let Some(input) = text {
                        inputs.push((key.clone(), input));
                    }
                }
                Ok(inputs)
            }

            async fn prune_payloads(&self, before: &str, tenants: &PruneScope) -> Result<Pruned> {
                // Which runs: one tenant's, or those of tenants keeping the default.
                let (runs, tenant) = match tenants {
                    PruneScope::Tenant(id) => ("select id from run where tenant_id = $2", Some(id)),
                    PruneScope::DefaultRetention => (
                        "select id from run where tenant_id not in \
                         (select id from tenant where retention_days is not null)",
                        None,
                    ),
                };
                let records_sql = format!(
                    "update run_record set input = null, output = null, response_body = null, \
                     input_page = null, input_start = null, input_len = null, output_start = null, output_len = null \
                     where created_at < $1 and (input is not null or output is not null or response_body is not null \
                     or input_page is not null) and run_id in ({runs})"
                );
                let inputs_sql = format!("delete from run_input where created_at < $1 and run_id in ({runs})");
                // A page goes with the rows read from it (they are as old as it, or older).
                let pages_sql = format!("delete from run_page where created_at < $1 and run_id in ({runs})");
                let mut counts = [0u64; 3];
                for (sql, count) in [records_sql, inputs_sql, pages_sql].into_iter().zip(counts.iter_mut()) {
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before);
                    if let Some(tenant) = tenant {
                        query = query.bind(tenant);
                    }
                    *count = query.execute(&self.pool).await?.rows_affected();
                }
                let [records, inputs, _pages] = counts;
                Ok(Pruned { records, inputs })
            }

            async fn tenant_retentions(&self) -> Result<Vec<(String, u32)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "select id, retention_days from tenant where retention_days is not null order by id",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(id, days)| (id, days.max(0) as u32)).collect())
            }

            async fn set_tenant_retention(&self, tenant: &str, days: Option<u32>) -> Result<bool> {
                let changed = sqlx::query(
                    "update tenant set retention_days = $1, updated_at = $2 where id = $3",
                )
                .bind(days.map(i64::from))
                .bind(now())
                .bind(tenant)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(changed > 0)
            }
        }
    };
}

impl_runtime_store!(SqliteStore, sqlx::Sqlite);
impl_runtime_store!(PgStore, sqlx::Postgres);
