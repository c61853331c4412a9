//! FleetService and the shift/position/street-hail half of DriverService, end to end.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_tests::*;
use tonic::Code;

#[tokio::test]
async fn register_get_and_refuse_duplicates() {
    let city = TestCity::start().await;
    let mut fleet = city.fleet();
    let taxi = register_taxi_with(&mut fleet, "渝A·10001", true, &["Caring"]).await;
    assert_eq!(taxi.plate, "渝A10001");
    assert_eq!(taxi.state, pb::TaxiState::OffDuty as i32);
    assert_eq!(taxi.fleet_tags, vec!["caring"]);
    assert!(taxi.wheelchair_accessible);

    let got = fleet
        .get_taxi(pb::GetTaxiRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .taxi
        .unwrap();
    assert_eq!(got, taxi);

    let dup = fleet
        .register_taxi(pb::RegisterTaxiRequest {
            plate: "渝a10001".into(),
            driver_name: "李师傅".into(),
            ..Default::default()
        })
        .await;
    assert_status(dup, Code::AlreadyExists, "plate");
    // The same plate in fullwidth characters is the same plate.
    let fullwidth = fleet
        .register_taxi(pb::RegisterTaxiRequest {
            plate: "渝Ａ１０００１".into(),
            driver_name: "李师傅".into(),
            ..Default::default()
        })
        .await;
    assert_status(fullwidth, Code::AlreadyExists, "plate");
    // Text that hides what it says is refused, naming the field.
    let hidden = fleet
        .register_taxi(pb::RegisterTaxiRequest {
            plate: "渝A10099".into(),
            driver_name: "李\u{202E}师傅".into(),
            ..Default::default()
        })
        .await;
    assert_status(hidden, Code::InvalidArgument, "driver_name");
    assert_eq!(
        city.store.plate_count().await.unwrap(),
        1,
        "refused registrations stored nothing"
    );

    assert_status(
        fleet
            .get_taxi(pb::GetTaxiRequest {
                taxi_id: "T999".into(),
            })
            .await,
        Code::NotFound,
        "T999",
    );
}

#[tokio::test]
async fn bad_registrations_name_the_field_and_store_nothing() {
    let city = TestCity::start().await;
    let mut fleet = city.fleet();
    let good = || pb::RegisterTaxiRequest {
        plate: "渝A20001".into(),
        driver_name: "王师傅".into(),
        vehicle_color: "白色".into(),
        ..Default::default()
    };
    let cases: Vec<(pb::RegisterTaxiRequest, &str)> = vec![
        (
            pb::RegisterTaxiRequest {
                plate: "".into(),
                ..good()
            },
            "plate",
        ),
        (
            pb::RegisterTaxiRequest {
                plate: "渝A1".into(),
                ..good()
            },
            "plate",
        ),
        (
            pb::RegisterTaxiRequest {
                driver_name: "".into(),
                ..good()
            },
            "driver_name",
        ),
        (
            pb::RegisterTaxiRequest {
                driver_name: "名".repeat(33),
                ..good()
            },
            "driver_name",
        ),
        (
            pb::RegisterTaxiRequest {
                vehicle_color: "色".repeat(17),
                ..good()
            },
            "vehicle_color",
        ),
        (
            pb::RegisterTaxiRequest {
                fleet_tags: vec!["has space".into()],
                ..good()
            },
            "fleet_tags[0]",
        ),
        (
            pb::RegisterTaxiRequest {
                fleet_tags: vec!["a".into(); 9],
                ..good()
            },
            "fleet_tags",
        ),
    ];
    for (req, field) in cases {
        assert_status(fleet.register_taxi(req).await, Code::InvalidArgument, field);
    }
    let plates = city.store.plate_count().await.unwrap();
    assert_eq!(plates, 0, "a refused registration stored something");
}

#[tokio::test]
async fn nearby_lists_fresh_free_taxis_nearest_first() {
    let city = TestCity::start().await;
    let near = taxi_at(&city, "渝A30001", north_of_centre(300.0)).await;
    let far = taxi_at(&city, "渝A30002", north_of_centre(2000.0)).await;
    // A taxi whose last fix is 40 s old: stale, never listed.
    let stale = register_taxi(&mut city.fleet(), "渝A30003").await;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: stale.taxi_id.clone(),
        })
        .await
        .unwrap();
    let r = send_positions(
        &mut city.driver(),
        vec![report(
            &stale.taxi_id,
            north_of_centre(100.0),
            Duration::from_secs(40),
        )],
    )
    .await;
    assert_eq!(r.accepted, 1);
    // Off duty with a position: never listed.
    let off = taxi_at(&city, "渝A30004", north_of_centre(50.0)).await;
    city.driver()
        .sign_off(pb::SignOffRequest {
            taxi_id: off.taxi_id.clone(),
        })
        .await
        .unwrap();

    let list = |radius, limit| {
        let mut fleet = city.fleet();
        async move {
            fleet
                .list_nearby_taxis(pb::ListNearbyTaxisRequest {
                    center: Some(wgs(CENTRE.0, CENTRE.1)),
                    radius_meters: radius,
                    limit,
                    wheelchair_accessible_only: false,
                })
                .await
                .unwrap()
                .into_inner()
                .taxis
        }
    };
    let all = list(5000, 10).await;
    let ids: Vec<&str> = all.iter().map(|t| t.taxi_id.as_str()).collect();
    assert_eq!(ids, vec![near.taxi_id.as_str(), far.taxi_id.as_str()]);
    assert!(
        (all[0].distance_meters as i64 - 300).abs() <= 2,
        "{}",
        all[0].distance_meters
    );
    assert!(
        (all[1].distance_meters as i64 - 2000).abs() <= 5,
        "{}",
        all[1].distance_meters
    );
    assert_eq!(all[0].plate, "渝A30001");

    assert_eq!(list(1000, 10).await.len(), 1, "radius bounds the search");
    assert_eq!(list(5000, 1).await.len(), 1, "limit bounds the list");

    // A fresh report brings the stale taxi back.
    send_positions(
        &mut city.driver(),
        vec![report(
            &stale.taxi_id,
            north_of_centre(100.0),
            Duration::ZERO,
        )],
    )
    .await;
    let ids: Vec<String> = list(5000, 10)
        .await
        .into_iter()
        .map(|t| t.taxi_id)
        .collect();
    assert_eq!(ids, vec![stale.taxi_id, near.taxi_id, far.taxi_id]);
}

