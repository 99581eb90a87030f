//! The tables, shared by both databases (each dialect names its own
//! queue-order column and byte type).

/// The tables, written once for both databases: they differ only in how
/// the queue order column counts (`seq`) and in the type of image bytes.
pub fn tables(seq_column: &str, blob_type: &str) -> [String; 4] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS jobs (
        seq {seq_column},
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
        height BIGINT NOT NULL DEFAULT 0,
        owner TEXT
    )"
        ),
        "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq)".to_string(),
        format!(
            "CREATE TABLE IF NOT EXISTS images (
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        data {blob_type} NOT NULL,
        PRIMARY KEY (job_id, kind)
    )"
        ),
        // Secrets every server process shares (the key that signs submitter keys).
        "CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            .to_string(),
    ]
}

/// Columns added since the first schema, for databases made before them:
/// (name, type). Each dialect adds those missing.
pub const ADDED_COLUMNS: &[(&str, &str)] = &[("owner", "TEXT"), ("client", "TEXT")];

/// Indexes on added columns (made once the columns exist).
pub const ADDED_INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_by_client ON jobs (client, state)",
];
