//! OneKeyService end to end: devices, presses (and their races), alerts, status, cancel.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_tests::*;
use tonic::Code;

const OWNER: &str = "13512345678";
const SECRET: &str = "s3cret-device-key-0001";

async fn device(city: &TestCity, id: &str) {
    city.onekey()
        .register_device(pb::RegisterDeviceRequest {
            device_id: id.into(),
            device_secret: SECRET.into(),
            owner_phone: OWNER.into(),
            owner_name: "陈爷爷".into(),
            home: Some(place(north_of_centre(800.0), "渝中区枇杷山正街12号")),
        })
        .await
        .expect("register device");
}

fn press(id: &str, kind: pb::PressType) -> pb::PressButtonRequest {
    pb::PressButtonRequest {
        device_id: id.into(),
        device_secret: SECRET.into(),
        press: kind as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_press_books_once_and_a_second_press_returns_the_same_order() {
    let city = TestCity::start().await;
    device(&city, "dev-1").await;
    let mut onekey = city.onekey();
    let first = onekey
        .press_button(press("dev-1", pb::PressType::Short))
        .await
        .unwrap()
        .into_inner();
    assert!(first.created);
    assert_eq!(first.speech, "已为您叫车，正在为您寻找附近的出租车");
    let order = first.order.unwrap();
    assert_eq!(order.channel, pb::Channel::OneKey as i32);
    assert!(order.elderly);
    assert_eq!(order.elderly_reason, pb::ElderlyReason::OneKeyDevice as i32);
    assert_eq!(order.device_id, "dev-1");
    assert_eq!(
        order.passenger_phone, "135****5678",
        "device replies mask phone numbers"
    );
    assert_eq!(
        order.pickup.unwrap().address,
        "渝中区枇杷山正街12号",
        "no position: the home point"
    );
    assert_eq!(order.payment, pb::PaymentMethod::Cash as i32);

    let second = onekey
        .press_button(press("dev-1", pb::PressType::Short))
        .await
        .unwrap()
        .into_inner();
    assert!(!second.created);
    assert_eq!(second.order.unwrap().order_id, order.order_id);
    assert_eq!(order_count(&city).await, 1);

    // The operators see the owner as an older person because of the device.
    let pop = city
        .hotline()
        .lookup_caller(pb::LookupCallerRequest {
            phone: OWNER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let caller = pop.caller.unwrap();
    assert!(caller.has_one_key_device && caller.elderly);
    assert_eq!(pop.active_order.unwrap().order_id, order.order_id);
}

#[tokio::test]
async fn twenty_concurrent_presses_make_one_order() {
    let city = TestCity::start().await;
    device(&city, "dev-2").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut onekey = city.onekey();
        tasks.push(tokio::spawn(async move {
            onekey
                .press_button(press("dev-2", pb::PressType::Short))
                .await
                .unwrap()
                .into_inner()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        ids.insert(r.order.unwrap().order_id);
        created += usize::from(r.created);
    }
    assert_eq!((ids.len(), created), (1, 1));
    assert_eq!(order_count(&city).await, 1);
    assert_eq!(waiting(&city).await, 1);
}

#[tokio::test]
async fn the_pickup_is_the_fresh_device_position_else_home() {
    let city = TestCity::start().await;
    device(&city, "dev-3").await;
    let mut onekey = city.onekey();
    let cancel = |o: &mut taxi_proto::v1::one_key_service_client::OneKeyServiceClient<Authed>| {
        let mut o = o.clone();
        async move {
            o.cancel_device_order(pb::CancelDeviceOrderRequest {
                device_id: "dev-3".into(),
                device_secret: SECRET.into(),
            })
            .await
            .unwrap()
            .into_inner()
        }
    };
    let mut fresh = press("dev-3", pb::PressType::Short);
    fresh.position = Some(north_of_centre(100.0));
    let o = onekey
        .press_button(fresh)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let p = o.pickup.unwrap();
    assert!((p.location.unwrap().latitude - north_of_centre(100.0).latitude).abs() < 1e-9);
    assert!(p.address.contains("设备"));
    let cancelled = cancel(&mut onekey).await;
    assert_eq!(cancelled.speech, "订单已取消");

    let mut stale = press("dev-3", pb::PressType::Short);
    stale.position = Some(north_of_centre(100.0));
    stale.position_time = Some(taxi_proto::Timestamp {
        seconds: city.now_ms() / 1000 - 600,
        nanos: 0,
    });
    let o = onekey
        .press_button(stale)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        o.pickup.unwrap().address,
        "渝中区枇杷山正街12号",
        "a stale fix falls back to home"
    );
    cancel(&mut onekey).await;

    // A device clock an hour fast: its fix is not used, and the press still books.
    let mut ahead = press("dev-3", pb::PressType::Short);
    ahead.position = Some(north_of_centre(100.0));
    ahead.position_time = Some(taxi_proto::Timestamp {
        seconds: city.now_ms() / 1000 + 3600,
        nanos: 0,
    });
    let o = onekey
        .press_button(ahead)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        o.pickup.unwrap().address,
        "渝中区枇杷山正街12号",
        "a fix from the future falls back to home"
    );
    cancel(&mut onekey).await;

    let mut far = press("dev-3", pb::PressType::Short);
    far.position = Some(wgs(39.9, 116.4));
    let o = onekey
        .press_button(far)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        o.pickup.unwrap().address,
        "渝中区枇杷山正街12号",
        "outside the area falls back to home"
    );
    cancel(&mut onekey).await;

    let mut broken = press("dev-3", pb::PressType::Short);
    broken.position = Some(wgs(f64::NAN, 106.5));
    assert_status(
        onekey.press_button(broken).await,
        Code::InvalidArgument,
        "position.latitude",
    );
}

#[tokio::test]
async fn a_device_that_does_not_prove_itself_books_nothing() {
    let city = TestCity::start().await;
    device(&city, "dev-4").await;
    let mut onekey = city.onekey();
    let mut wrong = press("dev-4", pb::PressType::Short);
    wrong.device_secret = "not-the-secret-at-all".into();
    assert_status(
        onekey.press_button(wrong).await,
        Code::Unauthenticated,
        "not recognised",
    );
    assert_status(
        onekey
            .press_button(press("dev-404", pb::PressType::Short))
            .await,
        Code::Unauthenticated,
        "not recognised",
    );
    assert_status(
        onekey
            .get_device_status(pb::GetDeviceStatusRequest {
                device_id: "dev-4".into(),
                device_secret: "x".into(),
            })
            .await,
        Code::Unauthenticated,
        "not recognised",
    );
    assert_eq!(order_count(&city).await, 0);
    assert_status(
        onekey
            .press_button(press("dev-4", pb::PressType::Unspecified))
            .await,
        Code::InvalidArgument,
        "press",
    );
}

#[tokio::test]
async fn an_emergency_is_recorded_where_the_person_is_not_at_home() {
    let city = TestCity::start().await;
    device(&city, "dev-sos").await;
    device(&city, "dev-home").await;
    let mut onekey = city.onekey();
    // A fix twenty minutes old and outside the service area: no use for a taxi, but it
    // is where the person last was.
    let taken_ms = city.now_ms() - 20 * 60 * 1000;
    let far = wgs(30.2, 107.5);
    let mut sos = press("dev-sos", pb::PressType::Long);
    sos.position = Some(far);
    sos.position_time = Some(taxi_proto::Timestamp {
        seconds: taken_ms.div_euclid(1000),
        nanos: (taken_ms.rem_euclid(1000) * 1_000_000) as i32,
    });
    let alert = onekey
        .press_button(sos)
        .await
        .unwrap()
        .into_inner()
        .alert
        .unwrap();
    let at = alert.location.as_ref().unwrap().location.as_ref().unwrap();
    assert!((at.latitude - 30.2).abs() < 1e-9 && (at.longitude - 107.5).abs() < 1e-9);
    assert_eq!(alert.location_source, pb::LocationSource::DeviceFix as i32);
    let time = alert.location_time.unwrap();
    assert_eq!(
        time.seconds * 1000 + i64::from(time.nanos) / 1_000_000,
        taken_ms
    );

    // A device that never sent a fix: its home, saying so.
    let home = onekey
        .press_button(press("dev-home", pb::PressType::Long))
        .await
        .unwrap()
        .into_inner()
        .alert
        .unwrap();
    assert_eq!(home.location_source, pb::LocationSource::Home as i32);
    assert!(home.location_time.is_none());
    assert_eq!(home.location.unwrap().address, "渝中区枇杷山正街12号");

    // A later long press without a position uses the last fix the device sent.
    city.hotline()
        .acknowledge_alert(pb::AcknowledgeAlertRequest {
            alert_id: alert.alert_id.clone(),
            operator_id: SUPERVISOR.into(),
            note: "called back".into(),
        })
        .await
        .unwrap();
    let again = onekey
        .press_button(press("dev-sos", pb::PressType::Long))
        .await
        .unwrap()
        .into_inner()
        .alert
        .unwrap();
    assert_ne!(again.alert_id, alert.alert_id);
    assert_eq!(again.location_source, pb::LocationSource::DeviceFix as i32);
    let at = again.location.unwrap().location.unwrap();
    assert!((at.latitude - 30.2).abs() < 1e-9);
}

#[tokio::test]
async fn a_long_press_raises_an_alert_for_operators_and_care_contacts() {
    let city = TestCity::start().await;
    device(&city, "dev-5").await;
    city.hotline()
        .upsert_caller(pb::UpsertCallerRequest {
            caller: Some(pb::CallerProfile {
                phone: OWNER.into(),
                name: "陈爷爷".into(),
                care_contacts: vec!["13900001111".into(), "023-63001234".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let mut onekey = city.onekey();
    let r = onekey
        .press_button(press("dev-5", pb::PressType::Long))
        .await
        .unwrap()
        .into_inner();
    assert!(r.order.is_none(), "a long press books no taxi");
    assert_eq!(r.speech, "已为您呼叫客服和家人，请保持电话畅通");
    let alert = r.alert.unwrap();
    assert_eq!(alert.caller_phone, "135****5678");
    assert_eq!(order_count(&city).await, 0);
    // Pressing long again at once does not raise a second alert.
    let again = onekey
        .press_button(press("dev-5", pb::PressType::Long))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.alert.unwrap().alert_id, alert.alert_id);
    assert!(!again.created);

    let mut hotline = city.hotline();
    let open = hotline
        .list_alerts(pb::ListAlertsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].caller_phone, OWNER,
        "operators see the whole number"
    );
    assert_eq!(open[0].care_contacts, vec!["13900001111", "023-63001234"]);
    assert_eq!(
        open[0].location.as_ref().unwrap().address,
        "渝中区枇杷山正街12号"
    );

    // Recorded for each care contact.
    assert_eq!(city.store.notification_count().await.unwrap(), 2);

    let acked = hotline
        .acknowledge_alert(pb::AcknowledgeAlertRequest {
            alert_id: alert.alert_id.clone(),
            operator_id: SUPERVISOR.into(),
            note: "已联系家属".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .alert
        .unwrap();
    assert!(acked.acknowledged);
    assert_eq!(acked.acknowledged_by, SUPERVISOR);
    assert!(
        hotline
            .list_alerts(pb::ListAlertsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .alerts
            .is_empty()
    );
    let all = hotline
        .list_alerts(pb::ListAlertsRequest {
            include_acknowledged: true,
            limit: 10,
        })
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert_eq!(all.len(), 1);
    assert_status(
        hotline
            .acknowledge_alert(pb::AcknowledgeAlertRequest {
                alert_id: "A99".into(),
                operator_id: SUPERVISOR.into(),
                note: String::new(),
            })
            .await,
        Code::NotFound,
        "A99",
    );
    assert_status(
        hotline
            .acknowledge_alert(pb::AcknowledgeAlertRequest {
                alert_id: alert.alert_id,
                operator_id: "someone-else".into(),
                note: String::new(),
            })
            .await,
        Code::PermissionDenied,
        "operator_id",
    );
}

#[tokio::test]
async fn status_and_cancel_from_the_device() {
    let city = TestCity::start().await;
    device(&city, "dev-6").await;
    let mut onekey = city.onekey();
    let status = || pb::GetDeviceStatusRequest {
        device_id: "dev-6".into(),
        device_secret: SECRET.into(),
    };
    let idle = onekey
        .get_device_status(status())
        .await
        .unwrap()
        .into_inner();
    assert!(idle.order.is_none());
    assert!(idle.speech.contains("没有进行中的订单"));
    assert_status(
        onekey
            .cancel_device_order(pb::CancelDeviceOrderRequest {
                device_id: "dev-6".into(),
                device_secret: SECRET.into(),
            })
            .await,
        Code::FailedPrecondition,
        "no active order",
    );

    let o = onekey
        .press_button(press("dev-6", pb::PressType::Short))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let s = onekey
        .get_device_status(status())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.order.unwrap().order_id, o.order_id);
    assert_eq!(s.speech, "已为您叫车，正在为您寻找附近的出租车");

    let c = onekey
        .cancel_device_order(pb::CancelDeviceOrderRequest {
            device_id: "dev-6".into(),
            device_secret: SECRET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let co = c.order.unwrap();
    assert_eq!(co.status, pb::OrderStatus::Cancelled as i32);
    assert_eq!(co.cancelled_by, pb::CancelledBy::Device as i32);
    assert_eq!(waiting(&city).await, 0);
    // The device still tells about the order it just cancelled.
    let after = onekey
        .get_device_status(status())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.speech, "订单已取消");
    // A new press after cancelling books a new taxi.
    let again = onekey
        .press_button(press("dev-6", pb::PressType::Short))
        .await
        .unwrap()
        .into_inner();
    assert!(again.created);
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test]
async fn bad_device_registrations() {
    let city = TestCity::start().await;
    device(&city, "dev-7").await;
    let mut onekey = city.onekey();
    let ok = || pb::RegisterDeviceRequest {
        device_id: "dev-8".into(),
        device_secret: SECRET.into(),
        owner_phone: "13600001234".into(),
        owner_name: "王奶奶".into(),
        home: Some(place(north_of_centre(0.0), "解放碑")),
    };
    let cases: Vec<(pb::RegisterDeviceRequest, Code, &str)> = vec![
        (
            pb::RegisterDeviceRequest {
                device_id: String::new(),
                ..ok()
            },
            Code::InvalidArgument,
            "device_id",
        ),
        (
            pb::RegisterDeviceRequest {
                device_secret: "short".into(),
                ..ok()
            },
            Code::InvalidArgument,
            "device_secret",
        ),
        (
            pb::RegisterDeviceRequest {
                owner_phone: "99".into(),
                ..ok()
            },
            Code::InvalidArgument,
            "owner_phone",
        ),
        (
            pb::RegisterDeviceRequest { home: None, ..ok() },
            Code::InvalidArgument,
            "home",
        ),
        (
            pb::RegisterDeviceRequest {
                home: Some(place(wgs(31.2, 121.5), "上海")),
                ..ok()
            },
            Code::InvalidArgument,
            "home.location",
        ),
        (
            pb::RegisterDeviceRequest {
                device_id: "dev-7".into(),
                ..ok()
            },
            Code::AlreadyExists,
            "another caller",
        ),
    ];
    for (req, code, needle) in cases {
        assert_status(onekey.register_device(req).await, code, needle);
    }
    let looked = city
        .hotline()
        .lookup_caller(pb::LookupCallerRequest {
            phone: "13600001234".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!looked.known, "a refused registration made a caller");
}

#[tokio::test]
async fn an_owner_over_sixty_by_resident_id_is_tagged_by_age() {
    let city = TestCity::start().await;
    caller_with_home(&city, OWNER, Some("19450808")).await;
    device(&city, "dev-9").await;
    let o = city
        .onekey()
        .press_button(press("dev-9", pb::PressType::Short))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(o.elderly_reason, pb::ElderlyReason::ResidentIdAge as i32);
}