#[tokio::test]
async fn wheelchair_filter() {
    let city = TestCity::start().await;
    taxi_at(&city, "渝A40001", north_of_centre(100.0)).await;
    let wc = register_taxi_with(&mut city.fleet(), "渝A40002", true, &[]).await;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: wc.taxi_id.clone(),
        })
        .await
        .unwrap();
    send_positions(
        &mut city.driver(),
        vec![report(&wc.taxi_id, north_of_centre(900.0), Duration::ZERO)],
    )
    .await;
    let taxis = city
        .fleet()
        .list_nearby_taxis(pb::ListNearbyTaxisRequest {
            center: Some(wgs(CENTRE.0, CENTRE.1)),
            radius_meters: 2000,
            limit: 5,
            wheelchair_accessible_only: true,
        })
        .await
        .unwrap()
        .into_inner()
        .taxis;
    assert_eq!(taxis.len(), 1);
    assert_eq!(taxis[0].taxi_id, wc.taxi_id);
    assert!(taxis[0].wheelchair_accessible);
}

#[tokio::test]
async fn nearby_refuses_bad_queries() {
    let city = TestCity::start().await;
    let mut fleet = city.fleet();
    let q = |center, radius_meters, limit| pb::ListNearbyTaxisRequest {
        center,
        radius_meters,
        limit,
        wheelchair_accessible_only: false,
    };
    let c = Some(wgs(CENTRE.0, CENTRE.1));
    assert_status(
        fleet.list_nearby_taxis(q(None, 0, 0)).await,
        Code::InvalidArgument,
        "center",
    );
    assert_status(
        fleet
            .list_nearby_taxis(q(Some(wgs(f64::NAN, 1.0)), 0, 0))
            .await,
        Code::InvalidArgument,
        "center.latitude",
    );
    assert_status(
        fleet
            .list_nearby_taxis(q(
                Some(pb::LatLng {
                    latitude: 29.0,
                    longitude: 106.0,
                    datum: 7,
                }),
                0,
                0,
            ))
            .await,
        Code::InvalidArgument,
        "center.datum",
    );
    assert_status(
        fleet.list_nearby_taxis(q(c, 60_000, 0)).await,
        Code::InvalidArgument,
        "radius_meters",
    );
    assert_status(
        fleet.list_nearby_taxis(q(c, 0, 500)).await,
        Code::InvalidArgument,
        "limit",
    );
}

