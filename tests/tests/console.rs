//! The console's reads of the store: the live feed by stream id (and its "trimmed"
//! answer once retention took records after the id), taxis in a box, and orders in
//! progress with their taxi. (The page itself is tested in a browser: `tests/browser/`.)

use std::time::Duration;
use taxi_store::console::EventsPage;
use taxi_store::retention::Retention;
use taxi_tests::*;

#[tokio::test]
async fn the_feed_resumes_after_an_id_and_says_when_records_after_it_were_trimmed() {
    let city = TestCity::start().await;
    // 250 records (a stream node holds 100: trimming removes whole nodes).
    let mut fleet = city.fleet();
    for i in 0..250 {
        register_taxi(&mut fleet, &format!("渝A{}", 50_000 + i)).await;
    }
    let all = city.store.audit_trail_all().await.unwrap();
    assert!(all.len() >= 250, "{}", all.len());
    let newest = city.store.events_newest().await.unwrap();
    assert_eq!(newest, all.last().unwrap().id);

    // Resuming after a record answers exactly the records after it, in order.
    let mid = &all[120].id;
    let EventsPage::Records(page) = city.store.events_after(mid, 1_000).await.unwrap() else {
        panic!("nothing was trimmed yet");
    };
    let ids: Vec<&str> = page.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = all[121..].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, want);
    // Bounded: at most the count asked for.
    let EventsPage::Records(page) = city.store.events_after(mid, 10).await.unwrap() else {
        panic!("nothing was trimmed yet");
    };
    assert_eq!(page.len(), 10);

    // Retention trims the old records: an id before them answers Trimmed with the newest
    // id, from which the reader goes on; the newest id itself is still fine.
    city.advance(Duration::from_secs(40 * 86_400));
    let r = Retention {
        finished: Duration::from_secs(30 * 86_400),
        events: Duration::from_secs(30 * 86_400),
    };
    let trimmed = city.store.trim_retained(&r, 1_000).await.unwrap();
    assert!(trimmed.events > 0, "{trimmed:?}");
    assert_eq!(
        city.store.events_after(&all[0].id, 100).await.unwrap(),
        EventsPage::Trimmed {
            newest: newest.clone()
        }
    );
    assert_eq!(
        city.store.events_after(&newest, 100).await.unwrap(),
        EventsPage::Records(vec![])
    );
}

#[tokio::test]
async fn taxis_in_a_box_are_the_free_and_the_busy_inside_it_only() {
    let city = TestCity::start().await;
    let inside = taxi_at(&city, "渝A60001", north_of_centre(200.0)).await;
    let busy = taxi_at(&city, "渝A60002", north_of_centre(400.0)).await;
    let outside = taxi_at(&city, "渝A60003", north_of_centre(9_000.0)).await;
    city.driver()
        .start_street_hail(taxi_proto::v1::StartStreetHailRequest {
            taxi_id: busy.taxi_id.clone(),
        })
        .await
        .unwrap();
    let c = north_of_centre(0.0);
    let (lat, lon) = (c.latitude, c.longitude);
    let found = city
        .store
        .taxis_in_box((lat - 0.02, lon - 0.02), (lat + 0.02, lon + 0.02), 100)
        .await
        .unwrap();
    let mut got: Vec<(String, bool)> = found.iter().map(|t| (t.id.clone(), t.free)).collect();
    got.sort();
    let mut want = vec![
        (inside.taxi_id.clone(), true),
        (busy.taxi_id.clone(), false),
    ];
    want.sort();
    assert_eq!(got, want, "{outside:?} lies outside");
    // The whole city, read by rank for the map's grid: all three, where they were put.
    let mut all = city.store.city_taxis(100).await.unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(all.len(), 3);
    let far = all.iter().find(|t| t.id == outside.taxi_id).unwrap();
    let at = north_of_centre(9_000.0);
    assert!((far.lat - at.latitude).abs() < 1e-5 && (far.lon - at.longitude).abs() < 1e-5);
    assert!(!all.iter().find(|t| t.id == busy.taxi_id).unwrap().free);
    assert_eq!(city.store.city_taxis(2).await.unwrap().len(), 2);
    // Bounded by the limit.
    let one = city
        .store
        .taxis_in_box((lat - 0.02, lon - 0.02), (lat + 0.02, lon + 0.02), 1)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
}
