//! The Alibaba Cloud (Dypls) adapter against a real local HTTP server that checks every
//! request's ACS3-HMAC-SHA256 signature the way the API does (computed here from the
//! published scheme, independently of the adapter's code), refuses replayed nonces, keeps
//! its own AXB bindings and answers in the API's JSON shape. Then a whole trip through
//! gRPC with the server configured for `aliyun`: bound at assignment, released after the
//! delay by the stepped clock.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taxi_domain::clock::SystemClock;
use taxi_privacy::aliyun::{Aliyun, AliyunSettings};
use taxi_privacy::{BindRequest, PrivacySettings, Provider, ProviderError, ProviderSettings};
use taxi_proto::v1 as pb;
use taxi_proto::v1::stream_dispatches_response::Event;
use taxi_tests::*;

const KEY_ID: &str = "LTAI-test-key";
const SECRET: &str = "a-test-secret-of-the-fake-api";

#[derive(Debug, Clone)]
struct Sub {
    x: String,
    a: String,
    b: String,
    out_id: String,
    live: bool,
}

#[derive(Debug, Default)]
struct Fake {
    numbers: Vec<String>,
    subs: HashMap<String, Sub>,
    nonces: HashSet<String>,
    /// Actions whose signature verified, in order.
    calls: Vec<String>,
    /// Requests refused for their signature.
    refused: u32,
    /// How long to wait before answering (to test the timeout).
    delay: Duration,
}

type Shared = Arc<Mutex<Fake>>;

fn rfc3986(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn json(status: StatusCode, v: serde_json::Value) -> (StatusCode, String) {
    (status, v.to_string())
}

/// Checks the request as the API does; the query's parameters, or the refusal.
fn verify(
    fake: &mut Fake,
    headers: &HeaderMap,
    query: &str,
) -> Result<HashMap<String, String>, (StatusCode, String)> {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let refuse = |code: &str, msg: &str| {
        json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"Code": code, "Message": msg, "RequestId": "R"}),
        )
    };
    let auth = h("authorization");
    let rest = auth
        .strip_prefix("ACS3-HMAC-SHA256 ")
        .ok_or_else(|| refuse("IncompleteSignature", "algorithm"))?;
    let parts: HashMap<&str, &str> = rest.split(',').filter_map(|p| p.split_once('=')).collect();
    if parts.get("Credential") != Some(&KEY_ID) {
        return Err(refuse("InvalidAccessKeyId.NotFound", "key"));
    }
    let signed_headers = parts.get("SignedHeaders").copied().unwrap_or_default();
    let names: Vec<&str> = signed_headers.split(';').collect();
    for needed in [
        "host",
        "x-acs-action",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
        "x-acs-content-sha256",
    ] {
        if !names.contains(&needed) {
            return Err(refuse("IncompleteSignature", needed));
        }
    }
    // The canonical query, rebuilt from what arrived: decoded, encoded again, sorted.
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (rfc3986(&decode(k)), rfc3986(&decode(v)))
        })
        .collect();
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_headers: String = names
        .iter()
        .map(|n| format!("{n}:{}\n", h(n).trim()))
        .collect();
    let body_hash = hex::encode(Sha256::digest(b""));
    if h("x-acs-content-sha256") != body_hash {
        return Err(refuse("SignatureDoesNotMatch", "payload hash"));
    }
    let canonical =
        format!("POST\n/\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{body_hash}");
    let to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if parts.get("Signature") != Some(&expected.as_str()) {
        fake.refused += 1;
        return Err(refuse("SignatureDoesNotMatch", "signature"));
    }
    if h("x-acs-version") != "2017-05-25" {
        return Err(refuse("InvalidVersion", "version"));
    }
    let date = chrono::DateTime::parse_from_rfc3339(&h("x-acs-date"))
        .map_err(|_| refuse("InvalidTimeStamp.Format", "date"))?;
    if (chrono::Utc::now().timestamp() - date.timestamp()).abs() > 15 * 60 {
        return Err(refuse("InvalidTimeStamp.Expired", "date"));
    }
    if !fake.nonces.insert(h("x-acs-signature-nonce")) {
        return Err(refuse("SignatureNonceUsed", "nonce"));
    }
    let params: HashMap<String, String> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    if params.get("PoolKey").map(String::as_str) != Some("FC100000000000001") {
        return Err(refuse("isv.POOL_NOT_EXIST", "pool"));
    }
    fake.calls.push(h("x-acs-action"));
    Ok(params)
}

