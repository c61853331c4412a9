//! The caring fleet's guarantee for recurring trips (issue 14), through real gRPC against
//! a real Redis on a stepped clock: a caring-fleet taxi is paired with a pattern, its
//! driver confirms one trip and refuses another; the confirmed one is offered to the
//! paired taxi first, the refused one only in the caring fleet until T−30 (an ordinary
//! taxi nearer is not offered it), then to any taxi; a trip still without a taxi at T−15
//! raises one operator alert and tells the passenger through the notifications outbox.

use chrono::Duration as Days;
use std::time::Duration;
use taxi_domain::order::OrderStatus;
use taxi_domain::priority::china_date;
use taxi_domain::recurring::{Guarantee, china_instant_ms};
use taxi_proto::v1 as pb;
use taxi_proto::v1::recurring_service_client::RecurringServiceClient;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_tests::*;
use tonic::Code;

/// The older passenger.
const GRAN: &str = "13512345678";
const S: Duration = Duration::from_secs(5);

fn rules(start: chrono::NaiveDate, end: chrono::NaiveDate) -> pb::PatternRules {
    pb::PatternRules {
        passenger_phone: GRAN.into(),
        passenger_name: "张秀英".into(),
        start_date: start.format("%Y-%m-%d").to_string(),
        end_date: end.format("%Y-%m-%d").to_string(),
        count: None,
        schedule: Some(pb::RecurringSchedule {
            weekdays: vec![1, 2, 3, 4, 5, 6, 7],
            pickup_time: "07:30".into(),
            return_time: String::new(),
            pickup: Some(place(north_of_centre(500.0), "渝中区解放碑民族路88号")),
            dropoff: Some(place(north_of_centre(4000.0), "重庆医科大学附属第一医院")),
            needs: vec![],
        }),
        skipped_dates: vec![],
    }
}

/// Reports every taxi where it stands, fresh on the city's (stepped) clock.
async fn report_all(city: &TestCity, taxis: &[(&str, f64)]) {
    let reports = taxis
        .iter()
        .map(|(id, north)| report_at(id, north_of_centre(*north), city.now_ms()))
        .collect();
    let r = send_positions(&mut city.driver(), reports).await;
    assert_eq!(r.accepted as usize, taxis.len(), "{r:?}");
}

/// Steps the clock to `at_ms` (never back).
fn step_to(city: &TestCity, at_ms: i64) {
    let now = city.now_ms();
    assert!(at_ms > now, "the clock only moves on");
    city.advance(Duration::from_millis((at_ms - now) as u64));
}

/// Waits for a paired-trip notice about `order` with `reason`, skipping other events.
async fn paired_notice(stream: &mut DriverStream, order: &str, reason: &str) {
    let deadline = std::time::Instant::now() + S;
    while std::time::Instant::now() < deadline {
        if let Some(Event::PairedTripChanged(n)) = stream.next(S).await
            && n.order_id == order
            && n.reason == reason
        {
            return;
        }
    }
    panic!("no paired-trip notice {reason} for {order}");
}

async fn trips(city: &TestCity, taxi: &str) -> Vec<pb::PairedTrip> {
    city.driver()
        .list_paired_trips(pb::ListPairedTripsRequest {
            taxi_id: taxi.into(),
        })
        .await
        .expect("list paired trips")
        .into_inner()
        .trips
}

