//! The operators' audit log in a real Redis (and, in the cluster tier, a Redis Cluster):
//! appends chain into one whole log however many run at once, each entry stored once;
//! `verify` names a deleted entry (by the gap around it), an edited one, and a removed
//! tail; bad entries store nothing; the retention pass never trims it.

use std::collections::HashSet;
use std::time::Duration;
use taxi_domain::oplog::{GENESIS, OplogEntry, Verdict, bounds};
use taxi_store::StoreError;
use taxi_store::oplog::OplogId;
use taxi_store::retention::Retention;
use taxi_tests::*;

fn entry(n: usize) -> OplogEntry {
    OplogEntry {
        actor: "operator:alice".into(),
        role: "operator".into(),
        action: "CancelOrder".into(),
        target: format!("O{n:012}"),
        // Replaced by the store's clock.
        at_ms: 0,
        from: "127.0.0.1:51234".into(),
        detail: format!("{{\"reason\":\"caller asked\",\"n\":{n}}}"),
    }
}

/// `n` entries appended one after the other; their ids.
async fn appended(city: &TestCity, n: usize) -> Vec<OplogId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(city.store.oplog_append(&entry(i)).await.expect("append"));
    }
    ids
}

#[tokio::test]
async fn appended_entries_form_one_chain_stamped_by_the_store_clock() {
    let city = TestCity::start().await;
    let mut ids = Vec::new();
    let mut times = Vec::new();
    for i in 0..10 {
        city.advance(Duration::from_secs(3600));
        let before = city.now_ms();
        ids.push(city.store.oplog_append(&entry(i)).await.expect("append"));
        times.push(before..=city.now_ms());
    }
    let page = city.store.oplog_page(None, 500).await.expect("page");
    assert_eq!(page.len(), 10);
    let mut prev = GENESIS.to_string();
    for (i, stored) in page.iter().enumerate() {
        assert_eq!(stored.id, ids[i]);
        assert_eq!(stored.prev, prev, "entry {i} chains to the one before");
        assert_eq!(stored.hash, stored.entry.chain_hash(&stored.prev));
        // The city's clock is the system's plus an hour per entry: only the store's
        // clock puts the entry inside its window.
        assert!(
            times[i].contains(&stored.entry.at_ms),
            "entry {i} stamped by the store's clock"
        );
        assert_eq!(
            stored.entry,
            OplogEntry {
                at_ms: stored.entry.at_ms,
                ..entry(i)
            },
            "stored as given"
        );
        prev = stored.hash.clone();
    }
    // The auditor pages after an entry.
    let next = city.store.oplog_page(Some(&ids[3]), 3).await.expect("page");
    let next: Vec<&str> = next.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(next, [&ids[4], &ids[5], &ids[6]]);
    assert_eq!(
        city.store.oplog_verify().await.expect("verify"),
        Verdict::Intact { checked: 10 }
    );
}

#[tokio::test]
async fn concurrent_appends_keep_the_chain_whole_and_store_each_entry_once() {
    let city = TestCity::start().await;
    const TASKS: usize = 8;
    const EACH: usize = 10;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = city.store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                store
                    .oplog_append(&entry(t * 100 + i))
                    .await
                    .expect("append under contention");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(
        city.store.oplog_verify().await.expect("verify"),
        Verdict::Intact {
            checked: (TASKS * EACH) as u64
        }
    );
    let page = city.store.oplog_page(None, 500).await.expect("page");
    let targets: HashSet<&str> = page.iter().map(|e| e.entry.target.as_str()).collect();
    assert_eq!(page.len(), TASKS * EACH, "no entry twice");
    assert_eq!(targets.len(), TASKS * EACH, "every entry once");
}

#[tokio::test]
async fn a_deleted_entry_is_named_by_the_entries_around_the_gap() {
    let city = TestCity::start().await;
    let ids = appended(&city, 10).await;
    assert!(city.store.oplog_delete(&ids[4]).await.expect("delete"));
    assert_eq!(
        city.store.oplog_verify().await.expect("verify"),
        Verdict::Gap {
            before: Some(ids[3].clone()),
            after: ids[5].clone(),
            checked: 4
        }
    );
    // The first entry deleted: the gap is at the start.
    let city = TestCity::start().await;
    let ids = appended(&city, 3).await;
    city.store.oplog_delete(&ids[0]).await.expect("delete");
    assert_eq!(
        city.store.oplog_verify().await.expect("verify"),
        Verdict::Gap {
            before: None,
            after: ids[1].clone(),
            checked: 0
        }
    );
}