async fn api(
    State(fake): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> (StatusCode, String) {
    let delay = fake.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut f = fake.lock().unwrap();
    let params = match verify(&mut f, &headers, query.as_deref().unwrap_or_default()) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let p = |k: &str| params.get(k).cloned().unwrap_or_default();
    let ok = |mut v: serde_json::Value| {
        v["Code"] = "OK".into();
        v["Message"] = "OK".into();
        v["RequestId"] = "R".into();
        json(StatusCode::OK, v)
    };
    let action = f.calls.last().cloned().unwrap_or_default();
    match action.as_str() {
        "BindAxb" => {
            let (a, b) = (p("PhoneNoA"), p("PhoneNoB"));
            if p("Expiration").len() != 19 {
                return json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"Code": "isv.INVALID_PARAMETERS", "Message": "Expiration"}),
                );
            }
            let busy: HashSet<(String, String)> = f
                .subs
                .values()
                .filter(|s| s.live)
                .flat_map(|s| [(s.x.clone(), s.a.clone()), (s.x.clone(), s.b.clone())])
                .collect();
            let free = f
                .numbers
                .iter()
                .find(|x| {
                    !busy.contains(&(x.to_string(), a.clone()))
                        && !busy.contains(&(x.to_string(), b.clone()))
                })
                .cloned();
            let Some(x) = free else {
                return json(
                    StatusCode::OK,
                    serde_json::json!({"Code": "isv.NO_AVAILABLE_NUMBER", "Message": "no number", "RequestId": "R"}),
                );
            };
            let id = format!("{}", 1_000_000 + f.subs.len());
            f.subs.insert(
                id.clone(),
                Sub {
                    x: x.clone(),
                    a,
                    b,
                    out_id: p("OutId"),
                    live: true,
                },
            );
            ok(serde_json::json!({"SecretBindDTO": {"SubsId": id, "SecretNo": x, "Extension": ""}}))
        }
        "UnbindSubscription" => match f.subs.get_mut(&p("SubsId")) {
            Some(s) if s.x == p("SecretNo") && s.live => {
                s.live = false;
                ok(serde_json::json!({"Chargeid": ""}))
            }
            _ => json(
                StatusCode::OK,
                serde_json::json!({"Code": "isv.NO_NOT_EXIST", "Message": "gone", "RequestId": "R"}),
            ),
        },
        "QuerySubscriptionDetail" => match f.subs.get(&p("SubsId")) {
            Some(s) if s.x == p("PhoneNoX") && p("ProductType") == "AXB_170" => {
                ok(serde_json::json!({
                    "SecretBindDetailDTO": {
                        "SubsId": p("SubsId"), "PhoneNoX": s.x, "PhoneNoA": s.a, "PhoneNoB": s.b,
                        "Status": if s.live { 1 } else { 0 }, "ExtraInfo": s.out_id,
                    }
                }))
            }
            _ => json(
                StatusCode::OK,
                serde_json::json!({"Code": "isv.NO_NOT_EXIST", "Message": "no such subscription", "RequestId": "R"}),
            ),
        },
        other => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"Code": "InvalidAction.NotFound", "Message": other}),
        ),
    }
}

async fn fake_api(numbers: &[&str]) -> (SocketAddr, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        numbers: numbers.iter().map(|n| n.to_string()).collect(),
        ..Fake::default()
    }));
    let app = axum::Router::new()
        .route("/", post(api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, fake)
}

fn settings(addr: SocketAddr, secret: &str) -> AliyunSettings {
    AliyunSettings {
        endpoint: format!("http://{addr}"),
        access_key_id: KEY_ID.into(),
        access_key_secret: secret.into(),
        pool_key: "FC100000000000001".into(),
        timeout: Duration::from_millis(800),
    }
}

fn request(key: &str, a: &str, b: &str) -> BindRequest {
    BindRequest {
        key: key.into(),
        a: a.into(),
        b: b.into(),
        expires_ms: taxi_domain::clock::system_now_ms() + 3_600_000,
    }
}

