//! The fleet store against a real private redis-server.

use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taxi_domain::Coordinates;
use taxi_domain::clock::{Clock, ManualClock, system_now_ms};
use taxi_domain::taxi::{TaxiEvent, TaxiState};
use taxi_redis_process::RedisProcess;
use taxi_store::taxis::{
    CARING_TAG, Fix, FixOutcome, FreeIndexes, NearbyQuery, NewTaxi, SWEEP_BATCH,
};
use taxi_store::{Store, StoreConfig, StoreError};

fn taxi(plate: &str) -> NewTaxi {
    NewTaxi {
        plate: plate.into(),
        driver_name: "张师傅".into(),
        color: "白色".into(),
        driver_phone: String::new(),
        wheelchair: false,
        tags: vec![],
    }
}

fn fix(id: &str, lat: f64, lon: f64, age_ms: i64) -> Fix {
    fix_at(system_now_ms(), id, lat, lon, age_ms)
}

fn fix_at(now_ms: i64, id: &str, lat: f64, lon: f64, age_ms: i64) -> Fix {
    Fix {
        taxi_id: id.into(),
        at: Coordinates::new(lat, lon).unwrap(),
        fix_ms: now_ms - age_ms,
    }
}

#[tokio::test]
async fn fleet_lifecycle_in_redis() {
    let redis = RedisProcess::start_temporary().unwrap();
    let store = Store::connect(StoreConfig::new(redis.url(), "500100")).unwrap();

    let a = store.register_taxi(&taxi("渝A10001")).await.unwrap();
    assert_eq!(a.state, TaxiState::OffDuty);
    let dup = store.register_taxi(&taxi("渝A10001")).await.unwrap_err();
    assert!(matches!(dup, StoreError::PlateTaken { .. }), "{dup:?}");

    // Off duty: refused.
    let out = store
        .report_positions(&[fix(&a.id, 29.56, 106.55, 0)], 30_000)
        .await
        .unwrap();
    assert_eq!(out, vec![FixOutcome::OffDuty]);

    store
        .transition_taxi(&a.id, TaxiEvent::SignOn)
        .await
        .unwrap();
    let out = store
        .report_positions(
            &[fix(&a.id, 29.56, 106.55, 0), fix("T999", 29.56, 106.55, 0)],
            30_000,
        )
        .await
        .unwrap();
    assert_eq!(out, vec![FixOutcome::Stored, FixOutcome::UnknownTaxi]);
    // An older fix does not overwrite a newer one.
    let out = store
        .report_positions(&[fix(&a.id, 29.0, 106.0, 5_000)], 30_000)
        .await
        .unwrap();
    assert_eq!(out, vec![FixOutcome::Superseded]);
    // A taxi twice in one batch: its newest fix is stored, whichever comes first, and the
    // other is superseded by it.
    let now = system_now_ms();
    for (first, second) in [(100, 50), (60, 110)] {
        let out = store
            .report_positions(
                &[
                    fix_at(now + first, &a.id, 29.0, 106.0, 0),
                    fix_at(now + second, &a.id, 29.56, 106.55, 0),
                ],
                30_000,
            )
            .await
            .unwrap();
        let newest_first = first > second;
        assert_eq!(
            out,
            if newest_first {
                vec![FixOutcome::Stored, FixOutcome::Superseded]
            } else {
                vec![FixOutcome::Superseded, FixOutcome::Stored]
            }
        );
        let (at, ms) = store.get_taxi(&a.id).await.unwrap().position.unwrap();
        assert_eq!(ms, now + first.max(second));
        let want = if newest_first { 29.0 } else { 29.56 };
        assert!((at.lat() - want).abs() < 1e-4, "{at:?}");
    }
    // Unknown taxis twice in a batch are refused each time.
    let out = store
        .report_positions(
            &[fix("T998", 29.56, 106.55, 0), fix("T998", 29.56, 106.55, 0)],
            30_000,
        )
        .await
        .unwrap();
    assert_eq!(out, vec![FixOutcome::UnknownTaxi; 2]);

    let q = NearbyQuery {
        center: Coordinates::new(29.56, 106.55).unwrap(),
        radius_m: 1000,
        limit: 10,
        fresh_ms: 30_000,
        wheelchair_only: false,
    };
    let near = store.nearby_free(&q).await.unwrap();
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].plate, "渝A10001");

    store
        .transition_taxi(&a.id, TaxiEvent::StartStreetHail)
        .await
        .unwrap();
    assert!(store.nearby_free(&q).await.unwrap().is_empty());
    let err = store
        .transition_taxi(&a.id, TaxiEvent::SignOff)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TaxiRefused { .. }), "{err:?}");
    store
        .transition_taxi(&a.id, TaxiEvent::EndStreetHail)
        .await
        .unwrap();
    assert_eq!(store.nearby_free(&q).await.unwrap().len(), 1);
}

