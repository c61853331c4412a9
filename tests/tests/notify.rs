//! Notifications (issue 13 items 4 and 5): every transition that tells someone writes its
//! message to the outbox in the same script; sender workers deliver them, signed, to a real
//! webhook receiver at least once, through a gateway outage and a worker killed mid-batch;
//! a message that keeps failing becomes a dead letter operators list and replay.

use std::collections::HashSet;
use std::time::{Duration, Instant};
use taxi_domain::notify::Backoff;
use taxi_notify::{NotifySettings, SenderChoice, Worker};
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_server::ServerConfig;
use taxi_tests::receiver::{Delivery, Receiver};
use taxi_tests::*;
use tokio_util::sync::CancellationToken;
use tonic::Code;

/// An older passenger who chose voice calls.
const GRAN: &str = "13512345678";
/// An ordinary passenger.
const RIDER: &str = "13622223333";
/// A one-key device's owner and two care contacts.
const OWNER: &str = "13711112222";
const CARE_1: &str = "13900001111";
const CARE_2: &str = "13900003333";
/// A relative and the person they book for.
const SON: &str = "13900002222";
const DAD: &str = "13812340000";

/// Notification settings posting to `r`, fast enough for tests.
fn settings(r: &Receiver, workers: usize) -> NotifySettings {
    NotifySettings {
        sender: SenderChoice::Webhook {
            url: r.url(),
            secret: r.secret(),
        },
        workers,
        poll: Duration::from_millis(100),
        claim_idle: Duration::from_secs(3),
        timeout: Duration::from_secs(2),
        backoff: Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
            attempts: 100,
        },
        ..NotifySettings::default()
    }
}

fn config(r: &Receiver, workers: usize) -> ServerConfig {
    let mut c = fast_config();
    c.notify = settings(r, workers);
    c
}

