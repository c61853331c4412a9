//! Recurring rides (issue 14): patterns set up over gRPC, their reservations materialised
//! a horizon ahead on the store's clock, exactly once each, and following every change.

use chrono::{Datelike, Duration as Days, NaiveDate, Weekday};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use taxi_domain::priority::china_date;
use taxi_domain::recurring::{DEFAULT_HORIZON_MS, china_instant_ms};
use taxi_domain::settings::Settings;
use taxi_proto::v1 as pb;
use taxi_proto::v1::recurring_service_client::RecurringServiceClient;
use taxi_tests::*;
use tonic::Code;

/// The older passenger.
const GRAN: &str = "13512345678";
/// Someone else.
const OTHER: &str = "13622223333";
/// The relative's own phone.
const SON: &str = "13900002222";

const DAY: Duration = Duration::from_secs(24 * 3600);

type Recurring = RecurringServiceClient<Authed>;

fn ops(city: &TestCity) -> Recurring {
    RecurringServiceClient::new(city.as_supervisor())
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The first Monday strictly after `d`.
fn monday_after(d: NaiveDate) -> NaiveDate {
    let mut m = d + Days::days(1);
    while m.weekday() != Weekday::Mon {
        m += Days::days(1);
    }
    m
}

fn rules(phone: &str, start: NaiveDate, end: NaiveDate, time: &str) -> pb::PatternRules {
    pb::PatternRules {
        passenger_phone: phone.into(),
        passenger_name: "张秀英".into(),
        start_date: ymd(start),
        end_date: ymd(end),
        count: None,
        schedule: Some(pb::RecurringSchedule {
            weekdays: vec![1, 3, 5],
            pickup_time: time.into(),
            return_time: String::new(),
            pickup: Some(place(north_of_centre(500.0), "渝中区解放碑民族路88号")),
            dropoff: Some(place(north_of_centre(3000.0), "重庆医科大学附属第一医院")),
            needs: vec![pb::PassengerNeed::WalkingAid as i32],
        }),
        skipped_dates: vec![],
    }
}

/// The Mon/Wed/Fri dates of `[start, end]` whose `time` pickup is in `[from, until)`.
fn expected(
    start: NaiveDate,
    end: NaiveDate,
    skipped: &[NaiveDate],
    time: (u32, u32),
    from_ms: i64,
    until_ms: i64,
) -> BTreeSet<NaiveDate> {
    let mut out = BTreeSet::new();
    let mut d = start;
    while d <= end {
        let at = china_instant_ms(
            d,
            chrono::NaiveTime::from_hms_opt(time.0, time.1, 0).unwrap(),
        );
        if matches!(d.weekday(), Weekday::Mon | Weekday::Wed | Weekday::Fri)
            && !skipped.contains(&d)
            && (from_ms..until_ms).contains(&at)
        {
            out.insert(d);
        }
        d += Days::days(1);
    }
    out
}

/// The pattern's reservations as stored: date → order id.
async fn made(city: &TestCity, id: &str) -> BTreeMap<NaiveDate, String> {
    city.store
        .pattern_made(id)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            let date = k.split(':').nth(1).unwrap();
            assert!(k.ends_with(":out"), "{k}");
            (NaiveDate::parse_from_str(date, "%Y%m%d").unwrap(), v)
        })
        .collect()
}