#[tokio::test]
async fn the_adapter_binds_queries_and_unbinds_with_signed_requests() {
    let (addr, fake) = fake_api(&["17100000091", "17100000092"]).await;
    let api = Aliyun::new(settings(addr, SECRET), Arc::new(SystemClock)).unwrap();
    let first = api
        .bind(&request("O1:T1", "13800000091", "13900000091"))
        .await
        .unwrap();
    assert_eq!(first.x, "17100000091");
    // A shared party gets another number; a landline passenger is sent as digits.
    let second = api
        .bind(&request("O2:T2", "023-61234567", "13900000091"))
        .await
        .unwrap();
    assert_eq!(second.x, "17100000092");
    let d = api
        .query(&first.x, &first.sub)
        .await
        .unwrap()
        .expect("live");
    assert_eq!((d.a.as_str(), d.b.as_str()), ("13800000091", "13900000091"));
    assert_eq!(
        api.query(&second.x, &second.sub).await.unwrap().unwrap().a,
        "02361234567"
    );
    // The pool is exhausted for this driver: the API's code becomes Exhausted.
    let none = api
        .bind(&request("O3:T3", "13800000093", "13900000091"))
        .await;
    assert_eq!(none, Err(ProviderError::Exhausted));
    api.unbind(&first.x, &first.sub).await.unwrap();
    assert_eq!(api.query(&first.x, &first.sub).await.unwrap(), None);
    // Unbinding again is done, not an error.
    api.unbind(&first.x, &first.sub).await.unwrap();
    let f = fake.lock().unwrap();
    assert_eq!(f.refused, 0);
    assert_eq!(
        f.calls,
        [
            "BindAxb",
            "BindAxb",
            "QuerySubscriptionDetail",
            "QuerySubscriptionDetail",
            "BindAxb",
            "UnbindSubscription",
            "QuerySubscriptionDetail",
            "UnbindSubscription"
        ]
    );
    assert_eq!(f.subs["1000000"].out_id, "O1:T1");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_api_and_a_slow_api_times_out() {
    let (addr, fake) = fake_api(&["17100000095"]).await;
    let wrong = Aliyun::new(settings(addr, "not-the-secret"), Arc::new(SystemClock)).unwrap();
    match wrong
        .bind(&request("O1:T1", "13800000095", "13900000095"))
        .await
    {
        Err(ProviderError::Refused { code, .. }) => assert_eq!(code, "SignatureDoesNotMatch"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.lock().unwrap().refused, 1);
    assert!(fake.lock().unwrap().subs.is_empty(), "nothing bound");

    fake.lock().unwrap().delay = Duration::from_secs(3);
    let api = Aliyun::new(settings(addr, SECRET), Arc::new(SystemClock)).unwrap();
    let started = Instant::now();
    let r = api
        .bind(&request("O2:T2", "13800000096", "13900000096"))
        .await;
    assert!(matches!(r, Err(ProviderError::Unavailable(_))), "{r:?}");
    assert!(r.unwrap_err().is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout held: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_trip_through_grpc_binds_and_releases_through_the_cloud_api() {
    let (addr, fake) = fake_api(&["17100000097"]).await;
    let mut config = fast_config();
    config.privacy = PrivacySettings {
        provider: ProviderSettings::Aliyun(settings(addr, SECRET)),
        release_delay: Duration::from_secs(120),
    };
    let city = TestCity::start_with(config).await;
    let taxi = city
        .fleet()
        .register_taxi(pb::RegisterTaxiRequest {
            plate: "渝A93097".into(),
            driver_name: "王建国".into(),
            vehicle_color: "白色".into(),
            driver_phone: "13900000097".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .taxi
        .unwrap();
    city.driver()
        .sign_on(pb::SignOnRequest {
            taxi_id: taxi.taxi_id.clone(),
        })
        .await
        .unwrap();
    send_positions(
        &mut city.driver(),
        vec![city.report(&taxi.taxi_id, north_of_centre(200.0), Duration::ZERO)],
    )
    .await;
    let mut d = DriverStream::open(&city, &taxi.taxi_id).await;
    let order = book_at(&city, "13800000097", north_of_centre(0.0)).await;
    d.offer(Duration::from_secs(5)).await;
    city.driver()
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: taxi.taxi_id.clone(),
            order_id: order.order_id.clone(),
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let number = loop {
        match d.next(Duration::from_millis(200)).await {
            Some(Event::PrivacyNumber(p)) => break p.number,
            _ => assert!(Instant::now() < deadline, "no privacy number"),
        }
    };
    assert_eq!(number, "17100000097");
    for step in 0..3 {
        let (t, o) = (taxi.taxi_id.clone(), order.order_id.clone());
        let mut c = city.driver();
        match step {
            0 => drop(
                c.arrive_at_pickup(pb::ArriveAtPickupRequest {
                    taxi_id: t,
                    order_id: o,
                })
                .await
                .unwrap(),
            ),
            1 => drop(
                c.start_trip(pb::StartTripRequest {
                    taxi_id: t,
                    order_id: o,
                })
                .await
                .unwrap(),
            ),
            _ => drop(
                c.complete_trip(pb::CompleteTripRequest {
                    taxi_id: t,
                    order_id: o,
                    fare_cents: 1800,
                    paid_by: 0,
                })
                .await
                .unwrap(),
            ),
        }
    }
    let sub = fake.lock().unwrap().subs.values().next().cloned().unwrap();
    assert_eq!(
        (sub.a.as_str(), sub.b.as_str(), sub.live),
        ("13800000097", "13900000097", true)
    );
    assert_eq!(sub.out_id, format!("{}:{}", order.order_id, taxi.taxi_id));

    // The worker schedules the release when it sees the trip end; then the clock jumps.
    let deadline = Instant::now() + Duration::from_secs(5);
    while city
        .store
        .privacy_release_time(&order.order_id)
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "no release was scheduled");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        fake.lock().unwrap().subs.values().all(|s| s.live),
        "not released before the delay"
    );
    city.advance(Duration::from_secs(121));
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.lock().unwrap().subs.values().any(|s| s.live) {
        assert!(
            Instant::now() < deadline,
            "the cloud binding was not released"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while city
        .store
        .privacy_binding(&order.order_id)
        .await
        .unwrap()
        .is_some()
    {
        assert!(Instant::now() < deadline, "the binding was not forgotten");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(fake.lock().unwrap().refused, 0);
}
