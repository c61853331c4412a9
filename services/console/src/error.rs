//! The JSON API's error body: `{code, message, field}`.
//!
//! `code` is the gRPC code's name (`INVALID_ARGUMENT`, `FAILED_PRECONDITION`, ...);
//! `field` is the request field the server named (the services write messages as
//! `<field>: <why>`), or `null`, so the page shows the message next to that field.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use tonic::{Code, Status};

/// An error answered as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// The gRPC code's name.
    pub code: &'static str,
    /// What went wrong, as the service said it (without the field prefix).
    pub message: String,
    /// The request field at fault, if the service named one.
    pub field: Option<String>,
}

impl ApiError {
    /// An error of `code` with no field.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code: code_name(code),
            message: message.into(),
            field: None,
        }
    }

    /// An error naming `field`.
    pub fn field(code: Code, field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            ..Self::new(code, message)
        }
    }

    /// The HTTP status this error is answered with.
    pub fn http_status(&self) -> StatusCode {
        match self.code {
            "INVALID_ARGUMENT" | "OUT_OF_RANGE" => StatusCode::BAD_REQUEST,
            "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
            "PERMISSION_DENIED" => StatusCode::FORBIDDEN,
            "NOT_FOUND" => StatusCode::NOT_FOUND,
            "ALREADY_EXISTS" | "ABORTED" | "FAILED_PRECONDITION" => StatusCode::CONFLICT,
            "RESOURCE_EXHAUSTED" => StatusCode::TOO_MANY_REQUESTS,
            "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
            "UNIMPLEMENTED" => StatusCode::NOT_IMPLEMENTED,
            "DEADLINE_EXCEEDED" => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        let (field, message) = split_field(s.message());
        Self {
            code: code_name(s.code()),
            message: message.to_string(),
            field: field.map(str::to_string),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.http_status(), Json(self)).into_response()
    }
}

/// Splits `<field>: <why>` into the field and the reason, when the prefix looks like a
/// field path (`pickup.lat`, `needs[1]`, `order_id`), else no field.
pub fn split_field(message: &str) -> (Option<&str>, &str) {
    if let Some((head, rest)) = message.split_once(": ") {
        let is_path = !head.is_empty()
            && head
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
            && head.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if is_path {
            return (Some(head), rest);
        }
    }
    (None, message)
}

/// The gRPC code's canonical name.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_prefix_is_split_off_and_prose_is_not() {
        assert_eq!(
            split_field("pickup.lat: must be between -90 and 90"),
            (Some("pickup.lat"), "must be between -90 and 90")
        );
        assert_eq!(
            split_field("needs[1]: unknown need"),
            (Some("needs[1]"), "unknown need")
        );
        assert_eq!(
            split_field("too many requests; try again in 1.0 s"),
            (None, "too many requests; try again in 1.0 s")
        );
        assert_eq!(
            split_field("A supervisor may not: x"),
            (None, "A supervisor may not: x")
        );
    }

    #[test]
    fn statuses_become_bodies_with_the_named_field() {
        let e = ApiError::from(Status::invalid_argument(
            "caller_phone: is not a phone number",
        ));
        assert_eq!(e.code, "INVALID_ARGUMENT");
        assert_eq!(e.field.as_deref(), Some("caller_phone"));
        assert_eq!(e.http_status(), StatusCode::BAD_REQUEST);
    }
}
