//! SQLite: the default queue, for one `restyle serve` process. Writes are
//! serialised by SQLite itself, so claiming the oldest queued job is one
//! atomic `UPDATE`.

use sqlx::{AnyPool, Row};

use super::error::Result;
use super::schema::{ADDED_COLUMNS, ADDED_INDEXES};

/// The oldest queued job (inside the claiming `UPDATE`).
pub const PICK_NEXT: &str = "SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1";

/// The tables (shared columns in [`super::schema::tables`]), in this dialect.
fn schema() -> [String; 3] {
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