/// Every order of the passenger, as operators see them (ListOrders, all pages).
async fn orders_of(city: &TestCity, phone: &str) -> Vec<pb::Order> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = city
            .hotline()
            .list_orders(pb::ListOrdersRequest {
                caller_phone: phone.into(),
                page_size: 100,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.orders);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

fn pickup_ms(o: &pb::Order) -> i64 {
    let t = o.pickup_time.as_ref().unwrap();
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

fn china_hm(ms: i64) -> (u32, u32) {
    use chrono::Timelike;
    let t = chrono::DateTime::from_timestamp_millis(ms + 8 * 3600 * 1000)
        .unwrap()
        .naive_utc();
    (t.hour(), t.minute())
}

async fn pass(city: &TestCity) -> usize {
    city.store
        .materialise_recurring(&Settings::default(), DEFAULT_HORIZON_MS)
        .await
        .unwrap()
}

/// The live (not cancelled) reservations of the passenger, by China date.
fn live(orders: &[pb::Order]) -> BTreeMap<NaiveDate, Vec<&pb::Order>> {
    let mut out: BTreeMap<NaiveDate, Vec<&pb::Order>> = BTreeMap::new();
    for o in orders {
        if o.status != pb::OrderStatus::Cancelled as i32 {
            out.entry(china_date(pickup_ms(o))).or_default().push(o);
        }
    }
    out
}

#[tokio::test]
async fn a_mon_wed_fri_pattern_is_reserved_exactly_once_per_date_and_follows_every_change() {
    let city = TestCity::start().await;
    city.pause();
    let today = china_date(city.now_ms());
    let start = monday_after(today);
    let end = start + Days::days(27);
    let holiday = start + Days::days(2); // the first Wednesday
    let mut r = rules(GRAN, start, end, "07:30");
    r.skipped_dates = vec![ymd(holiday)];
    let p = ops(&city)
        .create_pattern(pb::CreatePatternRequest { rules: Some(r) })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap();
    let id = p.pattern_id.clone();

    // Created: exactly the Mon/Wed/Fri dates within 21 days, the holiday skipped.
    let now = city.now_ms();
    let want = expected(
        start,
        end,
        &[holiday],
        (7, 30),
        now,
        now + DEFAULT_HORIZON_MS,
    );
    assert!(want.len() >= 6, "{want:?}");
    let m = made(&city, &id).await;
    assert_eq!(m.keys().copied().collect::<BTreeSet<_>>(), want);
    assert_eq!(p.reservations.len(), want.len());
    let orders = orders_of(&city, GRAN).await;
    assert_eq!(orders.len(), want.len(), "one reservation per date");
    for o in &orders {
        assert_eq!(o.status, pb::OrderStatus::Scheduled as i32);
        assert_eq!(china_hm(pickup_ms(o)), (7, 30));
        assert!(want.contains(&china_date(pickup_ms(o))));
        assert!(o.reservation);
    }

    // The pass again, twice: nothing doubles.
    assert_eq!(pass(&city).await, 0);
    assert_eq!(pass(&city).await, 0);
    assert_eq!(orders_of(&city, GRAN).await.len(), want.len());

    // Twelve days on (past the first week, whatever weekday today is): the window moved;
    // the pass adds only the new dates, and again nothing.
    city.advance(12 * DAY);
    let now = city.now_ms();
    let added = pass(&city).await;
    assert_eq!(pass(&city).await, 0);
    let all_dates = expected(start, end, &[holiday], (7, 30), 0, now + DEFAULT_HORIZON_MS);
    let m = made(&city, &id).await;
    assert_eq!(m.keys().copied().collect::<BTreeSet<_>>(), all_dates);
    assert_eq!(added, all_dates.len() - want.len());
    let orders = orders_of(&city, GRAN).await;
    assert_eq!(orders.len(), all_dates.len());
    assert!(
        live(&orders).values().all(|v| v.len() == 1),
        "no date twice"
    );

    // Skip one future date: its reservation is cancelled and not made again.
    let skip = *all_dates
        .iter()
        .find(|d| **d > china_date(now) + Days::days(2))
        .unwrap();
    let skipped_order = m[&skip].clone();
    ops(&city)
        .cancel_occurrence(pb::CancelOccurrenceRequest {
            pattern_id: id.clone(),
            date: ymd(skip),
        })
        .await
        .unwrap();
    assert_eq!(pass(&city).await, 0);
    let got = city.store.get_order(&skipped_order).await.unwrap();
    assert_eq!(got.status, taxi_domain::order::OrderStatus::Cancelled);
    assert!(!made(&city, &id).await.contains_key(&skip));

    // Change the time to 09:00: future reservations move, past ones do not.
    let mut r = rules(GRAN, start, end, "09:00");
    r.skipped_dates = vec![ymd(holiday), ymd(skip)];
    ops(&city)
        .update_pattern(pb::UpdatePatternRequest {
            pattern_id: id.clone(),
            rules: Some(r),
        })
        .await
        .unwrap();
    assert_eq!(pass(&city).await, 0, "the update made them already");
    let orders = orders_of(&city, GRAN).await;
    let by_date = live(&orders);
    let mut past = 0;
    for (date, os) in &by_date {
        assert_eq!(os.len(), 1, "{date}: one live reservation");
        let o = os[0];
        if pickup_ms(o) < now {
            past += 1;
            assert_eq!(china_hm(pickup_ms(o)), (7, 30), "{date}: past trips stay");
        } else {
            assert_eq!(china_hm(pickup_ms(o)), (9, 0), "{date}: future trips move");
            assert_eq!(o.status, pb::OrderStatus::Scheduled as i32);
        }
    }
    assert!(past >= 2, "the first week's trips are past: {past}");
    let future_want = expected(
        start,
        end,
        &[holiday, skip],
        (9, 0),
        now,
        now + DEFAULT_HORIZON_MS,
    );
    let future_got: BTreeSet<NaiveDate> = by_date
        .iter()
        .filter(|(_, os)| pickup_ms(os[0]) >= now)
        .map(|(d, _)| *d)
        .collect();
    assert_eq!(future_got, future_want);

    // Pause: every future reservation is cancelled and none is made.
    let before_pause = city.store.get_pattern(&id).await.unwrap().unwrap();
    let paused = ops(&city)
        .pause_pattern(pb::PausePatternRequest {
            pattern_id: id.clone(),
            paused: true,
        })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap();
    assert!(!paused.paused_from.is_empty());
    assert_eq!(pass(&city).await, 0);
    // A pass that read the pattern before the pause (a race) makes nothing either: a
    // reservation is made only from the pattern's current version.
    assert_eq!(
        city.store
            .materialise_pattern(&before_pause, &Settings::default(), DEFAULT_HORIZON_MS)
            .await
            .unwrap(),
        0
    );
    // Future reservations still waiting (past ones are dispatch's now, whatever came of them).
    let scheduled = |orders: &[pb::Order]| {
        orders
            .iter()
            .filter(|o| o.status == pb::OrderStatus::Scheduled as i32 && pickup_ms(o) >= now)
            .count()
    };
    // Today's trip may stand if it was before the pause date; nothing after today does.
    let orders = orders_of(&city, GRAN).await;
    assert!(
        live(&orders)
            .keys()
            .all(|d| *d <= china_date(city.now_ms())),
        "nothing after the pause"
    );
    // Resumed: made again.
    ops(&city)
        .pause_pattern(pb::PausePatternRequest {
            pattern_id: id.clone(),
            paused: false,
        })
        .await
        .unwrap();
    assert_eq!(scheduled(&orders_of(&city, GRAN).await), future_want.len());

    // Cancel all: every future reservation goes, the pass makes none.
    let cancelled = ops(&city)
        .cancel_pattern(pb::CancelPatternRequest {
            pattern_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap();
    assert!(cancelled.cancelled);
    city.advance(3 * DAY);
    assert_eq!(pass(&city).await, 0);
    assert_eq!(scheduled(&orders_of(&city, GRAN).await), 0);
    assert_status(
        ops(&city)
            .pause_pattern(pb::PausePatternRequest {
                pattern_id: id.clone(),
                paused: true,
            })
            .await,
        Code::FailedPrecondition,
        "cancelled",
    );
    let listed = ops(&city)
        .list_patterns(pb::ListPatternsRequest {
            passenger_phone: GRAN.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .patterns;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].cancelled);
}

/// Grants `SON` access to `passenger` and logs in as the relative.
async fn relative_for(city: &TestCity, passenger: &str) -> Recurring {
    RecurringServiceClient::new(city.relative_of(passenger, SON).await)
}

#[tokio::test]
async fn a_relative_manages_their_passengers_patterns_and_no_one_elses() {
    let city = TestCity::start().await;
    city.pause();
    caller_with_home(&city, GRAN, Some("19450808")).await;
    let mut son = relative_for(&city, GRAN).await;
    let start = monday_after(china_date(city.now_ms()));
    let end = start + Days::days(13);

    let mine = son
        .create_pattern(pb::CreatePatternRequest {
            rules: Some(rules(GRAN, start, end, "07:30")),
        })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap();
    assert!(!mine.reservations.is_empty());
    // The reservations are the relative's family-proxy bookings for the passenger.
    let orders = orders_of(&city, GRAN).await;
    assert_eq!(orders.len(), mine.reservations.len());
    assert!(
        orders
            .iter()
            .all(|o| o.channel == pb::Channel::FamilyProxy as i32
                && o.booker_phone == SON
                && o.elderly)
    );
    son.pause_pattern(pb::PausePatternRequest {
        pattern_id: mine.pattern_id.clone(),
        paused: true,
    })
    .await
    .unwrap();
    assert_eq!(
        son.list_patterns(pb::ListPatternsRequest {
            passenger_phone: GRAN.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .patterns
        .len(),
        1
    );

    // Another passenger: refused to create and list, and their pattern is not found.
    assert_status(
        son.create_pattern(pb::CreatePatternRequest {
            rules: Some(rules(OTHER, start, end, "07:30")),
        })
        .await,
        Code::PermissionDenied,
        "rules.passenger_phone",
    );
    assert_status(
        son.list_patterns(pb::ListPatternsRequest {
            passenger_phone: OTHER.into(),
        })
        .await,
        Code::PermissionDenied,
        "passenger_phone",
    );
    let theirs = ops(&city)
        .create_pattern(pb::CreatePatternRequest {
            rules: Some(rules(OTHER, start, end, "08:00")),
        })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap();
    let id = theirs.pattern_id.clone();
    assert_status(
        son.cancel_pattern(pb::CancelPatternRequest {
            pattern_id: id.clone(),
        })
        .await,
        Code::NotFound,
        "pattern_id",
    );
    assert_status(
        son.cancel_occurrence(pb::CancelOccurrenceRequest {
            pattern_id: id.clone(),
            date: ymd(start),
        })
        .await,
        Code::NotFound,
        "pattern_id",
    );
    assert_status(
        son.update_pattern(pb::UpdatePatternRequest {
            pattern_id: id.clone(),
            rules: Some(rules(OTHER, start, end, "09:00")),
        })
        .await,
        Code::NotFound,
        "pattern_id",
    );
    // Untouched.
    let stored = city.store.get_pattern(&id).await.unwrap().unwrap();
    assert!(!stored.cancelled && stored.skipped_dates.is_empty());
    assert_eq!(stored.pickup_time, "08:00");
    assert_eq!(
        orders_of(&city, OTHER)
            .await
            .iter()
            .filter(|o| o.status == pb::OrderStatus::Scheduled as i32)
            .count(),
        theirs.reservations.len()
    );
}

#[tokio::test]
async fn bad_patterns_are_refused_naming_the_field_and_nothing_is_stored() {
    let city = TestCity::start().await;
    let start = monday_after(china_date(city.now_ms()));
    let mut no_days = rules(GRAN, start, start + Days::days(20), "07:30");
    no_days.schedule.as_mut().unwrap().weekdays.clear();
    assert_status(
        ops(&city)
            .create_pattern(pb::CreatePatternRequest {
                rules: Some(no_days),
            })
            .await,
        Code::InvalidArgument,
        "rules.schedule.weekdays",
    );
    let backwards = rules(GRAN, start, start - Days::days(1), "07:30");
    assert_status(
        ops(&city)
            .create_pattern(pb::CreatePatternRequest {
                rules: Some(backwards),
            })
            .await,
        Code::InvalidArgument,
        "rules.end_date",
    );
    let mut zero = rules(GRAN, start, start, "07:30");
    zero.end_date.clear();
    zero.count = Some(0);
    assert_status(
        ops(&city)
            .create_pattern(pb::CreatePatternRequest { rules: Some(zero) })
            .await,
        Code::InvalidArgument,
        "rules.count",
    );
    assert_status(
        ops(&city)
            .create_pattern(pb::CreatePatternRequest { rules: None })
            .await,
        Code::InvalidArgument,
        "rules",
    );
    // Nothing stored: no pattern, no reservation.
    assert!(city.store.patterns_of(GRAN).await.unwrap().is_empty());
    assert!(orders_of(&city, GRAN).await.is_empty());
    assert_eq!(pass(&city).await, 0);
    // A pattern that is fine is then accepted (the refusals were about the fields).
    let ok = rules(GRAN, start, start + Days::days(20), "07:30");
    ops(&city)
        .create_pattern(pb::CreatePatternRequest { rules: Some(ok) })
        .await
        .unwrap();
    assert_eq!(city.store.patterns_of(GRAN).await.unwrap().len(), 1);
}
