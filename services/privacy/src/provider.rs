//! The interface of a privacy-number provider: what the worker needs from a carrier's
//! AXB product or from our own pool.

use taxi_domain::privacy::ProviderKind;

/// What to bind: a virtual number between parties `a` and `b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRequest {
    /// Our key for the binding (`<order>:<taxi>`): the pool's subscription id, the cloud
    /// API's `OutId`.
    pub key: String,
    /// Party A: the passenger's real number.
    pub a: String,
    /// Party B: the driver's real number.
    pub b: String,
    /// When the provider may drop the binding by itself if we never release it (ms): a
    /// safety net; the worker releases it on time.
    pub expires_ms: i64,
}

/// A number bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The virtual number X.
    pub x: String,
    /// The provider's id of the binding (what unbinding names).
    pub sub: String,
}

/// A binding as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// The virtual number.
    pub x: String,
    /// Party A.
    pub a: String,
    /// Party B.
    pub b: String,
}

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// No number is free for these parties.
    #[error("no virtual number is free for these parties")]
    Exhausted,
    /// The provider answered with a refusal (a bad key, a bad signature, a bad number).
    #[error("provider refused: {code}: {message}")]
    Refused {
        /// The provider's code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The provider could not be reached or did not answer in time (worth a retry).
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

impl ProviderError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Unavailable(_))
    }
}

impl From<taxi_store::StoreError> for ProviderError {
    fn from(e: taxi_store::StoreError) -> Self {
        ProviderError::Unavailable(e.to_string())
    }
}

/// A source of virtual numbers.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Which kind it is (recorded with each binding).
    fn kind(&self) -> ProviderKind;

    /// Binds a number between the request's parties, under the AXB rule.
    async fn bind(&self, request: &BindRequest) -> Result<Bound, ProviderError>;

    /// Releases binding `sub` of number `x`; releasing one that is gone succeeds.
    async fn unbind(&self, x: &str, sub: &str) -> Result<(), ProviderError>;

    /// The binding `sub` of number `x`, if it is live.
    async fn query(&self, x: &str, sub: &str) -> Result<Option<Detail>, ProviderError>;
}