#[tokio::test]
async fn a_paired_driver_confirms_and_refuses_and_every_trip_is_covered_or_alerted() {
    let city = TestCity::start_with(fast_config()).await;
    city.pause();
    elderly_caller(&city, GRAN).await;
    let mut fleet = city.fleet();
    let paired = register_taxi_with(&mut fleet, "渝A10001", false, &["caring"]).await;
    let caring = register_taxi_with(&mut fleet, "渝A10002", false, &["caring"]).await;
    let ordinary = register_taxi_with(&mut fleet, "渝A10003", false, &[]).await;
    let (p, c, n) = (
        paired.taxi_id.as_str(),
        caring.taxi_id.as_str(),
        ordinary.taxi_id.as_str(),
    );
    // The ordinary taxi is nearest the pickup (500 m north), the paired one next, the
    // other caring taxi 1.5 km away.
    let all = [(p, 900.0), (c, 2000.0), (n, 550.0)];
    for (t, _) in all {
        city.driver()
            .sign_on(pb::SignOnRequest { taxi_id: t.into() })
            .await
            .expect("sign on");
    }
    report_all(&city, &all).await;
    let mut p_stream = DriverStream::open(&city, p).await;
    let mut c_stream = DriverStream::open(&city, c).await;
    let mut n_stream = DriverStream::open(&city, n).await;

    // Three daily trips from tomorrow at 07:30.
    let start = china_date(city.now_ms()) + Days::days(1);
    let mut ops = RecurringServiceClient::new(city.as_supervisor());
    let pattern = ops
        .create_pattern(pb::CreatePatternRequest {
            rules: Some(rules(start, start + Days::days(2))),
        })
        .await
        .expect("create pattern")
        .into_inner()
        .pattern
        .unwrap();
    assert_eq!(pattern.reservations.len(), 3);
    let id = pattern.pattern_id.clone();

    // Pairing: an ordinary taxi is refused, naming the field; nothing changes.
    assert_status(
        ops.pair_driver(pb::PairDriverRequest {
            pattern_id: id.clone(),
            taxi_id: n.into(),
        })
        .await,
        Code::FailedPrecondition,
        "taxi_id",
    );
    assert!(trips(&city, n).await.is_empty());
    assert_status(
        ops.pair_driver(pb::PairDriverRequest {
            pattern_id: id.clone(),
            taxi_id: "TNOSUCHTAXI".into(),
        })
        .await,
        Code::NotFound,
        "TNOSUCHTAXI",
    );
    assert_status(
        ops.pair_driver(pb::PairDriverRequest {
            pattern_id: String::new(),
            taxi_id: p.into(),
        })
        .await,
        Code::InvalidArgument,
        "pattern_id",
    );
    let stored = city.store.get_pattern(&id).await.unwrap().unwrap();
    assert_eq!(stored.paired_taxi, "", "a refused pairing stores nothing");
    let pattern = ops
        .pair_driver(pb::PairDriverRequest {
            pattern_id: id.clone(),
            taxi_id: p.into(),
        })
        .await
        .expect("pair")
        .into_inner()
        .pattern
        .unwrap();
    assert_eq!(pattern.paired_taxi_id, p);

    // The paired driver sees the three coming trips, soonest first, unconfirmed.
    let list = trips(&city, p).await;
    assert_eq!(list.len(), 3);
    let at = |d: i64| {
        china_instant_ms(
            start + Days::days(d),
            chrono::NaiveTime::from_hms_opt(7, 30, 0).unwrap(),
        )
    };
    for (i, t) in list.iter().enumerate() {
        assert_eq!(t.state, pb::PairedTripState::Unconfirmed as i32);
        assert_eq!(t.pattern_id, id);
        assert_eq!(t.pickup_time.as_ref().unwrap().seconds * 1000, at(i as i64));
    }
    let (t1, t2, t3) = (
        list[0].order_id.clone(),
        list[1].order_id.clone(),
        list[2].order_id.clone(),
    );
    paired_notice(&mut p_stream, &t1, "paired").await;

    // Confirm the first, refuse the second; another taxi cannot answer for it.
    assert_status(
        city.driver()
            .confirm_paired_trip(pb::ConfirmPairedTripRequest {
                taxi_id: c.into(),
                order_id: t1.clone(),
            })
            .await,
        Code::PermissionDenied,
        "order_id",
    );
    let confirmed = city
        .driver()
        .confirm_paired_trip(pb::ConfirmPairedTripRequest {
            taxi_id: p.into(),
            order_id: t1.clone(),
        })
        .await
        .expect("confirm")
        .into_inner()
        .trip
        .unwrap();
    assert_eq!(confirmed.state, pb::PairedTripState::Confirmed as i32);
    paired_notice(&mut p_stream, &t1, "confirmed").await;
    city.driver()
        .refuse_paired_trip(pb::RefusePairedTripRequest {
            taxi_id: p.into(),
            order_id: t2.clone(),
        })
        .await
        .expect("refuse");
    let states: Vec<i32> = trips(&city, p).await.iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        [
            pb::PairedTripState::Confirmed as i32,
            pb::PairedTripState::Refused as i32,
            pb::PairedTripState::Unconfirmed as i32,
        ]
    );

    // Before T−60 nothing is dispatched.
    let g = Guarantee::default();
    step_to(&city, g.caring_offer_ms(at(0)) - 60_000);
    report_all(&city, &all).await;
    n_stream.no_offer(Duration::from_millis(500)).await;
    assert_eq!(
        city.store.get_order(&t1).await.unwrap().status,
        OrderStatus::Scheduled
    );

    // T−60: the confirmed trip goes to its paired taxi, not the nearer ordinary one.
    step_to(&city, g.caring_offer_ms(at(0)) + 1_000);
    report_all(&city, &all).await;
    let offer = p_stream.offer(S).await;
    assert_eq!(offer.order_id, t1);
    n_stream.no_offer(Duration::from_millis(500)).await;
    city.driver()
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: p.into(),
            order_id: t1.clone(),
        })
        .await
        .expect("accept");
    // Taken an hour ahead, the trip is not stuck until its pickup time has passed.
    step_to(&city, at(0) - 60_000);
    assert_eq!(city.store.flag_stuck_trips(100).await.unwrap(), 0);
    assert!(city.store.stuck_trips(10).await.unwrap().0.is_empty());
    let mut d = city.driver();
    d.arrive_at_pickup(pb::ArriveAtPickupRequest {
        taxi_id: p.into(),
        order_id: t1.clone(),
    })
    .await
    .expect("arrive");
    d.start_trip(pb::StartTripRequest {
        taxi_id: p.into(),
        order_id: t1.clone(),
    })
    .await
    .expect("start");
    d.complete_trip(pb::CompleteTripRequest {
        taxi_id: p.into(),
        order_id: t1.clone(),
        fare_cents: 2350,
        paid_by: 0,
    })
    .await
    .expect("complete");

    // T−60 of the refused trip: only the caring fleet, and not the driver who refused:
    // the other caring taxi, 1.5 km away, though an ordinary taxi waits 50 m from it.
    step_to(&city, g.caring_offer_ms(at(1)) + 1_000);
    report_all(&city, &all).await;
    let offer = c_stream.offer(S).await;
    assert_eq!(offer.order_id, t2);
    // It declines: no other caring taxi is free, and the ordinary one still waits.
    city.driver()
        .decline_offer(pb::DeclineOfferRequest {
            taxi_id: c.into(),
            order_id: t2.clone(),
            reason: "busy".into(),
        })
        .await
        .expect("decline");
    n_stream.no_offer(Duration::from_secs(1)).await;
    step_to(&city, g.open_to_all_ms(at(1)) - 60_000);
    report_all(&city, &all).await;
    n_stream.no_offer(Duration::from_secs(1)).await;
    let o = city.store.get_order(&t2).await.unwrap();
    assert!(
        matches!(o.status, OrderStatus::Pending),
        "still waiting, not given up: {:?}",
        o.status
    );
    // T−30: any suitable taxi.
    step_to(&city, g.open_to_all_ms(at(1)) + 1_000);
    report_all(&city, &all).await;
    let offer = n_stream.offer(S).await;
    assert_eq!(offer.order_id, t2);
    drive_trip(&city, n, &t2).await;
    assert_eq!(
        city.guarantee_pass(&g).await,
        0,
        "no alert for trips that were covered"
    );

    // The third trip: no taxi at all. At T−15 one alert, once, and the passenger is told.
    for (t, _) in all {
        city.driver()
            .sign_off(pb::SignOffRequest { taxi_id: t.into() })
            .await
            .expect("sign off");
    }
    step_to(&city, g.caring_offer_ms(at(2)) + 1_000);
    assert_eq!(city.guarantee_pass(&g).await, 0, "not yet T−15");
    step_to(&city, g.alert_ms(at(2)) + 1_000);
    assert_eq!(city.guarantee_pass(&g).await, 1);
    assert_eq!(city.guarantee_pass(&g).await, 0, "once");
    let alerts = city
        .hotline()
        .list_alerts(pb::ListAlertsRequest {
            include_acknowledged: false,
            limit: 50,
        })
        .await
        .expect("alerts")
        .into_inner()
        .alerts;
    let mine: Vec<_> = alerts.iter().filter(|a| a.order_id == t3).collect();
    assert_eq!(mine.len(), 1, "{alerts:?}");
    assert_eq!(mine[0].caller_phone, GRAN);
    let late: Vec<_> = city
        .store
        .outbox_entries()
        .await
        .unwrap()
        .iter()
        .filter(|e| e.fields.get("kind").map(String::as_str) == Some("late"))
        .filter(|e| e.fields.get("order") == Some(&t3))
        .map(|e| e.fields.get("to").cloned().unwrap_or_default())
        .collect();
    assert_eq!(late, [GRAN.to_string()], "the passenger is told once");
    let o = city.store.get_order(&t3).await.unwrap();
    assert!(
        !matches!(o.status, OrderStatus::Unfulfilled),
        "dispatch keeps trying until pickup"
    );
}

