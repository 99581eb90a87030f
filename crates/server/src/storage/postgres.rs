//! PostgreSQL: one queue shared by `restyle serve` and any number of
//! `restyle worker`s on other machines. A worker claims the oldest queued
//! job that no other worker is claiming at that moment (`FOR UPDATE SKIP
//! LOCKED`), so each job goes to exactly one worker without waiting.

use sqlx::AnyPool;

use super::Result;

/// The oldest queued job not locked by another claim (inside the claiming `UPDATE`).
pub const PICK_NEXT: &str = "SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED";

/// Serialises schema creation between processes starting together.
const SCHEMA_LOCK: i64 = 0x7265_7374_796c;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS jobs (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        settings TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        started_ms BIGINT,
        finished_ms BIGINT,
        step BIGINT NOT NULL DEFAULT 0,
        total_steps BIGINT NOT NULL DEFAULT 0,
        eta_ms BIGINT,
        elapsed_ms BIGINT,
        loss DOUBLE PRECISION,
        error TEXT,
        cancel_requested BIGINT NOT NULL DEFAULT 0,
        worker TEXT,
        heartbeat_ms BIGINT,
        attempts BIGINT NOT NULL DEFAULT 0,
        checkpoint_step BIGINT NOT NULL DEFAULT 0,
        preview_version BIGINT NOT NULL DEFAULT 0,
        width BIGINT NOT NULL DEFAULT 0,
        height BIGINT NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq)",
    "CREATE TABLE IF NOT EXISTS images (
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (job_id, kind)
    )",
];

/// Creates the schema, one process at a time.
pub async fn prepare(pool: &AnyPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(SCHEMA_LOCK).execute(&mut *conn).await?;
    let mut result = Ok(());
    for statement in SCHEMA {
        if let Err(e) = sqlx::query(statement).execute(&mut *conn).await {
            result = Err(e.into());
            break;
        }
    }
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(SCHEMA_LOCK).execute(&mut *conn).await?;
    result
}
