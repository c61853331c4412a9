//! The service edge: where wire types meet domain types.
//!
//! # Layout
//! - [`error`]: [`ApiError`], every failure a handler can have, and its one mapping to a
//!   gRPC status code.
//! - [`convert`]: checked conversions from `taxi.v1` messages to domain values (naming
//!   the field at fault) and back.
//! - [`view`]: wire views that need a store read (an order with its taxi and ETA).
//!
//! Architecture invariant: only the service crates and this one know prost types; the
//! domain and the store never see them.

pub mod actor;
pub mod convert;
pub mod error;
pub mod view;

pub use error::ApiError;

/// The result of a handler's inner function.
pub type ApiResult<T> = Result<T, ApiError>;