#[tokio::test]
async fn a_cancelled_trip_leaves_the_paired_drivers_list_and_its_stream_says_so() {
    let city = TestCity::start_with(fast_config()).await;
    city.pause();
    let paired = register_taxi_with(&mut city.fleet(), "渝A20001", false, &["caring"]).await;
    let p = paired.taxi_id.as_str();
    let mut stream = DriverStream::open(&city, p).await;
    let start = china_date(city.now_ms()) + Days::days(1);
    let mut ops = RecurringServiceClient::new(city.as_supervisor());
    let id = ops
        .create_pattern(pb::CreatePatternRequest {
            rules: Some(rules(start, start + Days::days(1))),
        })
        .await
        .expect("create")
        .into_inner()
        .pattern
        .unwrap()
        .pattern_id;
    ops.pair_driver(pb::PairDriverRequest {
        pattern_id: id.clone(),
        taxi_id: p.into(),
    })
    .await
    .expect("pair");
    let list = trips(&city, p).await;
    assert_eq!(list.len(), 2);
    ops.cancel_occurrence(pb::CancelOccurrenceRequest {
        pattern_id: id.clone(),
        date: start.format("%Y-%m-%d").to_string(),
    })
    .await
    .expect("cancel one date");
    paired_notice(&mut stream, &list[0].order_id, "cancelled").await;
    let left: Vec<String> = trips(&city, p)
        .await
        .into_iter()
        .map(|t| t.order_id)
        .collect();
    assert_eq!(left, [list[1].order_id.clone()]);
    // Unpaired: the list is empty and the driver can no longer answer.
    ops.pair_driver(pb::PairDriverRequest {
        pattern_id: id,
        taxi_id: String::new(),
    })
    .await
    .expect("unpair");
    paired_notice(&mut stream, &list[1].order_id, "unpaired").await;
    assert!(trips(&city, p).await.is_empty());
    assert_status(
        city.driver()
            .confirm_paired_trip(pb::ConfirmPairedTripRequest {
                taxi_id: p.into(),
                order_id: list[1].order_id.clone(),
            })
            .await,
        Code::PermissionDenied,
        "order_id",
    );
}