/// Waits until `done` holds, polling; panics with `what` after `wait`.
async fn until(what: &str, wait: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + wait;
    while !done() {
        assert!(Instant::now() < deadline, "not within {wait:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every idempotency key the outbox holds (each message's, by the domain's rule).
async fn outbox_keys(city: &TestCity) -> Vec<String> {
    city.store
        .outbox_entries()
        .await
        .expect("outbox")
        .iter()
        .map(|e| {
            taxi_domain::notify::Message::from_fields(&e.fields)
                .expect("an outbox entry is a message")
                .idempotency_key()
        })
        .collect()
}

fn effect<'a>(effects: &'a [Delivery], key: &str) -> &'a Delivery {
    effects
        .iter()
        .find(|d| d.key == key)
        .unwrap_or_else(|| panic!("no message {key} among {effects:#?}"))
}

async fn upsert(city: &TestCity, profile: pb::CallerProfile) -> Result<pb::Caller, tonic::Status> {
    city.hotline()
        .upsert_caller(pb::UpsertCallerRequest {
            caller: Some(profile),
        })
        .await
        .map(|r| r.into_inner().caller.expect("caller"))
}

/// An older passenger with a saved home who chose voice calls.
fn voice_profile(phone: &str) -> pb::CallerProfile {
    pb::CallerProfile {
        phone: phone.into(),
        name: "王奶奶".into(),
        resident_id: resident_id("19450808"),
        saved_places: vec![pb::SavedPlace {
            name: "home".into(),
            place: Some(place(north_of_centre(500.0), "渝中区解放碑民族路88号")),
        }],
        notify_channel: pb::NotifyChannel::Voice as i32,
        ..Default::default()
    }
}

/// A relative of `passenger`, granted by the supervisor and logged in.
async fn relative_for(city: &TestCity, passenger: &str) -> HotlineServiceClient<Authed> {
    HotlineServiceClient::new(city.relative_of(passenger, SON).await)
}

/// A relative's booking for `DAD` from his home: both are told.
async fn proxy_booking(city: &TestCity) -> pb::Order {
    caller_with_home(city, DAD, Some("19400101")).await;
    relative_for(city, DAD)
        .await
        .create_booking(pb::CreateBookingRequest {
            caller_phone: DAD.into(),
            pickup_saved_place: "home".into(),
            ..Default::default()
        })
        .await
        .expect("relative books")
        .into_inner()
        .order
        .expect("order")
}

/// One whole trip of `taxi` (fresh at 600 m north) for `phone` from its home: assigned,
/// arrived, completed. Returns the order id.
async fn trip(city: &TestCity, driver: &mut DriverStream, phone: &str) -> String {
    send_positions(
        &mut city.driver(),
        vec![report(
            &driver.taxi_id,
            north_of_centre(600.0),
            Duration::ZERO,
        )],
    )
    .await;
    let order = city
        .hotline()
        .create_booking(booking_from_home(phone))
        .await
        .expect("book")
        .into_inner()
        .order
        .expect("order");
    let offer = driver.offer(Duration::from_secs(10)).await;
    assert_eq!(offer.order_id, order.order_id);
    drive_trip(city, &driver.taxi_id, &order.order_id).await;
    order.order_id
}

#[tokio::test]
async fn every_transition_tells_its_message_and_an_older_passenger_who_chose_voice_is_called() {
    let r = Receiver::start().await;
    let city = TestCity::start_with(config(&r, 1)).await;
    let gran = upsert(&city, voice_profile(GRAN))
        .await
        .expect("voice caller");
    assert_eq!(gran.notify_channel, pb::NotifyChannel::Voice as i32);
    caller_with_home(&city, RIDER, None).await;

    // Assigned, arrived, completed: a voice call to the older passenger, each.
    let mut driver = driver_at(&city, "渝A12345", north_of_centre(600.0)).await;
    let taxi = driver.taxi_id.clone();
    let order = trip(&city, &mut driver, GRAN).await;
    let assigned = format!("{order}.{taxi}:assigned:{GRAN}");
    let arrived = format!("{order}.{taxi}:arrived:{GRAN}");
    let completed = format!("{order}:completed:{GRAN}");
    until("the trip's three messages", Duration::from_secs(10), || {
        r.effects().len() >= 3
    })
    .await;
    let e = r.effects();
    for key in [&assigned, &arrived, &completed] {
        let d = effect(&e, key);
        assert_eq!(
            (d.channel.as_str(), d.to.as_str()),
            ("voice", GRAN),
            "{d:?}"
        );
        assert!(
            d.text.contains("重复一遍"),
            "a voice call says it twice: {d:?}"
        );
        assert_eq!(d.order_id, order);
    }
    let a = effect(&e, &assigned);
    assert_eq!(a.kind, "assigned");
    assert!(a.text.contains("车牌渝A12345，白色，约"), "{a:?}");
    assert!(effect(&e, &arrived).text.contains("已到达上车点"));
    assert!(effect(&e, &completed).text.contains("车费23.50元"));

    // A long press: each care contact gets an SMS naming the person.
    let (_, _, mut device) = device_client(
        &city,
        OWNER,
        place(north_of_centre(300.0), "渝中区较场口1号"),
    )
    .await;
    upsert(
        &city,
        pb::CallerProfile {
            phone: OWNER.into(),
            name: "陈爷爷".into(),
            care_contacts: vec![CARE_1.into(), CARE_2.into()],
            ..Default::default()
        },
    )
    .await
    .expect("owner");
    let alert = device
        .press_button(pb::PressButtonRequest {
            press: pb::PressType::Long as i32,
            ..Default::default()
        })
        .await
        .expect("long press")
        .into_inner()
        .alert
        .expect("alert")
        .alert_id;

    // A relative's booking: the passenger and the relative are both told.
    let proxy = proxy_booking(&city).await;

    // No taxi within reach of a pickup 20 km away: after the longest wait, unfulfilled.
    let far = book_at(&city, RIDER, north_of_centre(20_000.0)).await;
    city.advance(Duration::from_secs(61));
    wait_order(&city, &far.order_id, Duration::from_secs(10), |o| {
        o.status == pb::OrderStatus::Unfulfilled as i32
    })
    .await;

    let expected = [
        (format!("{alert}:emergency:{CARE_1}"), "emergency", CARE_1),
        (format!("{alert}:emergency:{CARE_2}"), "emergency", CARE_2),
        (format!("{}:booked:{DAD}", proxy.order_id), "booked", DAD),
        (format!("{}:booked:{SON}", proxy.order_id), "booked", SON),
        (
            format!("{}:unfulfilled:{RIDER}", far.order_id),
            "unfulfilled",
            RIDER,
        ),
    ];
    until(
        "the alert, booking and unfulfilled messages",
        Duration::from_secs(10),
        || {
            let have: HashSet<String> = r.effects().into_iter().map(|d| d.key).collect();
            expected.iter().all(|(k, _, _)| have.contains(k))
        },
    )
    .await;
    let e = r.effects();
    for (key, kind, to) in &expected {
        let d = effect(&e, key);
        assert_eq!(
            (d.kind.as_str(), d.to.as_str(), d.channel.as_str()),
            (*kind, *to, "sms")
        );
    }
    assert!(
        effect(&e, &expected[0].0)
            .text
            .contains("陈爷爷（电话13711112222）")
    );
    assert!(
        effect(&e, &expected[2].0)
            .text
            .contains("您的家人已为您叫了出租车")
    );
    assert!(effect(&e, &expected[3].0).text.contains("已为张秀英叫车"));
    assert!(effect(&e, &expected[4].0).text.contains("没有空车"));

    // Nothing else, nothing forged, nothing twice: one effect per message written.
    let keys = outbox_keys(&city).await;
    until(
        "every outbox message delivered",
        Duration::from_secs(10),
        || r.effects().len() == keys.len(),
    )
    .await;
    let distinct: HashSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "every message has its own key");
    assert_eq!(r.forged(), 0);
    all_acknowledged(&city).await;
}

