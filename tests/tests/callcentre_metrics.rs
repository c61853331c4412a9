//! The call centre's KPIs reach the metrics (issue 13, item 3), older callers apart from
//! others: calls, assignments, answers with their speed of answer, abandons and the
//! call-backs they raise. A test binary of its own, since it installs the process-wide
//! recorder (`metrics-util`'s in-memory one) before the in-process server starts.

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use taxi_proto::v1 as pb;
use taxi_tests::{TestCity, elderly_caller};

/// The counter `name` with label `group`, or 0; the histogram's sample count likewise.
fn read(snapshot: &[(CompositeKey, DebugValue)], kind: MetricKind, name: &str, group: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(k, _)| {
            k.kind() == kind
                && k.key().name() == name
                && k.key()
                    .labels()
                    .any(|l| l.key() == "group" && l.value() == group)
        })
        .map(|(_, v)| match v {
            DebugValue::Counter(n) => *n,
            DebugValue::Histogram(samples) => samples.len() as u64,
            DebugValue::Gauge(_) => 0,
        })
        .sum()
}

fn snapshot(s: &Snapshotter) -> Vec<(CompositeKey, DebugValue)> {
    s.snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| (k, v))
        .collect()
}

#[tokio::test]
async fn the_call_centre_kpis_are_counted_in_the_metrics_older_callers_apart() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let city = TestCity::start().await;
    let older = "13900000041";
    elderly_caller(&city, older).await;
    city.seat_accounts(&["mseat1".to_string()], false).await;
    let mut cc = city.callcentre();
    for state in [pb::SeatState::LoggedIn, pb::SeatState::Ready] {
        cc.set_seat_state(pb::SetSeatStateRequest {
            seat_id: "mseat1".into(),
            state: state as i32,
            dialects: vec![],
        })
        .await
        .expect("seat");
    }
    // The older caller is routed to the ready seat and answered; another caller queues
    // behind and gives up.
    for (call, phone) in [("m-1", older), ("m-2", "13700000042")] {
        cc.call_arrived(pb::CallArrivedRequest {
            call_id: call.into(),
            calling_number: phone.into(),
            ..Default::default()
        })
        .await
        .expect("arrived");
    }
    cc.call_answered(pb::CallAnsweredRequest {
        call_id: "m-1".into(),
        seat_id: "mseat1".into(),
    })
    .await
    .expect("answered");
    cc.call_abandoned(pb::CallAbandonedRequest {
        call_id: "m-2".into(),
    })
    .await
    .expect("abandoned");

    let s = snapshot(&snapshotter);
    let counter = |name: &str, group: &str| read(&s, MetricKind::Counter, name, group);
    assert_eq!(
        counter("taxi_callcentre_calls_total", "elderly"),
        1,
        "{s:?}"
    );
    assert_eq!(counter("taxi_callcentre_calls_total", "others"), 1, "{s:?}");
    assert_eq!(
        counter("taxi_callcentre_assignments_total", "elderly"),
        1,
        "{s:?}"
    );
    assert_eq!(
        counter("taxi_callcentre_answered_total", "elderly"),
        1,
        "{s:?}"
    );
    assert_eq!(
        counter("taxi_callcentre_answered_total", "others"),
        0,
        "{s:?}"
    );
    assert_eq!(
        counter("taxi_callcentre_abandoned_total", "others"),
        1,
        "{s:?}"
    );
    assert_eq!(
        read(
            &s,
            MetricKind::Histogram,
            "taxi_callcentre_speed_of_answer_seconds",
            "elderly"
        ),
        1,
        "one speed of answer recorded: {s:?}"
    );
}