/// The simulator's principals, made in the test city and logged in through AuthService.
async fn sim_principals(
    city: &TestCity,
    stop: &tokio_util::sync::CancellationToken,
) -> taxi_sim::Principals {
    use taxi_auth::Role;
    use taxi_sim::{Credential, Session};
    let person = |name: &'static str, role: Role| async move {
        let password = taxi_auth::key::new_secret();
        taxi_access::create_account(
            &city.store,
            &taxi_access::NewAccount {
                username: name.into(),
                password: password.clone(),
                role,
                display_name: name.into(),
            },
        )
        .await
        .expect("account");
        Session::login(
            city.channel(),
            Credential::Password {
                username: name.into(),
                password,
            },
            stop.clone(),
        )
        .await
        .expect("login")
    };
    let service = |name: &'static str, role: Role| async move {
        let secret = taxi_access::create_service_key(&city.store, name, role)
            .await
            .expect("service key");
        Session::login(
            city.channel(),
            Credential::Key {
                kind: pb::KeyKind::Service,
                id: name.into(),
                secret,
            },
            stop.clone(),
        )
        .await
        .expect("login")
    };
    taxi_sim::Principals {
        operators: vec![person("scarcity-op", Role::Operator).await],
        fleet_admin: person("scarcity-fleet", Role::FleetAdmin).await,
        gateway: service("scarcity-gateway", Role::Gateway).await,
        phone_switch: service("scarcity-switch", Role::PhoneSwitch).await,
    }
}

#[tokio::test]
async fn the_scarcity_morning_assigns_at_least_99_percent_of_recurring_trips_by_t_minus_15() {
    let city = TestCity::start_with(fast_config()).await;
    city.pause();
    let stop = tokio_util::sync::CancellationToken::new();
    let principals = sim_principals(&city, &stop).await;
    let cfg = taxi_sim::caring_guarantee::GuaranteeConfig {
        taxis: 10,
        caring: 4,
        trips: 20,
        step: Duration::from_secs(60),
        ..Default::default()
    };
    let report = taxi_sim::caring_guarantee::run(&principals, &*city.clock, &cfg)
        .await
        .expect("the scenario runs");
    stop.cancel();
    println!("scarcity (seed {}): {report}", cfg.seed);
    assert_eq!(report.due, 20);
    assert!(
        report.taxis < report.due,
        "scarcity: fewer taxis than trips"
    );
    assert_eq!(
        report.completed, report.due,
        "every trip was driven: {report}"
    );
    assert!(report.share() >= 0.99, "{report}");
    assert_eq!(report.late, 0);
}

trait Pass {
    async fn guarantee_pass(&self, g: &Guarantee) -> usize;
}

impl Pass for TestCity {
    async fn guarantee_pass(&self, g: &Guarantee) -> usize {
        self.store.guarantee_pass(g).await.expect("guarantee pass")
    }
}
