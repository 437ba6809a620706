//! One store test body, run on a fresh SQLite file and on a fresh Postgres schema
//! (`pg_schema.rs`). Include beside `pg_schema` and write
//! `both_databases! { dyn ServiceStore; name => |store| async move { … }; … }`.

/// Declares `sqlite::NAME` and `postgres::NAME` for each body; the body gets `Arc<$store>`.
macro_rules! both_databases {
    ($store:ty; $($name:ident => $body:expr;)*) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test] async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let store: std::sync::Arc<$store> = std::sync::Arc::new(
                    ferry_engine::store::SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap(),
                );
                ($body)(store).await;
            })*
        }
        mod postgres {
            use super::*;
            $(#[tokio::test] async fn $name() {
                let schema = pg_schema::PgSchema::create().await;
                let store: std::sync::Arc<$store> = std::sync::Arc::new(
                    ferry_engine::store::PgStore::connect(&schema.url).await.unwrap(),
                );
                ($body)(store).await;
            })*
        }
    };
}
