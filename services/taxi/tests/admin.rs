//! `taxi admin`, the real binary against a private Redis (a Redis Cluster in the cluster
//! tier). `audit verify`: exit 0 and the count for an intact log, exit 1 naming the entry
//! for a tampered one, exit 2 for bad configuration. `create-operator` and
//! `create-service-key`: the credentials they make log in over gRPC; a taken name exits 1,
//! bad input 2.

use taxi_domain::oplog::OplogEntry;
use taxi_store::{Store, StoreConfig};
use taxi_tests::{CITY, TestRedis};

/// Runs `taxi admin <args>` against `url`; its exit code and everything it printed.
async fn admin(url: &str, args: &[&str]) -> (i32, String) {
    let (code, out, err) = admin_with(url, args, None, "").await;
    (code, format!("{out}{err}"))
}

/// Runs `taxi admin <args>` with `TAXI_ADMIN_PASSWORD` (if given) and `stdin`; its exit
/// code, stdout and stderr.
async fn admin_with(
    url: &str,
    args: &[&str],
    password_env: Option<&str>,
    stdin: &str,
) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_taxi"));
    cmd.arg("admin")
        .args(args)
        .env("TAXI_REDIS_URL", url)
        .env("TAXI_CITY", CITY)
        .env("TAXI_LOG", "warn")
        .env_remove("TAXI_ADMIN_PASSWORD")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(p) = password_env {
        cmd.env("TAXI_ADMIN_PASSWORD", p);
    }
    let mut child = cmd.spawn().expect("run taxi");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let out = child.wait_with_output().await.expect("taxi ends");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Serves the city on `url` in this process; the channel and the server's stop.
async fn serve(
    url: &str,
) -> (
    tonic::transport::Channel,
    tokio_util::sync::CancellationToken,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Store::connect(StoreConfig::new(url, CITY)).expect("store");
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(taxi_server::run(
        listener,
        store,
        taxi_server::ServerConfig::default(),
        stop.clone(),
    ));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    (channel, stop)
}

