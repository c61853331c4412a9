//! `taxi health`, the containers' probe, against a real `taxi serve`: SERVING, a service
//! this process does not serve, NOT_SERVING while it drains, nothing listening, and TLS.

mod common;
use common::{Child, free_port};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use taxi_tests::tls::TestCa;

fn taxi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_taxi"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TAXI_") {
            c.env_remove(k);
        }
    }
    c.env("TAXI_METRICS_ADDR", "off");
    c
}

/// `taxi serve --role hotline` on a free port with its embedded Redis in `data`.
fn serve(data: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = taxi()
        .args(["serve", "--role", "hotline", "--drain-secs", "3"])
        .args(extra)
        .env("TAXI_LISTEN", &addr)
        .env("TAXI_DATA_DIR", data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Child(child), addr)
}

/// `taxi health ARGS`: its exit code and first line of output.
fn health(args: &[&str]) -> (i32, String) {
    let Output { status, stdout, .. } = taxi().arg("health").args(args).output().unwrap();
    let line = String::from_utf8_lossy(&stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    (status.code().expect("exited"), line)
}

/// Asks until the server answers SERVING (it is starting), for at most 20 s.
fn wait_serving(args: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, line) = health(args);
        if code == 0 {
            assert_eq!(line, "SERVING");
            return;
        }
        assert!(Instant::now() < deadline, "never SERVING: {code} {line}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn health_answers_serving_unknown_draining_and_unreachable() {
    let data = tempfile::tempdir().unwrap();
    let (server, addr) = serve(data.path(), &[]);
    wait_serving(&["--addr", &addr]);
    assert_eq!(
        health(&["--addr", &addr, "--service", "taxi.v1.HotlineService"]),
        (0, "SERVING".to_string())
    );
    // This process serves the hotline only.
    let (code, line) = health(&["--addr", &addr, "--service", "taxi.v1.FleetService"]);
    assert_eq!(code, 1, "{line}");
    assert!(line.starts_with("SERVICE_UNKNOWN"), "{line}");

    // SIGTERM: NOT_SERVING for the drain (3 s) before the listener closes.
    let ok = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(3);
    let draining = loop {
        let answer = health(&["--addr", &addr, "--service", "taxi.v1.HotlineService"]);
        if answer.0 != 0 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(draining, (1, "NOT_SERVING".to_string()));
    // Draining is alive: a liveness probe must not restart it.
    assert_eq!(
        health(&["--addr", &addr, "--alive"]),
        (0, "NOT_SERVING".to_string())
    );
    drop(server);

    let (code, line) = health(&["--addr", &addr, "--timeout-ms", "500"]);
    assert_eq!(code, 3, "{line}");
    assert_eq!(health(&["--addr", &addr, "--alive"]).0, 3);
    assert!(line.starts_with("UNREACHABLE"), "{line}");
    let (code, _) = health(&["--addr", "no-port-here"]);
    assert_eq!(code, 2);
}

#[test]
fn health_speaks_tls_with_the_ca_it_is_given() {
    let ca = TestCa::new("taxi health test CA");
    let other = TestCa::new("someone else's CA");
    let leaf = ca.server();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    std::fs::write(path("cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(path("key.pem"), &leaf.key_pem).unwrap();
    std::fs::write(path("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(path("other.pem"), other.cert_pem()).unwrap();
    let (_server, addr) = serve(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            &path("cert.pem"),
            "--tls-key",
            &path("key.pem"),
        ],
    );
    let tls = |ca: &str| {
        vec![
            "--addr".to_string(),
            addr.clone(),
            "--tls-ca".to_string(),
            path(ca),
            "--tls-domain".to_string(),
            "localhost".to_string(),
        ]
    };
    let args = tls("ca.pem");
    wait_serving(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // A certificate it does not trust is no answer, and plain gRPC gets none either.
    let args = tls("other.pem");
    let (code, line) = health(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 3, "{line}");
    let (code, line) = health(&["--addr", &addr, "--timeout-ms", "1000"]);
    assert_eq!(code, 3, "{line}");
}
