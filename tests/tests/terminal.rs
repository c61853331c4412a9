//! The in-car terminal gateway from outside: a JT/T 808 terminal over real TCP, against a
//! real Redis, with the rest of the city through gRPC. A terminal registers only when a
//! fleet admin bound its phone number to the taxi whose plate it gives, authenticates with
//! the code it got, and only then do its heartbeats and positions count; its fixes land
//! where the driver app's do; a frame for another terminal is refused; a second session
//! replaces the first; a silent one is closed.

use futures::{SinkExt, StreamExt};
use std::time::Duration;
use taxi_jtt808::message::*;
use taxi_jtt808::{Body, Codec, Header, Packet};
use taxi_proto::v1 as pb;
use taxi_tests::*;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

const PHONE: &str = "13912345678";
const WAIT: Duration = Duration::from_secs(3);

/// A terminal: a connection and its serial numbers.
struct Terminal {
    io: Framed<TcpStream, Codec>,
    phone: String,
    serial: u16,
}

impl Terminal {
    async fn connect(addr: std::net::SocketAddr, phone: &str) -> Self {
        Self {
            io: Framed::new(TcpStream::connect(addr).await.unwrap(), Codec::default()),
            phone: phone.into(),
            serial: 0,
        }
    }

    /// Sends `body` as this terminal (or as `phone`) and returns the answer.
    async fn ask_as(&mut self, phone: &str, body: Body) -> Body {
        self.serial += 1;
        let header = Header::new(body.id(), phone, self.serial);
        self.io.send(Packet { header, body }).await.unwrap();
        let answer = tokio::time::timeout(WAIT, self.io.next())
            .await
            .expect("an answer in time")
            .expect("the connection is open")
            .unwrap()
            .unwrap();
        assert_eq!(answer.header.phone, phone);
        match &answer.body {
            Body::PlatformReply(r) => {
                assert_eq!(r.serial, self.serial, "the reply names its message")
            }
            Body::RegisterReply(r) => {
                assert_eq!(r.serial, self.serial, "the reply names its message")
            }
            _ => {}
        }
        answer.body
    }

    async fn ask(&mut self, body: Body) -> Body {
        let phone = self.phone.clone();
        self.ask_as(&phone, body).await
    }

    /// The result of the platform's general reply to `body`.
    async fn result(&mut self, body: Body) -> u8 {
        match self.ask(body).await {
            Body::PlatformReply(r) => r.result,
            other => panic!("not a general reply: {other:?}"),
        }
    }

    /// The next frame the platform starts (replies to earlier messages skipped).
    async fn pushed(&mut self) -> Body {
        loop {
            let p = tokio::time::timeout(WAIT, self.io.next())
                .await
                .expect("a frame in time")
                .expect("the connection is open")
                .unwrap()
                .unwrap();
            if !matches!(p.body, Body::PlatformReply(_)) {
                return p.body;
            }
        }
    }

    /// Sends `body` and collects what comes back until the general reply to it: the reply's
    /// result and any frames pushed meanwhile (before or after it, within `extra`).
    async fn exchange(&mut self, body: Body, extra: Duration) -> (u8, Vec<Body>) {
        self.serial += 1;
        let header = Header::new(body.id(), &self.phone, self.serial);
        self.io.send(Packet { header, body }).await.unwrap();
        let (mut code, mut pushed) = (None, vec![]);
        let end = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < end {
            let wait = if code.is_some() { extra } else { WAIT };
            let Ok(Some(Ok(Ok(p)))) = tokio::time::timeout(wait, self.io.next()).await else {
                break;
            };
            match p.body {
                Body::PlatformReply(r) if r.serial == self.serial => code = Some(r.result),
                other => pushed.push(other),
            }
        }
        (code.expect("a reply"), pushed)
    }

    /// Whether the gateway closed this connection within `wait`.
    async fn closed_within(&mut self, wait: Duration) -> bool {
        matches!(
            tokio::time::timeout(wait, self.io.next()).await,
            Ok(None) | Ok(Some(Err(_)))
        )
    }
}