#[tokio::test]
async fn fails_fast_while_redis_is_down_and_recovers() {
    let mut redis = RedisProcess::start_temporary().unwrap();
    let store = Store::connect(StoreConfig::new(redis.url(), "500100")).unwrap();
    let a = store.register_taxi(&taxi("渝A10002")).await.unwrap();

    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.get_taxi(&a.id).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    redis.start_again().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.get_taxi(&a.id).await {
            Ok(t) => {
                // AOF kept the taxi across the restart.
                assert_eq!(t.plate, "渝A10002");
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("store did not recover: {e:?}"),
        }
    }
}

#[tokio::test]
async fn a_position_lives_in_exactly_one_geo_set() {
    let redis = RedisProcess::start_temporary().unwrap();
    let clock = Arc::new(ManualClock::at(system_now_ms()));
    let store =
        Store::connect(StoreConfig::new(redis.url(), "500100").with_clock(clock.clone())).unwrap();
    let where_is = |id: String| {
        let store = store.clone();
        async move { store.position_index(&id).await.unwrap() }
    };
    let fix =
        |id: &str, lat: f64, lon: f64, age_ms: i64| fix_at(clock.now_ms(), id, lat, lon, age_ms);
    let t = store.register_taxi(&taxi("渝A10009")).await.unwrap();
    store
        .transition_taxi(&t.id, TaxiEvent::SignOn)
        .await
        .unwrap();
    assert_eq!(where_is(t.id.clone()).await, (false, false), "no fix yet");
    store
        .report_positions(&[fix(&t.id, 29.56, 106.55, 0)], 30_000)
        .await
        .unwrap();
    assert_eq!(where_is(t.id.clone()).await, (true, false));
    store
        .transition_taxi(&t.id, TaxiEvent::StartStreetHail)
        .await
        .unwrap();
    assert_eq!(where_is(t.id.clone()).await, (false, true));
    store
        .report_positions(&[fix(&t.id, 29.57, 106.55, 0)], 30_000)
        .await
        .unwrap();
    assert_eq!(where_is(t.id.clone()).await, (false, true));
    store
        .transition_taxi(&t.id, TaxiEvent::EndStreetHail)
        .await
        .unwrap();
    assert_eq!(where_is(t.id.clone()).await, (true, false));
    let got = store.get_taxi(&t.id).await.unwrap();
    assert!(
        (got.position.unwrap().0.lat() - 29.57).abs() < 1e-5,
        "the latest fix, kept through the moves"
    );
    // Stale: swept out of the free index, position kept.
    store
        .report_positions(&[fix(&t.id, 29.58, 106.55, 0)], 30_000)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(31));
    assert_eq!(store.sweep_stale(30_000).await.unwrap(), 1);
    assert_eq!(where_is(t.id.clone()).await, (false, true));
    assert!(store.get_taxi(&t.id).await.unwrap().position.is_some());
    // A fresh fix brings it back, and only there.
    store
        .report_positions(&[fix(&t.id, 29.59, 106.55, 0)], 30_000)
        .await
        .unwrap();
    assert_eq!(where_is(t.id.clone()).await, (true, false));
    store
        .transition_taxi(&t.id, TaxiEvent::SignOff)
        .await
        .unwrap();
    assert_eq!(where_is(t.id.clone()).await, (false, true));
    store
        .transition_taxi(&t.id, TaxiEvent::SignOn)
        .await
        .unwrap();
    assert_eq!(where_is(t.id.clone()).await, (true, false));
}

