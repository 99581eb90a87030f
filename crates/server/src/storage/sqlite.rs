//! SQLite: the default queue, for one `restyle serve` process. Writes are
//! serialised by SQLite itself, so claiming the oldest queued job is one
//! atomic `UPDATE`.

use sqlx::AnyPool;

use super::Result;

/// The oldest queued job (inside the claiming `UPDATE`).
pub const PICK_NEXT: &str = "SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
        data BLOB NOT NULL,
        PRIMARY KEY (job_id, kind)
    )",
];

/// Write-ahead logging (readers never wait for the writer; it stays set in
/// the file), then the schema.
pub async fn prepare(pool: &AnyPool) -> Result<()> {
    sqlx::query("PRAGMA journal_mode = WAL").fetch_all(pool).await?;
    for statement in SCHEMA {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}
