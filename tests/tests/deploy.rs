//! `deploy/` kept consistent without containers (the deploy tier, `scripts/deploy-test.sh`,
//! runs them): Redis requires a password from a secret (never committed), every `taxi`
//! service reaches it with that password in `TAXI_REDIS_URL`, and every shipped Redis
//! configuration fsyncs its AOF on every write. And what `podman kube play` cannot show:
//! every Kubernetes container has requests, limits, readiness and liveness probes, a
//! non-root user, a read-only root file system and an image built here; the local image's
//! runtime is the registry Dockerfile's.

use serde::Deserialize;
use serde_yaml::Value;
use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            let mut v = Value::deserialize(d).unwrap();
            v.apply_merge().unwrap();
            v
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `appendfsync` in a redis.conf text: exactly one line, saying `always`.
fn assert_fsync_always(conf: &str, what: &str) {
    let lines: Vec<&str> = conf
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("appendfsync"))
        .collect();
    assert_eq!(lines, ["appendfsync always"], "{what}");
    assert!(conf.lines().any(|l| l.trim() == "appendonly yes"), "{what}");
}

#[test]
fn shipped_redis_configurations_fsync_always() {
    let conf = std::fs::read_to_string(deploy().join("redis/redis.conf")).unwrap();
    assert_fsync_always(&conf, "deploy/redis/redis.conf");
    // No password in the committed file: it comes from the secret on the command line.
    assert!(!conf.lines().any(|l| l.trim().starts_with("requirepass")));
    let k8s = yaml_docs(&deploy().join("k8s/redis.yaml"));
    let map = k8s
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("redis ConfigMap");
    assert_fsync_always(
        map["data"]["redis.conf"].as_str().unwrap(),
        "k8s redis ConfigMap",
    );
}

const COMPOSE_PASSWORD: &str =
    "${TAXI_REDIS_PASSWORD:?set TAXI_REDIS_PASSWORD (see deploy/.env.example)}";

#[test]
fn compose_redis_requires_the_password_every_taxi_service_gives() {
    let compose = yaml_docs(&deploy().join("docker-compose.yml"));
    let services = compose[0]["services"].as_mapping().unwrap();
    let redis = &services["redis"];
    let command = strings(&redis["command"]);
    assert_eq!(
        command,
        [
            "redis-server",
            "/etc/redis/redis.conf",
            "--requirepass",
            COMPOSE_PASSWORD
        ]
    );
    let mut taxis = 0;
    for (name, service) in services {
        if name == "redis" {
            continue;
        }
        taxis += 1;
        assert_eq!(strings(&service["command"])[0], "serve", "{name:?}");
        let url = service["environment"]["TAXI_REDIS_URL"].as_str();
        assert_eq!(
            url,
            Some(format!("redis://:{COMPOSE_PASSWORD}@redis:6379/").as_str()),
            "{name:?}"
        );
    }
    assert_eq!(taxis, 8);
    // The example env file holds no password.
    let example = std::fs::read_to_string(deploy().join(".env.example")).unwrap();
    assert!(example.lines().any(|l| l == "TAXI_REDIS_PASSWORD="));
}

/// The `secretKeyRef` of env var `name` in `container`, as (secret, key).
fn secret_env<'a>(container: &'a Value, name: &str) -> Option<(&'a str, &'a str)> {
    let env = container["env"].as_sequence()?;
    let var = env.iter().find(|e| e["name"] == name)?;
    let r = &var["valueFrom"]["secretKeyRef"];
    Some((r["name"].as_str()?, r["key"].as_str()?))
}