#[tokio::test]
async fn capability_and_fix_indexes_follow_the_free_index() {
    let redis = RedisProcess::start_temporary().unwrap();
    let clock = Arc::new(ManualClock::at(system_now_ms()));
    let store =
        Store::connect(StoreConfig::new(redis.url(), "500100").with_clock(clock.clone())).unwrap();
    let fix =
        |id: &str, lat: f64, lon: f64, age_ms: i64| fix_at(clock.now_ms(), id, lat, lon, age_ms);
    let both = store
        .register_taxi(&NewTaxi {
            wheelchair: true,
            tags: vec![CARING_TAG.into()],
            ..taxi("渝A10020")
        })
        .await
        .unwrap();
    let plain = store.register_taxi(&taxi("渝A10021")).await.unwrap();
    let (b, p) = (both.id.clone(), plain.id.clone());
    let indexes = || {
        let store = store.clone();
        async move { store.free_indexes().await.unwrap() }
    };
    let only = |ids: &[&String]| {
        let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    // `free` in the free index; `capable` also in both capability indexes.
    let expect = |free: &[&String], capable: &[&String]| FreeIndexes {
        free: only(free),
        wheelchair: only(capable),
        caring: only(capable),
        fixes: only(free),
    };
    for id in [&b, &p] {
        store.transition_taxi(id, TaxiEvent::SignOn).await.unwrap();
    }
    assert_eq!(indexes().await, FreeIndexes::default(), "no fix yet");
    store
        .report_positions(
            &[fix(&b, 29.56, 106.55, 0), fix(&p, 29.56, 106.56, 0)],
            30_000,
        )
        .await
        .unwrap();
    assert_eq!(indexes().await, expect(&[&b, &p], &[&b]));
    store
        .transition_taxi(&b, TaxiEvent::StartStreetHail)
        .await
        .unwrap();
    assert_eq!(indexes().await, expect(&[&p], &[]));
    store
        .transition_taxi(&b, TaxiEvent::EndStreetHail)
        .await
        .unwrap();
    assert_eq!(indexes().await, expect(&[&b, &p], &[&b]));
    // Stale: swept out of every index; a fresh fix brings it back into every one.
    clock.advance(Duration::from_secs(31));
    store
        .report_positions(&[fix(&p, 29.56, 106.56, 0)], 30_000)
        .await
        .unwrap();
    assert_eq!(store.sweep_stale(30_000).await.unwrap(), 1);
    assert_eq!(indexes().await, expect(&[&p], &[]));
    store
        .report_positions(&[fix(&b, 29.57, 106.55, 0)], 30_000)
        .await
        .unwrap();
    assert_eq!(indexes().await, expect(&[&b, &p], &[&b]));
    store.transition_taxi(&b, TaxiEvent::SignOff).await.unwrap();
    assert_eq!(indexes().await, expect(&[&p], &[]));
    store.transition_taxi(&b, TaxiEvent::SignOn).await.unwrap();
    assert_eq!(indexes().await, expect(&[&b, &p], &[&b]));
    // The capability index finds it where it is now.
    let q = NearbyQuery {
        center: Coordinates::new(29.57, 106.55).unwrap(),
        radius_m: 100,
        limit: 5,
        fresh_ms: 30_000,
        wheelchair_only: true,
    };
    let near = store.nearby_free(&q).await.unwrap();
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].id, b);
}

