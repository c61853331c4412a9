//! Operators close what they handled: call-backs of unfulfilled orders and emergency
//! alerts are resolved through the API, idempotently, audited, and leave the open lists.

use std::time::Duration;
use taxi_domain::audit::AuditKind;
use taxi_proto::v1 as pb;
use taxi_tests::*;
use tonic::Code;

const S: Duration = Duration::from_secs(1);

/// An unfulfilled order on the call-back list (no taxi in the city).
pub async fn unfulfilled(city: &TestCity, phone: &str) -> pb::Order {
    let order = book_at(city, phone, north_of_centre(0.0)).await;
    wait_order(city, &order.order_id, 5 * S, |o| {
        o.status == pb::OrderStatus::Unfulfilled as i32
    })
    .await
}

fn quick_give_up() -> taxi_server::ServerConfig {
    let mut config = fast_config();
    config.settings.max_dispatch_time = Duration::from_millis(600);
    config
}

async fn callbacks(city: &TestCity) -> Vec<String> {
    city.dispatch()
        .list_callbacks(pb::ListCallbacksRequest::default())
        .await
        .unwrap()
        .into_inner()
        .orders
        .into_iter()
        .map(|o| o.order_id)
        .collect()
}

async fn audited(city: &TestCity, kind: AuditKind) -> usize {
    city.store
        .audit_trail_all()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.kind == kind)
        .count()
}

