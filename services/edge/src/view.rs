//! Views that need a read of the store: an order with its taxi's plate, colour and ETA.

use crate::convert;
use taxi_domain::geo::eta_seconds;
use taxi_domain::order::OrderStatus;
use taxi_proto::v1 as pb;
use taxi_store::orders::OrderRecord;
use taxi_store::taxis::TaxiRecord;
use taxi_store::{Store, StoreError};

/// The driver's surname: the first character of a Chinese name.
pub fn surname(full: &str) -> String {
    full.chars().next().map(String::from).unwrap_or_default()
}

/// What a passenger is told about the taxi of an order in `status`.
pub fn assigned_taxi(t: &TaxiRecord, o: &OrderRecord) -> pb::AssignedTaxi {
    let eta = match (o.status, &t.position) {
        (OrderStatus::Accepted, Some((at, _))) => eta_seconds(at.distance_m(&o.pickup.at)),
        (OrderStatus::Offered, Some((at, _))) => eta_seconds(at.distance_m(&o.pickup.at)),
        _ => 0,
    };
    pb::AssignedTaxi {
        taxi_id: t.id.clone(),
        plate: t.plate.clone(),
        vehicle_color: t.color.clone(),
        driver_surname: surname(&t.driver_name),
        position: t.position.as_ref().map(|(c, _)| convert::lat_lng(c)),
        eta_seconds: eta,
    }
}

/// Seconds for a taxi to reach an order's pickup from where it is now (0 if the taxi has
/// never reported a position). Reads both (NOT_FOUND if either is unknown).
pub async fn eta_to_pickup(store: &Store, order: &str, taxi: &str) -> Result<u32, StoreError> {
    let o = store.get_order(order).await?;
    let t = store.get_taxi(taxi).await?;
    Ok(t.position
        .map(|(at, _)| eta_seconds(at.distance_m(&o.pickup.at)))
        .unwrap_or(0))
}

/// Whether an order in this status shows its taxi to the passenger.
pub fn shows_taxi(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Accepted | OrderStatus::Arrived | OrderStatus::OnTrip | OrderStatus::Completed
    )
}

/// An order on the wire with its taxi (once one accepted), read from the store.
pub async fn order(store: &Store, o: &OrderRecord, masked: bool) -> Result<pb::Order, StoreError> {
    let taxi = match (&o.taxi, shows_taxi(o.status)) {
        (Some(id), true) => match store.get_taxi(id).await {
            Ok(t) => Some(assigned_taxi(&t, o)),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        _ => None,
    };
    Ok(convert::order(o, masked, taxi))
}

/// Several orders on the wire.
pub async fn orders(
    store: &Store,
    os: &[OrderRecord],
    masked: bool,
) -> Result<Vec<pb::Order>, StoreError> {
    let mut out = Vec::with_capacity(os.len());
    for o in os {
        out.push(order(store, o, masked).await?);
    }
    Ok(out)
}
