//! A subject's session index (`{c}:sessions:<role>:<id>`) against a real `redis-server`:
//! it holds the subject's live sessions only, and lives as long as the longest of them.

use std::sync::Arc;
use taxi_domain::clock::{Clock, ManualClock};
use taxi_redis_process::RedisProcess;
use taxi_store::access::SessionRecord;
use taxi_store::{Keys, Store, StoreConfig};

const START_MS: i64 = 1_750_000_000_000;

fn session(sid: &str, expires_ms: i64) -> SessionRecord {
    SessionRecord {
        sid: sid.into(),
        role: "operator".into(),
        id: "op-1".into(),
        passenger: None,
        refresh_hash: "00".into(),
        expires_ms,
    }
}

#[tokio::test]
async fn expired_sessions_leave_the_index_and_the_index_expires_with_its_longest_session() {
    let redis = RedisProcess::start_temporary().expect("redis");
    let clock = Arc::new(ManualClock::at(START_MS));
    let store = Store::connect(StoreConfig::new(redis.url(), "500100").with_clock(clock.clone()))
        .expect("store");
    let index = Keys::new("500100").subject_sessions("operator", "op-1");
    let mut raw = redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    // Expiry times are absolute and on the city's clock: far enough ahead of the real
    // clock that Redis keeps the keys while the test looks at them.
    let far = START_MS.max(taxi_domain::clock::system_now_ms()) + 3_600_000;

    // A long session, then a daily login whose earlier sessions run out.
    store
        .put_session(&session("long", far + 500_000))
        .await
        .unwrap();
    for day in 0..5 {
        store
            .put_session(&session(&format!("day{day}"), clock.now_ms() + 1_000))
            .await
            .unwrap();
        clock.advance(std::time::Duration::from_secs(2));
    }
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(&index)
        .arg(0)
        .arg(-1)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        members,
        vec!["day4".to_string(), "long".to_string()],
        "only the sessions not yet expired at the last login"
    );
    // The shorter sessions never shortened the index's life.
    let expires_at: i64 = redis::cmd("PEXPIRETIME")
        .arg(&index)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(expires_at, far + 500_000);

    // Ending the subject's sessions ends exactly the live ones.
    let mut ended = store
        .end_sessions_of("operator", "op-1", clock.now_ms())
        .await
        .unwrap();
    ended.sort();
    assert_eq!(ended, vec!["day4".to_string(), "long".to_string()]);
}