#[test]
fn k8s_redis_requires_the_secret_password_every_taxi_deployment_gives() {
    let secret = Some(("taxi-redis", "password"));
    let mut taxis = 0;
    for entry in std::fs::read_dir(deploy().join("k8s")).unwrap().flatten() {
        for doc in yaml_docs(&entry.path()) {
            if doc["kind"] != "Deployment" && doc["kind"] != "StatefulSet" {
                continue;
            }
            let name = doc["metadata"]["name"].as_str().unwrap().to_string();
            for c in doc["spec"]["template"]["spec"]["containers"]
                .as_sequence()
                .unwrap()
            {
                if name == "redis" {
                    assert_eq!(
                        strings(&c["args"]),
                        [
                            "/etc/redis/redis.conf",
                            "--requirepass",
                            "$(REDIS_PASSWORD)"
                        ]
                    );
                    assert_eq!(secret_env(c, "REDIS_PASSWORD"), secret);
                    assert_eq!(secret_env(c, "REDISCLI_AUTH"), secret, "readiness probe");
                    continue;
                }
                taxis += 1;
                assert_eq!(secret_env(c, "TAXI_REDIS_PASSWORD"), secret, "{name}");
                let env = c["env"].as_sequence().unwrap();
                let at = |n: &str| env.iter().position(|e| e["name"] == n);
                // Kubernetes expands $(VAR) only from variables defined before it.
                assert!(
                    at("TAXI_REDIS_PASSWORD") < at("TAXI_REDIS_URL"),
                    "{name}: TAXI_REDIS_PASSWORD must come first"
                );
                let url = env[at("TAXI_REDIS_URL").unwrap()]["value"].as_str();
                assert_eq!(
                    url,
                    Some("redis://:$(TAXI_REDIS_PASSWORD)@redis:6379/"),
                    "{name}"
                );
            }
        }
    }
    assert_eq!(taxis, 8);
}

/// The images `scripts/images.sh` builds (and deploy/Dockerfile, deploy/Containerfile.redis
/// with a registry): the only ones a manifest or the compose file may run.
const BUILT_IMAGES: [&str; 2] = ["taxi:latest", "taxi-redis:latest"];

/// Every Deployment and StatefulSet in deploy/k8s, by file.
fn k8s_workloads() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(deploy().join("k8s"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        for doc in yaml_docs(&path) {
            if doc["kind"] == "Deployment" || doc["kind"] == "StatefulSet" {
                let file = path.file_name().unwrap().to_string_lossy().to_string();
                out.push((file, doc));
            }
        }
    }
    out
}

/// What a workload's pods lack to run as deployed: requests and limits, readiness and
/// liveness probes, a non-root user, a read-only root file system, an image built here.
fn workload_problems(doc: &Value) -> Vec<String> {
    let name = doc["metadata"]["name"].as_str().unwrap_or("?");
    let pod = &doc["spec"]["template"]["spec"];
    let mut problems = Vec::new();
    let containers = pod["containers"].as_sequence().cloned().unwrap_or_default();
    if containers.is_empty() {
        problems.push(format!("{name}: no containers"));
    }
    for c in &containers {
        let at = format!("{name}/{}", c["name"].as_str().unwrap_or("?"));
        for kind in ["requests", "limits"] {
            for what in ["cpu", "memory"] {
                if c["resources"][kind][what].is_null() {
                    problems.push(format!("{at}: no resources.{kind}.{what}"));
                }
            }
        }
        for probe in ["readinessProbe", "livenessProbe"] {
            let p = &c[probe];
            if ["exec", "grpc", "tcpSocket", "httpGet"]
                .iter()
                .all(|k| p[*k].is_null())
            {
                problems.push(format!("{at}: no {probe}"));
            }
        }
        let non_root = |v: &Value| v["runAsNonRoot"].as_bool();
        if non_root(&c["securityContext"])
            .or(non_root(&pod["securityContext"]))
            .is_none_or(|n| !n)
        {
            problems.push(format!("{at}: runAsNonRoot is not set"));
        }
        if c["securityContext"]["readOnlyRootFilesystem"].as_bool() != Some(true) {
            problems.push(format!("{at}: the root file system is writable"));
        }
        let image = c["image"].as_str().unwrap_or("");
        if !BUILT_IMAGES.contains(&image) {
            problems.push(format!("{at}: image {image:?} is not one built here"));
        }
    }
    problems
}

