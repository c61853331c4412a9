//! The Prometheus endpoint, scraped over HTTP from a server with every role, real gRPC
//! and a private Redis: the numbers an operations team watches move when a booking is
//! offered, accepted, driven, declined and left to time out; no label carries an id; and
//! the dashboard in `deploy/` asks only for metrics the services record.
//!
//! The recorder is one per process (`taxi_server::metrics`), so the test reads how each
//! number moved, and only one test city of this binary serves metrics (its sampler owns
//! the city-wide gauges).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use taxi_metrics as names;
use taxi_proto::v1 as pb;
use taxi_server::metrics::MetricsEndpoint;
use taxi_tests::*;

const S: Duration = Duration::from_secs(5);

/// One sample of a scrape: its metric's series name and labels.
type Series = (String, BTreeMap<String, String>);

/// A scrape, parsed: every sample's value by series.
#[derive(Debug, Default)]
struct Scrape {
    samples: BTreeMap<String, f64>,
    parsed: Vec<(Series, f64)>,
}

impl Scrape {
    /// The value of `name` with exactly `labels` (0 if absent: a counter not yet moved).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.parsed
            .iter()
            .find(|((n, l), _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| *v)
            .unwrap_or(0.0)
    }
}

/// Parses the text exposition format (what `metrics-exporter-prometheus` writes: no
/// escaped quotes or commas in our label values, which the label test checks anyway).
fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let labels: BTreeMap<String, String> = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("label in {line}"));
                (k.to_string(), v.trim_end_matches('"').to_string())
            })
            .collect();
        scrape.samples.insert(series.to_string(), value);
        scrape.parsed.push(((name.to_string(), labels), value));
    }
    scrape
}

async fn scrape(addr: SocketAddr) -> (String, Scrape) {
    let answer = http1::get(addr, taxi_server::metrics::PATH, &[]).await;
    assert_eq!(answer.status, 200);
    let text = String::from_utf8(answer.body).expect("utf-8");
    let parsed = parse(&text);
    (text, parsed)
}

