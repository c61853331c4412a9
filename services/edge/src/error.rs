//! Handler errors and their one mapping to gRPC status codes.

use taxi_domain::FieldError;
use taxi_domain::order::OrderStatus;
use taxi_store::{Entity, StoreError};
use tonic::{Code, Status};

/// Anything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request field is invalid: INVALID_ARGUMENT, nothing stored.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The store refused or failed.
    #[error("{}", store_message(.0))]
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
    /// The caller's credential does not allow this (another taxi, device, passenger or
    /// city; or a request field claims another identity than the credential's).
    #[error("{0}")]
    PermissionDenied(String),
    /// A name that must be unique is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// Over a rate limit: retry after this long (the message says it, and the status
    /// carries it in `retry-after-ms`, as the auth layer's limits do).
    #[error("too many requests; try again in {:.1} s", .0.as_secs_f64())]
    ResourceExhausted(std::time::Duration),
}

impl ApiError {
    /// An INVALID_ARGUMENT for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Invalid(FieldError::new(field, reason))
    }

    /// A PERMISSION_DENIED naming the field that claims another identity, or the thing
    /// the caller may not touch.
    pub fn denied(field: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        ApiError::PermissionDenied(format!("{field}: {reason}"))
    }

    /// The gRPC code this error maps to.
    pub fn code(&self) -> Code {
        match self {
            ApiError::Invalid(_) => Code::InvalidArgument,
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::PermissionDenied(_) => Code::PermissionDenied,
            ApiError::AlreadyExists(_) => Code::AlreadyExists,
            ApiError::ResourceExhausted(_) => Code::ResourceExhausted,
            ApiError::Store(e) => match e {
                StoreError::NotFound { .. } => Code::NotFound,
                StoreError::PlateTaken { .. } | StoreError::DeviceTaken { .. } => {
                    Code::AlreadyExists
                }
                StoreError::OrderRefused { .. }
                | StoreError::TaxiRefused { .. }
                | StoreError::TaxiHoldsOrder { .. }
                | StoreError::OfferGone { .. }
                | StoreError::NotAssigned { .. }
                | StoreError::TaxiBusy { .. }
                | StoreError::NoCallback { .. } => Code::FailedPrecondition,
                StoreError::Invalid(_) => Code::InvalidArgument,
                StoreError::Unavailable(_) => Code::Unavailable,
                StoreError::Config(_) | StoreError::Internal(_) => Code::Internal,
            },
        }
    }
}

fn id_field(what: Entity) -> &'static str {
    match what {
        Entity::Taxi => "taxi_id",
        Entity::Order => "order_id",
        Entity::Alert => "alert_id",
        Entity::Device => "device_id",
        Entity::DeadLetter => "dead_letter_id",
        Entity::Pattern => "pattern_id",
        Entity::Stand => "stand_id",
    }
}

/// What the client reads for a store refusal: the field at fault, then why in words.
fn store_message(e: &StoreError) -> String {
    use taxi_domain::{order, taxi};
    match e {
        StoreError::NotFound { what, id } => {
            format!("{}: {} {id} not found", id_field(*what), what.name())
        }
        StoreError::PlateTaken { plate, taxi } => {
            format!("plate: {plate} is already registered as taxi {taxi}")
        }
        StoreError::DeviceTaken { device } => {
            format!("device_id: device {device} is registered to another caller")
        }
        StoreError::OrderRefused { event, status } => {
            format!("order_id: {}", order::refusal(*event, *status))
        }
        StoreError::TaxiRefused { event, state } => {
            format!("taxi_id: {}", taxi::refusal(*event, *state))
        }
        StoreError::TaxiHoldsOrder { order } => {
            format!("taxi_id: the taxi holds order {order}; finish or release it first")
        }
        StoreError::OfferGone { status } => match status {
            Some(OrderStatus::Cancelled) => "order_id: the order was cancelled".into(),
            Some(s) if *s != OrderStatus::Offered => format!(
                "order_id: the offer is no longer open (the order is {})",
                s.code()
            ),
            _ => "order_id: the offer has expired or was given to another taxi".into(),
        },
        StoreError::NotAssigned { order, taxi } => {
            format!("order_id: order {order} is not assigned to taxi {taxi}")
        }
        StoreError::TaxiBusy { taxi, state } => {
            format!("taxi_id: taxi {taxi} is {}, not free", state.code())
        }
        StoreError::NoCallback { order, status } => format!(
            "order_id: order {order} has no call-back to resolve (it is {}); only unfulfilled orders are called back",
            status.map(|s| s.code()).unwrap_or("unknown")
        ),
        StoreError::Invalid(_)
        | StoreError::Unavailable(_)
        | StoreError::Config(_)
        | StoreError::Internal(_) => e.to_string(),
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
        if let ApiError::ResourceExhausted(wait) = e {
            // One form for every limit: the auth layer's.
            return taxi_auth::layer::exhausted(wait);
        }
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
                    what: Entity::Taxi,
                    id: "T1".into(),
                }
                .into(),
                Code::NotFound,
            ),
            (
                StoreError::PlateTaken {
                    plate: "渝A12345".into(),
                    taxi: "T1".into(),
                }
                .into(),
                Code::AlreadyExists,
            ),
            (
                StoreError::OfferGone { status: None }.into(),
                Code::FailedPrecondition,
            ),
            (
                StoreError::Invalid(FieldError::new("page_size", "must be 1 to 500")).into(),
                Code::InvalidArgument,
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
        let s = Status::from(ApiError::from(StoreError::Invalid(FieldError::new(
            "oplog.detail",
            "is too long",
        ))));
        assert_eq!(s.message(), "oplog.detail: is too long");
        let s = Status::from(ApiError::ResourceExhausted(
            std::time::Duration::from_millis(2_500),
        ));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.metadata().get("retry-after-ms").unwrap(), "2500");
        assert!(s.message().contains("2.5 s"), "{}", s.message());
    }

    #[test]
    fn store_refusals_name_the_field() {
        use taxi_domain::order::OrderEvent;
        let s = Status::from(ApiError::from(StoreError::OrderRefused {
            event: OrderEvent::Cancel,
            status: OrderStatus::OnTrip,
        }));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(s.message().starts_with("order_id: "), "{}", s.message());
        assert!(s.message().contains("already started"));
        let s = Status::from(ApiError::from(StoreError::NotFound {
            what: Entity::Order,
            id: "O404".into(),
        }));
        assert_eq!(s.message(), "order_id: order O404 not found");
    }
}
