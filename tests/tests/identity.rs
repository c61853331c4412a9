//! Identity and access from outside: every RPC needs a credential, who acts is the
//! credential (never a request field), operators log in, lock out and log out, one city's
//! operator cannot touch another's, limits answer with a retry hint, and every person's
//! write lands in the audit log.

use prost::Message;
use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_proto::v1::access_service_client::AccessServiceClient;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_server::ServerConfig;
use taxi_tests::*;
use tonic::Code;

/// Every RPC of the API, from the descriptors.
fn every_rpc() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(taxi_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut out = Vec::new();
    for file in set.file {
        for service in &file.service {
            for method in &service.method {
                out.push(format!(
                    "/{}.{}/{}",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    out
}

/// Calls `path` with an empty message and `token` (if any); the status it answered.
async fn raw_call(
    channel: tonic::transport::Channel,
    path: &str,
    token: Option<&str>,
) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let mut req = tonic::Request::new(());
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let path = http::uri::PathAndQuery::try_from(path).unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    match grpc.unary(req, path, codec).await {
        Ok(_) => tonic::Status::ok(""),
        Err(s) => s,
    }
}

const OPEN: &[&str] = &[
    "/taxi.v1.AuthService/Login",
    "/taxi.v1.AuthService/Refresh",
    "/taxi.v1.AuthService/EnrolTaxi",
    "/taxi.v1.AuthService/RedeemGrant",
];

#[tokio::test]
async fn every_rpc_without_a_credential_is_unauthenticated_except_logging_in() {
    let city = TestCity::start().await;
    let rpcs = every_rpc();
    assert!(rpcs.len() > 45, "{rpcs:?}");
    for path in &rpcs {
        let s = raw_call(city.channel(), path, None).await;
        if OPEN.contains(&path.as_str()) {
            assert!(
                !s.message().contains("missing credential"),
                "{path} should be open: {s:?}"
            );
        } else {
            assert_eq!(s.code(), Code::Unauthenticated, "{path}: {s:?}");
        }
    }
    // A forged or damaged token is no better than none.
    for bad in ["not-a-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        let s = raw_call(
            city.channel(),
            "/taxi.v1.DispatchService/GetDispatchStats",
            Some(bad),
        )
        .await;
        assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    }
    // Health stays open.
    let health = tonic_health::pb::health_client::HealthClient::new(city.channel())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await;
    assert!(health.is_ok(), "{health:?}");
}

#[tokio::test]
async fn reflection_can_be_switched_off() {
    let config = ServerConfig {
        reflection: false,
        ..Default::default()
    };
    let city = TestCity::start_with(config).await;
    let s = raw_call(
        city.channel(),
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        None,
    )
    .await;
    assert_eq!(s.code(), Code::Unimplemented, "{s:?}");
}

async fn operator_account(city: &TestCity, name: &str, role: pb::Role) -> String {
    let password = format!("{name} has a long password");
    city.access()
        .create_account(pb::CreateAccountRequest {
            username: name.into(),
            password: password.clone(),
            role: role as i32,
            display_name: name.into(),
        })
        .await
        .expect("account");
    password
}

/// The audit log as an auditor account `name` (made here) reads it through the RPC.
async fn audit_log(city: &TestCity, name: &str) -> Vec<pb::AuditEntry> {
    let pw = operator_account(city, name, pb::Role::Auditor).await;
    let auditor = login(city, name, &pw).await.tokens.unwrap().access_token;
    AccessServiceClient::new(city.as_token(&auditor))
        .list_audit_log(pb::ListAuditLogRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries
}

async fn login(city: &TestCity, name: &str, password: &str) -> pb::LoginResponse {
    login_password(city.channel(), name, password)
        .await
        .unwrap_or_else(|e| panic!("{name} logs in: {e}"))
}

#[tokio::test]
async fn a_stranger_cannot_replace_an_older_passengers_care_contact() {
    let city = TestCity::start().await;
    let phone = "13800001001";
    caller_with_home(&city, phone, Some("19400101")).await;
    let before = city
        .hotline()
        .lookup_caller(pb::LookupCallerRequest {
            phone: phone.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let attack = || pb::UpsertCallerRequest {
        caller: Some(pb::CallerProfile {
            phone: phone.into(),
            name: "张秀英".into(),
            care_contacts: vec!["13999999999".into()],
            elderly_flag: false,
            ..Default::default()
        }),
    };
    // No credential at all.
    let mut stranger = HotlineServiceClient::new(city.channel());
    assert_status(
        stranger.upsert_caller(attack()).await,
        Code::Unauthenticated,
        "credential",
    );
    // The wrong kinds of credential: the voice menu, the gateway, an auditor.
    let auditor_pw = operator_account(&city, "audit-1", pb::Role::Auditor).await;
    let auditor = login(&city, "audit-1", &auditor_pw)
        .await
        .tokens
        .unwrap()
        .access_token;
    for token in [
        city.principals.phone_switch.clone(),
        city.principals.gateway.clone(),
        auditor,
    ] {
        let mut h = HotlineServiceClient::new(city.as_token(&token));
        assert_status(
            h.upsert_caller(attack()).await,
            Code::PermissionDenied,
            "UpsertCaller",
        );
    }
    let after = city
        .hotline()
        .lookup_caller(pb::LookupCallerRequest {
            phone: phone.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.caller, after.caller, "nothing changed");
}

#[tokio::test]
async fn who_cancels_and_who_books_is_the_credential_and_the_audit_log_says_so() {
    let city = TestCity::start().await;
    let phone = "13800001002";
    caller_with_home(&city, phone, None).await;
    let pw = operator_account(&city, "li.na", pb::Role::Operator).await;
    let li = login(&city, "li.na", &pw)
        .await
        .tokens
        .unwrap()
        .access_token;
    let mut h = HotlineServiceClient::new(city.as_token(&li));

    // Booking in another operator's name is refused; in one's own (or none) it works.
    let mut forged = booking_from_home(phone);
    forged.operator_id = "wang.wei".into();
    assert_status(
        h.create_booking(forged).await,
        Code::PermissionDenied,
        "operator_id",
    );
    let mut booking = booking_from_home(phone);
    booking.operator_id = String::new();
    let order = h
        .create_booking(booking)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.operator_id, "li.na");

    // A forged `cancelled_by` (a driver, a device, the system) is refused, nothing changes.
    for forged in [
        pb::CancelledBy::Driver,
        pb::CancelledBy::Device,
        pb::CancelledBy::System,
    ] {
        assert_status(
            h.cancel_order(pb::CancelOrderRequest {
                order_id: order.order_id.clone(),
                cancelled_by: forged as i32,
                reason: "test".into(),
                operator_id: String::new(),
            })
            .await,
            Code::PermissionDenied,
            "cancelled_by",
        );
    }
    let still = city
        .hotline()
        .get_order(pb::GetOrderRequest {
            order_id: order.order_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(still.status, pb::OrderStatus::Pending as i32);
    let cancelled = h
        .cancel_order(pb::CancelOrderRequest {
            order_id: order.order_id.clone(),
            cancelled_by: 0,
            reason: "乘客改主意".into(),
            operator_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(cancelled.cancelled_by, pb::CancelledBy::Operator as i32);

    // The audit log: who, what, on what, from where; an auditor reads it, an operator not.
    let log = audit_log(&city, "audit-2").await;
    let mine: Vec<_> = log.iter().filter(|e| e.actor == "operator:li.na").collect();
    let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["CreateBooking", "CancelOrder"], "{log:?}");
    assert!(mine.iter().all(|e| e.target == order.order_id));
    assert!(
        mine.iter().all(|e| e.from.starts_with("127.0.0.1:")),
        "{mine:?}"
    );
    assert!(
        log.iter().any(|e| e.actor == "supervisor:supervisor"
            && e.action == "CreateAccount"
            && e.target == "li.na"),
        "account changes are logged: {log:?}"
    );
    assert_status(
        AccessServiceClient::new(city.as_token(&li))
            .list_audit_log(pb::ListAuditLogRequest::default())
            .await,
        Code::PermissionDenied,
        "ListAuditLog",
    );
    assert!(city.store.oplog_verify().await.unwrap().is_intact());
}

#[tokio::test]
async fn operators_log_in_lock_out_refresh_and_log_out() {
    let city = TestCity::start().await;
    let pw = operator_account(&city, "zhao", pb::Role::Operator).await;

    // Unknown name and wrong password answer alike.
    let unknown = login_password(city.channel(), "nobody", &pw)
        .await
        .unwrap_err();
    let wrong = login_password(city.channel(), "zhao", "not the password")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert_eq!(
        (unknown.code(), unknown.message()),
        (wrong.code(), wrong.message())
    );

    // A session works, refreshes (rotating the refresh token), and ends at logout.
    let first = login(&city, "zhao", &pw).await;
    let tokens = first.tokens.unwrap();
    assert_eq!(first.principal.unwrap().role, pb::Role::Operator as i32);
    let mut auth = city.auth();
    let fresh = auth
        .refresh(pb::RefreshRequest {
            refresh_token: tokens.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    assert_status(
        auth.refresh(pb::RefreshRequest {
            refresh_token: tokens.refresh_token.clone(),
        })
        .await,
        Code::Unauthenticated,
        "refresh token",
    );
    let mut as_zhao =
        pb::auth_service_client::AuthServiceClient::new(city.as_token(&fresh.access_token));
    assert_eq!(
        as_zhao
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .unwrap()
            .into_inner()
            .principal
            .unwrap()
            .id,
        "zhao"
    );
    as_zhao.logout(pb::LogoutRequest {}).await.unwrap();
    assert_status(
        as_zhao.who_am_i(pb::WhoAmIRequest {}).await,
        Code::Unauthenticated,
        "revoked",
    );
    assert_status(
        auth.refresh(pb::RefreshRequest {
            refresh_token: fresh.refresh_token,
        })
        .await,
        Code::Unauthenticated,
        "refresh token",
    );

    // Five failures lock the account, even against the right password.
    for _ in 0..5 {
        let _ = login_password(city.channel(), "zhao", "still not it").await;
    }
    assert_status(
        login_password(city.channel(), "zhao", &pw).await,
        Code::Unauthenticated,
        "locked",
    );
    city.advance(Duration::from_secs(16 * 60));
    let again = login(&city, "zhao", &pw).await.tokens.unwrap();

    // A disabled account's tokens are refused at once and it cannot log in.
    city.access()
        .disable_account(pb::DisableAccountRequest {
            username: "zhao".into(),
        })
        .await
        .unwrap();
    let mut h = HotlineServiceClient::new(city.as_token(&again.access_token));
    assert_status(
        h.lookup_caller(pb::LookupCallerRequest {
            phone: "13800001003".into(),
        })
        .await,
        Code::Unauthenticated,
        "revoked",
    );
    assert_status(
        login_password(city.channel(), "zhao", &pw).await,
        Code::Unauthenticated,
        "wrong",
    );
}

#[tokio::test]
async fn access_tokens_expire_by_the_city_clock() {
    let mut config = ServerConfig {
        auth: harness_auth(),
        ..Default::default()
    };
    config.auth.access_ttl = Duration::from_secs(60);
    let city = TestCity::start_with(config).await;
    let pw = operator_account(&city, "qian", pb::Role::Operator).await;
    let t = login(&city, "qian", &pw).await.tokens.unwrap();
    let mut h = HotlineServiceClient::new(city.as_token(&t.access_token));
    let ask = || pb::LookupCallerRequest {
        phone: "13800001004".into(),
    };
    let first = h.lookup_caller(ask()).await;
    assert_ne!(
        first.map_err(|e| e.code()).err(),
        Some(Code::Unauthenticated)
    );
    city.advance(Duration::from_secs(61));
    assert_status(
        h.lookup_caller(ask()).await,
        Code::Unauthenticated,
        "expired",
    );
    let fresh = city
        .auth()
        .refresh(pb::RefreshRequest {
            refresh_token: t.refresh_token,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    let mut h = HotlineServiceClient::new(city.as_token(&fresh.access_token));
    assert_ne!(
        h.lookup_caller(ask()).await.map_err(|e| e.code()).err(),
        Some(Code::Unauthenticated)
    );
}

#[tokio::test]
async fn an_operator_of_one_city_cannot_touch_another() {
    let chongqing = TestCity::start().await;
    let url = chongqing.redis.url();
    let mut beijing_config = fast_config();
    beijing_config.settings.city = taxi_domain::geo::City::builtin("110100").unwrap();
    // The hardest case: both cities sign with one key (a deployment may configure one),
    // so only the token's city stops it. (With each city's own key, the signature does.)
    beijing_config.auth_key = Some(chongqing.store.auth_key().await.unwrap());
    let beijing = TestServer::start(&url, beijing_config, chongqing.clock.clone()).await;
    let bj_channel = connect(beijing.addr).await;
    let bj_store =
        taxi_store::Store::connect(taxi_store::StoreConfig::new(&url, "110100")).unwrap();
    let bj = principals(&bj_store, bj_channel.clone()).await;
    let bj_phone = "13800001005";
    let mut bj_hotline = HotlineServiceClient::new(bearer(bj_channel.clone(), &bj.supervisor));
    bj_hotline
        .upsert_caller(pb::UpsertCallerRequest {
            caller: Some(pb::CallerProfile {
                phone: bj_phone.into(),
                name: "北京乘客".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();

    // Chongqing's supervisor token at Beijing's server: refused, nothing read or written.
    let mut intruder =
        HotlineServiceClient::new(bearer(bj_channel, &chongqing.principals.supervisor));
    assert_status(
        intruder
            .lookup_caller(pb::LookupCallerRequest {
                phone: bj_phone.into(),
            })
            .await,
        Code::PermissionDenied,
        "city 500100",
    );
    assert_status(
        intruder
            .upsert_caller(pb::UpsertCallerRequest {
                caller: Some(pb::CallerProfile {
                    phone: bj_phone.into(),
                    name: "改名".into(),
                    ..Default::default()
                }),
            })
            .await,
        Code::PermissionDenied,
        "city 500100",
    );
    let still = bj_hotline
        .lookup_caller(pb::LookupCallerRequest {
            phone: bj_phone.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.caller.unwrap().name, "北京乘客");
    // And Chongqing's own account name means nothing in Beijing.
    assert_status(
        login_password(connect(beijing.addr).await, SUPERVISOR, "wrong for beijing").await,
        Code::Unauthenticated,
        "wrong",
    );
    beijing.stop().await;
}

#[tokio::test]
async fn bookings_over_the_limit_wait_with_a_retry_hint_and_store_nothing() {
    let mut config = ServerConfig {
        auth: harness_auth(),
        ..Default::default()
    };
    config.auth.rates.booking = taxi_auth::limits::Rate::per_minute(3, 1);
    let city = TestCity::start_with(config).await;
    let phone = "13800001006";
    caller_with_home(&city, phone, None).await;
    let pw = operator_account(&city, "sun", pb::Role::Operator).await;
    let sun = login(&city, "sun", &pw).await.tokens.unwrap().access_token;
    let mut h = HotlineServiceClient::new(city.as_token(&sun));
    for i in 0..3 {
        let mut b = booking_from_home(phone);
        b.operator_id = String::new();
        b.request_id = format!("r{i}");
        h.create_booking(b).await.expect("within the burst");
    }
    let before = order_count(&city).await;
    let mut b = booking_from_home(phone);
    b.operator_id = String::new();
    b.request_id = "r4".into();
    let err = h.create_booking(b).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let hint: u64 = err
        .metadata()
        .get("retry-after-ms")
        .expect("retry hint")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(hint > 1_000 && hint <= 60_000, "{hint}");
    assert_eq!(
        order_count(&city).await,
        before,
        "a refused booking stores nothing"
    );
    // Another operator is not held back by this one.
    let mut other = booking_from_home(phone);
    other.operator_id = String::new();
    other.request_id = "s1".into();
    city.hotline()
        .create_booking(other)
        .await
        .expect("the supervisor books");
}

/// A channel to `addr` whose connection comes from `from` (another loopback address:
/// another caller, for per-address limits).
async fn connect_from(addr: std::net::SocketAddr, from: [u8; 4]) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .local_address(Some(std::net::IpAddr::from(from)))
        .connect()
        .await
        .expect("connect from another loopback address")
}

fn retry_hint_ms(err: &tonic::Status) -> u64 {
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let ms: u64 = err
        .metadata()
        .get("retry-after-ms")
        .unwrap_or_else(|| panic!("a retry hint in {err:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(err.message().contains("try again in"), "{err:?}");
    ms
}

#[tokio::test]
async fn caller_writes_over_the_limit_wait_with_a_retry_hint_and_store_nothing() {
    let mut config = ServerConfig {
        auth: harness_auth(),
        ..Default::default()
    };
    config.auth.rates.caller_upsert = taxi_auth::limits::Rate::per_minute(2, 1);
    let city = TestCity::start_with(config).await;
    let pw = operator_account(&city, "zhou", pb::Role::Operator).await;
    let zhou = login(&city, "zhou", &pw).await.tokens.unwrap().access_token;
    let mut h = HotlineServiceClient::new(city.as_token(&zhou));
    let phone = "13800001007";
    let named = |name: &str| pb::UpsertCallerRequest {
        caller: Some(pb::CallerProfile {
            phone: phone.into(),
            name: name.into(),
            ..Default::default()
        }),
    };
    h.upsert_caller(named("周一"))
        .await
        .expect("within the burst");
    h.upsert_caller(named("周二"))
        .await
        .expect("within the burst");
    let err = h.upsert_caller(named("周三")).await.unwrap_err();
    let hint = retry_hint_ms(&err);
    assert!(hint > 1_000 && hint <= 60_000, "{hint}");
    let name = |city: &TestCity| {
        let mut h = city.hotline();
        async move {
            h.lookup_caller(pb::LookupCallerRequest {
                phone: phone.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .caller
            .unwrap()
            .name
        }
    };
    assert_eq!(name(&city).await, "周二", "a refused write stores nothing");
    // Another operator is not held back by this one.
    city.hotline()
        .upsert_caller(named("周四"))
        .await
        .expect("the supervisor writes");
    assert_eq!(name(&city).await, "周四");
}

#[tokio::test]
async fn logins_are_limited_per_account_and_per_address_with_a_retry_hint() {
    let mut config = ServerConfig {
        auth: harness_auth(),
        ..Default::default()
    };
    config.auth.rates.login = taxi_auth::limits::Rate::per_minute(3, 1);
    let city = TestCity::start_with(config).await;
    let pw = operator_account(&city, "zhou", pb::Role::Operator).await;
    let addr = city.server.addr;
    // A guesser at one address: three wrong passwords are answered as wrong...
    for _ in 0..3 {
        assert_status(
            login_password(
                connect_from(addr, [127, 0, 0, 2]).await,
                "zhou",
                "guess guess guess",
            )
            .await,
            Code::Unauthenticated,
            "wrong",
        );
    }
    let before = city.store.account("zhou").await.unwrap().unwrap();
    assert_eq!(before.failures, 3);
    // ...then the account waits, from any address and even with the right password.
    let err = login_password(connect_from(addr, [127, 0, 0, 3]).await, "zhou", &pw)
        .await
        .unwrap_err();
    let hint = retry_hint_ms(&err);
    assert!(hint > 1_000 && hint <= 60_000, "{hint}");
    // And the guesser's address waits, whichever account it tries next.
    let err = login_password(
        connect_from(addr, [127, 0, 0, 2]).await,
        SUPERVISOR,
        SUPERVISOR_PASSWORD,
    )
    .await
    .unwrap_err();
    retry_hint_ms(&err);
    // A refused login stores nothing: no failure counted, no lock, no session.
    let after = city.store.account("zhou").await.unwrap().unwrap();
    assert_eq!(
        (after.failures, after.locked_until_ms),
        (before.failures, before.locked_until_ms)
    );
    // Other people at other addresses log in as usual.
    login_password(
        connect_from(addr, [127, 0, 0, 4]).await,
        SUPERVISOR,
        SUPERVISOR_PASSWORD,
    )
    .await
    .expect("the supervisor logs in");
}

#[tokio::test]
async fn every_write_by_an_operator_lands_in_the_audit_log_with_who_what_and_where() {
    let city = TestCity::start_with(fast_config()).await;
    let pw = operator_account(&city, "wu.li", pb::Role::Operator).await;
    let wu = login(&city, "wu.li", &pw)
        .await
        .tokens
        .unwrap()
        .access_token;
    let mut h = HotlineServiceClient::new(city.as_token(&wu));
    let mut d =
        taxi_proto::v1::dispatch_service_client::DispatchServiceClient::new(city.as_token(&wu));
    // A caller change.
    let phone = "13800001008";
    h.upsert_caller(pb::UpsertCallerRequest {
        caller: Some(pb::CallerProfile {
            phone: phone.into(),
            name: "吴奶奶".into(),
            resident_id: resident_id("19430305"),
            saved_places: vec![pb::SavedPlace {
                name: "home".into(),
                place: Some(place(north_of_centre(0.0), "渝中区中山四路1号")),
            }],
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    // A booking, then a taxi out of every radius assigned by hand.
    let far = driver_at(&city, "渝A05011", north_of_centre(-8000.0)).await;
    let taxi_id = far.taxi_id.clone();
    let mut booking = booking_from_home(phone);
    booking.operator_id = String::new();
    let order = h
        .create_booking(booking)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    d.assign_order(pb::AssignOrderRequest {
        order_id: order.order_id.clone(),
        taxi_id: taxi_id.clone(),
        operator_id: String::new(),
    })
    .await
    .unwrap();
    // An emergency alert from a device (not a person: not in the operators' log),
    // acknowledged and resolved by the operator.
    let (_, _, mut device) =
        device_client(&city, "13800001009", place(north_of_centre(0.0), "家")).await;
    let alert = device
        .press_button(pb::PressButtonRequest {
            press: pb::PressType::Long as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .alert
        .unwrap();
    h.acknowledge_alert(pb::AcknowledgeAlertRequest {
        alert_id: alert.alert_id.clone(),
        operator_id: String::new(),
        note: "已回电".into(),
    })
    .await
    .unwrap();
    h.resolve_alert(pb::ResolveAlertRequest {
        alert_id: alert.alert_id.clone(),
        operator_id: String::new(),
        outcome: "老人安好".into(),
    })
    .await
    .unwrap();

    let log = audit_log(&city, "audit-3").await;
    let wus: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e.actor == "operator:wu.li")
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        wus,
        [
            ("UpsertCaller", phone),
            ("CreateBooking", order.order_id.as_str()),
            ("AssignOrder", order.order_id.as_str()),
            ("AcknowledgeAlert", alert.alert_id.as_str()),
            ("ResolveAlert", alert.alert_id.as_str()),
        ],
        "{log:?}"
    );
    let by_action = |a: &str| log.iter().find(|e| e.action == a).unwrap();
    assert_eq!(by_action("AssignOrder").detail, format!("taxi={taxi_id}"));
    assert_eq!(by_action("ResolveAlert").detail, "老人安好");
    assert!(
        log.iter()
            .filter(|e| e.actor == "operator:wu.li")
            .all(|e| e.from.starts_with("127.0.0.1:") && e.at.is_some()),
        "{log:?}"
    );
    assert!(
        log.iter().all(|e| !e.actor.starts_with("device:")),
        "a device's press is not a person's write: {log:?}"
    );
    assert!(city.store.oplog_verify().await.unwrap().is_intact());
}

#[tokio::test]
async fn ids_handed_to_clients_are_random_not_counted() {
    let city = TestCity::start().await;
    let phone = "13800001010";
    caller_with_home(&city, phone, None).await;
    let mut ids: Vec<String> = Vec::new();
    let mut hotline = city.hotline();
    for i in 0..24 {
        let mut b = booking_from_home(phone);
        b.request_id = format!("ids-{i}");
        let o = hotline
            .create_booking(b)
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        hotline
            .cancel_order(pb::CancelOrderRequest {
                order_id: o.order_id.clone(),
                reason: "测试".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        ids.push(o.order_id);
    }
    let mut fleet = city.fleet();
    let taxis: Vec<String> = registered_taxis(&mut fleet, 24).await;
    let mut devices = Vec::new();
    for i in 0..24 {
        let (id, _, _) = device_client(
            &city,
            &format!("1380000{:04}", 2000 + i),
            place(north_of_centre(0.0), "家"),
        )
        .await;
        devices.push(id);
    }
    for (prefix, ids) in [('O', &ids), ('T', &taxis), ('D', &devices)] {
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{prefix}: {ids:?}");
        for id in ids {
            assert_eq!(id.len(), 27, "{id}");
            assert!(id.starts_with(prefix), "{id}");
            assert!(
                taxi_domain::validate::id("id", id).is_ok(),
                "{id} is a well-formed id"
            );
        }
        // 128 random bits: every one of the 26 characters varies across 24 ids (a counter
        // or a timestamp keeps its high characters; chance of a miss here ~ 26 * 32^-23).
        for pos in 1..27 {
            let seen: std::collections::HashSet<u8> =
                ids.iter().map(|id| id.as_bytes()[pos]).collect();
            assert!(
                seen.len() > 1,
                "{prefix}: character {pos} never varies: {ids:?}"
            );
        }
    }
}

async fn registered_taxis(
    fleet: &mut taxi_proto::v1::fleet_service_client::FleetServiceClient<Authed>,
    n: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(register_taxi(fleet, &format!("渝A7{:04}", i)).await.taxi_id);
    }
    out
}
