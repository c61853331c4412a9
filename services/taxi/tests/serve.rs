//! The real `taxi` binary: configuration checks, the embedded Redis, health, signals.

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
    c
}

#[test]
fn bad_configuration_exits_2_with_a_clear_message() {
    for (args, needle) in [
        (vec!["serve", "--role", "everything"], "TAXI_ROLE"),
        (vec!["serve", "--listen", "here"], "TAXI_LISTEN"),
        (vec!["serve", "--city", "123456"], "TAXI_SERVICE_AREA"),
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
    let data = tempfile::tempdir().unwrap();
    let mut child = taxi()
        .args(["serve", "--role", "all"])
        .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
        .env("TAXI_DATA_DIR", data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

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