#[tokio::test]
async fn position_stream_keeps_good_points_and_explains_bad_ones() {
    let city = TestCity::start().await;
    let on = taxi_at(&city, "渝A50001", north_of_centre(0.0)).await;
    let off = register_taxi(&mut city.fleet(), "渝A50002").await;
    let mut driver = city.driver();

    let future = {
        let mut r = report(&on.taxi_id, north_of_centre(10.0), Duration::ZERO);
        r.fix_time = Some(taxi_proto::Timestamp {
            seconds: city.now_ms() / 1000 + 3600,
            nanos: 0,
        });
        r
    };
    let mut unknown_datum = report(&on.taxi_id, north_of_centre(10.0), Duration::ZERO);
    unknown_datum.position.as_mut().unwrap().datum = 3;
    let messages = vec![
        pb::ReportPositionsRequest {
            positions: vec![
                report(&on.taxi_id, north_of_centre(500.0), Duration::ZERO),
                report(&on.taxi_id, wgs(f64::NAN, 106.5), Duration::ZERO),
                report(&on.taxi_id, wgs(95.0, 106.5), Duration::ZERO),
                unknown_datum,
            ],
        },
        pb::ReportPositionsRequest {
            positions: vec![
                future,
                report("T404", north_of_centre(10.0), Duration::ZERO),
                report(&off.taxi_id, north_of_centre(10.0), Duration::ZERO),
                report(&on.taxi_id, north_of_centre(800.0), Duration::ZERO),
                // Older than what is stored: ignored, and said so.
                report(&on.taxi_id, north_of_centre(900.0), Duration::from_secs(5)),
            ],
        },
    ];
    let reply = driver
        .report_positions(tokio_stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.accepted, 2, "{reply:?}");
    assert_eq!(reply.rejected, 7, "{reply:?}");
    let why: Vec<(u64, &str)> = reply
        .rejections
        .iter()
        .map(|r| (r.index, r.field.as_str()))
        .collect();
    assert_eq!(
        why,
        vec![
            (1, "position.latitude"),
            (2, "position.latitude"),
            (3, "position.datum"),
            (4, "fix_time"),
            (5, "taxi_id"),
            (6, "taxi_id"),
            (8, "fix_time"),
        ]
    );
    assert!(reply.rejections[5].reason.contains("off duty"));
    assert!(reply.rejections[4].reason.contains("not found"));

    // Only the good points were stored: the newest one is where the taxi is.
    let taxi = city
        .fleet()
        .get_taxi(pb::GetTaxiRequest {
            taxi_id: on.taxi_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .taxi
        .unwrap();
    let p = taxi.position.unwrap();
    assert!((p.latitude - north_of_centre(800.0).latitude).abs() < 1e-6);
    let off_now = city
        .fleet()
        .get_taxi(pb::GetTaxiRequest {
            taxi_id: off.taxi_id,
        })
        .await
        .unwrap()
        .into_inner()
        .taxi
        .unwrap();
    assert!(
        off_now.position.is_none(),
        "an off-duty taxi's position was stored"
    );
}

#[tokio::test]
async fn gcj02_input_is_stored_as_wgs84() {
    let city = TestCity::start().await;
    let taxi = register_taxi(&mut city.fleet(), "渝A60001").await;
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .unwrap();
    // Published pair: WGS-84 (39.915, 116.404) is GCJ-02 (39.91640428150164, 116.41024449916938).
    let gcj = pb::LatLng {
        latitude: 39.916_404_281_501_64,
        longitude: 116.410_244_499_169_38,
        datum: pb::Datum::Gcj02 as i32,
    };
    let r = send_positions(
        &mut city.driver(),
        vec![report(&taxi.taxi_id, gcj, Duration::ZERO)],
    )
    .await;
    assert_eq!(r.accepted, 1);
    let stored = city
        .fleet()
        .get_taxi(pb::GetTaxiRequest {
            taxi_id: taxi.taxi_id,
        })
        .await
        .unwrap()
        .into_inner()
        .taxi
        .unwrap();
    let p = stored.position.unwrap();
    assert_eq!(p.datum, pb::Datum::Wgs84 as i32);
    let truth = taxi_domain::Coordinates::new(39.915, 116.404).unwrap();
    let got = taxi_domain::Coordinates::new(p.latitude, p.longitude).unwrap();
    // Redis' geohash stores positions to about 0.6 m; the conversion itself is exact.
    assert!(got.distance_m(&truth) < 5.0, "{} m", got.distance_m(&truth));
}

#[tokio::test]
async fn street_hail_and_shift_rules() {
    let city = TestCity::start().await;
    let taxi = taxi_at(&city, "渝A70001", north_of_centre(100.0)).await;
    let id = || taxi.taxi_id.clone();
    let mut driver = city.driver();
    let nearby = || {
        let mut fleet = city.fleet();
        async move {
            fleet
                .list_nearby_taxis(pb::ListNearbyTaxisRequest {
                    center: Some(wgs(CENTRE.0, CENTRE.1)),
                    radius_meters: 1000,
                    limit: 5,
                    wheelchair_accessible_only: false,
                })
                .await
                .unwrap()
                .into_inner()
                .taxis
                .len()
        }
    };
    assert_eq!(nearby().await, 1);
    let hailed = driver
        .start_street_hail(pb::StartStreetHailRequest { taxi_id: id() })
        .await
        .unwrap()
        .into_inner()
        .taxi
        .unwrap();
    assert_eq!(hailed.state, pb::TaxiState::Occupied as i32);
    assert_eq!(nearby().await, 0, "an occupied taxi left the free index");
    // Positions still flow while occupied (the taxi is on duty).
    let r = send_positions(
        &mut driver,
        vec![report(&id(), north_of_centre(200.0), Duration::ZERO)],
    )
    .await;
    assert_eq!(r.accepted, 1);
    assert_eq!(nearby().await, 0);
    assert_status(
        driver
            .start_street_hail(pb::StartStreetHailRequest { taxi_id: id() })
            .await,
        Code::FailedPrecondition,
        "passenger",
    );
    assert_status(
        driver.sign_off(pb::SignOffRequest { taxi_id: id() }).await,
        Code::FailedPrecondition,
        "passenger",
    );

    let freed = driver
        .end_street_hail(pb::EndStreetHailRequest { taxi_id: id() })
        .await
        .unwrap()
        .into_inner()
        .taxi
        .unwrap();
    assert_eq!(freed.state, pb::TaxiState::Free as i32);
    assert_eq!(nearby().await, 1, "free again at its last position");

    driver
        .sign_off(pb::SignOffRequest { taxi_id: id() })
        .await
        .unwrap();
    assert_eq!(nearby().await, 0);
    assert_status(
        driver
            .start_street_hail(pb::StartStreetHailRequest { taxi_id: id() })
            .await,
        Code::FailedPrecondition,
        "off duty",
    );
    assert_status(
        driver
            .end_street_hail(pb::EndStreetHailRequest { taxi_id: id() })
            .await,
        Code::FailedPrecondition,
        "off duty",
    );
    assert_status(
        driver
            .sign_on(pb::SignOnRequest {
                taxi_id: "T777".into(),
            })
            .await,
        Code::NotFound,
        "T777",
    );
    assert_status(
        driver
            .sign_on(pb::SignOnRequest { taxi_id: "".into() })
            .await,
        Code::InvalidArgument,
        "taxi_id",
    );
    // Signing on again puts it back where it was, if that fix is still fresh.
    driver
        .sign_on(pb::SignOnRequest { taxi_id: id() })
        .await
        .unwrap();
    assert_eq!(nearby().await, 1);

    // Every transition is on the audit trail.
    let events = city.store.audit_trail_all().await.unwrap();
    assert!(events.len() >= 6, "{} events", events.len());
}
