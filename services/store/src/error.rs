//! The store's typed errors.

/// What went wrong in the store, in terms the service edge can map to a status code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing named does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of thing: "taxi", "order", ...
        what: &'static str,
        /// Its id, as given.
        id: String,
    },
    /// A unique value is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// The transition is not allowed in the current state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Redis cannot be reached or did not answer in time.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// The store was configured wrongly.
    #[error("{0}")]
    Config(String),
    /// Redis answered something the store did not expect: a bug or a corrupted key.
    #[error("store error: {0}")]
    Internal(String),
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        if e.is_io_error()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_unrecoverable_error()
            || matches!(
                e.kind(),
                redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                    | redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain)
            )
        {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Internal(e.to_string())
        }
    }
}
