//! The real `taxi` binary over TLS: `--tls-cert` and `--tls-key` from PEM files, and the
//! flag errors that stop it before it binds.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use taxi_tests::tls::{TestCa, try_connect};
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

/// Kills the child on drop, whatever the test did.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn taxi_serve_with_a_certificate_and_key_serves_tls_only() {
    let ca = TestCa::new("taxi test CA");
    let leaf = ca.server();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Child(
        taxi()
            .args(["serve", "--role", "all"])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .env("TAXI_LISTEN", format!("127.0.0.1:{port}"))
            .env("TAXI_DATA_DIR", dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let channel = loop {
        match try_connect(addr, ca.client_tls()).await {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                assert!(
                    child.0.try_wait().unwrap().is_none(),
                    "taxi serve exited before serving"
                );
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("taxi serve never served TLS: {e:?}"),
        }
    };
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "taxi.v1.HotlineService".into(),
        })
        .await
        .expect("health over TLS")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    // The same port does not speak plain gRPC.
    let plain = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
    };
    let plain = tokio::time::timeout(Duration::from_secs(10), plain)
        .await
        .expect("a plain client is refused, not left hanging");
    assert!(plain.is_err(), "plain gRPC was answered: {plain:?}");

    let ok = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "taxi did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_certificate_without_its_key_stops_taxi_before_it_binds() {
    let ca = TestCa::new("taxi test CA");
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, ca.server().cert_pem).unwrap();
    // A port someone else holds: a configuration error must come first, so the message
    // is about the flags and not about the port.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = held.local_addr().unwrap().to_string();
    let out = taxi()
        .args(["serve", "--listen", &listen])
        .arg("--tls-cert")
        .arg(&cert)
        .env("TAXI_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-key / TAXI_TLS_KEY"), "{err}");
    assert!(!err.contains("binding"), "{err}");

    // The environment is read too, and an unparseable file is named.
    let garbage = dir.path().join("key.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let out = taxi()
        .args(["serve", "--listen", &listen])
        .env("TAXI_TLS_CERT", &cert)
        .env("TAXI_TLS_KEY", &garbage)
        .env("TAXI_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TAXI_TLS_KEY: private key"), "{err}");
}
