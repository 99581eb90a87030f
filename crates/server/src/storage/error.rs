//! What can go wrong when storing jobs and images.

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("image files: {0}")]
    Io(#[from] std::io::Error),
    #[error("a stored job is unreadable: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
