//! Relatives (issue 11): an older person (from their one-key device) or an operator grants
//! a relative access; the relative books for that person and follows those trips' status,
//! and nothing else; a withdrawn grant stops working within 2 s.

use std::time::{Duration, Instant};
use taxi_proto::v1 as pb;
use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
use taxi_tests::*;
use tonic::Code;

/// The older person who grants access.
const GRAN: &str = "13512345678";
/// Someone else.
const OTHER: &str = "13622223333";
/// The relative's own phone.
const SON: &str = "13900002222";

type Hotline = HotlineServiceClient<Authed>;

/// Grants `SON` access to `passenger` as the supervisor, redeems the code and logs in:
/// the relative's id and a hotline client acting as the relative.
async fn relative_for(city: &TestCity, passenger: &str) -> (String, Hotline) {
    let grant = city
        .access()
        .grant_relative(pb::GrantRelativeRequest {
            passenger_phone: passenger.into(),
            relative_name: "儿子".into(),
            relative_phone: SON.into(),
        })
        .await
        .expect("grant")
        .into_inner();
    redeemed(city, &grant.grant_code).await
}

async fn redeemed(city: &TestCity, code: &str) -> (String, Hotline) {
    let key = city
        .auth()
        .redeem_grant(pb::RedeemGrantRequest {
            grant_code: code.into(),
        })
        .await
        .expect("redeem")
        .into_inner();
    let token = login_key(
        city.channel(),
        pb::KeyKind::Relative,
        &key.relative_id,
        &key.secret,
    )
    .await;
    (
        key.relative_id,
        HotlineServiceClient::new(city.as_token(&token)),
    )
}

fn from_home(phone: &str) -> pb::CreateBookingRequest {
    pb::CreateBookingRequest {
        caller_phone: phone.into(),
        pickup_saved_place: "home".into(),
        notes: "助行器，门禁1234".into(),
        ..Default::default()
    }
}

/// An order as it stands for the passenger (dispatch's own attempts touch its update time).
fn standing(o: pb::Order) -> pb::Order {
    pb::Order {
        update_time: None,
        ..o
    }
}

