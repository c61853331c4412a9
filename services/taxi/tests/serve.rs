//! The real `taxi` binary: configuration checks, the embedded Redis, health, signals.

mod common;
use common::free_port;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn taxi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_taxi"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TAXI_") {
            c.env_remove(k);
        }
    }
    // The tests run several servers at once: not all on the default metrics port.
    c.env("TAXI_METRICS_ADDR", "127.0.0.1:0");
    c
}

/// `GET /metrics` at `port`: the body of a 200 answer.
fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
}

#[test]
fn bad_configuration_exits_2_with_a_clear_message() {
    for (args, needle) in [
        (vec!["serve", "--role", "everything"], "TAXI_ROLE"),
        (vec!["serve", "--listen", "here"], "TAXI_LISTEN"),
        (vec!["serve", "--city", "123456"], "TAXI_SERVICE_AREA"),
        (
            vec!["serve", "--auth", "off", "--listen", "0.0.0.0:50051"],
            "--auth / TAXI_AUTH: `off` is refused",
        ),
        (
            vec!["serve", "--auth-key-file", "/nonexistent/key"],
            "TAXI_AUTH_KEY_FILE: cannot read",
        ),
        (
            vec!["serve", "--access-token-ttl", "0"],
            "TAXI_ACCESS_TOKEN_TTL_S",
        ),
        (
            vec!["serve", "--terminal-idle-secs", "5"],
            "TAXI_TERMINAL_IDLE_SECS",
        ),
        (
            vec!["serve", "--terminal-listen", "nowhere"],
            "TAXI_TERMINAL_LISTEN",
        ),
        (
            vec!["serve", "--otlp-endpoint", "collector:4317"],
            "--otlp-endpoint / TAXI_OTLP_ENDPOINT: `collector:4317` is not an http:// URL",
        ),
        (
            vec![
                "serve",
                "--notify-sender",
                "webhook",
                "--notify-webhook-url",
                "http://sms.example.cn/hook",
                "--notify-webhook-secret",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ],
            "--notify-webhook-url / TAXI_NOTIFY_WEBHOOK_URL: must be https",
        ),
    ] {
        let out = taxi().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // The environment is read too.
    let out = taxi()
        .args(["serve"])
        .env("TAXI_REDIS_URL", "http://x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn serve_all_with_embedded_redis_answers_health_and_stops_on_sigterm() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_port = free_port();
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.log");
    let mut child = KillOnDrop(
        taxi()
            .args(["serve", "--role", "all"])
            .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
            .env("TAXI_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("TAXI_DATA_DIR", data.path())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let channel = loop {
        match endpoint.connect().await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => {
                let _ = child.kill();
                panic!("taxi serve never listened: {e}");
            }
        }
    };
    let mut health = HealthClient::new(channel);
    for service in [
        "",
        "taxi.v1.FleetService",
        "taxi.v1.DriverService",
        "taxi.v1.HotlineService",
        "taxi.v1.OneKeyService",
        "taxi.v1.DispatchService",
    ] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert_eq!(
            r.into_inner().status,
            ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    // Prometheus metrics on their own port: the health checks above were counted.
    let metrics = scrape(metrics_port);
    assert!(
        metrics.contains(r#"taxi_rpc_requests_total{method="/grpc.health.v1.Health/",code="OK"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("taxi_build_info{"), "{metrics}");
    // The embedded Redis keeps an AOF in the data directory.
    assert!(data.path().join("redis").join("appendonlydir").exists());

    let started = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "taxi did not stop on SIGTERM"
        );
        // Sleep asynchronously: our client must stay able to answer the server's GOAWAY.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    // Without TLS it said so, as a warning (loopback: development only).
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.lines().any(|l| l.contains("WARN")
            && l.contains("serving plain TCP: for loopback development only")),
        "{logged}"
    );
    assert!(!logged.contains("non-loopback"), "{logged}");
    // Its private redis-server stopped with it.
    let left = Command::new("pgrep")
        .args(["-f", &data.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "redis-server still running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// A child process killed when the test ends, even by a panic (a failed assertion must
/// not leave a server running).
struct KillOnDrop(std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `taxi serve --role all` with an embedded Redis in a data directory, and the pid of
/// its redis-server; dropping it kills both (whatever the test did to them).
struct Serve {
    child: std::process::Child,
    redis_pid: u32,
}

impl Serve {
    /// Starts it and waits until its redis-server child runs (the data directory is locked
    /// before that child is spawned).
    fn start(data: &std::path::Path) -> Serve {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = taxi()
            .args(["serve", "--role", "all"])
            .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
            .env("TAXI_DATA_DIR", data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(pid) = children(child.id())
                .into_iter()
                .find(|&p| comm(p).as_deref() == Some("redis-server"))
            {
                return Serve {
                    child,
                    redis_pid: pid,
                };
            }
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("taxi serve started no redis-server");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if alive(self.redis_pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &self.redis_pid.to_string()])
                .status();
        }
    }
}

/// The fields of `/proc/<pid>/stat` after the command name: state, ppid, ...
fn stat(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// The processes whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat(pid).is_some_and(|s| s.get(1).and_then(|p| p.parse().ok()) == Some(parent))
        })
        .collect()
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

/// Running: it exists and is not a zombie waiting for a parent to reap it.
fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.first().map(String::as_str) != Some("Z"))
}

/// A `taxi serve` killed outright (no destructor runs) takes its redis-server with it:
/// the child has a parent-death signal, so no orphan keeps the port and the AOF.
#[test]
fn a_killed_serve_leaves_no_redis_server_behind() {
    let data = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(data.path());
    assert!(alive(serve.redis_pid));
    serve.child.kill().unwrap(); // SIGKILL
    serve.child.wait().unwrap();
    let killed = Instant::now();
    while alive(serve.redis_pid) && killed.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(serve.redis_pid),
        "redis-server {} still runs 5 s after its taxi serve was killed",
        serve.redis_pid
    );
}

/// Two servers never open one AOF: a second `taxi serve` on the same data directory fails
/// at once, naming the directory and the first one's pid, and starts no redis-server.
/// Without the `otlp` feature a set `TAXI_OTLP_ENDPOINT` is not ignored silently: `taxi
/// serve` warns at start that no traces are exported, and goes on (here to a taken metrics
/// port, which ends it: nothing to stop).
#[cfg(not(feature = "otlp"))]
#[test]
fn an_otlp_endpoint_without_the_feature_is_a_warning() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = taxi()
        .args(["serve", "--role", "fleet"])
        .env("TAXI_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("TAXI_METRICS_ADDR", taken.local_addr().unwrap().to_string())
        .env("TAXI_DATA_DIR", data.path())
        .env("TAXI_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .output()
        .unwrap();
    let logged = String::from_utf8_lossy(&out.stdout);
    assert!(
        logged.lines().any(|l| l.contains("WARN")
            && l.contains("TAXI_OTLP_ENDPOINT is set but this build has no OTLP export")),
        "{logged}"
    );
    // It went on past the warning, to the port check.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TAXI_METRICS_ADDR"), "{err}");
}

#[test]
fn a_taken_metrics_port_is_refused_naming_its_variable() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = taxi()
        .args(["serve", "--role", "fleet"])
        .env("TAXI_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("TAXI_METRICS_ADDR", taken.local_addr().unwrap().to_string())
        .env("TAXI_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TAXI_METRICS_ADDR"), "{err}");
}

#[test]
fn a_second_serve_on_the_same_data_dir_fails_fast_and_says_why() {
    let data = tempfile::tempdir().unwrap();
    let first = Serve::start(data.path());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let mut second = taxi()
        .args(["serve", "--role", "all"])
        .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
        .env("TAXI_DATA_DIR", data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second taxi serve is still running after 5 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    let dir = data.path().join("redis").display().to_string();
    assert!(err.contains(&dir), "{err}");
    assert!(err.contains(&format!("pid {}", first.child.id())), "{err}");
    // The first one is untouched: still its one redis-server.
    assert!(alive(first.redis_pid));
    assert_eq!(
        children(first.child.id())
            .into_iter()
            .filter(|&p| comm(p).as_deref() == Some("redis-server"))
            .count(),
        1
    );
}

/// A client session keeps working past its access token's life: `--access-token-ttl 2`
/// makes tokens end after 2 s, the login's own token is refused after that, and the
/// simulator's session has refreshed its token in the background meanwhile.
#[tokio::test]
async fn a_client_session_outlives_short_tokens_by_refreshing() {
    use taxi_proto::v1 as pb;
    use taxi_proto::v1::auth_service_client::AuthServiceClient;
    let redis = taxi_tests::TestRedis::start();
    let store =
        taxi_store::Store::connect(taxi_store::StoreConfig::new(redis.url(), taxi_tests::CITY))
            .unwrap();
    taxi_access::create_account(
        &store,
        &taxi_access::NewAccount {
            username: "nightshift".into(),
            password: "a long night shift password".into(),
            role: taxi_auth::Role::Operator,
            display_name: "Night shift".into(),
        },
    )
    .await
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = KillOnDrop(
        taxi()
            .args(["serve", "--role", "all", "--access-token-ttl", "2"])
            .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
            .env("TAXI_REDIS_URL", redis.url())
            .env("TAXI_CITY", taxi_tests::CITY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let channel = loop {
        match endpoint.connect().await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => {
                let _ = child.kill();
                panic!("taxi serve never listened: {e}");
            }
        }
    };
    let first =
        taxi_tests::login_password(channel.clone(), "nightshift", "a long night shift password")
            .await
            .expect("logs in")
            .tokens
            .expect("tokens")
            .access_token;
    let stop = tokio_util::sync::CancellationToken::new();
    let session = taxi_sim::Session::login(
        channel.clone(),
        taxi_sim::Credential::Password {
            username: "nightshift".into(),
            password: "a long night shift password".into(),
        },
        stop.clone(),
    )
    .await
    .expect("the session logs in");
    // The process's clock cannot be stepped: wait past the token's 2 s for real.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let expired = AuthServiceClient::new(taxi_tests::bearer(channel.clone(), &first))
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect_err("a 2 s token is over after 3 s");
    assert_eq!(expired.code(), tonic::Code::Unauthenticated);
    let me = AuthServiceClient::new(session.channel())
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect("the session's token was refreshed in time")
        .into_inner()
        .principal
        .expect("principal");
    assert_eq!(me.id, "nightshift");
    assert!(session.refreshes() >= 1, "{}", session.refreshes());
    stop.cancel();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// `--auth off` on loopback: calls without a credential work, and no per-identity limit
/// applies (every call is the same made-up identity, so the default booking limit of a
/// person, 20 at once, would otherwise throttle the whole server).
#[tokio::test]
async fn auth_off_on_loopback_needs_no_credential_and_limits_no_one() {
    use taxi_proto::v1 as pb;
    use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
    let redis = taxi_tests::TestRedis::start();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = KillOnDrop(
        taxi()
            .args(["serve", "--role", "all", "--auth", "off"])
            .args(["--dispatch-workers", "0"])
            .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
            .env("TAXI_REDIS_URL", redis.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let channel = loop {
        match endpoint.connect().await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => {
                let _ = child.kill();
                panic!("taxi serve never listened: {e}");
            }
        }
    };
    let mut h = HotlineServiceClient::new(channel);
    for i in 0..30 {
        h.create_booking(pb::CreateBookingRequest {
            caller_phone: format!("139{:08}", 10_000_000 + i),
            pickup: Some(pb::Place {
                location: Some(pb::LatLng {
                    latitude: 29.563,
                    longitude: 106.577,
                    datum: pb::Datum::Wgs84 as i32,
                }),
                address: "解放碑".into(),
            }),
            channel: pb::Channel::Ivr as i32,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("booking {i} without a credential: {e}"));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// `TAXI_LOG_FORMAT=json`: one JSON object a line, and a call's lines carry the trace id of
/// its caller's W3C `traceparent` (issue 16 item 6); a format that is neither text nor json
/// is refused at start.
#[tokio::test]
async fn json_logs_carry_the_callers_trace_id() {
    use taxi_proto::v1 as pb;
    use taxi_proto::v1::hotline_service_client::HotlineServiceClient;
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let bad = taxi()
        .args(["serve", "--role", "all"])
        .env("TAXI_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("TAXI_LOG_FORMAT"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let redis = taxi_tests::TestRedis::start();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = KillOnDrop(
        taxi()
            .args(["serve", "--role", "all", "--auth", "off"])
            .args(["--dispatch-workers", "0"])
            .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
            .env("TAXI_REDIS_URL", redis.url())
            .env("TAXI_LOG_FORMAT", "json")
            .env("TAXI_LOG", "info,taxi_server=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let channel = loop {
        match endpoint.connect().await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("taxi serve never listened: {e}"),
        }
    };
    let mut request = tonic::Request::new(pb::CreateBookingRequest {
        caller_phone: "13900000099".into(),
        pickup: Some(pb::Place {
            location: Some(pb::LatLng {
                latitude: 29.563,
                longitude: 106.577,
                datum: pb::Datum::Wgs84 as i32,
            }),
            address: "解放碑".into(),
        }),
        channel: pb::Channel::Ivr as i32,
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE}-00f067aa0ba902b7-01").parse().unwrap(),
    );
    HotlineServiceClient::new(channel)
        .create_booking(request)
        .await
        .unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let _ = child.wait();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 3, "{out}");
    let traced: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["trace_id"] == TRACE)
        .collect();
    assert!(
        traced
            .iter()
            .any(|l| l["fields"]["message"] == "rpc answered"
                && l["span"]["method"] == "/taxi.v1.HotlineService/CreateBooking"),
        "{out}"
    );
}
