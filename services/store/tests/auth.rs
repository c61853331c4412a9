//! A Redis that requires a password (as `deploy/` runs it): the store connects with the
//! password in `TAXI_REDIS_URL`, and without it (or with a wrong one) every call fails
//! fast as unavailable, with a message that names the cause and never the password.

use std::time::{Duration, Instant};
use taxi_redis_process::{Options, RedisProcess};
use taxi_store::taxis::NewTaxi;
use taxi_store::{Store, StoreConfig, StoreError};

const PASSWORD: &str = "correct horse/battery@staple";

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

#[tokio::test]
async fn the_store_connects_with_the_password_and_says_why_it_cannot_without() {
    let redis = RedisProcess::start_temporary_with(Options {
        password: Some(PASSWORD.into()),
        ..Options::default()
    })
    .unwrap();

    let store = Store::connect(StoreConfig::new(redis.url(), "500100")).unwrap();
    let t = store.register_taxi(&taxi("渝A20001")).await.unwrap();
    assert_eq!(store.get_taxi(&t.id).await.unwrap().plate, "渝A20001");
    assert!(!format!("{store:?}").contains("horse"), "{store:?}");

    for url in [redis.url_with(None), redis.url_with(Some("wrong"))] {
        let store = Store::connect(StoreConfig::new(url.clone(), "500100")).unwrap();
        let started = Instant::now();
        let err = store.register_taxi(&taxi("渝A20002")).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{url}: slow");
        let StoreError::Unavailable(why) = &err else {
            panic!("{url}: {err:?}");
        };
        assert!(why.contains("TAXI_REDIS_URL"), "{url}: {why}");
        assert!(why.contains("password"), "{url}: {why}");
        assert!(!why.contains("horse") && !why.contains("wrong"), "{why}");
    }
    // Nothing was stored by the refused calls.
    let store = Store::connect(StoreConfig::new(redis.url(), "500100")).unwrap();
    assert!(store.register_taxi(&taxi("渝A20002")).await.is_ok());
}
