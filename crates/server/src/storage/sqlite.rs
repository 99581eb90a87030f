//! SQLite: the default queue, for one `restyle serve` process. Writes are
//! serialised by SQLite itself, so claiming the oldest queued job is one
//! atomic `UPDATE`.

use sqlx::{AnyPool, Row};

use super::error::Result;
use super::schema::{ADDED_COLUMNS, ADDED_INDEXES};

/// The next queued job (inside the claiming `UPDATE`): that of the client
/// served longest ago, oldest first.
pub const PICK_NEXT: &str = "SELECT id FROM jobs AS q WHERE state = 'queued' ORDER BY (SELECT COALESCE(MAX(s.started_ms), 0) FROM jobs AS s WHERE s.client = q.client), seq LIMIT 1";

/// The tables (shared columns in [`super::schema::tables`]), in this dialect.
fn schema() -> [String; 4] {
    super::schema::tables("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB")
}

/// Write-ahead logging (readers never wait for the writer; it stays set in
/// the file), then the schema, with the columns added since a database was made.
pub async fn prepare(pool: &AnyPool) -> Result<()> {
    sqlx::query("PRAGMA journal_mode = WAL")
        .fetch_all(pool)
        .await?;
    for statement in schema() {
        sqlx::query(&statement).execute(pool).await?;
    }
    for (column, kind) in ADDED_COLUMNS {
        let present: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM pragma_table_info('jobs') WHERE name = $1")
                .bind(*column)
                .fetch_one(pool)
                .await?
                .try_get("n")?;
        if present == 0 {
            sqlx::query(&format!("ALTER TABLE jobs ADD COLUMN {column} {kind}"))
                .execute(pool)
                .await?;
        }
    }
    for statement in ADDED_INDEXES {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}