/// Waits until the sender group holds nothing unacknowledged.
async fn all_acknowledged(city: &TestCity) {
    let mut pending = u64::MAX;
    for _ in 0..100 {
        pending = city.store.outbox_pending().await.unwrap();
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{pending} messages still unacknowledged");
}

/// Runs a sender worker named `name` until the token is cancelled or its task aborted.
fn worker(
    city: &TestCity,
    s: &NotifySettings,
    name: &str,
) -> (tokio::task::JoinHandle<()>, CancellationToken) {
    let s = s.clone();
    let sender = s.sender().expect("sender");
    let stop = CancellationToken::new();
    let w = Worker::new(city.store.clone(), sender, s, name);
    (tokio::spawn(w.run(stop.clone())), stop)
}

#[tokio::test]
async fn through_a_30_s_gateway_outage_and_a_worker_killed_mid_batch_nothing_is_lost_or_doubled() {
    let mut r = Receiver::start().await;
    // No workers in the server: this test runs and kills its own.
    let city = TestCity::start_with(config(&r, 0)).await;
    // A post may take 20 s; a message read and left unacknowledged for 25 s is claimed.
    let s = NotifySettings {
        timeout: Duration::from_secs(20),
        claim_idle: Duration::from_secs(25),
        ..settings(&r, 0)
    };
    upsert(&city, voice_profile(GRAN)).await.expect("caller");
    caller_with_home(&city, RIDER, None).await;
    let mut driver = driver_at(&city, "渝A54321", north_of_centre(600.0)).await;

    // Two trips' messages wait in the outbox. Worker A reads them in one batch and posts
    // them; the gateway stalls, so nothing is answered.
    r.hang();
    trip(&city, &mut driver, GRAN).await;
    trip(&city, &mut driver, RIDER).await;
    let (a, _stop_a) = worker(&city, &s, "worker-a");
    until(
        "worker A posting its batch",
        Duration::from_secs(10),
        || r.hung() >= 6,
    )
    .await;
    // Killed mid-batch: read, posted, never acknowledged.
    a.abort();
    let _ = a.await;
    assert_eq!(
        city.store.outbox_pending().await.unwrap(),
        6,
        "A's batch is pending"
    );

    // The gateway goes down for 30 s. Worker B starts; more trips happen meanwhile.
    r.down();
    let outage = Instant::now();
    let (b, stop_b) = worker(&city, &s, "worker-b");
    trip(&city, &mut driver, GRAN).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    trip(&city, &mut driver, RIDER).await;
    assert!(r.effects().is_empty(), "nothing got through the outage");
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed())).await;
    r.up().await;

    // Every message arrives; the receiver's keys show none lost and none doubled.
    let keys = outbox_keys(&city).await;
    assert_eq!(keys.len(), 12, "4 trips × assigned, arrived, completed");
    until(
        "every message delivered after the outage",
        Duration::from_secs(15),
        || r.effects().len() == keys.len(),
    )
    .await;
    let received: HashSet<String> = r.effects().into_iter().map(|d| d.key).collect();
    let written: HashSet<String> = keys.iter().cloned().collect();
    assert_eq!(written.len(), keys.len(), "0 duplicate messages written");
    assert_eq!(received, written, "0 lost, 0 duplicate effects");
    assert_eq!(r.forged(), 0);
    // Every message acknowledged: A's were claimed by B.
    all_acknowledged(&city).await;
    let (dead, _) = city.store.dead_letters(0, 10).await.unwrap();
    assert!(dead.is_empty(), "{dead:?}");
    stop_b.cancel();
    let _ = b.await;
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_a_dead_letter_operators_list_and_replay() {
    let r = Receiver::start().await;
    let mut c = config(&r, 1);
    c.notify.backoff = Backoff {
        first: Duration::from_millis(50),
        max: Duration::from_millis(100),
        attempts: 3,
    };
    let city = TestCity::start_with(c).await;
    // The gateway refuses the relative's number.
    r.refuse(SON, true);
    let order = proxy_booking(&city).await;
    let dad_key = format!("{}:booked:{DAD}", order.order_id);
    let son_key = format!("{}:booked:{SON}", order.order_id);
    until("the passenger's message", Duration::from_secs(10), || {
        r.effects().iter().any(|d| d.key == dad_key)
    })
    .await;

    // After 3 failed attempts the relative's message is a dead letter.
    let mut ops = city.notifications();
    let deadline = Instant::now() + Duration::from_secs(10);
    let list = loop {
        let l = ops
            .list_dead_letters(pb::ListDeadLettersRequest::default())
            .await
            .expect("list")
            .into_inner();
        if l.total > 0 {
            break l;
        }
        assert!(Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(list.total, 1);
    let dead = &list.dead_letters[0];
    let n = dead.notification.as_ref().expect("notification");
    assert_eq!(
        (n.idempotency_key.as_str(), n.to.as_str()),
        (son_key.as_str(), SON)
    );
    assert_eq!(n.kind, pb::MessageKind::Booked as i32);
    assert_eq!(dead.attempts, 3);
    assert!(dead.error.contains("500"), "{}", dead.error);
    assert!(!r.effects().iter().any(|d| d.key == son_key));
    assert_eq!(
        city.store.outbox_pending().await.unwrap(),
        0,
        "a dead letter is off the outbox"
    );

    // Bad input changes nothing: an unknown id, a malformed one.
    assert_status(
        ops.replay_dead_letter(pb::ReplayDeadLetterRequest {
            dead_letter_id: "1-0".into(),
        })
        .await,
        Code::NotFound,
        "dead_letter_id",
    );
    assert_status(
        ops.replay_dead_letter(pb::ReplayDeadLetterRequest {
            dead_letter_id: "the relative's".into(),
        })
        .await,
        Code::InvalidArgument,
        "dead_letter_id",
    );
    assert_status(
        ops.list_dead_letters(pb::ListDeadLettersRequest {
            page_size: 101,
            offset: 0,
        })
        .await,
        Code::InvalidArgument,
        "page_size",
    );
    // The gateway takes the number again; the replayed letter is delivered, same key.
    r.refuse(SON, false);
    ops.replay_dead_letter(pb::ReplayDeadLetterRequest {
        dead_letter_id: dead.id.clone(),
    })
    .await
    .expect("replay");
    until("the replayed message", Duration::from_secs(10), || {
        r.effects().iter().any(|d| d.key == son_key)
    })
    .await;
    let list = ops
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total, 0);
    assert_status(
        ops.replay_dead_letter(pb::ReplayDeadLetterRequest {
            dead_letter_id: dead.id.clone(),
        })
        .await,
        Code::NotFound,
        "dead_letter_id",
    );
    assert_eq!(r.repeats(), 0);
}

#[tokio::test]
async fn a_bad_channel_preference_is_refused_naming_the_field_and_changes_nothing() {
    let city = TestCity::start().await;
    upsert(&city, voice_profile(GRAN))
        .await
        .expect("voice caller");
    let mut bad = voice_profile(GRAN);
    bad.name = "改名".into();
    bad.notify_channel = 7;
    assert_status(
        upsert(&city, bad).await,
        Code::InvalidArgument,
        "caller.notify_channel",
    );
    let c = city
        .hotline()
        .lookup_caller(pb::LookupCallerRequest { phone: GRAN.into() })
        .await
        .unwrap()
        .into_inner()
        .caller
        .unwrap();
    assert_eq!(
        (c.name.as_str(), c.notify_channel),
        ("王奶奶", pb::NotifyChannel::Voice as i32)
    );
    // Unset means SMS.
    let sms = upsert(
        &city,
        pb::CallerProfile {
            notify_channel: 0,
            ..voice_profile(GRAN)
        },
    )
    .await
    .unwrap();
    assert_eq!(sms.notify_channel, pb::NotifyChannel::Sms as i32);
}

#[tokio::test]
async fn retention_never_trims_a_message_still_pending_delivery() {
    let r = Receiver::start().await;
    // No workers: the test reads as a worker that died would have.
    let city = TestCity::start_with(config(&r, 0)).await;
    city.store.outbox_ensure_group().await.unwrap();
    let order = proxy_booking(&city).await;
    let mut reader = city.store.outbox_reader("died");
    let read = reader.next(10, Duration::from_millis(500)).await.unwrap();
    assert_eq!(read.len(), 2, "the booking told both");
    city.store.outbox_ack(&read[1].id).await.unwrap();
    let retention = taxi_store::retention::Retention {
        finished: Duration::from_secs(30 * 86_400),
        events: Duration::from_secs(30 * 86_400),
    };
    city.advance(Duration::from_secs(31 * 86_400));
    city.store.trim_retained(&retention, 100).await.unwrap();
    let left: Vec<String> = city
        .store
        .outbox_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(
        left.contains(&read[0].id),
        "the pending message is kept: {left:?}"
    );
    // Once delivered, it goes with the rest. (Dispatch gave the booking up meanwhile: the
    // unfulfilled messages written since are newer and unread, so they stay.)
    city.store.outbox_ack(&read[0].id).await.unwrap();
    city.store.trim_retained(&retention, 100).await.unwrap();
    let left: Vec<String> = city
        .store
        .outbox_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(
        !left.contains(&read[0].id) && !left.contains(&read[1].id),
        "{left:?}"
    );
    assert_eq!(read[0].fields["order"], order.order_id);
}
