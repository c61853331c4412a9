//! HotlineService end to end: callers, the screen pop, the phone switch, bookings, orders.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_tests::*;
use tonic::Code;

const PHONE: &str = "13812345678";

#[tokio::test]
async fn a_caller_born_in_1950_is_an_older_passenger_and_the_id_is_never_kept() {
    let city = TestCity::start().await;
    let id = resident_id("19500315");
    let caller = caller_with_home(&city, PHONE, Some("19500315")).await;
    assert!(caller.elderly);
    assert_eq!(
        caller.elderly_reason,
        pb::ElderlyReason::ResidentIdAge as i32
    );
    assert!(caller.has_resident_id);
    assert!(caller.age >= 76);

    // The ID is nowhere: not in replies, not in Redis.
    let shown = format!("{caller:?}");
    assert!(!shown.contains(&id));
    let stored = city.store.stored_text().await.unwrap();
    assert!(!stored.is_empty());
    for (k, vals) in stored {
        assert!(
            vals.iter()
                .all(|v| !v.contains(&id) && !v.contains(&id[6..14]) || v.len() == 10),
            "{k}"
        );
    }

    // An update without the ID keeps the birth date.
    let again = city
        .hotline()
        .upsert_caller(pb::UpsertCallerRequest {
            caller: Some(pb::CallerProfile {
                phone: PHONE.into(),
                name: "张秀英".into(),
                saved_places: vec![pb::SavedPlace {
                    name: "home".into(),
                    place: Some(place(north_of_centre(500.0), "渝中区解放碑民族路88号")),
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert!(
        again.caller.as_ref().unwrap().care_contacts.is_empty(),
        "an update replaces the profile"
    );
    assert_eq!(
        again.caller.unwrap().elderly_reason,
        pb::ElderlyReason::ResidentIdAge as i32
    );

    // Booked by phone from a saved place: the order says older passenger, and why.
    let order = city
        .hotline()
        .create_booking(booking_from_home(PHONE))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert!(order.elderly);
    assert_eq!(
        order.elderly_reason,
        pb::ElderlyReason::ResidentIdAge as i32
    );
    assert_eq!(order.status, pb::OrderStatus::Pending as i32);
    assert_eq!(order.payment, pb::PaymentMethod::Cash as i32);
    assert_eq!(order.priority, 1);
    assert_eq!(order.pickup.unwrap().address, "渝中区解放碑民族路88号");
}

#[tokio::test]
async fn bad_resident_ids_are_refused_and_nothing_is_stored() {
    let city = TestCity::start().await;
    let mut bad_check = resident_id("19500315");
    let last = bad_check.pop().unwrap();
    bad_check.push(if last == '0' { '1' } else { '0' });
    for (id, why) in [
        (bad_check, "check character"),
        (resident_id("19500230"), "birth date"),
        (resident_id("20991231"), "birth date"),
        ("12345".to_string(), "18"),
    ] {
        let r = city
            .hotline()
            .upsert_caller(pb::UpsertCallerRequest {
                caller: Some(pb::CallerProfile {
                    phone: PHONE.into(),
                    resident_id: id,
                    ..Default::default()
                }),
            })
            .await;
        assert_status(r, Code::InvalidArgument, "caller.resident_id");
        let _ = why;
    }
    let looked = city
        .hotline()
        .lookup_caller(pb::LookupCallerRequest {
            phone: PHONE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!looked.known, "a refused caller was stored");
}

#[tokio::test]
async fn screen_pop_shows_profile_recent_and_active_orders() {
    let city = TestCity::start().await;
    let mut hotline = city.hotline();
    let unknown = hotline
        .lookup_caller(pb::LookupCallerRequest {
            phone: "13900009999".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!unknown.known && unknown.caller.is_none());

    caller_with_home(&city, PHONE, None).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut b = booking_from_home(PHONE);
        b.request_id = format!("screen-pop-{i}");
        let o = hotline
            .create_booking(b)
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        if i < 6 {
            hotline
                .cancel_order(pb::CancelOrderRequest {
                    order_id: o.order_id.clone(),
                    cancelled_by: pb::CancelledBy::Passenger as i32,
                    reason: "changed plans".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        ids.push(o.order_id);
    }
    let pop = hotline
        .lookup_caller(pb::LookupCallerRequest {
            phone: "138 1234 5678".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(pop.known);
    let caller = pop.caller.unwrap();
    assert_eq!(caller.saved_places.len(), 1);
    assert!(!caller.elderly);
    let recent: Vec<&str> = pop
        .recent_orders
        .iter()
        .map(|o| o.order_id.as_str())
        .collect();
    let want: Vec<&str> = ids.iter().rev().take(5).map(String::as_str).collect();
    assert_eq!(recent, want, "the last 5, newest first");
    assert_eq!(pop.active_order.unwrap().order_id, ids[6]);
}

#[tokio::test]
async fn the_phone_switch_puts_older_callers_first() {
    let city = TestCity::start().await;
    caller_with_home(&city, PHONE, Some("19480101")).await;
    caller_with_home(&city, "13700000001", Some("19900101")).await;
    city.hotline()
        .upsert_caller(pb::UpsertCallerRequest {
            caller: Some(pb::CallerProfile {
                phone: "023-68881234".into(),
                elderly_flag: true,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let mut hotline = city.hotline();
    let classify = |n: &str| pb::ClassifyCallRequest {
        calling_number: n.into(),
    };

    let old = hotline
        .classify_call(classify(PHONE))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(old.priority, pb::CallPriority::Elderly as i32);
    assert_eq!(old.elderly_reason, pb::ElderlyReason::ResidentIdAge as i32);
    assert!(old.known && !old.has_active_order);

    let young = hotline
        .classify_call(classify("13700000001"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(young.priority, pb::CallPriority::Normal as i32);

    let flagged = hotline
        .classify_call(classify("02368881234"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(flagged.priority, pb::CallPriority::Elderly as i32);
    assert_eq!(
        flagged.elderly_reason,
        pb::ElderlyReason::OperatorFlag as i32
    );

    let unknown = hotline
        .classify_call(classify("13600000000"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unknown.priority, pb::CallPriority::Normal as i32);
    assert!(!unknown.known);

    let o = hotline
        .create_booking(booking_from_home(PHONE))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let busy = hotline
        .classify_call(classify(PHONE))
        .await
        .unwrap()
        .into_inner();
    assert!(busy.has_active_order);
    assert_eq!(busy.active_order_id, o.order_id);

    assert_status(
        hotline.classify_call(classify("12345")).await,
        Code::InvalidArgument,
        "calling_number",
    );
}

#[tokio::test]
async fn bookings_enter_the_queue_or_the_schedule_and_the_event_stream() {
    let city = TestCity::start().await;
    caller_with_home(&city, PHONE, Some("19500101")).await;
    let mut hotline = city.hotline();
    let now = hotline
        .create_booking(booking_from_home(PHONE))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(waiting(&city).await, 1);

    let mut reserve = booking_from_home(PHONE);
    let pickup_s = city.now_ms() / 1000 + 3600;
    reserve.pickup_time = Some(taxi_proto::Timestamp {
        seconds: pickup_s,
        nanos: 0,
    });
    reserve.dropoff = Some(place(north_of_centre(5000.0), "重庆医科大学附属第一医院"));
    reserve.notes = "拄拐杖，请帮忙".into();
    let later = hotline
        .create_booking(reserve)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(later.status, pb::OrderStatus::Scheduled as i32);
    assert!(later.reservation);
    assert_eq!(later.dropoff.unwrap().address, "重庆医科大学附属第一医院");
    assert_eq!(city.store.scheduled_count().await.unwrap(), 1);
    let release = city
        .store
        .release_time(&later.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        release,
        pickup_s * 1000 - 15 * 60 * 1000,
        "enters dispatch 15 minutes before pickup"
    );

    let created: Vec<String> = city
        .store
        .audit_trail_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == taxi_domain::audit::AuditKind::OrderCreated)
        .map(|r| r.field("order").to_string())
        .collect();
    assert!(created.contains(&now.order_id) && created.contains(&later.order_id));
}

#[tokio::test]
async fn twenty_concurrent_bookings_with_one_request_id_make_one_order() {
    let city = TestCity::start().await;
    caller_with_home(&city, PHONE, None).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut hotline = city.hotline();
        tasks.push(tokio::spawn(async move {
            let mut b = booking_from_home(PHONE);
            b.request_id = "call-2026-11-22-0001".into();
            hotline.create_booking(b).await.unwrap().into_inner()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        ids.insert(r.order.unwrap().order_id);
        created += usize::from(r.created);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(created, 1);
    assert_eq!(order_count(&city).await, 1);
    assert_eq!(waiting(&city).await, 1);
}

#[tokio::test]
async fn a_request_id_belongs_to_its_caller_not_the_city() {
    let city = TestCity::start().await;
    let other = "13700137000";
    caller_with_home(&city, PHONE, None).await;
    caller_with_home(&city, other, None).await;
    let book = |phone: &str| {
        let mut b = booking_from_home(phone);
        b.request_id = "42".into();
        b
    };
    let mut hotline = city.hotline();
    let first = hotline
        .create_booking(book(PHONE))
        .await
        .unwrap()
        .into_inner();
    let second = hotline
        .create_booking(book(other))
        .await
        .unwrap()
        .into_inner();
    assert!(first.created && second.created, "two callers, two orders");
    let (a, b) = (first.order.unwrap(), second.order.unwrap());
    assert_ne!(a.order_id, b.order_id);
    assert_eq!(
        b.passenger_phone, other,
        "nobody sees another caller's order"
    );
    // The same caller's retry still returns the same order.
    let again = hotline
        .create_booking(book(PHONE))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(again.order.unwrap().order_id, a.order_id);
}

#[tokio::test]
async fn the_voice_menu_never_books_twice_but_operators_may() {
    let city = TestCity::start().await;
    caller_with_home(&city, PHONE, None).await;
    let mut hotline = city.hotline();
    let ivr = || pb::CreateBookingRequest {
        channel: pb::Channel::Ivr as i32,
        operator_id: String::new(),
        ..booking_from_home(PHONE)
    };
    // The voice menu is the phone switch's; an operator may not book on it.
    assert_status(
        hotline.create_booking(ivr()).await,
        Code::PermissionDenied,
        "channel",
    );
    let mut voice_menu =
        pb::hotline_service_client::HotlineServiceClient::new(city.as_phone_switch());
    let a = voice_menu.create_booking(ivr()).await.unwrap().into_inner();
    let b = voice_menu.create_booking(ivr()).await.unwrap().into_inner();
    assert!(a.created && !b.created);
    assert_eq!(a.order.unwrap().order_id, b.order.unwrap().order_id);
    let c = hotline
        .create_booking(booking_from_home(PHONE))
        .await
        .unwrap()
        .into_inner();
    assert!(c.created, "an operator can book a second taxi on purpose");
}

#[tokio::test]
async fn an_unknown_caller_gets_a_profile_and_proxy_bookings_record_the_booker() {
    let city = TestCity::start().await;
    let mut hotline = city.hotline();
    let r = hotline
        .create_booking(pb::CreateBookingRequest {
            caller_phone: "13611112222".into(),
            passenger_name: "李奶奶".into(),
            pickup: Some(place(north_of_centre(200.0), "较场口日月光广场")),
            channel: pb::Channel::FamilyProxy as i32,
            booker_phone: "13933334444".into(),
            needs: vec![pb::PassengerNeed::Wheelchair as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let o = r.order.unwrap();
    assert_eq!(o.booker_phone, "13933334444");
    assert_eq!(o.channel, pb::Channel::FamilyProxy as i32);
    assert_eq!(o.needs, vec![pb::PassengerNeed::Wheelchair as i32]);
    assert!(!o.elderly);
    let pop = hotline
        .lookup_caller(pb::LookupCallerRequest {
            phone: "13611112222".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(pop.known);
    assert_eq!(pop.caller.unwrap().name, "李奶奶");
}

#[tokio::test]
async fn every_bad_booking_is_refused_with_its_field_and_stores_nothing() {
    let city = TestCity::start().await;
    caller_with_home(&city, PHONE, None).await;
    let mut hotline = city.hotline();
    let now_s = city.now_ms() / 1000;
    let at = |s: i64| {
        Some(taxi_proto::Timestamp {
            seconds: s,
            nanos: 0,
        })
    };
    let ok = || booking_from_home(PHONE);
    let cases: Vec<(pb::CreateBookingRequest, Code, &str)> = vec![
        (
            pb::CreateBookingRequest {
                caller_phone: "1381234".into(),
                ..ok()
            },
            Code::InvalidArgument,
            "caller_phone",
        ),
        (
            pb::CreateBookingRequest {
                caller_phone: "023-123".into(),
                ..ok()
            },
            Code::InvalidArgument,
            "caller_phone",
        ),
        (
            pb::CreateBookingRequest { channel: 0, ..ok() },
            Code::InvalidArgument,
            "channel",
        ),
        (
            pb::CreateBookingRequest {
                channel: 42,
                ..ok()
            },
            Code::InvalidArgument,
            "channel",
        ),
        (
            pb::CreateBookingRequest {
                channel: pb::Channel::OneKey as i32,
                ..ok()
            },
            Code::InvalidArgument,
            "channel",
        ),
        (
            pb::CreateBookingRequest {
                operator_id: "someone-else".into(),
                ..ok()
            },
            Code::PermissionDenied,
            "operator_id",
        ),
        (
            pb::CreateBookingRequest {
                channel: pb::Channel::FamilyProxy as i32,
                ..ok()
            },
            Code::InvalidArgument,
            "booker_phone",
        ),
        (
            pb::CreateBookingRequest {
                pickup_saved_place: "office".into(),
                ..ok()
            },
            Code::NotFound,
            "pickup_saved_place",
        ),
        (
            pb::CreateBookingRequest {
                pickup_saved_place: String::new(),
                ..ok()
            },
            Code::InvalidArgument,
            "pickup",
        ),
        (
            pb::CreateBookingRequest {
                pickup: Some(place(north_of_centre(0.0), "x")),
                ..ok()
            },
            Code::InvalidArgument,
            "not both",
        ),
        (
            pb::CreateBookingRequest {
                pickup_saved_place: String::new(),
                pickup: Some(place(wgs(39.9, 116.4), "天安门")),
                ..ok()
            },
            Code::InvalidArgument,
            "pickup.location: is outside the service area",
        ),
        (
            pb::CreateBookingRequest {
                pickup_saved_place: String::new(),
                pickup: Some(place(wgs(f64::INFINITY, 106.5), "x")),
                ..ok()
            },
            Code::InvalidArgument,
            "pickup.location.latitude",
        ),
        (
            pb::CreateBookingRequest {
                pickup_saved_place: String::new(),
                pickup: Some(place(north_of_centre(0.0), &"长".repeat(101))),
                ..ok()
            },
            Code::InvalidArgument,
            "pickup.address",
        ),
        (
            pb::CreateBookingRequest {
                pickup_time: at(now_s - 60),
                ..ok()
            },
            Code::InvalidArgument,
            "pickup_time",
        ),
        (
            pb::CreateBookingRequest {
                pickup_time: at(now_s + 120),
                ..ok()
            },
            Code::InvalidArgument,
            "pickup_time",
        ),
        (
            pb::CreateBookingRequest {
                pickup_time: at(now_s + 8 * 86400),
                ..ok()
            },
            Code::InvalidArgument,
            "pickup_time",
        ),
        (
            pb::CreateBookingRequest {
                passenger_count: 9,
                ..ok()
            },
            Code::InvalidArgument,
            "passenger_count",
        ),
        (
            pb::CreateBookingRequest {
                notes: "注".repeat(201),
                ..ok()
            },
            Code::InvalidArgument,
            "notes",
        ),
        (
            pb::CreateBookingRequest {
                payment: 17,
                ..ok()
            },
            Code::InvalidArgument,
            "payment",
        ),
        (
            pb::CreateBookingRequest {
                needs: vec![9],
                ..ok()
            },
            Code::InvalidArgument,
            "needs[0]",
        ),
        (
            pb::CreateBookingRequest {
                request_id: "has space".into(),
                ..ok()
            },
            Code::InvalidArgument,
            "request_id",
        ),
        (
            pb::CreateBookingRequest {
                dropoff_saved_place: "gym".into(),
                ..ok()
            },
            Code::NotFound,
            "dropoff_saved_place",
        ),
    ];
    for (req, code, needle) in cases {
        assert_status(hotline.create_booking(req).await, code, needle);
    }
    assert_eq!(order_count(&city).await, 0);
    assert_eq!(waiting(&city).await, 0);
    assert_eq!(city.store.scheduled_count().await.unwrap(), 0);
    // A landline with area code is a good number.
    let mut landline = ok();
    landline.caller_phone = "023-63881234".into();
    landline.pickup_saved_place = String::new();
    landline.pickup = Some(place(north_of_centre(0.0), "解放碑"));
    hotline.create_booking(landline).await.unwrap();
}

#[tokio::test]
async fn repeat_last_trip_get_list_and_cancel() {
    let city = TestCity::start().await;
    caller_with_home(&city, PHONE, None).await;
    let mut hotline = city.hotline();
    assert_status(
        hotline
            .repeat_last_trip(pb::RepeatLastTripRequest {
                caller_phone: PHONE.into(),
                channel: pb::Channel::Operator as i32,
                operator_id: SUPERVISOR.into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "no previous trip",
    );
    let mut first = booking_from_home(PHONE);
    first.dropoff = Some(place(north_of_centre(3000.0), "西南医院"));
    first.notes = "需要搀扶".into();
    let first = hotline
        .create_booking(first)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    hotline
        .cancel_order(pb::CancelOrderRequest {
            order_id: first.order_id.clone(),
            cancelled_by: pb::CancelledBy::Operator as i32,
            reason: "test".into(),
            operator_id: SUPERVISOR.into(),
        })
        .await
        .unwrap();
    let again = hotline
        .repeat_last_trip(pb::RepeatLastTripRequest {
            caller_phone: PHONE.into(),
            channel: pb::Channel::Operator as i32,
            operator_id: SUPERVISOR.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_ne!(again.order_id, first.order_id);
    assert_eq!(again.pickup, first.pickup);
    assert_eq!(again.dropoff, first.dropoff);
    assert_eq!(again.notes, "需要搀扶");

    let got = hotline
        .get_order(pb::GetOrderRequest {
            order_id: again.order_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(got.passenger_phone, PHONE, "operators see the whole number");
    assert_status(
        hotline
            .get_order(pb::GetOrderRequest {
                order_id: "O999".into(),
            })
            .await,
        Code::NotFound,
        "O999",
    );

    for i in 0..3 {
        let mut b = booking_from_home(PHONE);
        b.request_id = format!("list-{i}");
        hotline.create_booking(b).await.unwrap();
    }
    let page1 = hotline
        .list_orders(pb::ListOrdersRequest {
            caller_phone: PHONE.into(),
            page_size: 3,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page1.orders.len(), 3);
    assert!(!page1.next_page_token.is_empty());
    let page2 = hotline
        .list_orders(pb::ListOrdersRequest {
            caller_phone: PHONE.into(),
            page_size: 3,
            page_token: page1.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page2.orders.len(), 2);
    assert!(page2.next_page_token.is_empty());
    assert_eq!(
        page2.orders.last().unwrap().order_id,
        first.order_id,
        "newest first, oldest last"
    );
    assert_status(
        hotline
            .list_orders(pb::ListOrdersRequest {
                caller_phone: PHONE.into(),
                page_size: 3,
                page_token: "x".into(),
            })
            .await,
        Code::InvalidArgument,
        "page_token",
    );
    // A token past any real page does not wrap around to the first page.
    assert_status(
        hotline
            .list_orders(pb::ListOrdersRequest {
                caller_phone: PHONE.into(),
                page_size: 3,
                page_token: u64::MAX.to_string(),
            })
            .await,
        Code::InvalidArgument,
        "page_token",
    );

    // Cancelling: who cancels is the credential (an operator, or the passenger through
    // one); nobody may claim a driver; a cancelled order cannot be cancelled again.
    let cancel = |id: &str, by: i32| pb::CancelOrderRequest {
        order_id: id.into(),
        cancelled_by: by,
        reason: "no longer needed".into(),
        operator_id: String::new(),
    };
    assert_status(
        hotline
            .cancel_order(cancel(&again.order_id, pb::CancelledBy::Driver as i32))
            .await,
        Code::PermissionDenied,
        "cancelled_by",
    );
    let c = hotline
        .cancel_order(cancel(&again.order_id, pb::CancelledBy::Passenger as i32))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(c.status, pb::OrderStatus::Cancelled as i32);
    assert_eq!(c.cancelled_by, pb::CancelledBy::Passenger as i32);
    assert_status(
        hotline.cancel_order(cancel(&again.order_id, 1)).await,
        Code::FailedPrecondition,
        "already cancelled",
    );
    assert_status(
        hotline.cancel_order(cancel("O404", 1)).await,
        Code::NotFound,
        "O404",
    );

    // Once the trip has started it cannot be cancelled. The caller's earlier orders are
    // still waiting at the same pickup, and one due to search again would be offered to
    // the new taxi first (seen on a slow run): they are cancelled, as a caller would.
    let open = hotline
        .list_orders(pb::ListOrdersRequest {
            caller_phone: PHONE.into(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .orders;
    for o in open.iter().filter(|o| {
        o.status == pb::OrderStatus::Pending as i32 || o.status == pb::OrderStatus::Scheduled as i32
    }) {
        hotline
            .cancel_order(cancel(&o.order_id, pb::CancelledBy::Passenger as i32))
            .await
            .unwrap();
    }
    let mut taxi = driver_at(&city, "渝A77001", north_of_centre(500.0)).await;
    let mut b = booking_from_home(PHONE);
    b.request_id = "on-trip".into();
    let o = hotline
        .create_booking(b)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let offer = taxi.offer(Duration::from_secs(5)).await;
    assert_eq!(offer.order_id, o.order_id);
    let mut d = city.driver();
    let ids = || (taxi.taxi_id.clone(), o.order_id.clone());
    let (taxi_id, order_id) = ids();
    d.accept_offer(pb::AcceptOfferRequest {
        taxi_id: taxi_id.clone(),
        order_id: order_id.clone(),
    })
    .await
    .unwrap();
    d.start_trip(pb::StartTripRequest { taxi_id, order_id })
        .await
        .unwrap();
    assert_status(
        hotline.cancel_order(cancel(&o.order_id, 1)).await,
        Code::FailedPrecondition,
        "already started",
    );
}
