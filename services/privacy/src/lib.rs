//! Privacy numbers (AXB): the passenger and the driver call each other through a virtual
//! number bound to their trip, and never see each other's real numbers.
//!
//! # Layout
//! - [`provider`]: the [`Provider`] interface every number source implements (bind,
//!   unbind, query), and its errors.
//! - [`pool`]: the built-in pool of numbers held in Redis (the demo, tests, a city's own
//!   numbers), atomic under the AXB rule (`taxi_store::privacy`).
//! - [`aliyun`]: the adapter for Alibaba Cloud's Phone Number Protection API (Dypls
//!   `BindAxb`, `UnbindSubscription`, `QuerySubscriptionDetail`), signed requests
//!   (ACS3-HMAC-SHA256) over HTTPS with a timeout.
//! - [`settings`]: which provider, its numbers or credentials, the release delay.
//! - [`worker`]: follows the audit trail through a consumer group: binds a number when a
//!   taxi accepts (or is assigned) a trip, schedules its release when the trip ends, and
//!   releases what is due by the store's clock.
//!
//! Why a worker and not the transitions' scripts: binding is a provider call (I/O), which
//! cannot run inside a Lua script; the worker reacts to the trail the scripts already
//! write, so no dispatch script changes.

pub mod aliyun;
pub mod pool;
pub mod provider;
pub mod settings;
pub mod worker;

pub use provider::{BindRequest, Bound, Detail, Provider, ProviderError};
pub use settings::{PrivacySettings, ProviderSettings};
pub use worker::Worker;