async fn order_as_operator(city: &TestCity, id: &str) -> pb::Order {
    city.hotline()
        .get_order(pb::GetOrderRequest {
            order_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
}

#[tokio::test]
async fn a_relative_books_for_the_granting_person_and_sees_the_trips_status_only() {
    let city = TestCity::start().await;
    caller_with_home(&city, GRAN, Some("19450808")).await;
    let (_, mut son) = relative_for(&city, GRAN).await;

    let mine = son
        .create_booking(from_home(GRAN))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    // What the relative sees: the trip's status, the number masked, no notes or names.
    assert_eq!(mine.status, pb::OrderStatus::Pending as i32);
    assert_eq!(mine.passenger_phone, "135****5678");
    assert!(mine.pickup.is_some());
    assert!(mine.notes.is_empty() && mine.passenger_name.is_empty());
    assert!(mine.booker_phone.is_empty() && mine.operator_id.is_empty());
    assert!(!mine.elderly && mine.needs.is_empty());
    // What was stored: a family proxy booking by the relative's own phone, with the notes.
    let stored = order_as_operator(&city, &mine.order_id).await;
    assert_eq!(stored.channel, pb::Channel::FamilyProxy as i32);
    assert_eq!(stored.booker_phone, SON);
    assert!(stored.operator_id.is_empty());
    assert_eq!(stored.notes, "助行器，门禁1234");
    assert!(stored.elderly, "the passenger's priority, not the booker's");

    // Following it: GetOrder and ListOrders (the phone may be left out).
    let got = son
        .get_order(pb::GetOrderRequest {
            order_id: mine.order_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(standing(got), standing(mine.clone()));
    let listed = son
        .list_orders(pb::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .orders;
    assert_eq!(
        listed.into_iter().map(standing).collect::<Vec<_>>(),
        vec![standing(mine.clone())]
    );

    // Once more, same as last time: still a proxy booking by the relative.
    let again = son
        .repeat_last_trip(pb::RepeatLastTripRequest {
            caller_phone: GRAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let stored = order_as_operator(&city, &again.order_id).await;
    assert_eq!(
        (stored.channel, stored.booker_phone.as_str()),
        (pb::Channel::FamilyProxy as i32, SON)
    );

    // Fields that claim another identity are refused by name, and store nothing.
    let n = order_count(&city).await;
    let refusals: Vec<(pb::CreateBookingRequest, &str)> = vec![
        (
            pb::CreateBookingRequest {
                channel: pb::Channel::Operator as i32,
                ..from_home(GRAN)
            },
            "channel",
        ),
        (
            pb::CreateBookingRequest {
                operator_id: "op-7".into(),
                ..from_home(GRAN)
            },
            "operator_id",
        ),
        (
            pb::CreateBookingRequest {
                booker_phone: "13700001111".into(),
                ..from_home(GRAN)
            },
            "booker_phone",
        ),
    ];
    for (r, field) in refusals {
        assert_status(son.create_booking(r).await, Code::PermissionDenied, field);
    }
    assert_eq!(order_count(&city).await, n);
}

#[tokio::test]
async fn a_relative_of_one_person_cannot_see_or_book_for_another() {
    let city = TestCity::start().await;
    caller_with_home(&city, GRAN, None).await;
    caller_with_home(&city, OTHER, None).await;
    let (_, mut son) = relative_for(&city, GRAN).await;
    let theirs = city
        .hotline()
        .create_booking(booking_from_home(OTHER))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let before = order_as_operator(&city, &theirs.order_id).await;
    let other_before = city.store.get_caller(OTHER).await.unwrap();
    let n = order_count(&city).await;

    // Another's order answers exactly as an unknown one.
    let seen = son
        .get_order(pb::GetOrderRequest {
            order_id: theirs.order_id.clone(),
        })
        .await
        .unwrap_err();
    let unknown = son
        .get_order(pb::GetOrderRequest {
            order_id: "O0000000000NONE".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(seen.code(), Code::NotFound);
    assert_eq!(
        seen.message().replace(&theirs.order_id, "<id>"),
        unknown.message().replace("O0000000000NONE", "<id>")
    );
    assert_status(
        son.list_orders(pb::ListOrdersRequest {
            caller_phone: OTHER.into(),
            ..Default::default()
        })
        .await,
        Code::PermissionDenied,
        "caller_phone",
    );
    assert_status(
        son.create_booking(from_home(OTHER)).await,
        Code::PermissionDenied,
        "caller_phone",
    );
    assert_status(
        son.repeat_last_trip(pb::RepeatLastTripRequest {
            caller_phone: OTHER.into(),
            ..Default::default()
        })
        .await,
        Code::PermissionDenied,
        "caller_phone",
    );

    // Everything else is the call centre's (the policy table).
    assert_status(
        son.upsert_caller(pb::UpsertCallerRequest {
            caller: Some(pb::CallerProfile {
                phone: OTHER.into(),
                name: "改名".into(),
                care_contacts: vec![SON.into()],
                ..Default::default()
            }),
        })
        .await,
        Code::PermissionDenied,
        "UpsertCaller",
    );
    assert_status(
        son.cancel_order(pb::CancelOrderRequest {
            order_id: theirs.order_id.clone(),
            reason: "不要了".into(),
            ..Default::default()
        })
        .await,
        Code::PermissionDenied,
        "CancelOrder",
    );
    assert_status(
        son.lookup_caller(pb::LookupCallerRequest { phone: GRAN.into() })
            .await,
        Code::PermissionDenied,
        "LookupCaller",
    );

    // Nothing changed.
    assert_eq!(
        standing(order_as_operator(&city, &theirs.order_id).await),
        standing(before)
    );
    assert_eq!(city.store.get_caller(OTHER).await.unwrap(), other_before);
    assert_eq!(order_count(&city).await, n);
}

#[tokio::test]
async fn an_older_persons_device_grants_access_to_its_owners_trips() {
    let city = TestCity::start().await;
    let (id, secret, mut button) =
        device_client(&city, GRAN, place(north_of_centre(800.0), "家")).await;
    let pressed = button
        .press_button(pb::PressButtonRequest {
            press: pb::PressType::Short as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let token = login_key(city.channel(), pb::KeyKind::Device, &id, &secret).await;
    let mut access =
        taxi_proto::v1::access_service_client::AccessServiceClient::new(city.as_token(&token));
    // A device grants for its owner only.
    assert_status(
        access
            .grant_relative(pb::GrantRelativeRequest {
                passenger_phone: OTHER.into(),
                relative_name: "儿子".into(),
                relative_phone: SON.into(),
            })
            .await,
        Code::PermissionDenied,
        "passenger_phone",
    );
    let grant = access
        .grant_relative(pb::GrantRelativeRequest {
            relative_name: "儿子".into(),
            relative_phone: SON.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (_, mut son) = redeemed(&city, &grant.grant_code).await;
    let seen = son
        .get_order(pb::GetOrderRequest {
            order_id: pressed.order_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(seen.status, pb::OrderStatus::Pending as i32);
    assert!(seen.device_id.is_empty(), "the status, not the device");
}

#[tokio::test]
async fn a_withdrawn_grant_is_refused_within_two_seconds() {
    let city = TestCity::start().await;
    caller_with_home(&city, GRAN, None).await;
    let (id, mut son) = relative_for(&city, GRAN).await;
    let order = son
        .create_booking(from_home(GRAN))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let get = pb::GetOrderRequest {
        order_id: order.order_id.clone(),
    };
    son.get_order(get.clone()).await.expect("granted");
    city.access()
        .revoke_relative(pb::RevokeRelativeRequest {
            relative_id: id.clone(),
        })
        .await
        .unwrap();
    let revoked = Instant::now();
    loop {
        match son.get_order(get.clone()).await {
            Err(s) if s.code() == Code::Unauthenticated => break,
            other => assert!(
                revoked.elapsed() < Duration::from_secs(2),
                "still answered 2 s after revocation: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let n = order_count(&city).await;
    assert_status(
        son.create_booking(from_home(GRAN)).await,
        Code::Unauthenticated,
        "",
    );
    assert_eq!(
        order_count(&city).await,
        n,
        "a refused booking stores nothing"
    );
}