#[tokio::test]
async fn an_edited_field_of_any_entry_is_named() {
    let city = TestCity::start().await;
    let ids = appended(&city, 10).await;
    let original = city.store.oplog_page(None, 500).await.expect("page");
    let at = 6;
    let stored = &original[at];
    let fields = [
        ("actor", "operator:mallory", stored.entry.actor.clone()),
        ("role", "supervisor", stored.entry.role.clone()),
        ("action", "GetOrder", stored.entry.action.clone()),
        ("target", "O000000000099", stored.entry.target.clone()),
        ("at_ms", "1", stored.entry.at_ms.to_string()),
        ("at_ms", "yesterday", stored.entry.at_ms.to_string()),
        ("from", "10.0.0.9:1", stored.entry.from.clone()),
        ("detail", "{}", stored.entry.detail.clone()),
        ("prev", GENESIS, stored.prev.clone()),
        ("hash", &"a".repeat(64), stored.hash.clone()),
    ];
    for (field, forged, was) in fields {
        city.store
            .oplog_edit(&ids[at], field, forged)
            .await
            .expect("edit");
        assert_eq!(
            city.store.oplog_verify().await.expect("verify"),
            Verdict::Edited {
                id: ids[at].clone(),
                checked: at as u64
            },
            "{field} edited"
        );
        // The auditor still reads the whole log.
        assert_eq!(
            city.store.oplog_page(None, 500).await.expect("page").len(),
            10
        );
        city.store
            .oplog_edit(&ids[at], field, &was)
            .await
            .expect("restore");
        assert!(
            city.store.oplog_verify().await.expect("verify").is_intact(),
            "{field} restored"
        );
    }
}

#[tokio::test]
async fn a_removed_last_entry_is_named_and_stays_named_after_more_appends() {
    let city = TestCity::start().await;
    let ids = appended(&city, 10).await;
    city.store.oplog_delete(&ids[9]).await.expect("delete");
    assert_eq!(
        city.store.oplog_verify().await.expect("verify"),
        Verdict::Truncated {
            last: Some(ids[8].clone()),
            head: Some(ids[9].clone()),
            checked: 9
        }
    );
    // The next append chains to the removed entry's hash, so the hole shows as a gap.
    let next = city.store.oplog_append(&entry(10)).await.expect("append");
    assert_eq!(
        city.store.oplog_verify().await.expect("verify"),
        Verdict::Gap {
            before: Some(ids[8].clone()),
            after: next,
            checked: 9
        }
    );
}

#[tokio::test]
async fn bad_entries_and_pages_are_refused_naming_the_field_and_store_nothing() {
    let city = TestCity::start().await;
    let field = |e: StoreError| match e {
        StoreError::Invalid(f) => f.field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let long = OplogEntry {
        detail: "x".repeat(bounds::DETAIL + 1),
        ..entry(1)
    };
    let nobody = OplogEntry {
        actor: String::new(),
        ..entry(1)
    };
    let newline = OplogEntry {
        target: "O1\nforged line".into(),
        ..entry(1)
    };
    for (bad, name) in [
        (long, "oplog.detail"),
        (nobody, "oplog.actor"),
        (newline, "oplog.target"),
    ] {
        let err = city.store.oplog_append(&bad).await.unwrap_err();
        assert_eq!(field(err), name);
    }
    assert!(city.store.oplog_page(None, 500).await.unwrap().is_empty());
    assert_eq!(
        city.store.oplog_verify().await.unwrap(),
        Verdict::Intact { checked: 0 }
    );
    for limit in [0, 501] {
        assert_eq!(
            field(city.store.oplog_page(None, limit).await.unwrap_err()),
            "limit"
        );
    }
    assert_eq!(
        field(city.store.oplog_page(Some("x"), 10).await.unwrap_err()),
        "after"
    );
}

#[tokio::test]
async fn the_retention_pass_never_trims_the_log() {
    let city = TestCity::start().await;
    appended(&city, 3).await;
    city.advance(Duration::from_secs(400 * 24 * 3600));
    let retention = Retention {
        finished: Duration::from_secs(24 * 3600),
        events: Duration::from_secs(24 * 3600),
    };
    for _ in 0..3 {
        city.store
            .trim_retained(&retention, 500)
            .await
            .expect("trim");
    }
    assert_eq!(
        city.store.oplog_verify().await.expect("verify"),
        Verdict::Intact { checked: 3 }
    );
}
