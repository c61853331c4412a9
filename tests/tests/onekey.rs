//! OneKeyService end to end: devices, presses (and their races), alerts, status, cancel;
//! provisioning, devices acting only for themselves, login without an oracle, press limits
//! and the takeovers of issue 11.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_proto::v1::one_key_service_client::OneKeyServiceClient;
use taxi_tests::*;
use tonic::Code;

const OWNER: &str = "13512345678";
const HOME: &str = "渝中区枇杷山正街12号";

type Device = OneKeyServiceClient<Authed>;

/// A device of `OWNER` with id `id`, logged in as itself.
async fn device(city: &TestCity, id: &str) -> Device {
    device_of(city, id, OWNER).await.2
}

/// A device of `owner` with id `id`: (id, secret, client).
async fn device_of(city: &TestCity, id: &str, owner: &str) -> (String, String, Device) {
    provision_device(
        city,
        pb::RegisterDeviceRequest {
            device_id: id.into(),
            owner_phone: owner.into(),
            owner_name: "陈爷爷".into(),
            home: Some(place(north_of_centre(800.0), HOME)),
            ..Default::default()
        },
    )
    .await
}

fn press(kind: pb::PressType) -> pb::PressButtonRequest {
    pb::PressButtonRequest {
        press: kind as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_press_books_once_and_a_second_press_returns_the_same_order() {
    let city = TestCity::start().await;
    let mut onekey = device(&city, "dev-1").await;
    assert_status(
        onekey
            .press_button(pb::PressButtonRequest {
                device_id: "dev-other".into(),
                ..press(pb::PressType::Short)
            })
            .await,
        Code::PermissionDenied,
        "device_id",
    );
    assert_eq!(order_count(&city).await, 0, "a refused press books nothing");
    let first = onekey
        .press_button(press(pb::PressType::Short))
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
        .press_button(press(pb::PressType::Short))
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
    let dev = device(&city, "dev-2").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut onekey = dev.clone();
        tasks.push(tokio::spawn(async move {
            onekey
                .press_button(press(pb::PressType::Short))
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
    let mut onekey = device(&city, "dev-3").await;
    let cancel = |o: &mut taxi_proto::v1::one_key_service_client::OneKeyServiceClient<Authed>| {
        let mut o = o.clone();
        async move {
            o.cancel_device_order(pb::CancelDeviceOrderRequest::default())
                .await
                .unwrap()
                .into_inner()
        }
    };
    let mut fresh = press(pb::PressType::Short);
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

    let mut stale = press(pb::PressType::Short);
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
    let mut ahead = press(pb::PressType::Short);
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

    let mut far = press(pb::PressType::Short);
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

    let mut broken = press(pb::PressType::Short);
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
    let (id, _, mut onekey) = device_of(&city, "dev-4", OWNER).await;
    // No token, a staff token, another's claimed id: nothing is pressed.
    let mut anonymous = OneKeyServiceClient::new(city.channel());
    assert_status(
        anonymous.press_button(press(pb::PressType::Short)).await,
        Code::Unauthenticated,
        "credential",
    );
    assert_status(
        city.onekey()
            .press_button(press(pb::PressType::Short))
            .await,
        Code::PermissionDenied,
        "PressButton",
    );
    for other in ["dev-404", "dev-5"] {
        assert_status(
            onekey
                .get_device_status(pb::GetDeviceStatusRequest {
                    device_id: other.into(),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
            "device_id",
        );
    }
    // Naming itself is fine; the old secret field is ignored.
    onekey
        .get_device_status(pb::GetDeviceStatusRequest {
            device_id: id,
            device_secret: "whatever the device still sends".into(),
        })
        .await
        .unwrap();
    assert_eq!(order_count(&city).await, 0);
    assert_status(
        onekey.press_button(press(pb::PressType::Unspecified)).await,
        Code::InvalidArgument,
        "press",
    );
}

#[tokio::test]
async fn an_emergency_is_recorded_where_the_person_is_not_at_home() {
    let city = TestCity::start().await;
    let mut onekey = device(&city, "dev-sos").await;
    let mut home_device = device(&city, "dev-home").await;
    // A fix twenty minutes old and outside the service area: no use for a taxi, but it
    // is where the person last was.
    let taken_ms = city.now_ms() - 20 * 60 * 1000;
    let far = wgs(30.2, 107.5);
    let mut sos = press(pb::PressType::Long);
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
    let home = home_device
        .press_button(press(pb::PressType::Long))
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
        .press_button(press(pb::PressType::Long))
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
    let mut onekey = device(&city, "dev-5").await;
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
    let r = onekey
        .press_button(press(pb::PressType::Long))
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
        .press_button(press(pb::PressType::Long))
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
    let mut onekey = device(&city, "dev-6").await;
    let status = pb::GetDeviceStatusRequest::default;
    let idle = onekey
        .get_device_status(status())
        .await
        .unwrap()
        .into_inner();
    assert!(idle.order.is_none());
    assert!(idle.speech.contains("没有进行中的订单"));
    assert_status(
        onekey
            .cancel_device_order(pb::CancelDeviceOrderRequest::default())
            .await,
        Code::FailedPrecondition,
        "no active order",
    );

    let o = onekey
        .press_button(press(pb::PressType::Short))
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
        .cancel_device_order(pb::CancelDeviceOrderRequest::default())
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
        .press_button(press(pb::PressType::Short))
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
        owner_phone: "13600001234".into(),
        owner_name: "王奶奶".into(),
        home: Some(place(north_of_centre(0.0), "解放碑")),
        ..Default::default()
    };
    let cases: Vec<(pb::RegisterDeviceRequest, Code, &str)> = vec![
        (
            pb::RegisterDeviceRequest {
                device_id: "has a space".into(),
                ..ok()
            },
            Code::InvalidArgument,
            "device_id",
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
    let o = device(&city, "dev-9")
        .await
        .press_button(press(pb::PressType::Short))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(o.elderly_reason, pb::ElderlyReason::ResidentIdAge as i32);
}

/// A person's account of `role`, logged in: its access token.
async fn staff(city: &TestCity, name: &str, role: pb::Role) -> String {
    city.access()
        .create_account(pb::CreateAccountRequest {
            username: name.into(),
            password: "another long password".into(),
            role: role as i32,
            display_name: name.into(),
        })
        .await
        .expect("create account");
    login_password(city.channel(), name, "another long password")
        .await
        .expect("login")
        .tokens
        .expect("tokens")
        .access_token
}

fn registration(id: &str, owner: &str, address: &str) -> pb::RegisterDeviceRequest {
    pb::RegisterDeviceRequest {
        device_id: id.into(),
        owner_phone: owner.into(),
        owner_name: "陈爷爷".into(),
        home: Some(place(north_of_centre(300.0), address)),
        ..Default::default()
    }
}

async fn device_login_result(
    city: &TestCity,
    id: &str,
    secret: &str,
) -> Result<pb::LoginResponse, tonic::Status> {
    city.auth()
        .login(pb::LoginRequest {
            credential: Some(pb::login_request::Credential::Key(pb::KeyCredential {
                kind: pb::KeyKind::Device as i32,
                id: id.into(),
                secret: secret.into(),
            })),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Polls until `device`'s calls are refused as UNAUTHENTICATED; panics after `within`.
async fn refused_within(device: &mut Device, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        match device
            .get_device_status(pb::GetDeviceStatusRequest::default())
            .await
        {
            Err(s) if s.code() == Code::Unauthenticated => return,
            other => assert!(
                std::time::Instant::now() < deadline,
                "still answered after {within:?}: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn staff_provision_devices_with_ids_and_secrets_the_server_makes() {
    let city = TestCity::start().await;
    // The server makes an unguessable id and a secret, shown once.
    let r = city
        .onekey()
        .register_device(registration("", OWNER, HOME))
        .await
        .unwrap()
        .into_inner();
    let id = r.device.unwrap().device_id;
    assert!(id.starts_with('D') && id.len() == 27, "{id}");
    assert_eq!(r.device_secret.len(), 32);
    let stored = city.store.get_device(&id).await.unwrap().unwrap();
    assert_ne!(stored.secret_hash, r.device_secret, "only a hash is kept");
    let mut old = device_login(&city, &id, &r.device_secret).await;

    // A fleet admin and an operator provision too; services and devices do not.
    for (name, role) in [
        ("fleet-li", pb::Role::FleetAdmin),
        ("op-wang", pb::Role::Operator),
    ] {
        let token = staff(&city, name, role).await;
        OneKeyServiceClient::new(city.as_token(&token))
            .register_device(registration("", "13600000001", "解放碑"))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for channel in [city.as_gateway(), city.as_phone_switch()] {
        assert_status(
            OneKeyServiceClient::new(channel)
                .register_device(registration("dev-svc", "13600000002", "解放碑"))
                .await,
            Code::PermissionDenied,
            "RegisterDevice",
        );
    }
    assert!(city.store.get_device("dev-svc").await.unwrap().is_none());

    // Staff re-register (a new home): the secret stays unless asked, so the button
    // keeps working.
    let again = city
        .onekey()
        .register_device(registration(&id, OWNER, "新家"))
        .await
        .unwrap()
        .into_inner();
    assert!(again.device_secret.is_empty(), "no new secret, none shown");
    assert_eq!(again.device.unwrap().home.unwrap().address, "新家");
    old.get_device_status(pb::GetDeviceStatusRequest::default())
        .await
        .expect("the device's token still works");
    device_login_result(&city, &id, &r.device_secret)
        .await
        .expect("the secret still works");

    // Asked to rotate: a new secret, the old one and the sessions opened with it end.
    let rotated = city
        .onekey()
        .register_device(pb::RegisterDeviceRequest {
            rotate_secret: true,
            ..registration(&id, OWNER, "新家")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.device_secret.len(), 32);
    assert_ne!(rotated.device_secret, r.device_secret);
    assert_status(
        device_login_result(&city, &id, &r.device_secret).await,
        Code::Unauthenticated,
        "wrong id or secret",
    );
    refused_within(&mut old, Duration::from_secs(2)).await;

    // The device re-registers itself (its id may be left out) and may rotate its secret.
    let mut me = device_login(&city, &id, &rotated.device_secret).await;
    let mine = me
        .register_device(pb::RegisterDeviceRequest {
            rotate_secret: true,
            ..registration("", OWNER, "女儿家")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.device.unwrap().device_id, id);
    let d = city.store.get_device(&id).await.unwrap().unwrap();
    assert_eq!(d.home.address, "女儿家");
    device_login(&city, &id, &mine.device_secret).await;
}

#[tokio::test]
async fn a_stranger_cannot_re_register_someones_device_and_the_button_keeps_working() {
    let city = TestCity::start().await;
    let (id, secret, mut real) = device_of(&city, "dev-gran", OWNER).await;
    let (_, _, mut stranger) = device_of(&city, "dev-stranger", "13766665555").await;
    let before = city.store.get_device(&id).await.unwrap().unwrap();
    let owner_before = city.store.get_caller(OWNER).await.unwrap();
    let takeover = || pb::RegisterDeviceRequest {
        rotate_secret: true,
        ..registration(&id, OWNER, "骗子的地址")
    };

    // No credential.
    assert_status(
        OneKeyServiceClient::new(city.channel())
            .register_device(takeover())
            .await,
        Code::Unauthenticated,
        "credential",
    );
    // Another device's token: denied, and told no more about a registered id than about
    // an unknown one (no ALREADY_EXISTS).
    let registered = stranger.register_device(takeover()).await.unwrap_err();
    let unknown = stranger
        .register_device(registration("dev-nobody", OWNER, "x"))
        .await
        .unwrap_err();
    assert_eq!(registered.code(), Code::PermissionDenied);
    assert!(registered.message().starts_with("device_id:"));
    assert_eq!(
        (registered.code(), registered.message()),
        (unknown.code(), unknown.message())
    );

    // Nothing changed: the device, its owner, and the real button still books.
    assert_eq!(city.store.get_device(&id).await.unwrap().unwrap(), before);
    assert!(city.store.get_device("dev-nobody").await.unwrap().is_none());
    assert_eq!(city.store.get_caller(OWNER).await.unwrap(), owner_before);
    device_login_result(&city, &id, &secret)
        .await
        .expect("the owner's secret still works");
    let r = real
        .press_button(press(pb::PressType::Short))
        .await
        .expect("the real button still works")
        .into_inner();
    assert!(r.created);
    assert_eq!(r.order.unwrap().pickup.unwrap().address, HOME);
}

#[tokio::test]
async fn a_strangers_device_cannot_read_or_cancel_anothers_order_nor_raise_their_alert() {
    let city = TestCity::start().await;
    // An older person with a care contact, an operator-booked order and a device.
    caller_with_home(&city, OWNER, Some("19450808")).await;
    let order = city
        .hotline()
        .create_booking(booking_from_home(OWNER))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    device_of(&city, "dev-gran", OWNER).await;
    // A stranger's device, registered by an operator to the stranger's own phone.
    let (stranger_id, stranger_secret, mut stranger) =
        device_of(&city, "dev-stranger", "13766665555").await;
    let get = || async {
        city.hotline()
            .get_order(pb::GetOrderRequest {
                order_id: order.order_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
    };
    let before = get().await;
    let caller_before = city.store.get_caller(OWNER).await.unwrap();

    // Its own status knows nothing of the order; there is nothing of its own to cancel.
    let status = stranger
        .get_device_status(pb::GetDeviceStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(status.order.is_none());
    assert_status(
        stranger
            .cancel_device_order(pb::CancelDeviceOrderRequest::default())
            .await,
        Code::FailedPrecondition,
        "no active order",
    );
    // Acting as the older person's device is refused.
    let as_gran = || "dev-gran".to_string();
    assert_status(
        stranger
            .get_device_status(pb::GetDeviceStatusRequest {
                device_id: as_gran(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "device_id",
    );
    assert_status(
        stranger
            .cancel_device_order(pb::CancelDeviceOrderRequest {
                device_id: as_gran(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "device_id",
    );
    assert_status(
        stranger
            .press_button(pb::PressButtonRequest {
                device_id: as_gran(),
                ..press(pb::PressType::Long)
            })
            .await,
        Code::PermissionDenied,
        "device_id",
    );
    // The call centre's order calls are not a device's.
    let token = login_key(
        city.channel(),
        pb::KeyKind::Device,
        &stranger_id,
        &stranger_secret,
    )
    .await;
    let mut hotline =
        taxi_proto::v1::hotline_service_client::HotlineServiceClient::new(city.as_token(&token));
    assert_status(
        hotline
            .get_order(pb::GetOrderRequest {
                order_id: order.order_id.clone(),
            })
            .await,
        Code::PermissionDenied,
        "GetOrder",
    );
    assert_status(
        hotline
            .cancel_order(pb::CancelOrderRequest {
                order_id: order.order_id.clone(),
                reason: "不要了".into(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "CancelOrder",
    );
    // Its long press is its own owner's emergency, nobody else's.
    let alert = stranger
        .press_button(press(pb::PressType::Long))
        .await
        .unwrap()
        .into_inner()
        .alert
        .unwrap();
    assert_eq!(alert.caller_phone, "137****5555");
    assert_eq!(
        city.store.notification_count().await.unwrap(),
        0,
        "the older person's care contact was not called"
    );

    // The older person's order and profile are as they were.
    // (Dispatch's own attempts touch the update time only.)
    let standing = |o: pb::Order| pb::Order {
        update_time: None,
        ..o
    };
    assert_eq!(standing(get().await), standing(before.clone()));
    assert_eq!(before.status, pb::OrderStatus::Pending as i32);
    assert_eq!(city.store.get_caller(OWNER).await.unwrap(), caller_before);
}

#[tokio::test]
async fn presses_are_limited_per_device_and_a_refused_press_stores_nothing() {
    let mut config = taxi_server::ServerConfig {
        auth: harness_auth(),
        ..Default::default()
    };
    config.auth.rates.press = taxi_auth::limits::Rate {
        burst: 3,
        per: Duration::from_secs(600),
    };
    let city = TestCity::start_with(config).await;
    let mut onekey = device(&city, "dev-busy").await;
    let mut other = device(&city, "dev-calm").await;
    let at = |m: f64| pb::PressButtonRequest {
        position: Some(north_of_centre(m)),
        ..press(pb::PressType::Short)
    };
    for i in 0..3 {
        onekey
            .press_button(at(100.0 + f64::from(i)))
            .await
            .unwrap_or_else(|e| panic!("press {i}: {e}"));
    }
    let before = city.store.get_device("dev-busy").await.unwrap().unwrap();
    let orders = order_count(&city).await;
    let refused = onekey.press_button(at(900.0)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let wait: u64 = refused
        .metadata()
        .get("retry-after-ms")
        .expect("a retry hint")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 600_000, "{wait}");
    // Nothing stored: no order, and the device's remembered fix is the third press's.
    assert_eq!(
        city.store.get_device("dev-busy").await.unwrap().unwrap(),
        before
    );
    assert_eq!(order_count(&city).await, orders);
    // Per device: another device presses on.
    other
        .press_button(press(pb::PressType::Long))
        .await
        .unwrap();
}

#[tokio::test]
async fn device_login_has_no_oracle_for_which_ids_exist() {
    let city = TestCity::start().await;
    let (id, _, _) = device_of(&city, "dev-real", OWNER).await;
    let wrong = "0123456789abcdef0123456789abcdef";
    let unknown_answer = device_login_result(&city, "dev-unknown", wrong)
        .await
        .unwrap_err();
    let wrong_answer = device_login_result(&city, &id, wrong).await.unwrap_err();
    assert_eq!(unknown_answer.code(), Code::Unauthenticated);
    assert_eq!(
        (unknown_answer.code(), unknown_answer.message()),
        (wrong_answer.code(), wrong_answer.message())
    );

    // About the same time: medians of 50 interleaved tries each, within a generous factor
    // (both paths read the store once and hash once; a real oracle, such as hashing only
    // for known ids or a second read, would show as a steady gap).
    let mut unknown_ms = Vec::new();
    let mut wrong_ms = Vec::new();
    for i in 0..50 {
        let t = std::time::Instant::now();
        let _ = device_login_result(&city, &format!("dev-unknown-{i}"), wrong).await;
        unknown_ms.push(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        let _ = device_login_result(&city, &id, wrong).await;
        wrong_ms.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (u, w) = (median(&mut unknown_ms), median(&mut wrong_ms));
    let ratio = u.max(w) / u.min(w);
    assert!(
        ratio < 3.0,
        "unknown id {u:.6}s vs wrong secret {w:.6}s (ratio {ratio:.2})"
    );
}
