//! The demo's recurring trips (issue 14): a few older passengers of the simulated city
//! have a regular trip in the next minutes, on the caring fleet's guarantee with its
//! timeline shortened by the demo's speed factor, and the summary reports the trips due,
//! assigned by T−15 and late.

use taxi_domain::priority::china_date;
use taxi_domain::recurring::{Guarantee, china_instant_ms};
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_proto::v1::recurring_service_client::RecurringServiceClient;
use taxi_sim::Authed;
use taxi_sim::city::{SPOTS, SpotKind};

/// How many older passengers have a recurring trip in the demo.
pub(crate) const DEMO_RECURRING: usize = 6;

/// The guarantee's timeline sped up like the city (speed 30: T−2 min, T−1 min, T−30 s).
pub(crate) fn guarantee(speed: f64) -> anyhow::Result<Guarantee> {
    let g = Guarantee::default();
    let scale = |ms: i64| (ms as f64 / speed.max(1.0)) as i64;
    Guarantee::new(
        scale(g.caring_lead_ms),
        scale(g.open_lead_ms),
        scale(g.alert_lead_ms),
    )
    .map_err(|e| anyhow::anyhow!("the demo's guarantee: {e}"))
}

/// One demo trip: its reservation and pickup.
#[derive(Debug, Clone)]
pub(crate) struct DemoTrip {
    pub order: String,
    pub pickup_ms: i64,
}

/// Gives `DEMO_RECURRING` older passengers a one-date pattern with a pickup a minute
/// apart from the next whole minute on; returns their reservations.
pub(crate) async fn book(
    operator: Authed,
    now_ms: i64,
    seed: u64,
) -> anyhow::Result<Vec<DemoTrip>> {
    let mut hotline = HotlineServiceClient::new(operator.clone());
    let mut recurring = RecurringServiceClient::new(operator);
    let homes: Vec<_> = SPOTS
        .iter()
        .filter(|s| s.kind == SpotKind::Residential)
        .collect();
    let hospitals: Vec<_> = SPOTS
        .iter()
        .filter(|s| s.kind == SpotKind::Hospital)
        .collect();
    let first = (now_ms / 60_000 + 2) * 60_000;
    let mut out = Vec::new();
    for i in 0..DEMO_RECURRING {
        let pickup_ms = first + i as i64 * 60_000;
        let local = chrono::DateTime::from_timestamp_millis(pickup_ms + 8 * 3_600_000)
            .ok_or_else(|| anyhow::anyhow!("a pickup time out of range"))?
            .naive_utc();
        let day = china_date(pickup_ms);
        let phone = format!("138{:08}", (seed as usize * 100 + i) % 100_000_000);
        let name = format!("{}奶奶", ["周", "吴", "郑", "孙", "马", "朱"][i % 6]);
        hotline
            .upsert_caller(pb::UpsertCallerRequest {
                caller: Some(pb::CallerProfile {
                    phone: phone.clone(),
                    name: name.clone(),
                    elderly_flag: true,
                    ..Default::default()
                }),
            })
            .await?;
        let (home, goal) = (homes[i % homes.len()], hospitals[i % hospitals.len()]);
        let place = |s: &taxi_sim::city::Spot| pb::Place {
            location: Some(pb::LatLng {
                latitude: s.lat,
                longitude: s.lon,
                datum: pb::Datum::Wgs84 as i32,
            }),
            address: s.name.into(),
        };
        let p = recurring
            .create_pattern(pb::CreatePatternRequest {
                rules: Some(pb::PatternRules {
                    passenger_phone: phone,
                    passenger_name: name,
                    start_date: day.format("%Y-%m-%d").to_string(),
                    end_date: day.format("%Y-%m-%d").to_string(),
                    count: None,
                    schedule: Some(pb::RecurringSchedule {
                        weekdays: vec![chrono::Datelike::weekday(&day).number_from_monday()],
                        pickup_time: local.format("%H:%M").to_string(),
                        return_time: String::new(),
                        pickup: Some(place(home)),
                        dropoff: Some(place(goal)),
                        needs: vec![],
                    }),
                    skipped_dates: vec![],
                }),
            })
            .await?
            .into_inner()
            .pattern
            .ok_or_else(|| anyhow::anyhow!("CreatePattern returned no pattern"))?;
        debug_assert_eq!(china_instant_ms(day, local.time()), pickup_ms);
        out.extend(
            p.reservations
                .into_values()
                .map(|order| DemoTrip { order, pickup_ms }),
        );
    }
    Ok(out)
}

/// Recurring trips due by `now_ms` (their T−15 passed), assigned by T−15, and late.
pub(crate) async fn tally(
    store: &taxi_store::Store,
    trips: &[DemoTrip],
    g: &Guarantee,
    now_ms: i64,
) -> anyhow::Result<(usize, usize, usize)> {
    let (mut due, mut met) = (0, 0);
    for t in trips.iter().filter(|t| g.alert_ms(t.pickup_ms) <= now_ms) {
        due += 1;
        let o = store.get_order(&t.order).await?;
        if o.accepted_ms > 0 && g.met(t.pickup_ms, o.accepted_ms) {
            met += 1;
        }
    }
    Ok((due, met, due - met))
}
