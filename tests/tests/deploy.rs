//! `deploy/` kept consistent without Docker: Redis requires a password from a secret (never
//! committed), every `taxi` service reaches it with that password in `TAXI_REDIS_URL`, and
//! every shipped Redis configuration fsyncs its AOF on every write.

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
    assert_eq!(taxis, 5);
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
    assert_eq!(taxis, 5);
}
