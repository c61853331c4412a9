#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every unit and end-to-end test.
# Installs redis-server if missing; each test starts its own private server.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-redis.sh
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
