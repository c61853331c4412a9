//! The store's typed errors: what happened, in domain terms; no gRPC names, no prose.
//! The service edge turns each variant into a status code and a message naming the field.

use taxi_domain::order::{OrderEvent, OrderStatus};
use taxi_domain::taxi::{TaxiEvent, TaxiState};

/// What kind of thing a missing id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// A taxi.
    Taxi,
    /// An order.
    Order,
    /// An emergency alert.
    Alert,
    /// A one-key device.
    Device,
    /// A dead letter of the notifications outbox.
    DeadLetter,
    /// A recurring-ride pattern.
    Pattern,
    /// A taxi stand.
    Stand,
}

impl Entity {
    /// The word for it.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Taxi => "taxi",
            Entity::Order => "order",
            Entity::Alert => "alert",
            Entity::Device => "device",
            Entity::DeadLetter => "dead letter",
            Entity::Pattern => "pattern",
            Entity::Stand => "stand",
        }
    }
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing named does not exist.
    #[error("{} {id} not found", what.name())]
    NotFound {
        /// What kind of thing.
        what: Entity,
        /// Its id, as given.
        id: String,
    },
    /// The plate is registered to another taxi.
    #[error("plate {plate} is already registered as taxi {taxi}")]
    PlateTaken {
        /// The plate asked for.
        plate: String,
        /// The taxi that has it.
        taxi: String,
    },
    /// The device is registered to another caller.
    #[error("device {device} is registered to another caller")]
    DeviceTaken {
        /// The device.
        device: String,
    },
    /// The order's status does not allow the event.
    #[error("order refused {event:?} in status {status:?}")]
    OrderRefused {
        /// What was tried.
        event: OrderEvent,
        /// The order's status then.
        status: OrderStatus,
    },
    /// The taxi's state does not allow the event.
    #[error("taxi refused {event:?} in state {state:?}")]
    TaxiRefused {
        /// What was tried.
        event: TaxiEvent,
        /// The taxi's state then.
        state: TaxiState,
    },
    /// The taxi holds an order, so it cannot change state on its own.
    #[error("taxi holds order {order}")]
    TaxiHoldsOrder {
        /// The order it holds.
        order: String,
    },
    /// The offer a driver answered is no longer open (expired, taken, cancelled).
    #[error("the offer is gone (order status {status:?})")]
    OfferGone {
        /// The order's status now, if it still exists.
        status: Option<OrderStatus>,
    },
    /// A trip step by a taxi that does not hold the order.
    #[error("order {order} is not assigned to taxi {taxi}")]
    NotAssigned {
        /// The order.
        order: String,
        /// The taxi that tried.
        taxi: String,
    },
    /// An operator chose a taxi that is not free.
    #[error("taxi {taxi} is {state:?}, not free")]
    TaxiBusy {
        /// The taxi.
        taxi: String,
        /// Its state.
        state: TaxiState,
    },
    /// A call-back was resolved for an order that has none (it was not given up).
    #[error("order {order} has no call-back (status {status:?})")]
    NoCallback {
        /// The order.
        order: String,
        /// Its status.
        status: Option<OrderStatus>,
    },
    /// What the store was asked to keep or read is out of bounds (an audit log entry
    /// over its limits, a page size or cursor out of range): nothing was stored.
    #[error(transparent)]
    Invalid(taxi_domain::FieldError),
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

impl StoreError {
    pub(crate) fn not_found(what: Entity, id: &str) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        // A missing or wrong password: Redis is there but refuses us. Unavailable (calls
        // cannot succeed until the configuration is fixed), with a message that says so.
        // A large first command (a script's body) from a client that has not authenticated
        // is refused earlier, as a protocol error ("unauthenticated multibulk length").
        if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
            || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
            || e.to_string().contains("Protocol error: unauthenticated")
        {
            return StoreError::Unavailable(format!(
                "Redis refused our credentials ({e}): check the user and password in TAXI_REDIS_URL"
            ));
        }
        if e.is_io_error()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_unrecoverable_error()
            || e.is_cluster_error()
            || matches!(
                e.kind(),
                redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                    | redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain)
                    | redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown)
            )
        {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Internal(e.to_string())
        }
    }
}
