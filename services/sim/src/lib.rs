//! A seeded traffic simulator that drives the real services through gRPC, never around them.
//!
//! # Layout
//! - [`auth`]: logged-in sessions (Login, a bearer token on every call, Refresh before it
//!   ends).
//! - [`city`]: the simulated geography (central Chongqing's hospitals, residential
//!   compounds, shopping areas) and movement maths.
//! - [`svg`]: the pictures the demo writes (a map, and a chart of time to assign).
//! - [`calls`]: the 95128 call centre: calls from the phone switch, operators' seats that
//!   log in, answer, wrap up and get ready again, callers who give up.
//! - [`caring_guarantee`]: the caring fleet's guarantee (issue 14; `taxi sim --scenario
//!   caring-guarantee`): fewer taxis than recurring trips between 7 and 8 am, on a stepped
//!   clock, and the share assigned by T−15.
//! - [`scenario`]: named, seeded scenarios (`normal`, `rush`, `scarcity`, `hospital`,
//!   `rain`) and the exact plan each makes.
//! - [`matching`]: runs a plan through the services on a fast clock and reports.
//! - [`report`]: the matching report's figures (pure).
//! - [`population`]: what to simulate ([`SimConfig`]), the taxis, devices, callers and
//!   stands set up, and [`Sim`] that sets them going.
//! - [`taxis`]: the taxis' behaviour: cruising, answering offers, driving, trips, hails.
//! - [`terminal`]: taxis with a JT/T 808 in-car terminal instead of the app: TCP to the
//!   terminal gateway, registration, positions and the 905 order flow.
//! - [`callers`]: the callers' orders through every channel.
//! - [`gateway`]: connections, the [`Principals`] a run calls as, the terminal gateway's
//!   position stream, and the conversions to and from the wire's places.
//! - [`road`]: the road-speed model: distance × detour ÷ speed by time of day and weather.
//! - [`observed`]: what the simulation observed.
//! - this module: this layout and the re-exports.
//!
//! Taxis cruise, report their positions in batches over one gateway stream, answer offers
//! on their own dispatch stream after a human-like delay (most accept, some decline, a few
//! let them expire), drive to the pickup and carry the trip at the road model's pace on the services'
//! clock (sped up by `speed_factor` so a short real-time demo sees whole trips), and
//! sometimes take a street hail.
//! Callers book through every channel: 95128 operators (after the phone switch's
//! `ClassifyCall` and the screen pop's `LookupCaller`), the voice menu, relatives, and
//! one-key devices; some book ahead, some cancel. Every random choice comes from a
//! generator seeded from `seed`, so a run can be repeated (timings still vary with the
//! machine).
//!
//! Every call carries a real credential ([`Principals`]): operators for the screen pop,
//! caller records, desk bookings and cancels; a fleet admin registers taxis and devices;
//! the terminal gateway reports positions, holds the taxis' dispatch streams and answers
//! their offers; the phone switch classifies calls and takes voice-menu bookings; each
//! one-key device logs in with its own key.

pub mod alerts;
pub mod auth;
pub mod callers;
pub mod calls;
pub mod caring_guarantee;
pub mod city;
pub mod gateway;
pub mod matching;
pub mod observed;
pub mod population;
pub mod report;
pub mod road;
pub mod scenario;
pub mod svg;
pub mod taxis;
pub mod terminal;

pub use auth::{Authed, Credential, Session};
pub use gateway::{Principals, connect};
pub use observed::{Observed, Phase, Point, Tracked};
pub use population::{STAND_RADIUS_M, Sim, SimConfig};
