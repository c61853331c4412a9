//! `nearby_free.lua`: free taxis with a fresh fix near a point, nearest first.

use super::{Call, Loaded, Scripts, codec, json};
use crate::keys::Keys;
use crate::taxis::NearbyQuery;
use redis::{ScriptInvocation, Value};

/// The search, with the oldest acceptable fix already computed from the clock.
#[derive(Debug)]
pub(crate) struct NearbyFree<'a> {
    pub(crate) query: &'a NearbyQuery,
    pub(crate) oldest_fresh_ms: i64,
}

/// One taxi found.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct NearbyHit {
    pub(crate) id: String,
    pub(crate) dist: f64,
    pub(crate) lon: f64,
    pub(crate) lat: f64,
    pub(crate) fix: f64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Reply {
    Found {
        #[serde(deserialize_with = "codec::list")]
        taxis: Vec<NearbyHit>,
    },
}

impl Call for NearbyFree<'_> {
    type Reply = Vec<NearbyHit>;
    fn script(s: &Scripts) -> &Loaded {
        &s.nearby_free
    }
    fn keys(&self, k: &Keys) -> Vec<String> {
        vec![k.free.clone(), k.fixes.clone(), k.free_wheelchair.clone()]
    }
    fn args(&self, inv: &mut ScriptInvocation<'_>) {
        let q = self.query;
        inv.arg(q.center.lon())
            .arg(q.center.lat())
            .arg(q.radius_m)
            .arg(q.limit)
            .arg(self.oldest_fresh_ms)
            .arg(u8::from(q.wheelchair_only))
            .arg(crate::taxis::NEARBY_MAX_SCAN);
    }
    fn decode(v: Value) -> Result<Self::Reply, String> {
        let Reply::Found { taxis } = json(v)?;
        Ok(taxis)
    }
}