#[test]
fn every_k8s_container_has_resources_probes_a_non_root_user_and_a_built_image() {
    let workloads = k8s_workloads();
    assert_eq!(workloads.len(), 9, "eight taxi containers and Redis");
    let problems: Vec<String> = workloads
        .iter()
        .flat_map(|(file, doc)| {
            workload_problems(doc)
                .into_iter()
                .map(move |p| format!("{file}: {p}"))
        })
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The first container of a workload's pod template, to break in a test.
fn first_container(doc: &mut Value) -> &mut serde_yaml::Mapping {
    doc["spec"]["template"]["spec"]["containers"][0]
        .as_mapping_mut()
        .unwrap()
}

/// One way to break a manifest.
type Break = fn(&mut Value);

/// The check itself: a manifest that loses any one of them is caught.
#[test]
fn a_manifest_that_loses_a_probe_a_limit_or_its_non_root_user_fails() {
    let (_, good) = k8s_workloads()
        .into_iter()
        .find(|(file, _)| file == "hotline.yaml")
        .unwrap();
    assert!(workload_problems(&good).is_empty());
    let cases: [(&str, Break); 7] = [
        ("no readinessProbe", |d| {
            first_container(d).remove("readinessProbe");
        }),
        ("no livenessProbe", |d| {
            first_container(d).remove("livenessProbe");
        }),
        ("no resources.limits.memory", |d| {
            first_container(d)["resources"]["limits"]
                .as_mapping_mut()
                .unwrap()
                .remove("memory");
        }),
        ("no resources.requests.cpu", |d| {
            first_container(d)["resources"]["requests"]
                .as_mapping_mut()
                .unwrap()
                .remove("cpu");
        }),
        ("runAsNonRoot is not set", |d| {
            d["spec"]["template"]["spec"]["securityContext"]
                .as_mapping_mut()
                .unwrap()
                .remove("runAsNonRoot");
        }),
        ("the root file system is writable", |d| {
            first_container(d).remove("securityContext");
        }),
        ("is not one built here", |d| {
            first_container(d)["image"] = "taxi:1.0".into();
        }),
    ];
    for (needle, break_it) in cases {
        let mut doc = good.clone();
        break_it(&mut doc);
        let problems = workload_problems(&doc);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle}: {problems:?}"
        );
    }
}

