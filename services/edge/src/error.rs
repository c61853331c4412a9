//! Handler errors and their one mapping to gRPC status codes.

use taxi_domain::FieldError;
use taxi_store::StoreError;
use tonic::{Code, Status};

/// Anything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request field is invalid: INVALID_ARGUMENT, nothing stored.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A device or driver did not prove who it is.
    #[error("{0}")]
    Unauthenticated(String),
    /// The request is valid but the state forbids it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A thing named by the request does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The service is shutting down.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    /// An INVALID_ARGUMENT for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Invalid(FieldError::new(field, reason))
    }

    /// The gRPC code this error maps to.
    pub fn code(&self) -> Code {
        match self {
            ApiError::Invalid(_) => Code::InvalidArgument,
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Store(e) => match e {
                StoreError::NotFound { .. } => Code::NotFound,
                StoreError::AlreadyExists(_) => Code::AlreadyExists,
                StoreError::FailedPrecondition(_) => Code::FailedPrecondition,
                StoreError::Unavailable(_) => Code::Unavailable,
                StoreError::Config(_) | StoreError::Internal(_) => Code::Internal,
            },
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let code = e.code();
        match code {
            Code::Internal => tracing::error!(error = %e, "internal error"),
            Code::Unavailable => tracing::warn!(error = %e, "unavailable"),
            _ => tracing::debug!(error = %e, code = ?code, "request refused"),
        }
        // Internal details stay in the log; the client gets a plain message.
        let message = match code {
            Code::Internal => "internal error; it has been logged".to_string(),
            Code::Unavailable => "the data store is unavailable; retry shortly".to_string(),
            _ => e.to_string(),
        };
        Status::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_code() {
        let cases: Vec<(ApiError, Code)> = vec![
            (ApiError::invalid("a.b", "bad"), Code::InvalidArgument),
            (ApiError::Unauthenticated("x".into()), Code::Unauthenticated),
            (
                ApiError::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (ApiError::NotFound("x".into()), Code::NotFound),
            (ApiError::Unavailable("x".into()), Code::Unavailable),
            (
                StoreError::NotFound {
                    what: "taxi",
                    id: "T1".into(),
                }
                .into(),
                Code::NotFound,
            ),
            (
                StoreError::AlreadyExists("x".into()).into(),
                Code::AlreadyExists,
            ),
            (
                StoreError::FailedPrecondition("x".into()).into(),
                Code::FailedPrecondition,
            ),
            (
                StoreError::Unavailable("x".into()).into(),
                Code::Unavailable,
            ),
            (
                StoreError::Internal("secret detail".into()).into(),
                Code::Internal,
            ),
        ];
        for (e, code) in cases {
            let status = Status::from(e);
            assert_eq!(status.code(), code);
            assert!(!status.message().contains("secret"));
        }
        let s = Status::from(ApiError::invalid(
            "position.latitude",
            "must be a finite number",
        ));
        assert_eq!(s.message(), "position.latitude: must be a finite number");
    }
}