#[tokio::test]
async fn create_operator_makes_the_first_supervisor_who_logs_in_over_grpc() {
    use taxi_proto::v1 as pb;
    let redis = TestRedis::start();
    let url = redis.url();
    let password = "the chief's long password";
    // From stdin (the first line), as an operator would type or pipe it.
    let (code, out, err) = admin_with(
        &url,
        &[
            "create-operator",
            "--username",
            "chief",
            "--role",
            "supervisor",
            "--display-name",
            "Chief of shift",
        ],
        None,
        &format!("{password}\n"),
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created supervisor `chief`"), "{out}");
    assert!(
        !format!("{out}{err}").contains(password),
        "the password was shown"
    );

    let (channel, stop) = serve(&url).await;
    let login = taxi_tests::login_password(channel.clone(), "chief", password)
        .await
        .expect("the new supervisor logs in");
    let token = login.tokens.expect("tokens").access_token;
    let me = taxi_proto::v1::auth_service_client::AuthServiceClient::new(taxi_tests::bearer(
        channel.clone(),
        &token,
    ))
    .who_am_i(pb::WhoAmIRequest {})
    .await
    .expect("who am i")
    .into_inner()
    .principal
    .expect("principal");
    assert_eq!(
        (me.role, me.id.as_str(), me.city.as_str()),
        (pb::Role::Supervisor as i32, "chief", CITY)
    );
    // A wrong password does not log in.
    let wrong = taxi_tests::login_password(channel, "chief", "not the password at all")
        .await
        .expect_err("wrong password");
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    stop.cancel();

    // The same name again: exit 1, clearly; from the environment this time.
    let (code, out, err) = admin_with(
        &url,
        &["create-operator", "--username", "chief"],
        Some("another long password"),
        "",
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("chief is taken"), "{err}");
}

#[tokio::test]
async fn create_operator_refuses_bad_input_naming_it_and_stores_nothing() {
    let redis = TestRedis::start();
    let url = redis.url();
    let store = Store::connect(StoreConfig::new(&url, CITY)).expect("store");
    for (args, password, needle) in [
        (
            vec![
                "create-operator",
                "--username",
                "badrole",
                "--role",
                "driver",
            ],
            Some("a long enough password"),
            "--role: `driver` is not operator",
        ),
        (
            vec!["create-operator", "--username", "shortpw"],
            Some("short"),
            "password",
        ),
        (
            vec!["create-operator", "--username", "NO SPACES"],
            Some("a long enough password"),
            "username",
        ),
        (
            vec!["create-operator", "--username", "nopw"],
            None,
            "TAXI_ADMIN_PASSWORD",
        ),
    ] {
        let (code, out, err) = admin_with(&url, &args, password, "").await;
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    for name in ["badrole", "shortpw", "nopw"] {
        assert!(
            store.account(name).await.unwrap().is_none(),
            "{name} stored"
        );
    }
}

#[tokio::test]
async fn create_service_key_prints_a_secret_once_that_logs_in() {
    let redis = TestRedis::start();
    let url = redis.url();
    let (code, out, err) = admin_with(
        &url,
        &[
            "create-service-key",
            "--name",
            "switch1",
            "--role",
            "phone-switch",
        ],
        None,
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let secret = out.trim();
    assert!(
        !secret.is_empty() && !secret.contains(' '),
        "stdout is the secret: {out}"
    );
    let (channel, stop) = serve(&url).await;
    taxi_tests::login_key(channel, taxi_proto::v1::KeyKind::Service, "switch1", secret).await;
    stop.cancel();
    let (code, _, err) = admin_with(
        &url,
        &["create-service-key", "--name", "x", "--role", "operator"],
        None,
        "",
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--role: `operator` is not phone-switch or gateway"),
        "{err}"
    );
}

#[tokio::test]
async fn audit_verify_passes_an_intact_log_and_names_a_removed_entry() {
    let redis = TestRedis::start();
    let url = redis.url();
    let store = Store::connect(StoreConfig::new(&url, CITY)).expect("store");
    let (code, text) = admin(&url, &["audit", "verify"]).await;
    assert_eq!(
        (code, text.contains("0 entries checked, intact")),
        (0, true),
        "{text}"
    );
    let mut ids = Vec::new();
    for i in 0..5 {
        let entry = OplogEntry {
            actor: "operator:alice".into(),
            role: "operator".into(),
            action: "AssignOrder".into(),
            target: format!("O{i}"),
            at_ms: 0,
            from: "127.0.0.1:4000".into(),
            detail: String::new(),
        };
        ids.push(store.oplog_append(&entry).await.expect("append"));
    }
    let (code, text) = admin(&url, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("5 entries checked, intact"), "{text}");

    store.oplog_delete(&ids[2]).await.expect("delete");
    let (code, text) = admin(&url, &["audit", "verify"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("NOT INTACT") && text.contains(&ids[1]) && text.contains(&ids[3]),
        "names the entries around the removed one: {text}"
    );
}

#[tokio::test]
async fn audit_verify_names_an_edited_entry() {
    let redis = TestRedis::start();
    let url = redis.url();
    let store = Store::connect(StoreConfig::new(&url, CITY)).expect("store");
    let mut ids = Vec::new();
    for i in 0..3 {
        let entry = OplogEntry {
            actor: "operator:bob".into(),
            role: "operator".into(),
            action: "UpsertCaller".into(),
            target: "13800138000".into(),
            at_ms: 0,
            from: "127.0.0.1:4000".into(),
            detail: format!("change {i}"),
        };
        ids.push(store.oplog_append(&entry).await.expect("append"));
    }
    store
        .oplog_edit(&ids[1], "actor", "operator:someone-else")
        .await
        .expect("edit");
    let (code, text) = admin(&url, &["audit", "verify"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("entry {} was edited", ids[1])),
        "{text}"
    );
}

#[tokio::test]
async fn audit_verify_refuses_bad_configuration_with_exit_2() {
    let (code, text) = admin("http://nowhere", &["audit", "verify"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("TAXI_REDIS_URL"), "{text}");
    let (code, text) = admin("redis://127.0.0.1:1", &["--city", "abc", "audit", "verify"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("TAXI_CITY"), "{text}");
}

#[tokio::test]
async fn add_taxis_registers_and_signs_on_in_bulk_and_refuses_a_bad_count() {
    let redis = TestRedis::start();
    let url = redis.url();
    let store = Store::connect(StoreConfig::new(&url, CITY)).expect("store");
    let (code, out, err) = admin_with(
        &url,
        &["add-taxis", "--count", "300", "--prefix", "渝C"],
        None,
        "",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 300, "{out}");
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        300
    );
    // In plate order, each registered and signed on (free, waiting for a position).
    for (i, id) in [(0, ids[0]), (299, ids[299])] {
        let t = store.get_taxi(id).await.expect("registered");
        assert_eq!(t.plate, format!("渝C{i:05}"));
    }
    let counts = store.taxi_state_counts().await.unwrap();
    assert!(
        counts
            .iter()
            .any(|(s, n)| *s == taxi_domain::taxi::TaxiState::Free && *n == 300),
        "{counts:?}"
    );
    // A plate taken, or a count out of range: refused.
    let (code, _, _) = admin_with(
        &url,
        &["add-taxis", "--count", "1", "--prefix", "渝C"],
        None,
        "",
    )
    .await;
    assert_ne!(code, 0, "a taken plate is refused");
    let (code, text) = admin(&url, &["add-taxis", "--count", "0", "--prefix", "渝D"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--count"), "{text}");
}

#[tokio::test]
async fn bind_terminal_binds_a_phone_number_to_a_taxi_and_refuses_bad_input() {
    let redis = TestRedis::start();
    let url = redis.url();
    let store = Store::connect(StoreConfig::new(&url, CITY)).expect("store");
    let (_, out, _) = admin_with(
        &url,
        &["add-taxis", "--count", "2", "--prefix", "渝E"],
        None,
        "",
    )
    .await;
    let ids: Vec<&str> = out.lines().collect();
    // Header BCD pads with zeros: the binding is keyed as the gateway reads a header.
    let (code, text) = admin(
        &url,
        &[
            "bind-terminal",
            "--taxi-id",
            ids[0],
            "--phone",
            "013912345678",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        store.terminal_taxi("13912345678").await.unwrap().as_deref(),
        Some(ids[0])
    );
    for (args, needle) in [
        (
            vec!["--taxi-id", ids[1], "--phone", "1391234567x"],
            "--phone",
        ),
        (
            vec!["--taxi-id", ids[1], "--phone", "13912345678"],
            "bound to taxi",
        ),
        (vec!["--taxi-id", "T404", "--phone", "13900000000"], "T404"),
    ] {
        let mut all = vec!["bind-terminal"];
        all.extend(args);
        let (code, text) = admin(&url, &all).await;
        assert_eq!(code, 2, "{all:?}: {text}");
        assert!(text.contains(needle), "{all:?}: {text}");
    }
    assert_eq!(store.terminal_taxi("13900000000").await.unwrap(), None);
}
