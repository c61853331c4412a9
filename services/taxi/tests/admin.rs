//! `taxi admin audit verify`, the real binary against a private Redis (a Redis Cluster in
//! the cluster tier): exit 0 and the count for an intact log, exit 1 naming the entry for
//! a tampered one, exit 2 for bad configuration.

use taxi_domain::oplog::OplogEntry;
use taxi_store::{Store, StoreConfig};
use taxi_tests::{CITY, TestRedis};

/// Runs `taxi admin <args>` against `url`; its exit code and everything it printed.
async fn admin(url: &str, args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_taxi"))
        .arg("admin")
        .args(args)
        .env("TAXI_REDIS_URL", url)
        .env("TAXI_CITY", CITY)
        .env("TAXI_LOG", "warn")
        .output()
        .await
        .expect("run taxi");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("exit code"), text)
}

#[tokio::test]
async fn audit_verify_passes_an_intact_log_and_names_a_removed_entry() {
    let redis = TestRedis::start();
    let url = redis.url();
    let store = Store::connect(StoreConfig::new(&url, CITY)).expect("store");
    let (code, text) = admin(&url, &["audit", "verify"]).await;
    assert_eq!(
        (code, text.contains("0 entries checked, intact")),
        (0, true),
        "{text}"
    );
    let mut ids = Vec::new();
    for i in 0..5 {
        let entry = OplogEntry {
            actor: "operator:alice".into(),
            role: "operator".into(),
            action: "AssignOrder".into(),
            target: format!("O{i}"),
            at_ms: 0,
            from: "127.0.0.1:4000".into(),
            detail: String::new(),
        };
        ids.push(store.oplog_append(&entry).await.expect("append"));
    }
    let (code, text) = admin(&url, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("5 entries checked, intact"), "{text}");

    store.oplog_delete(&ids[2]).await.expect("delete");
    let (code, text) = admin(&url, &["audit", "verify"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("NOT INTACT") && text.contains(&ids[1]) && text.contains(&ids[3]),
        "names the entries around the removed one: {text}"
    );
}

#[tokio::test]
async fn audit_verify_names_an_edited_entry() {
    let redis = TestRedis::start();
    let url = redis.url();
    let store = Store::connect(StoreConfig::new(&url, CITY)).expect("store");
    let mut ids = Vec::new();
    for i in 0..3 {
        let entry = OplogEntry {
            actor: "operator:bob".into(),
            role: "operator".into(),
            action: "UpsertCaller".into(),
            target: "13800138000".into(),
            at_ms: 0,
            from: "127.0.0.1:4000".into(),
            detail: format!("change {i}"),
        };
        ids.push(store.oplog_append(&entry).await.expect("append"));
    }
    store
        .oplog_edit(&ids[1], "actor", "operator:someone-else")
        .await
        .expect("edit");
    let (code, text) = admin(&url, &["audit", "verify"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("entry {} was edited", ids[1])),
        "{text}"
    );
}

#[tokio::test]
async fn audit_verify_refuses_bad_configuration_with_exit_2() {
    let (code, text) = admin("http://nowhere", &["audit", "verify"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("TAXI_REDIS_URL"), "{text}");
    let (code, text) = admin("redis://127.0.0.1:1", &["--city", "abc", "audit", "verify"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("TAXI_CITY"), "{text}");
}
