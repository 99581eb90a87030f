//! PostgreSQL: one queue shared by `restyle serve` and any number of
//! `restyle worker`s on other machines. A worker claims the oldest queued
//! job that no other worker is claiming at that moment (`FOR UPDATE SKIP
//! LOCKED`), so each job goes to exactly one worker without waiting.

use sqlx::AnyPool;

use super::error::Result;
use super::schema::{ADDED_COLUMNS, ADDED_INDEXES};

/// The next queued job not locked by another claim (inside the claiming
/// `UPDATE`): that of the client served longest ago, oldest first.
pub const PICK_NEXT: &str = "SELECT id FROM jobs AS q WHERE state = 'queued' ORDER BY (SELECT COALESCE(MAX(s.started_ms), 0) FROM jobs AS s WHERE s.client = q.client), seq LIMIT 1 FOR UPDATE OF q SKIP LOCKED";

/// Serialises schema creation between processes starting together.
const SCHEMA_LOCK: i64 = 0x7265_7374_796c;

/// The tables (shared columns in [`super::schema::tables`]), in this dialect.
fn schema() -> [String; 4] {
    super::schema::tables("BIGSERIAL PRIMARY KEY", "BYTEA")
}

/// Creates the schema, one process at a time.
pub async fn prepare(pool: &AnyPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(SCHEMA_LOCK)
        .execute(&mut *conn)
        .await?;
    let mut result = Ok(());
    let added = ADDED_COLUMNS
        .iter()
        .map(|(column, kind)| format!("ALTER TABLE jobs ADD COLUMN IF NOT EXISTS {column} {kind}"));
    let indexes = ADDED_INDEXES.iter().map(|s| s.to_string());
    for statement in schema().into_iter().chain(added).chain(indexes) {
        if let Err(e) = sqlx::query(&statement).execute(&mut *conn).await {
            result = Err(e.into());
            break;
        }
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(SCHEMA_LOCK)
        .execute(&mut *conn)
        .await?;
    result
}
