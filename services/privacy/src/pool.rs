//! The built-in provider: a pool of numbers held in Redis (`taxi_store::privacy`), for
//! the demo, the tests, and a city that rents its own numbers and routes calls itself.

use crate::provider::{BindRequest, Bound, Detail, Provider, ProviderError};
use taxi_domain::privacy::ProviderKind;
use taxi_store::Store;
use taxi_store::privacy::PoolBound;

/// The pool of one city.
#[derive(Debug, Clone)]
pub struct Pool {
    store: Store,
}

impl Pool {
    /// The pool in `store`'s city.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Makes the pool hold exactly `numbers` (the configured ones).
    pub async fn sync(&self, numbers: &[String]) -> Result<(u64, u64), ProviderError> {
        Ok(self.store.privacy_pool_sync(numbers).await?)
    }
}

#[async_trait::async_trait]
impl Provider for Pool {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Pool
    }

    async fn bind(&self, r: &BindRequest) -> Result<Bound, ProviderError> {
        match self.store.privacy_pool_bind(&r.key, &r.a, &r.b).await? {
            PoolBound::Bound(x) => Ok(Bound {
                x,
                sub: r.key.clone(),
            }),
            PoolBound::Exhausted => Err(ProviderError::Exhausted),
        }
    }

    async fn unbind(&self, _x: &str, sub: &str) -> Result<(), ProviderError> {
        self.store.privacy_pool_unbind(sub).await?;
        Ok(())
    }

    async fn query(&self, _x: &str, sub: &str) -> Result<Option<Detail>, ProviderError> {
        Ok(self
            .store
            .privacy_pool_subscription(sub)
            .await?
            .map(|s| Detail {
                x: s.x,
                a: s.a,
                b: s.b,
            }))
    }
}