/// Scrapes until `pred` holds, or panics after `wait` with the last scrape.
async fn scrape_until(
    addr: SocketAddr,
    wait: Duration,
    what: &str,
    pred: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + wait;
    loop {
        let (text, s) = scrape(addr).await;
        if pred(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!("{what}: not within {wait:?}:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether a label value looks like an entity's id: a run of 16 or more capital letters
/// and digits with a digit in it (taxi, order and device ids are 27 such characters), or
/// 11 or more digits (a phone number).
fn looks_like_an_id(value: &str) -> bool {
    value
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
        .any(|run| {
            (run.len() >= 16 && run.bytes().any(|b| b.is_ascii_digit()))
                || (run.len() >= 11 && run.bytes().all(|b| b.is_ascii_digit()))
        })
}

#[test]
fn the_id_detector_catches_ids_and_spares_codes() {
    assert!(looks_like_an_id("T0123456789ABCDEFGHJKMNPQRS"));
    assert!(looks_like_an_id(
        "/console/api/orders/O3K9ZQ4M2N8P7R6T5V1W0X9Y8Z"
    ));
    assert!(looks_like_an_id("13800000001"));
    for fine in [
        "UNAUTHENTICATED",
        "FAILED_PRECONDITION",
        "/taxi.v1.HotlineService/CreateBooking",
        "0.1.0",
        "accept_offer",
        "true",
    ] {
        assert!(!looks_like_an_id(fine), "{fine}");
    }
}

#[tokio::test]
async fn a_booking_offered_accepted_and_driven_moves_the_numbers_and_no_label_names_an_id() {
    let mut config = fast_config();
    let (endpoint, addr) = MetricsEndpoint::bind_now(([127, 0, 0, 1], 0).into()).expect("bind");
    config.metrics = Some(endpoint);
    let city = TestCity::start_with(config).await;
    let (_, before) = scrape(addr).await;
    let book = "/taxi.v1.HotlineService/CreateBooking";
    let booked_ok = |s: &Scrape| s.get(names::RPC_REQUESTS, &[("method", book), ("code", "OK")]);
    let offers = |s: &Scrape, outcome: &str| s.get(names::OFFERS, &[("outcome", outcome)]);
    let elderly = [("elderly", "true")];
    let count = |s: &Scrape, name: &str| s.get(&format!("{name}_count"), &elderly);

    // An older passenger books; the one taxi near is offered the order, accepts it and
    // drives the trip.
    let phone = "13900000701";
    elderly_caller(&city, phone).await;
    let mut taxi = driver_at(&city, "渝A70001", north_of_centre(200.0)).await;
    let order = book_at(&city, phone, north_of_centre(0.0)).await;
    let offer = taxi.offer(S).await;
    assert_eq!(offer.order_id, order.order_id);
    drive_trip(&city, &taxi.taxi_id, &order.order_id).await;
    // The driver app retries both after lost replies: answered OK, counted once.
    city.driver()
        .accept_offer(pb::AcceptOfferRequest {
            taxi_id: taxi.taxi_id.clone(),
            order_id: order.order_id.clone(),
        })
        .await
        .ok();
    city.driver()
        .complete_trip(pb::CompleteTripRequest {
            taxi_id: taxi.taxi_id.clone(),
            order_id: order.order_id.clone(),
            fare_cents: 1800,
            paid_by: 0,
        })
        .await
        .expect("a repeated completion is answered OK");

    // A second order is declined; a third is left until its offer times out.
    let declined = book_at(&city, "13800000702", north_of_centre(0.0)).await;
    assert_eq!(taxi.offer(S).await.order_id, declined.order_id);
    city.driver()
        .decline_offer(pb::DeclineOfferRequest {
            taxi_id: taxi.taxi_id.clone(),
            order_id: declined.order_id.clone(),
            reason: "测试".into(),
        })
        .await
        .expect("decline");
    city.hotline()
        .cancel_order(pb::CancelOrderRequest {
            order_id: declined.order_id.clone(),
            cancelled_by: pb::CancelledBy::Passenger as i32,
            reason: "不需要了".into(),
            operator_id: String::new(),
        })
        .await
        .expect("cancel");

    let after = scrape_until(addr, S, "the counters moved", |s| {
        booked_ok(s) >= booked_ok(&before) + 2.0
            && offers(s, "sent") >= offers(&before, "sent") + 2.0
            && offers(s, "accepted") >= offers(&before, "accepted") + 1.0
            && offers(s, "declined") >= offers(&before, "declined") + 1.0
            && count(s, names::TIME_TO_ASSIGN) >= count(&before, names::TIME_TO_ASSIGN) + 1.0
            && count(s, names::TIME_TO_PICKUP) >= count(&before, names::TIME_TO_PICKUP) + 1.0
            && s.get(names::ORDERS_ENDED, &[("outcome", "fulfilled")])
                >= before.get(names::ORDERS_ENDED, &[("outcome", "fulfilled")]) + 1.0
            && s.get(
                &format!("{}_count", names::REDIS_SCRIPT_DURATION),
                &[("script", "accept_offer")],
            ) >= before.get(
                &format!("{}_count", names::REDIS_SCRIPT_DURATION),
                &[("script", "accept_offer")],
            ) + 1.0
            && s.get(names::JANITOR_SWEEPS, &[("outcome", "ok")])
                > before.get(names::JANITOR_SWEEPS, &[("outcome", "ok")])
    })
    .await;
    // Only this test's city serves metrics in this binary, so these are exact: the
    // repeated acceptance and completion above were not counted again.
    let fulfilled = |s: &Scrape| s.get(names::ORDERS_ENDED, &[("outcome", "fulfilled")]);
    assert_eq!(
        offers(&after, "accepted"),
        offers(&before, "accepted") + 1.0
    );
    assert_eq!(fulfilled(&after), fulfilled(&before) + 1.0);
    assert_eq!(
        count(&after, names::TIME_TO_ASSIGN),
        count(&before, names::TIME_TO_ASSIGN) + 1.0
    );
    // A call with a bad field is counted under its code.
    let bad = city
        .hotline()
        .create_booking(pb::CreateBookingRequest {
            caller_phone: "not a phone".into(),
            ..Default::default()
        })
        .await;
    assert_status(bad, tonic::Code::InvalidArgument, "");
    scrape_until(addr, S, "the refused booking counted", |s| {
        s.get(
            names::RPC_REQUESTS,
            &[("method", book), ("code", "INVALID_ARGUMENT")],
        ) >= after.get(
            names::RPC_REQUESTS,
            &[("method", book), ("code", "INVALID_ARGUMENT")],
        ) + 1.0
    })
    .await;
    assert!(
        after.get(names::DRIVER_STREAMS, &[]) >= 1.0,
        "the driver's stream is open"
    );
    assert_eq!(
        after.get(
            names::BUILD_INFO,
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("git_sha", taxi_server::metrics::GIT_SHA)
            ]
        ),
        1.0
    );

    // The city-wide gauges follow the store: the taxi is free again, then an older
    // passenger's order waits with no taxi in reach (the sampler reads every 5 s).
    scrape_until(addr, 2 * S, "the free taxi sampled", |s| {
        s.get(names::TAXIS, &[("state", "free")]) >= 1.0
    })
    .await;
    let far_phone = "13900000703";
    elderly_caller(&city, far_phone).await;
    let far = book_at(&city, far_phone, north_of_centre(-12_000.0)).await;
    scrape_until(addr, 2 * S, "the waiting older order sampled", |s| {
        s.get(names::ORDERS_WAITING, &[("priority", "older")]) >= 1.0
    })
    .await;

    // An offer nobody answers times out (the city's clock steps past its deadline).
    let timed_out_before = offers(&scrape(addr).await.1, "timed_out");
    let lapsing = book_at(&city, "13800000704", north_of_centre(0.0)).await;
    assert_eq!(taxi.offer(S).await.order_id, lapsing.order_id);
    city.advance(Duration::from_secs(11));
    let last = scrape_until(addr, S, "the offer timed out", |s| {
        offers(s, "timed_out") >= timed_out_before + 1.0
    })
    .await;

    // No label value is an id of this test's city, or looks like one.
    let (text, _) = scrape(addr).await;
    let ids = [
        &taxi.taxi_id,
        &order.order_id,
        &declined.order_id,
        &far.order_id,
        &lapsing.order_id,
    ];
    for id in ids {
        assert!(
            !text.contains(id.as_str()),
            "{id} is in the scrape:\n{text}"
        );
    }
    for ((name, labels), _) in &last.parsed {
        let metric =
            names::find(name).unwrap_or_else(|| panic!("{name} is not in taxi_metrics::ALL"));
        for (k, v) in labels {
            assert!(
                metric.labels.contains(&k.as_str()) || k == "le",
                "{name}: label {k} is not one of {:?}",
                metric.labels
            );
            assert!(!looks_like_an_id(v), "{name}{{{k}={v:?}}} looks like an id");
        }
    }
    city.server.stop().await;
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The metric names a PromQL expression mentions (everything of our `taxi_` namespace).
fn metrics_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("taxi_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expr.len(), |e| start + e);
        if boundary {
            out.push(expr[start..end].to_string());
        }
        i = end;
    }
    out
}

/// Every panel's queries (rows' nested panels too), by panel title.
fn queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((
                    title.clone(),
                    t["expr"].as_str().expect("a target's expr").to_string(),
                ));
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The names a query mentions that no service records.
fn unknown_metrics(expr: &str) -> Vec<String> {
    metrics_in(expr)
        .into_iter()
        .filter(|n| names::find(n).is_none())
        .collect()
}

#[test]
fn every_dashboard_query_names_only_metrics_the_services_record() {
    let path = deploy().join("grafana/taxi-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard"))
            .expect("dashboard JSON");
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let queries = queries(&dashboard);
    assert!(queries.len() >= 10, "{} queries", queries.len());
    let mut shown = std::collections::BTreeSet::new();
    for (title, expr) in &queries {
        let named = metrics_in(expr);
        assert!(!named.is_empty(), "panel {title:?}: {expr} names no metric");
        assert_eq!(
            unknown_metrics(expr),
            Vec::<String>::new(),
            "panel {title:?}: {expr}"
        );
        shown.extend(named.iter().filter_map(|n| names::find(n)).map(|m| m.name));
    }
    // What issue 16 asks a city's operations team to see, each on some panel.
    for wanted in [
        names::RPC_REQUESTS,
        names::RPC_DURATION,
        names::REDIS_SCRIPT_DURATION,
        names::REDIS_SCRIPT_ERRORS,
        names::ORDERS_WAITING,
        names::TAXIS,
        names::DRIVER_STREAMS,
        names::OFFERS,
        names::TIME_TO_ASSIGN,
        names::TIME_TO_PICKUP,
        names::ORDERS_ENDED,
        names::JANITOR_SWEEPS,
        names::BUILD_INFO,
    ] {
        assert!(shown.contains(wanted), "no panel shows {wanted}");
    }
}

#[test]
fn the_name_check_would_catch_a_panel_asking_for_an_unknown_metric() {
    let expr = "sum(rate(taxi_rpc_requests_total[5m])) / sum(rate(taxi_offers_made_total[5m]))";
    assert_eq!(
        unknown_metrics(expr),
        vec!["taxi_offers_made_total".to_string()]
    );
    assert_eq!(
        metrics_in(
            "histogram_quantile(0.9, sum by (le) (rate(taxi_time_to_assign_seconds_bucket[5m])))"
        ),
        vec!["taxi_time_to_assign_seconds_bucket".to_string()]
    );
    assert!(unknown_metrics("rate(taxi_time_to_assign_seconds_bucket[5m])").is_empty());
}

#[test]
fn prometheus_and_the_service_monitor_scrape_the_metrics_port() {
    let text =
        std::fs::read_to_string(deploy().join("prometheus/prometheus.yml")).expect("scrape config");
    let prom: serde_yaml::Value = serde_yaml::from_str(&text).expect("prometheus.yml");
    let jobs = prom["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs");
    assert!(
        jobs.iter()
            .any(|j| j["metrics_path"].as_str().unwrap_or("/metrics")
                == taxi_server::metrics::PATH
                && serde_yaml::to_string(j).unwrap().contains(":9464")),
        "a job scrapes /metrics on 9464: {text}"
    );
    let text =
        std::fs::read_to_string(deploy().join("k8s/servicemonitor.yaml")).expect("service monitor");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect();
    let monitor = docs
        .iter()
        .find(|d| d["kind"] == "ServiceMonitor")
        .expect("a ServiceMonitor");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"].as_str(), Some(taxi_server::metrics::PATH));
    let port = endpoint["port"].as_str().expect("named port");
    let service = docs
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("the metrics Service");
    assert!(
        service["spec"]["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|p| p["name"].as_str() == Some(port) && p["port"].as_u64() == Some(9464)),
        "the Service names port {port} as 9464"
    );
}
