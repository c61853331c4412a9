//! The `taxi.v1` gRPC API, generated from `proto/taxi/v1/*.proto`.
//!
//! This crate holds only generated code and the file descriptor set used by server
//! reflection. Conversions between these wire types and the domain types live at the
//! service edge (`taxi-edge`), never here and never deeper.

#![allow(missing_docs)]

/// Generated messages, enums, clients and servers of package `taxi.v1`.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, rust_2018_idioms)]
    tonic::include_proto!("taxi.v1");
}

/// The encoded `FileDescriptorSet` of the whole API, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("taxi_v1_descriptor");

pub use prost_types::{Duration, Timestamp};