/// The janitor's sweep is exact whatever the number of stale free taxis: it works in
/// script calls of `SWEEP_BATCH` until none is left.
#[tokio::test]
async fn the_sweep_moves_every_stale_free_taxi_in_bounded_steps() {
    let redis = RedisProcess::start_temporary().unwrap();
    let clock = Arc::new(ManualClock::at(system_now_ms()));
    let store =
        Store::connect(StoreConfig::new(redis.url(), "500100").with_clock(clock.clone())).unwrap();
    let n = SWEEP_BATCH * 2 + 300;
    let ids: Vec<String> = futures::stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move {
                let id = store
                    .register_taxi(&taxi(&format!("渝B{i:05}")))
                    .await
                    .unwrap()
                    .id;
                store.transition_taxi(&id, TaxiEvent::SignOn).await.unwrap();
                id
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let fixes: Vec<Fix> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| fix_at(clock.now_ms(), id, 29.5 + i as f64 * 1e-5, 106.55, 0))
        .collect();
    let out = store.report_positions(&fixes, 30_000).await.unwrap();
    assert!(out.iter().all(|o| *o == FixOutcome::Stored));
    assert_eq!(store.free_indexes().await.unwrap().free.len(), n);
    clock.advance(Duration::from_secs(31));
    assert_eq!(store.sweep_stale(30_000).await.unwrap(), n as u64);
    assert_eq!(store.free_indexes().await.unwrap(), FreeIndexes::default());
    assert_eq!(store.sweep_stale(30_000).await.unwrap(), 0);
}

/// A position does not move a taxi's score in the janitor's index (that would cost every
/// fix a write): the janitor looks again at a taxi that kept reporting and keeps it.
#[tokio::test]
async fn the_sweep_keeps_a_free_taxi_that_keeps_reporting() {
    let redis = RedisProcess::start_temporary().unwrap();
    let clock = Arc::new(ManualClock::at(system_now_ms()));
    let store =
        Store::connect(StoreConfig::new(redis.url(), "500100").with_clock(clock.clone())).unwrap();
    let t = store.register_taxi(&taxi("渝A10030")).await.unwrap().id;
    store.transition_taxi(&t, TaxiEvent::SignOn).await.unwrap();
    for _ in 0..10 {
        let fix = fix_at(clock.now_ms(), &t, 29.56, 106.55, 0);
        store.report_positions(&[fix], 30_000).await.unwrap();
        assert_eq!(store.sweep_stale(30_000).await.unwrap(), 0);
        assert_eq!(store.position_index(&t).await.unwrap(), (true, false));
        clock.advance(Duration::from_secs(10));
    }
    clock.advance(Duration::from_secs(21));
    assert_eq!(store.sweep_stale(30_000).await.unwrap(), 1);
    assert_eq!(store.position_index(&t).await.unwrap(), (false, true));
}

/// An upgraded city: the fix times' old zset (`taxis:fix`, before they became the hash
/// `taxis:fixms`) is read by nothing, and the retention pass frees it.
#[tokio::test]
async fn the_retention_pass_unlinks_retired_keys() {
    let redis = RedisProcess::start_temporary().unwrap();
    let store = Store::connect(StoreConfig::new(redis.url(), "500100")).unwrap();
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let old = "{c:500100}:taxis:fix";
    assert_eq!(
        taxi_store::Keys::new("500100").retired(),
        vec![old.to_string()]
    );
    let () = redis::cmd("ZADD")
        .arg(old)
        .arg(1)
        .arg("T1")
        .query_async(&mut raw)
        .await
        .unwrap();
    let r = taxi_store::retention::Retention {
        finished: Duration::from_secs(3600),
        events: Duration::from_secs(3600),
    };
    store.trim_retained(&r, 10).await.unwrap();
    let exists: u64 = redis::cmd("EXISTS")
        .arg(old)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}
