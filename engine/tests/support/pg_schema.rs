//! A fresh Postgres schema per test, dropped with its guard, so Postgres tests run in parallel
//! on one database. `FERRY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).

use sqlx::Executor;

/// The test server.
pub(crate) fn pg_url() -> String {
    std::env::var("FERRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A schema for one test; `url` connects with it as the search path.
pub(crate) struct PgSchema {
    pub(crate) name: String,
    pub(crate) url: String,
}

impl PgSchema {
    /// Creates `ferry_test_<uuid>`.
    pub(crate) async fn create() -> PgSchema {
        let name = format!("ferry_test_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(&pg_url())
            .await
            .expect("Postgres for the tests (see FERRY_TEST_POSTGRES_URL)");
        admin
            .execute(sqlx::AssertSqlSafe(format!("create schema {name}")))
            .await
            .unwrap();
        let url = format!("{}?options=-csearch_path%3D{name}", pg_url());
        PgSchema { name, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (pg_url(), self.name.clone());
        // Drop runs outside the test's runtime; a short-lived one is enough for one statement.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = pool
                        .execute(sqlx::AssertSqlSafe(format!(
                            "drop schema if exists {name} cascade"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}
