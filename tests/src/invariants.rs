//! The dispatch invariants, checked from the audit trail: no order ever held two taxis,
//! no taxi ever held two orders. Used by the race test and the chaos test.

use std::collections::HashMap;
use taxi_domain::audit::AuditKind;
use taxi_store::audit::AuditRecord;

/// What a replay of the audit trail found.
#[derive(Debug, Default)]
pub struct Replayed {
    /// How many records of each kind.
    pub counts: HashMap<AuditKind, usize>,
    /// The taxis holding an order (offered or assigned) at the end of the trail.
    pub holding: HashMap<String, String>,
    /// Every offer made, as (order, taxi, time ms).
    pub offers: Vec<(String, String, i64)>,
}

/// Replays `events`, panicking at the first record that would give a taxi a second order
/// or an order a second taxi, or that ends a holding nobody had.
pub fn replay(events: &[AuditRecord]) -> Replayed {
    let mut r = Replayed::default();
    let mut order_taxi: HashMap<String, String> = HashMap::new();
    for e in events {
        let (kind, order, taxi) = (e.kind, e.field("order"), e.field("taxi"));
        *r.counts.entry(kind).or_default() += 1;
        match kind {
            AuditKind::OfferMade => {
                let prev = r.holding.insert(taxi.to_string(), order.to_string());
                assert!(
                    prev.is_none(),
                    "taxi {taxi} offered {order} while holding {prev:?}"
                );
                r.offers.push((
                    order.to_string(),
                    taxi.to_string(),
                    e.field("ts").parse().unwrap_or(0),
                ));
            }
            AuditKind::OfferDeclined | AuditKind::OfferExpired | AuditKind::TaxiReleased => {
                let held = r.holding.remove(taxi);
                assert_eq!(
                    held.as_deref(),
                    Some(order),
                    "{kind:?}: taxi {taxi} did not hold {order}"
                );
            }
            AuditKind::OfferAccepted | AuditKind::OrderAssigned => {
                assert_eq!(
                    r.holding.get(taxi).map(String::as_str),
                    Some(order),
                    "{kind:?}: {taxi} / {order}"
                );
                let prev = order_taxi.insert(order.to_string(), taxi.to_string());
                assert!(
                    prev.is_none(),
                    "order {order} got a second taxi {taxi} after {prev:?}"
                );
            }
            AuditKind::TripCompleted => {
                assert_eq!(order_taxi.get(order).map(String::as_str), Some(taxi));
                assert_eq!(r.holding.remove(taxi).as_deref(), Some(order));
            }
            // An operator redispatched a stuck trip: the taxi's record comes first (released,
            // or signed off with the order named), then the order's.
            AuditKind::TaxiSignedOff if !order.is_empty() => {
                assert_eq!(r.holding.remove(taxi).as_deref(), Some(order));
            }
            AuditKind::OrderRedispatched => {
                order_taxi.remove(order);
            }
            AuditKind::TaxiSignedOff => {
                assert!(
                    !r.holding.contains_key(taxi),
                    "taxi {taxi} signed off holding an order"
                );
            }
            _ => {}
        }
    }
    r
}