#[tokio::test]
async fn an_operator_resolves_a_call_back_once_and_it_leaves_the_list() {
    let city = TestCity::start_with(quick_give_up()).await;
    let first = unfulfilled(&city, "13800000061").await;
    let second = unfulfilled(&city, "13800000062").await;
    let mut listed = callbacks(&city).await;
    listed.sort();
    let mut both = vec![first.order_id.clone(), second.order_id.clone()];
    both.sort();
    assert_eq!(listed, both);

    let resolve = |outcome: &str| pb::ResolveCallbackRequest {
        order_id: first.order_id.clone(),
        operator_id: SUPERVISOR.into(),
        outcome: outcome.into(),
        call_id: String::new(),
    };
    let mut dispatch = city.dispatch();
    let done = dispatch
        .resolve_callback(resolve("已回电，乘客改乘公交"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let r = done.callback_resolution.clone().expect("resolution");
    assert_eq!(
        (r.operator_id.as_str(), r.outcome.as_str()),
        (SUPERVISOR, "已回电，乘客改乘公交")
    );
    assert_eq!(done.status, pb::OrderStatus::Unfulfilled as i32);
    // A retry (even with other words) answers the same and records nothing more.
    city.advance(S);
    let again = dispatch
        .resolve_callback(resolve("retry"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(again, done);
    assert_eq!(callbacks(&city).await, vec![second.order_id.clone()]);
    assert_eq!(audited(&city, AuditKind::CallbackResolved).await, 1);
    // Still readable by id.
    let read = wait_order(&city, &first.order_id, S, |_| true).await;
    assert_eq!(read.callback_resolution, done.callback_resolution);
}

#[tokio::test]
async fn resolving_a_call_back_checks_its_input_and_its_order() {
    let city = TestCity::start_with(quick_give_up()).await;
    let mut dispatch = city.dispatch();
    let ask = |order: &str, operator: &str, outcome: &str| pb::ResolveCallbackRequest {
        order_id: order.into(),
        operator_id: operator.into(),
        outcome: outcome.into(),
        call_id: String::new(),
    };
    assert_status(
        dispatch
            .resolve_callback(ask("O404", SUPERVISOR, "called"))
            .await,
        Code::NotFound,
        "O404",
    );
    // A cancelled order was never given up: there is no call-back to resolve.
    let cancelled = book_at(&city, "13800000063", north_of_centre(0.0)).await;
    city.hotline()
        .cancel_order(pb::CancelOrderRequest {
            order_id: cancelled.order_id.clone(),
            cancelled_by: pb::CancelledBy::Passenger as i32,
            reason: "不去了".into(),
            operator_id: String::new(),
        })
        .await
        .unwrap();
    assert_status(
        dispatch
            .resolve_callback(ask(&cancelled.order_id, SUPERVISOR, "called"))
            .await,
        Code::FailedPrecondition,
        "no call-back",
    );
    let gone = unfulfilled(&city, "13800000064").await;
    for (req, field) in [
        (ask(&gone.order_id, SUPERVISOR, ""), "outcome"),
        (
            ask(&gone.order_id, SUPERVISOR, &"长".repeat(501)),
            "outcome",
        ),
        (ask(&gone.order_id, SUPERVISOR, "ok\u{202E}"), "outcome"),
        (ask("", SUPERVISOR, "called"), "order_id"),
    ] {
        assert_status(
            dispatch.resolve_callback(req).await,
            Code::InvalidArgument,
            field,
        );
    }
    // Who resolves is the credential: a request naming another operator is refused.
    assert_status(
        dispatch
            .resolve_callback(ask(&gone.order_id, "someone-else", "called"))
            .await,
        Code::PermissionDenied,
        "operator_id",
    );
    assert_eq!(
        callbacks(&city).await.len(),
        1,
        "a refused resolution stores nothing"
    );
    assert_eq!(audited(&city, AuditKind::CallbackResolved).await, 0);
}

async fn long_press(city: &TestCity, device: &str) -> pb::Alert {
    let (_, _, mut onekey) = provision_device(
        city,
        pb::RegisterDeviceRequest {
            device_id: device.into(),
            owner_phone: "13512345678".into(),
            owner_name: "陈爷爷".into(),
            home: Some(place(north_of_centre(800.0), "渝中区枇杷山正街12号")),
            ..Default::default()
        },
    )
    .await;
    onekey
        .press_button(pb::PressButtonRequest {
            press: pb::PressType::Long as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .alert
        .expect("alert")
}

#[tokio::test]
async fn an_operator_resolves_an_alert_open_or_acknowledged() {
    let city = TestCity::start().await;
    let open = long_press(&city, "dev-r1").await;
    let taken = long_press(&city, "dev-r2").await;
    let mut hotline = city.hotline();
    hotline
        .acknowledge_alert(pb::AcknowledgeAlertRequest {
            alert_id: taken.alert_id.clone(),
            operator_id: SUPERVISOR.into(),
            note: "在处理".into(),
        })
        .await
        .unwrap();
    let resolve = |id: &str, outcome: &str| pb::ResolveAlertRequest {
        alert_id: id.into(),
        operator_id: SUPERVISOR.into(),
        outcome: outcome.into(),
    };
    for a in [&open, &taken] {
        let done = hotline
            .resolve_alert(resolve(&a.alert_id, "家属已到场，老人平安"))
            .await
            .unwrap()
            .into_inner()
            .alert
            .unwrap();
        assert_eq!(done.state, pb::AlertState::Resolved as i32);
        let r = done.resolution.clone().expect("resolution");
        assert_eq!(r.operator_id, SUPERVISOR);
        city.advance(S);
        let again = hotline
            .resolve_alert(resolve(&a.alert_id, "again"))
            .await
            .unwrap()
            .into_inner()
            .alert
            .unwrap();
        assert_eq!(again, done, "a retry answers the same");
        // Acknowledging a resolved alert changes nothing either.
        let acked = hotline
            .acknowledge_alert(pb::AcknowledgeAlertRequest {
                alert_id: a.alert_id.clone(),
                operator_id: SUPERVISOR.into(),
                note: "late".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .alert
            .unwrap();
        assert_eq!(acked.state, pb::AlertState::Resolved as i32);
        let read = hotline
            .get_alert(pb::GetAlertRequest {
                alert_id: a.alert_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .alert
            .unwrap();
        assert_eq!(read, done, "readable by id");
    }
    assert!(
        hotline
            .list_alerts(pb::ListAlertsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .alerts
            .is_empty(),
        "resolved alerts leave the open list"
    );
    assert_eq!(audited(&city, AuditKind::AlertResolved).await, 2);
    assert_status(
        hotline.resolve_alert(resolve("A404", "x")).await,
        Code::NotFound,
        "A404",
    );
    assert_status(
        hotline
            .get_alert(pb::GetAlertRequest {
                alert_id: "A404".into(),
            })
            .await,
        Code::NotFound,
        "A404",
    );
    let third = long_press(&city, "dev-r3").await;
    assert_status(
        hotline.resolve_alert(resolve(&third.alert_id, " ")).await,
        Code::InvalidArgument,
        "outcome",
    );
    let still = hotline
        .get_alert(pb::GetAlertRequest {
            alert_id: third.alert_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .alert
        .unwrap();
    assert_eq!(still.state, pb::AlertState::Open as i32, "nothing stored");
}

/// The KPIs' fulfilment and call-backs, older passengers against others (the console's
/// KPI page draws them): each order counts under its own kind only.
#[tokio::test]
async fn fulfilment_and_call_backs_are_counted_for_older_passengers_and_others_apart() {
    let city = TestCity::start_with(quick_give_up()).await;
    elderly_caller(&city, "13800000071").await;
    let older = unfulfilled(&city, "13800000071").await;
    assert!(older.elderly, "{older:?}");
    unfulfilled(&city, "13800000072").await;
    // Then a taxi: an ordinary passenger's order gets it.
    let mut taxi = driver_at(&city, "渝A07101", north_of_centre(200.0)).await;
    let order = book_at(&city, "13800000073", north_of_centre(0.0)).await;
    let offer = taxi.offer(3 * S).await;
    assert_eq!(offer.order_id, order.order_id);
    city.driver()
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: taxi.taxi_id.clone(),
            order_id: order.order_id.clone(),
        })
        .await
        .unwrap();
    let s = city
        .dispatch()
        .get_dispatch_stats(pb::GetDispatchStatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (s.unfulfilled, s.unfulfilled_elderly, s.unfulfilled_others),
        (2, 1, 1)
    );
    assert!((s.fulfilment_rate - 1.0 / 3.0).abs() < 1e-9, "{s:?}");
    assert!(s.fulfilment_rate_elderly.abs() < 1e-9, "{s:?}");
    assert!((s.fulfilment_rate_others - 0.5).abs() < 1e-9, "{s:?}");
}