fn register(plate: &str) -> Body {
    Body::Register(Register {
        province: 50,
        city: 100,
        maker: "70111".into(),
        model: "TX-9".into(),
        terminal_id: "T0001".into(),
        plate_color: 2,
        plate: plate.into(),
    })
}

fn location_at(at: pb::LatLng, ms: i64) -> Location {
    Location {
        alarm: 0,
        status: status::FIXED,
        latitude: at.latitude,
        longitude: at.longitude,
        altitude: 200,
        speed: 300,
        direction: 90,
        time: Time::from_unix_ms(ms),
        extra: vec![],
    }
}

async fn gateway(city: &TestCity, idle: Duration) -> (std::net::SocketAddr, CancellationToken) {
    let stop = CancellationToken::new();
    let gw = taxi_terminal::Gateway::new(city.store.clone(), city.settings.clone(), idle);
    let (addr, _) = gw
        .bind("127.0.0.1:0".parse().unwrap(), stop.clone())
        .await
        .unwrap();
    (addr, stop)
}

async fn code_of(answer: Body) -> String {
    match answer {
        Body::RegisterReply(r) => {
            assert_eq!(r.result, register_result::OK, "{r:?}");
            assert!(r.auth_code.len() >= 16, "{r:?}");
            r.auth_code
        }
        other => panic!("{other:?}"),
    }
}

fn auth(code: &str) -> Body {
    Body::Authenticate(Authenticate {
        auth_code: code.into(),
        imei: "860000000000001".into(),
        software: "V1.2".into(),
    })
}

