//! Pure domain logic of the taxi dispatch backend: no I/O, no Redis, no gRPC types.
//!
//! # Layout
//! - [`audit`]: the kinds of record in the audit trail, each named once.
//! - [`clock`]: the [`Clock`] every component takes "now" from, and test clocks.
//! - [`callcentre`]: the call queue (ACD): call and seat state machines, ranking, which
//!   seat takes which call, and the call-centre KPIs' arithmetic.
//! - [`booking`]: channels, payment, passenger needs, who cancelled, and their stored codes.
//! - [`error`]: [`FieldError`], the one validation error: which field, and why.
//! - [`followup`]: what operators follow up and close (alerts, call-backs), and its rules.
//! - [`notify`]: messages to passengers, relatives and care contacts: kinds, channels,
//!   texts (Simplified Chinese), idempotency keys, the retry back-off, the webhook URL rule.
//! - [`geo`]: [`Coordinates`] that cannot be out of range, GCJ-02 ⇄ WGS-84, distances,
//!   and the city's service area.
//! - [`validate`]: phone numbers, bounded text, identifiers.
//! - [`oplog`]: the operators' audit log entry, its hash chain and its verification.
//! - [`resident_id`]: the 18-digit resident ID (GB 11643), its check character and birth date.
//! - [`taxi`]: the taxi state machine.
//! - [`order`]: the order state machine.
//! - [`watchdog`]: the bounds on a taxi reaching the pickup and a trip starting, and what
//!   becomes of a taxi whose stuck trip is redispatched.
//! - [`matching`]: batched matching: the cost of an (order, taxi) pair, hard needs, and
//!   one assignment over a batch of waiting orders and free taxis.
//! - [`outage`]: time in a Redis outage does not count against a waiting order.
//! - [`privacy`]: privacy numbers (AXB): providers, the pool's numbers, release times,
//!   and why a trip has none.
//! - [`priority`]: who is an older passenger and how orders are ranked in the queue.
//! - [`recurring`]: recurring rides: a pattern's validation, the trips it yields in a
//!   window with idempotent keys, and the caring fleet's guarantee timeline.
//! - [`settings`]: the tunable numbers (freshness, timeouts, radii) and their defaults.
//! - [`speech`]: the short sentences a one-key device speaks.
//! - [`stands`]: taxi stands (候客点): fences, opening hours, the queue rule, and which
//!   stand a pickup belongs to.
//!
//! Everything here takes the current time as an argument, so it is deterministic and
//! unit-tested exhaustively.

pub mod audit;
pub mod booking;
pub mod callcentre;
pub mod clock;
pub mod error;
pub mod followup;
pub mod geo;
pub mod matching;
pub mod notify;
pub mod oplog;
pub mod order;
pub mod outage;
pub mod priority;
pub mod privacy;
pub mod recurring;
pub mod resident_id;
pub mod settings;
pub mod speech;
pub mod stands;
pub mod taxi;
pub mod validate;
pub mod watchdog;

pub use clock::Clock;
pub use error::FieldError;
pub use geo::{Coordinates, Datum};
