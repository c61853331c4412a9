//! Identity and access for every caller of the taxi API.
//!
//! - [`role`]: the roles and the [`Identity`] a verified credential carries.
//! - [`policy`]: the one table saying, for every RPC, which roles may call it and which
//!   resource check its handler applies. Anything not in the table is denied.
//! - [`token`]: short-lived access tokens (JWT, HS256 through `jsonwebtoken`), checked
//!   against the injected clock.
//! - [`password`]: operators' passwords (argon2id through `argon2`).
//! - [`key`]: long random keys of taxis, devices, relatives and services (salted SHA-256,
//!   constant-time comparison: they are not human passwords).
//! - [`revoked`]: the process's view of revoked sessions and subjects, refreshed from
//!   the store; open streams watch it.
//! - [`limits`]: per-identity rate limits; [`settings`]: lifetimes and lockout, defined once.
//! - [`layer`]: the tower layer in front of every service: it reads the bearer token,
//!   applies the table and the limits, and hands the handler a [`Caller`].

pub mod key;
pub mod layer;
pub mod limits;
pub mod password;
pub mod policy;
pub mod revoked;
pub mod role;
pub mod settings;
pub mod token;

pub use layer::{AuthLayer, Caller, caller};
pub use policy::{Rule, Scope};
pub use revoked::Revocations;
pub use role::{Identity, Role};
pub use settings::AuthSettings;
pub use token::{Claims, TokenError, Tokens};