#[tokio::test]
async fn a_bound_terminal_registers_authenticates_and_reports_as_its_taxi() {
    let city = TestCity::start().await;
    let taxi = register_taxi(&mut city.fleet(), "渝A80808").await;
    city.store
        .bind_terminal(&taxi.taxi_id, PHONE)
        .await
        .unwrap();
    let (addr, stop) = gateway(&city, Duration::from_secs(60)).await;

    // A terminal nobody bound, and a bound one giving another plate, are refused.
    let mut stranger = Terminal::connect(addr, "13900000000").await;
    match stranger.ask(register("渝A80808")).await {
        Body::RegisterReply(r) => assert_eq!(r.result, register_result::NO_TERMINAL),
        other => panic!("{other:?}"),
    }
    let mut t = Terminal::connect(addr, PHONE).await;
    match t.ask(register("渝A99999")).await {
        Body::RegisterReply(r) => assert_eq!(r.result, register_result::NO_VEHICLE),
        other => panic!("{other:?}"),
    }
    // Before authenticating, nothing counts.
    let here = north_of_centre(300.0);
    assert_eq!(t.result(Body::Heartbeat).await, result::FAILED);
    assert_eq!(
        t.result(Body::Location(location_at(here, city.now_ms())))
            .await,
        result::FAILED
    );
    assert!(
        city.store
            .get_taxi(&taxi.taxi_id)
            .await
            .unwrap()
            .position
            .is_none()
    );

    let code = code_of(t.ask(register("渝A80808")).await).await;
    assert_eq!(
        t.result(auth("wrong code wrong code")).await,
        result::FAILED
    );
    assert_eq!(t.result(auth(&code)).await, result::OK);
    // Authenticated: the taxi is on shift, its heartbeats and fixes count.
    let rec = city.store.get_taxi(&taxi.taxi_id).await.unwrap();
    assert_eq!(rec.state, taxi_domain::taxi::TaxiState::Free);
    assert_eq!(t.result(Body::Heartbeat).await, result::OK);
    let fix_ms = city.now_ms() - 1_000;
    assert_eq!(
        t.result(Body::Location(location_at(here, fix_ms))).await,
        result::OK
    );
    let (at, ms) = city
        .store
        .get_taxi(&taxi.taxi_id)
        .await
        .unwrap()
        .position
        .unwrap();
    assert!((at.lat() - here.latitude).abs() < 1e-5 && (at.lon() - here.longitude).abs() < 1e-5);
    assert_eq!(
        ms,
        fix_ms / 1000 * 1000,
        "the fix time, to the second BCD carries"
    );
    // Where dispatch looks: the free taxis near the centre.
    let near = city
        .fleet()
        .list_nearby_taxis(pb::ListNearbyTaxisRequest {
            center: Some(north_of_centre(0.0)),
            radius_meters: 1_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        near.taxis.iter().any(|n| n.taxi_id == taxi.taxi_id),
        "{near:?}"
    );

    // A frame naming another terminal on this session is refused and stores nothing.
    let elsewhere = north_of_centre(2_000.0);
    let other = t
        .ask_as(
            "13900000001",
            Body::Location(location_at(elsewhere, city.now_ms())),
        )
        .await;
    assert!(
        matches!(
            other,
            Body::PlatformReply(Reply {
                result: result::FAILED,
                ..
            })
        ),
        "{other:?}"
    );
    let (still, _) = city
        .store
        .get_taxi(&taxi.taxi_id)
        .await
        .unwrap()
        .position
        .unwrap();
    assert!((still.lat() - here.latitude).abs() < 1e-5);

    // A batch: the newest fix wins.
    let later = north_of_centre(500.0);
    let batch = LocationBatch {
        kind: 0,
        items: vec![
            // Two seconds apart: the BCD time carries whole seconds.
            location_at(later, city.now_ms()),
            location_at(here, city.now_ms() - 2_000),
        ],
    };
    assert_eq!(t.result(Body::LocationBatch(batch)).await, result::OK);
    let (now_at, _) = city
        .store
        .get_taxi(&taxi.taxi_id)
        .await
        .unwrap()
        .position
        .unwrap();
    assert!((now_at.lat() - later.latitude).abs() < 1e-5);

    // The emergency button: one operator alert when the bit sets, at the report's position;
    // the terminal keeps the bit set, which raises nothing more.
    let mut sos = location_at(later, city.now_ms());
    sos.alarm = alarm::EMERGENCY;
    assert_eq!(
        t.result(Body::Location(sos.clone())).await,
        result::ALARM_CONFIRMED
    );
    assert_eq!(t.result(Body::Location(sos)).await, result::OK);
    let alerts = city
        .hotline()
        .list_alerts(pb::ListAlertsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(
        (a.taxi_id.as_str(), a.device_id.as_str()),
        (taxi.taxi_id.as_str(), "")
    );
    assert!(a.caller_name.contains("渝A80808"), "{a:?}");
    let p = a.location.as_ref().unwrap().location.unwrap();
    assert!((p.latitude - later.latitude).abs() < 1e-5, "{a:?}");

    // Unreadable bytes are skipped; the session goes on.
    use tokio::io::AsyncWriteExt;
    t.io.get_mut()
        .write_all(b"\x00garbage\x7e\x01\x02")
        .await
        .unwrap();
    assert_eq!(t.result(Body::Heartbeat).await, result::OK);

    // The terminal authenticates on a new connection: the old one is closed.
    let mut again = Terminal::connect(addr, PHONE).await;
    assert_eq!(again.result(auth(&code)).await, result::OK);
    assert!(
        t.closed_within(WAIT).await,
        "the replaced session is closed"
    );
    assert_eq!(again.result(Body::Heartbeat).await, result::OK);
    stop.cancel();
}

#[tokio::test]
async fn a_silent_terminal_is_disconnected_and_bad_codes_end_the_session() {
    let city = TestCity::start().await;
    let taxi = register_taxi(&mut city.fleet(), "渝A80809").await;
    city.store
        .bind_terminal(&taxi.taxi_id, "13912340000")
        .await
        .unwrap();
    let (addr, stop) = gateway(&city, Duration::from_millis(600)).await;
    let mut quiet = Terminal::connect(addr, "13912340000").await;
    assert!(
        quiet.closed_within(Duration::from_secs(3)).await,
        "closed after the idle time"
    );

    let mut guesser = Terminal::connect(addr, "13912340000").await;
    let _ = code_of(guesser.ask(register("渝A80809")).await).await;
    for _ in 0..3 {
        assert_eq!(
            guesser.result(auth("guess guess guess")).await,
            result::FAILED
        );
    }
    assert!(
        guesser.closed_within(WAIT).await,
        "three wrong codes close the connection"
    );
    // Binding: a phone number already bound to another taxi is refused.
    let other = register_taxi(&mut city.fleet(), "渝A80810").await;
    let err = city
        .store
        .bind_terminal(&other.taxi_id, "13912340000")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bound to taxi"), "{err}");
    assert!(city.store.bind_terminal("T404", "139").await.is_err());
    stop.cancel();
}

/// A terminal of a taxi at `at`, bound, registered, authenticated and reporting.
async fn terminal_taxi(
    city: &TestCity,
    addr: std::net::SocketAddr,
    plate: &str,
    phone: &str,
    at: pb::LatLng,
) -> (String, Terminal) {
    let taxi = register_taxi(&mut city.fleet(), plate).await;
    city.store
        .bind_terminal(&taxi.taxi_id, phone)
        .await
        .unwrap();
    let mut t = Terminal::connect(addr, phone).await;
    let code = code_of(t.ask(register(plate)).await).await;
    assert_eq!(t.result(auth(&code)).await, result::OK);
    assert_eq!(
        t.result(Body::Location(location_at(at, city.now_ms())))
            .await,
        result::OK
    );
    (taxi.taxi_id, t)
}

#[tokio::test]
async fn a_press_near_a_terminal_is_offered_grabbed_and_driven_through_905() {
    let city = TestCity::start_with(fast_config()).await;
    let (addr, stop) = gateway(&city, Duration::from_secs(60)).await;
    let (taxi, mut t) = terminal_taxi(&city, addr, "渝A90501", PHONE, north_of_centre(300.0)).await;
    let (_, _, mut device) =
        device_client(&city, "13800009051", place(north_of_centre(0.0), "解放碑")).await;
    let order = device
        .press_button(pb::PressButtonRequest {
            press: pb::PressType::Short as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    // The offer reaches the terminal as 0x8B00, in GBK, flagged older; the city offers
    // one taxi at a time, so it comes as a direct assignment to this taxi.
    let Body::OrderOffer(offer) = t.pushed().await else {
        panic!("no 0x8B00")
    };
    assert_eq!(offer.kind, order_kind::ASSIGNED, "sequential: {offer:?}");
    assert_eq!(offer.address, "解放碑");
    assert!(offer.remark.contains("老年乘客"), "{offer:?}");
    let at = north_of_centre(0.0);
    assert!((offer.latitude - at.latitude).abs() < 1e-5);
    // The grab claims it: the reply, then the details with the passenger's phone masked.
    let (code, pushed) = t
        .exchange(Body::Grab(offer.business_id), Duration::from_millis(300))
        .await;
    assert_eq!(code, result::OK);
    let details = pushed
        .iter()
        .find_map(|b| match b {
            Body::OrderDetails(d) => Some(d.clone()),
            _ => None,
        })
        .expect("0x8B01");
    assert_eq!(details.business_id, offer.business_id);
    assert!(details.phone.contains("****"), "masked: {details:?}");
    // The device tells its owner which taxi comes: the terminal's.
    let status = device
        .get_device_status(pb::GetDeviceStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    let o = status.order.unwrap();
    assert_eq!(o.order_id, order.order_id);
    assert_eq!(o.taxi.as_ref().unwrap().taxi_id, taxi);
    assert_eq!(o.taxi.as_ref().unwrap().plate, "渝A90501");
    // The driver ends the trip from the terminal: the order is completed.
    let (code, _) = t
        .exchange(Body::OrderCompleted(offer.business_id), Duration::ZERO)
        .await;
    assert_eq!(code, result::OK);
    let done = wait_order(&city, &order.order_id, WAIT, |o| {
        o.status == pb::OrderStatus::Completed as i32
    })
    .await;
    assert_eq!(done.taxi.unwrap().taxi_id, taxi);
    stop.cancel();
}

#[tokio::test]
async fn an_app_and_a_terminal_grabbing_one_order_give_exactly_one_winner() {
    let mut config = fast_config();
    config.settings.offer_mode = taxi_domain::settings::OfferMode::Broadcast(2);
    let city = TestCity::start_with(config).await;
    let (addr, stop) = gateway(&city, Duration::from_secs(60)).await;
    for round in 0..3u16 {
        // Each round far from the last: its free taxis are out of reach.
        let base = 8_000.0 * f64::from(round);
        let phone = format!("1391234{:04}", 5000 + round);
        let (tid, mut t) = terminal_taxi(
            &city,
            addr,
            &format!("渝A9{:04}", 600 + round),
            &phone,
            north_of_centre(base + 200.0),
        )
        .await;
        let mut app = driver_at(
            &city,
            &format!("渝A9{:04}", 700 + round),
            north_of_centre(base + 250.0),
        )
        .await;
        let order = book_at(
            &city,
            &format!("1380000{:04}", 9100 + round),
            north_of_centre(base),
        )
        .await;
        let Body::OrderOffer(offer) = t.pushed().await else {
            panic!("no 0x8B00")
        };
        assert_eq!(offer.kind, order_kind::NOW, "broadcast: {offer:?}");
        let app_offer = app.offer(WAIT).await;
        assert_eq!(app_offer.order_id, order.order_id);
        let mut driver = city.driver();
        let accept = driver.accept_offer(pb::AcceptOfferRequest {
            taxi_id: app.taxi_id.clone(),
            order_id: order.order_id.clone(),
        });
        let grab = t.exchange(Body::Grab(offer.business_id), Duration::from_millis(300));
        let (app_won, (code, pushed)) = tokio::join!(accept, grab);
        let terminal_won = code == result::OK;
        assert!(
            app_won.is_ok() != terminal_won,
            "exactly one winner: app {app_won:?}, terminal {code}"
        );
        if !terminal_won {
            assert!(
                pushed.iter().any(
                    |b| matches!(b, Body::OrderCancelled(c) if c.business_id == offer.business_id)
                ),
                "the losing terminal is told: {pushed:?}"
            );
        }
        let o = wait_order(&city, &order.order_id, WAIT, |o| {
            o.status == pb::OrderStatus::Accepted as i32
        })
        .await;
        let winner = if terminal_won {
            tid.clone()
        } else {
            app.taxi_id.clone()
        };
        assert_eq!(o.taxi.unwrap().taxi_id, winner);
        // Both free again for the next round.
        drive_trip(&city, &winner, &order.order_id).await;
    }
    stop.cancel();
}

#[tokio::test]
async fn a_terminal_turning_down_its_assignment_passes_the_order_to_the_next_taxi() {
    let city = TestCity::start_with(fast_config()).await;
    let (addr, stop) = gateway(&city, Duration::from_secs(60)).await;
    // The terminal is nearest, so the sequential offer goes to it first.
    let (_, mut t) = terminal_taxi(&city, addr, "渝A90801", PHONE, north_of_centre(100.0)).await;
    let mut app = driver_at(&city, "渝A90802", north_of_centre(900.0)).await;
    let order = book_at(&city, "13800009081", north_of_centre(0.0)).await;
    let Body::OrderOffer(offer) = t.pushed().await else {
        panic!("no 0x8B00")
    };
    assert_eq!(offer.kind, order_kind::ASSIGNED);
    // The driver turns it down from the terminal (0x0B08 of an open offer).
    let (code, _) = t
        .exchange(
            Body::DriverCancel(DriverCancel {
                business_id: offer.business_id,
                reason: 0,
            }),
            Duration::ZERO,
        )
        .await;
    assert_eq!(code, result::OK);
    // The next nearest taxi, an app, gets it at once, not after the offer window.
    let next = app.offer(WAIT).await;
    assert_eq!(next.order_id, order.order_id);
    assert!(!next.broadcast);
    // And a late grab of the turned-down assignment wins nothing.
    let (code, _) = t
        .exchange(Body::Grab(offer.business_id), Duration::ZERO)
        .await;
    assert_eq!(code, result::FAILED);
    stop.cancel();
}
