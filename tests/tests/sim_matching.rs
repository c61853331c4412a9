//! The simulator's planned scenarios through the real services on a fast clock (issue 15):
//! a short scarcity run books exactly its plan, taxis drive at the road model's pace, and
//! the matching report counts every order (a never-served one as an infinite wait).

use std::sync::Arc;
use std::time::Duration;
use taxi_domain::clock::ScaledClock;
use taxi_proto::v1 as pb;
use taxi_server::ServerConfig;
use taxi_sim::matching::MatchingRun;
use taxi_sim::report::Rules;
use taxi_sim::scenario::{ScenarioName, ScenarioSpec};
use taxi_sim::{Credential, Session};
use taxi_store::{Store, StoreConfig};
use taxi_tests::{TestRedis, TestServer, harness_auth};
use tokio_util::sync::CancellationToken;

/// The simulator's principals, made in the store's city and logged in through AuthService.
async fn principals(
    store: &Store,
    channel: tonic::transport::Channel,
    stop: &CancellationToken,
) -> taxi_sim::Principals {
    use taxi_auth::Role;
    let person = |name: &'static str, role: Role| {
        let (store, channel, stop) = (store.clone(), channel.clone(), stop.clone());
        async move {
            let password = taxi_auth::key::new_secret();
            taxi_access::create_account(
                &store,
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
                channel,
                Credential::Password {
                    username: name.into(),
                    password,
                },
                stop,
            )
            .await
            .expect("login")
        }
    };
    let service = |name: &'static str, role: Role| {
        let (store, channel, stop) = (store.clone(), channel.clone(), stop.clone());
        async move {
            let secret = taxi_access::create_service_key(&store, name, role)
                .await
                .expect("service key");
            Session::login(
                channel,
                Credential::Key {
                    kind: pb::KeyKind::Service,
                    id: name.into(),
                    secret,
                },
                stop,
            )
            .await
            .expect("login")
        }
    };
    taxi_sim::Principals {
        operators: vec![person("plan-op", Role::Operator).await],
        fleet_admin: person("plan-fleet", Role::FleetAdmin).await,
        gateway: service("plan-gateway", Role::Gateway).await,
        phone_switch: service("plan-switch", Role::PhoneSwitch).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_scarcity_run_books_its_plan_and_reports_every_order() {
    const FACTOR: f64 = 60.0;
    let mut spec = ScenarioSpec::new(ScenarioName::Scarcity, 8);
    spec.duration = Duration::from_secs(5 * 60);
    let plan = Arc::new(spec.plan(21));
    assert_eq!(*plan, spec.plan(21), "the plan reproduces exactly");
    let planned_elderly = plan.bookings.iter().filter(|b| b.elderly).count();
    assert!(plan.bookings.len() >= 8, "{} bookings", plan.bookings.len());

    let redis = TestRedis::start();
    let clock = Arc::new(ScaledClock::new(
        plan.start_ms_after(taxi_domain::clock::system_now_ms()),
        FACTOR,
    ));
    let mut config = ServerConfig {
        auth: harness_auth(),
        ..ServerConfig::default()
    };
    // The services' real-time sweep shrinks with the clock; everything else they time
    // (offer timeout, retry, freshness, dispatch bound) is on the clock already.
    config.settings.sweep_interval = Duration::from_millis(10);
    let rules = Rules::of(&config.settings);
    let server = TestServer::start(&redis.url(), config, clock.clone()).await;
    let store = Store::connect(StoreConfig::new(redis.url(), "500100").with_clock(clock.clone()))
        .expect("store");
    let channel = taxi_sim::connect(server.addr, None).await.expect("connect");
    let stop = CancellationToken::new();
    let principals = principals(&store, channel.clone(), &stop).await;
    let how = MatchingRun {
        matcher: "greedy".into(),
        rules,
        clock: clock.clone(),
        time_factor: FACTOR,
        drain: Duration::from_secs(5 * 60),
    };
    let report = taxi_sim::matching::run(channel, principals, plan.clone(), &how, stop.clone())
        .await
        .expect("the scenario runs");
    stop.cancel();
    server.stop().await;
    println!("{report}");

    // Every planned booking was made, none refused, and the services saw the same older
    // passengers the plan did.
    assert_eq!(report.refused, 0);
    assert_eq!(
        report.elderly.orders + report.others.orders,
        plan.bookings.len()
    );
    assert_eq!(report.elderly.orders, planned_elderly);
    // The run covered the scenario (and what of the drain it needed) on the services'
    // clock, faster than real time.
    assert!(report.simulated_s >= 300.0, "{}", report.simulated_s);
    assert!(
        report.wall_s < report.simulated_s / 10.0,
        "{}",
        report.wall_s
    );
    // Orders were served; a never-served one is an infinite wait, not a missing sample.
    let assigned = report
        .assign_samples_elderly
        .iter()
        .chain(&report.assign_samples_others)
        .filter(|s| s.is_some())
        .count();
    assert!(assigned > 0, "{report}");
    assert_eq!(
        report.assign_samples_elderly.len() + report.assign_samples_others.len(),
        plan.bookings.len()
    );
    assert!(report.elderly.fulfilment + report.others.fulfilment > 0.0);
    assert!(report.empty_km_per_trip.is_none() || report.empty_km_per_trip > Some(0.0));
    // Taxis drove to the pickups at the road model's pace: no sooner than the model's
    // time from where they accepted, and not much later.
    let mut driven = 0;
    for o in &report.outcomes {
        let (Some(a), Some(p), Some(eta)) = (o.assigned_ms, o.picked_up_ms, o.eta_at_assign_s)
        else {
            continue;
        };
        let took = (p - a) as f64 / 1000.0;
        assert!(
            took >= 0.9 * eta - 5.0 && took <= 1.1 * eta + 30.0,
            "took {took} s for an ETA of {eta} s"
        );
        driven += 1;
    }
    assert!(driven > 0, "{report}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["scenario"], "scarcity");
}
