//! What the images take on disk (or in the database), and the queries the
//! retention sweeper needs: finished jobs by age, and removing some of a
//! job's images.

use sqlx::Row;

use super::{ImageKind, Images, Result, Store};
use crate::jobs::{JobId, JobState};

/// Finished jobs, as the sweeper sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedJob {
    pub id: JobId,
    pub state: JobState,
    pub finished_ms: i64,
    /// Whom it counted against ([`crate::fair::Client`]; none before clients were kept).
    pub client: Option<String>,
}

const FINAL: &str = "state IN ('done', 'failed', 'cancelled')";

impl Store {
    /// Bytes of every stored image (`None`), or of one job's.
    pub async fn image_bytes(&self, id: Option<&JobId>) -> Result<u64> {
        match &self.images {
            Images::Directory(root) => {
                let dir = match id {
                    Some(id) => root.join(id.as_str()),
                    None => root.clone(),
                };
                Ok(tokio::task::spawn_blocking(move || directory_bytes(&dir))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))??)
            }
            Images::Database => {
                let query = match id {
                    Some(id) => sqlx::query(
                        "SELECT COALESCE(SUM(length(data)), 0) AS n FROM images WHERE job_id = $1",
                    )
                    .bind(id.as_str()),
                    None => sqlx::query("SELECT COALESCE(SUM(length(data)), 0) AS n FROM images"),
                };
                let n: i64 = query.fetch_one(&self.pool).await?.try_get("n")?;
                Ok(n.max(0) as u64)
            }
        }
    }

    /// Finished jobs, oldest first: those finished at or after `since_ms`
    /// (`after = true`), or before it.
    pub async fn finished(&self, since_ms: i64, after: bool) -> Result<Vec<FinishedJob>> {
        let op = if after { ">=" } else { "<" };
        let rows = sqlx::query(&format!(
            "SELECT id, state, finished_ms, client FROM jobs WHERE {FINAL} AND finished_ms IS NOT NULL \
             AND finished_ms {op} $1 ORDER BY finished_ms, seq"
        ))
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let state: String = row.try_get("state")?;
            // Rows that do not read back are left for an operator.
            if let (Ok(id), Some(state)) = (id.parse(), JobState::parse(&state)) {
                jobs.push(FinishedJob {
                    id,
                    state,
                    finished_ms: row.try_get("finished_ms")?,
                    client: row.try_get("client")?,
                });
            }
        }
        Ok(jobs)
    }

    /// A client's jobs: the finished ones oldest first, then the others.
    pub async fn jobs_of_client(&self, client: &str) -> Result<Vec<(JobId, bool)>> {
        let rows = sqlx::query(&format!(
            "SELECT id, CASE WHEN {FINAL} THEN 1 ELSE 0 END AS final FROM jobs WHERE client = $1 \
             ORDER BY final DESC, finished_ms, seq"
        ))
        .bind(client)
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let done: i64 = row.try_get("final")?;
            if let Ok(id) = id.parse() {
                jobs.push((id, done == 1));
            }
        }
        Ok(jobs)
    }

    /// Removes one image of a finished job, if it exists (and its directory
    /// once empty: nothing writes there any more).
    pub async fn delete_image(&self, id: &JobId, kind: ImageKind) -> Result<()> {
        match &self.images {
            Images::Directory(root) => {
                let dir = root.join(id.as_str());
                match tokio::fs::remove_file(dir.join(kind.as_str())).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                    _ => {
                        // Fails, as it should, while other images remain.
                        let _ = tokio::fs::remove_dir(&dir).await;
                        Ok(())
                    }
                }
            }
            Images::Database => {
                sqlx::query("DELETE FROM images WHERE job_id = $1 AND kind = $2")
                    .bind(id.as_str())
                    .bind(kind.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// Proves the stores writable: a file written and removed in the image
    /// directory, a write transaction on the database. The error says which.
    pub async fn probe(&self) -> std::result::Result<(), String> {
        if let Images::Directory(root) = &self.images {
            let path = root.join(".write-probe");
            let written = tokio::fs::write(&path, b"probe").await;
            let _ = tokio::fs::remove_file(&path).await;
            written.map_err(|e| {
                format!(
                    "the images directory {} is not writable: {e}",
                    root.display()
                )
            })?;
        }
        // Touches no row, but needs the write lock (SQLite) or a writable
        // database (PostgreSQL).
        sqlx::query("UPDATE jobs SET seq = seq WHERE seq < 0")
            .execute(&self.pool)
            .await
            .map_err(|e| format!("the database is not writable: {e}"))?;
        Ok(())
    }
}

/// Bytes of the files under `dir` (0 if it does not exist).
fn directory_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut total = 0;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        total += if kind.is_dir() {
            directory_bytes(&entry.path())?
        } else {
            // A file removed meanwhile counts as nothing.
            entry.metadata().map_or(0, |m| m.len())
        };
    }
    Ok(total)
}
