//! The store boundary, checked on the sources: only `taxi-store` depends on the `redis`
//! crate and uses it, except the one exception ARCHITECTURE.md names (the bench's raw
//! `GEOADD` baseline in `services/taxi/src/bench/ingest.rs`).

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && !name.to_string_lossy().starts_with('.') {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) || name == ext {
            out.push(path);
        }
    }
}

#[test]
fn only_the_store_and_the_bench_talk_to_redis() {
    let root = workspace();
    let mut manifests = vec![];
    files(&root.join("services"), "Cargo.toml", &mut manifests);
    files(&root.join("tests"), "Cargo.toml", &mut manifests);
    files(&root.join("proto"), "Cargo.toml", &mut manifests);
    assert!(manifests.len() > 10, "{manifests:?}");
    for m in &manifests {
        let text = std::fs::read_to_string(m).unwrap();
        let depends = text.lines().any(|l| l.trim_start().starts_with("redis "));
        let allowed =
            m.ends_with("services/store/Cargo.toml") || m.ends_with("services/taxi/Cargo.toml");
        assert!(!depends || allowed, "{} depends on redis", m.display());
    }
    let mut sources = vec![];
    files(&root.join("services"), "rs", &mut sources);
    files(&root.join("tests"), "rs", &mut sources);
    for f in &sources {
        let text = std::fs::read_to_string(f).unwrap();
        let uses = text.contains("redis::");
        let allowed = f.components().any(|c| c.as_os_str() == "store")
            || f.ends_with("services/taxi/src/bench/ingest.rs")
            || f.ends_with("tests/tests/boundaries.rs");
        assert!(!uses || allowed, "{} uses the redis crate", f.display());
    }
}

/// `unsafe_code` is denied workspace-wide; one function may allow it: the parent-death
/// signal set between fork and exec (`services/redis-process/src/child.rs`).
#[test]
fn only_the_redis_spawner_allows_unsafe_code() {
    let root = workspace();
    let mut sources = vec![];
    files(&root.join("services"), "rs", &mut sources);
    files(&root.join("tests"), "rs", &mut sources);
    files(&root.join("proto"), "rs", &mut sources);
    let needle = ["allow(", "unsafe_code)"].concat();
    let allowing: Vec<_> = sources
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains(&needle))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert_eq!(allowing, ["services/redis-process/src/child.rs"]);
    let child = std::fs::read_to_string(root.join("services/redis-process/src/child.rs")).unwrap();
    assert_eq!(child.matches(&needle).count(), 1);
}