/// What a taxi workload lacks to serve TLS as deployed: the certificate and key from the
/// mounted Secret `taxi-tls`, and probes that speak TLS with its CA.
fn tls_problems(doc: &Value) -> Vec<String> {
    let name = doc["metadata"]["name"].as_str().unwrap_or("?");
    let pod = &doc["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let mut problems = Vec::new();
    let env = |n: &str| {
        c["env"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == n)
            .and_then(|v| v["value"].as_str())
            .map(str::to_string)
    };
    for (var, file) in [("TAXI_TLS_CERT", "tls.crt"), ("TAXI_TLS_KEY", "tls.key")] {
        if env(var).as_deref() != Some(&format!("/etc/taxi/tls/{file}")) {
            problems.push(format!("{name}: {var} is not /etc/taxi/tls/{file}"));
        }
    }
    let mounted = c["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|m| m["mountPath"] == "/etc/taxi/tls" && m["readOnly"].as_bool() == Some(true));
    let secret = pod["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|v| v["secret"]["secretName"] == "taxi-tls");
    if !mounted || !secret {
        problems.push(format!(
            "{name}: the Secret taxi-tls is not mounted read-only at /etc/taxi/tls"
        ));
    }
    for probe in ["readinessProbe", "livenessProbe"] {
        let cmd = strings(&c[probe]["exec"]["command"]);
        let ca = cmd
            .iter()
            .position(|a| *a == "--tls-ca")
            .map(|i| cmd[i + 1]);
        if ca != Some("/etc/taxi/tls/ca.crt") {
            problems.push(format!(
                "{name}: {probe} does not speak TLS with the Secret's CA"
            ));
        }
    }
    problems
}

#[test]
fn every_taxi_deployment_serves_tls_and_probes_over_it() {
    let taxis: Vec<(String, Value)> = k8s_workloads()
        .into_iter()
        .filter(|(_, d)| d["metadata"]["name"] != "redis")
        .collect();
    assert_eq!(taxis.len(), 8);
    let problems: Vec<String> = taxis.iter().flat_map(|(_, d)| tls_problems(d)).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    // And the check catches a manifest that drops any part of it.
    let good = taxis[0].1.clone();
    let cases: [(&str, Break); 3] = [
        ("TAXI_TLS_CERT", |d| {
            let env = first_container(d)["env"].as_sequence_mut().unwrap();
            env.retain(|v| v["name"] != "TAXI_TLS_CERT");
        }),
        ("not mounted", |d| {
            first_container(d).remove("volumeMounts");
        }),
        ("livenessProbe does not speak TLS", |d| {
            first_container(d)["livenessProbe"]["exec"]["command"] =
                serde_yaml::to_value(["/usr/local/bin/taxi", "health", "--alive"]).unwrap();
        }),
    ];
    for (needle, break_it) in cases {
        let mut doc = good.clone();
        break_it(&mut doc);
        let problems = tls_problems(&doc);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle}: {problems:?}"
        );
    }
}

#[test]
fn taxi_probes_ask_taxi_health_for_the_roles_own_service() {
    for (file, doc) in k8s_workloads() {
        if doc["metadata"]["name"] == "redis" {
            continue;
        }
        let c = &doc["spec"]["template"]["spec"]["containers"][0];
        let ready = strings(&c["readinessProbe"]["exec"]["command"]);
        let live = strings(&c["livenessProbe"]["exec"]["command"]);
        assert_eq!(ready[..2], ["/usr/local/bin/taxi", "health"], "{file}");
        assert_eq!(
            live[..3],
            ["/usr/local/bin/taxi", "health", "--alive"],
            "{file}"
        );
        // The readiness service is one this role serves: the role's first name.
        let args = strings(&c["args"]);
        let role = args[args.iter().position(|a| *a == "--role").unwrap() + 1];
        let service = ready[ready.iter().position(|a| *a == "--service").unwrap() + 1];
        let first = role.split(',').next().unwrap();
        let expected = match first {
            "fleet" => "taxi.v1.FleetService",
            "driver" => "taxi.v1.DriverService",
            "hotline" => "taxi.v1.HotlineService",
            "onekey" => "taxi.v1.OneKeyService",
            "dispatch" => "taxi.v1.DispatchService",
            "notify" => "taxi.v1.NotificationService",
            "console" => "taxi.console",
            "terminal-gateway" => "taxi.terminal",
            other => panic!("{file}: unexpected role {other}"),
        };
        assert_eq!(service, expected, "{file}");
    }
}

#[test]
fn the_k8s_redis_config_is_the_shipped_redis_conf() {
    let conf = std::fs::read_to_string(deploy().join("redis/redis.conf")).unwrap();
    let k8s = yaml_docs(&deploy().join("k8s/redis.yaml"));
    let map = k8s.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(map["data"]["redis.conf"].as_str().unwrap(), conf);
}

#[test]
fn compose_runs_the_built_images_and_restarts_what_dies() {
    let compose = yaml_docs(&deploy().join("docker-compose.yml"));
    for (name, service) in compose[0]["services"].as_mapping().unwrap() {
        let image = service["image"].as_str().unwrap_or("");
        assert!(BUILT_IMAGES.contains(&image), "{name:?}: {image}");
        assert!(
            matches!(
                service["restart"].as_str(),
                Some("unless-stopped" | "always")
            ),
            "{name:?}: restart"
        );
        assert_eq!(service["read_only"].as_bool(), Some(true), "{name:?}");
    }
}

/// The runtime instructions of a Dockerfile's last stage (after its last FROM), comments,
/// ARGs and the build-only `COPY --from` source aside.
fn runtime_stage(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    lines[last_from + 1..]
        .iter()
        .filter(|l| !l.starts_with("ARG "))
        .map(|l| match l.strip_prefix("COPY ") {
            // Where the binary lands is the layout; where it came from is the build's.
            Some(rest) => format!("COPY {}", rest.split_whitespace().last().unwrap()),
            None => l.to_string(),
        })
        .collect()
}

#[test]
fn the_local_image_has_the_registry_images_runtime() {
    let registry = runtime_stage(&deploy().join("Dockerfile"));
    let local = runtime_stage(&deploy().join("Containerfile.taxi"));
    assert_eq!(local, registry);
    assert!(registry.contains(&"USER 10001".to_string()));
    assert!(registry.contains(&"COPY /usr/local/bin/taxi".to_string()));
}

/// The roles a `--role` list names.
fn roles(args: &[&str]) -> Vec<String> {
    let list = args[args.iter().position(|a| *a == "--role").unwrap() + 1];
    list.split(',').map(str::to_owned).collect()
}

/// The roles whose gRPC services the console's page calls in-process
/// (`taxi_console::bridge::EXPOSED`; AuthService is in every process).
fn console_needs() -> Vec<&'static str> {
    let mut roles: Vec<&str> = taxi_console::bridge::EXPOSED
        .iter()
        .filter_map(|rpc| match rpc.split('/').next().unwrap() {
            "taxi.v1.AuthService" => None,
            "taxi.v1.HotlineService" => Some("hotline"),
            "taxi.v1.CallCentreService" => Some("callcentre"),
            "taxi.v1.DispatchService" => Some("dispatch"),
            "taxi.v1.FleetService" => Some("fleet"),
            other => panic!("the console calls {other}: name the role that serves it"),
        })
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// What keeps the console or the terminal gateway from its clients in a container: the
/// console without a service its page calls; the gateway listening on its loopback only
/// (the default) or its port not exposed.
fn console_and_gateway_problems(
    what: &str,
    args: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
    ports: &[u64],
) -> Vec<String> {
    let roles = roles(args);
    let mut problems = Vec::new();
    if roles.iter().any(|r| r == "console") {
        for need in console_needs() {
            if !roles.iter().any(|r| r == need) {
                problems.push(format!(
                    "{what}: the console's page calls {need}, not served here"
                ));
            }
        }
    }
    if roles.iter().any(|r| r == "terminal-gateway") {
        match env("TAXI_TERMINAL_LISTEN") {
            Some(at) if at == "0.0.0.0:7808" => {}
            other => problems.push(format!(
                "{what}: TAXI_TERMINAL_LISTEN is {other:?}, not 0.0.0.0:7808: terminals cannot reach it"
            )),
        }
        if !ports.contains(&7808) {
            problems.push(format!("{what}: port 7808 is not exposed"));
        }
    }
    problems
}

fn k8s_console_and_gateway_problems(file: &str, doc: &Value) -> Vec<String> {
    let c = &doc["spec"]["template"]["spec"]["containers"][0];
    let env = |name: &str| {
        c["env"]
            .as_sequence()?
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["value"].as_str())
            .map(str::to_owned)
    };
    let ports: Vec<u64> = c["ports"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|p| p["containerPort"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    console_and_gateway_problems(file, &strings(&c["args"]), &env, &ports)
}

#[test]
fn the_console_serves_what_its_page_calls_and_the_terminal_gateway_is_reachable() {
    // Compose: both services exist and pass.
    let compose = yaml_docs(&deploy().join("docker-compose.yml"));
    let services = compose[0]["services"].as_mapping().unwrap();
    let mut seen = Vec::new();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        if name == "redis" {
            continue;
        }
        let args = strings(&service["command"]);
        seen.extend(roles(&args));
        let env = |k: &str| service["environment"][k].as_str().map(str::to_owned);
        // "HOST:PUBLISHED:CONTAINER": the container's port.
        let ports: Vec<u64> = strings(&service["ports"])
            .iter()
            .filter_map(|p| p.rsplit(':').next()?.parse().ok())
            .collect();
        let problems = console_and_gateway_problems(name, &args, &env, &ports);
        assert!(problems.is_empty(), "{problems:#?}");
    }
    assert!(
        seen.iter().any(|r| r == "console"),
        "compose runs the console"
    );
    assert!(
        seen.iter().any(|r| r == "terminal-gateway"),
        "compose runs the gateway"
    );

    // k8s: both Deployments exist and pass; the gateway's Service reaches its port.
    let mut k8s_roles = Vec::new();
    for (file, doc) in k8s_workloads() {
        if doc["metadata"]["name"] == "redis" {
            continue;
        }
        k8s_roles.extend(roles(&strings(
            &doc["spec"]["template"]["spec"]["containers"][0]["args"],
        )));
        let problems = k8s_console_and_gateway_problems(&file, &doc);
        assert!(problems.is_empty(), "{problems:#?}");
    }
    assert!(k8s_roles.iter().any(|r| r == "console"));
    assert!(k8s_roles.iter().any(|r| r == "terminal-gateway"));
    let terminal = yaml_docs(&deploy().join("k8s/terminal.yaml"));
    let service = terminal.iter().find(|d| d["kind"] == "Service").unwrap();
    assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(7808));
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "jtt808");

    // And the check catches each way of breaking them.
    let docs = k8s_workloads();
    let by_role = |role: &str| {
        docs.iter()
            .filter(|(_, d)| d["metadata"]["name"] != "redis")
            .find(|(_, d)| {
                roles(&strings(
                    &d["spec"]["template"]["spec"]["containers"][0]["args"],
                ))
                .iter()
                .any(|r| r == role)
            })
            .unwrap()
            .1
            .clone()
    };
    let cases: [(&str, &str, Break); 3] = [
        ("console", "calls hotline", |d| {
            first_container(d)["args"] =
                serde_yaml::to_value(["serve", "--role", "console,callcentre,dispatch,fleet"])
                    .unwrap();
        }),
        ("terminal-gateway", "TAXI_TERMINAL_LISTEN", |d| {
            let env = first_container(d)["env"].as_sequence_mut().unwrap();
            env.retain(|v| v["name"] != "TAXI_TERMINAL_LISTEN");
        }),
        ("terminal-gateway", "7808 is not exposed", |d| {
            let ports = first_container(d)["ports"].as_sequence_mut().unwrap();
            ports.retain(|p| p["containerPort"].as_u64() != Some(7808));
        }),
    ];
    for (role, needle, break_it) in cases {
        let mut doc = by_role(role);
        break_it(&mut doc);
        let problems = k8s_console_and_gateway_problems(role, &doc);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle}: {problems:?}"
        );
    }
}

#[test]
fn no_k8s_secret_is_written_in_a_manifest() {
    // Every variable that holds a secret comes from a Secret, never a literal value.
    let secret_like = |name: &str| {
        ["PASSWORD", "SECRET", "KEY"]
            .iter()
            .any(|w| name.contains(w))
    };
    let mut from_secrets = Vec::new();
    for (file, doc) in k8s_workloads() {
        for c in doc["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .unwrap()
        {
            for var in c["env"].as_sequence().into_iter().flatten() {
                let name = var["name"].as_str().unwrap();
                // TAXI_TLS_KEY names a file (the mounted Secret), not a key.
                if !secret_like(name) || name == "TAXI_TLS_KEY" {
                    continue;
                }
                assert!(
                    var["value"].is_null() && !var["valueFrom"]["secretKeyRef"].is_null(),
                    "{file}: {name} is not from a Secret: {var:?}"
                );
                from_secrets.push(name.to_owned());
            }
        }
    }
    // The notify role's gateway secret is among them (from the optional Secret taxi-notify).
    assert!(
        from_secrets
            .iter()
            .any(|n| n == "TAXI_NOTIFY_WEBHOOK_SECRET"),
        "{from_secrets:?}"
    );
}
