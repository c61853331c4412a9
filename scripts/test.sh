#!/usr/bin/env bash
# The whole test suite, in tiers; each test starts its own private Redis.
#   plain    formatting, lints, and every unit and end-to-end test (single redis-server);
#            then the `otlp` feature's lints and its test against a real OTLP collector
#   outside  tests/python/acceptance.py: Python grpcio stubs generated from proto/ (a client
#            nobody here wrote) against a real `taxi serve` and a private redis-server;
#            every flow logs in for real (scripts/outside.sh)
#   cluster  every test again, each test city on a private 3-master
#            Redis Cluster (TAXI_TEST_REDIS=cluster)
#   browser  the operators' console in Debian's headless Chromium (tests/browser/):
#            a real `taxi serve` and a private redis-server; then `taxi demo`'s console
#            opened with the login it prints; screenshots and figures in
#            target/console-screenshots/
#   deploy   the deployment as it runs (scripts/deploy-test.sh): images from the OS packages
#            (scripts/images.sh, no registry) holding the test build's `taxi`, deploy/'s
#            compose stack under podman-compose with the acceptance scenarios, a crash of the
#            hotline and the Redis container (back within 30 s, no acknowledged order lost),
#            and deploy/k8s under `podman kube play`
# Usage: scripts/test.sh [--plain | --outside | --cluster | --browser | --deploy]   (none: every tier)
# Installs redis-server and redis-cli, and for the browser tier Chromium, CJK fonts and
# the pinned npm packages (npm ci), and for the outside tier python3-venv and the pinned
# PyPI packages of tests/python/requirements.txt, and for the deploy tier podman, runc,
# netavark, aardvark-dns, catatonit, debootstrap and the pinned podman-compose, if missing.
# Stops at the first failing tier.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 [--plain | --outside | --cluster | --browser | --deploy]" >&2
  exit 2
}
[ $# -le 1 ] || usage
case "${1:-}" in
  "") tiers=(plain outside cluster browser deploy) ;;
  --plain) tiers=(plain) ;;
  --outside) tiers=(outside) ;;
  --cluster) tiers=(cluster) ;;
  --browser) tiers=(browser) ;;
  --deploy) tiers=(deploy) ;;
  *) usage ;;
esac

# The otlp test with the workspace's features plus `taxi/otlp`, not `-p taxi`: alone, taxi
# unifies features differently and rebuilds a second copy of hyper, h2, tonic and every
# service crate (82 s against 58 s on a warm test build, measured; and the disk).
# Each tier is one `&&` chain, so it fails as a whole whatever `set -e` does inside `if`.
tier_plain() {
  cargo fmt --all --check &&
    cargo clippy --workspace --all-targets --locked -- -D warnings &&
    cargo test --workspace --locked &&
    cargo clippy -p taxi --all-targets --locked --features otlp -- -D warnings &&
    cargo test --workspace --locked --features taxi/otlp --test otlp
}
tier_cluster() {
  TAXI_TEST_REDIS=cluster cargo test --workspace --locked
}
# The `taxi` binary the test build made: `cargo build -p taxi` alone would unify features
# without the dev-dependencies and rebuild a second copy of half the graph (time and disk).
test_build_taxi_bin() {
  cargo test --workspace --locked --no-run --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "taxi" \
            and m["target"]["kind"] == ["bin"] and not m["profile"]["test"] \
            and m.get("executable"):
        print(m["executable"])
'
}
tier_outside() {
  local bin
  bin=$(test_build_taxi_bin) && [ -x "$bin" ] && scripts/outside.sh "$bin"
}
tier_browser() {
  local bin
  scripts/ensure-browser.sh &&
    bin=$(test_build_taxi_bin) && [ -x "$bin" ] &&
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) &&
    TAXI_BIN="$bin" node tests/browser/console.test.mjs &&
    TAXI_BIN="$bin" node tests/browser/demo.test.mjs
}
# The images hold the test build's `taxi` (built already by the other tiers): a release
# build of its own took about 10 minutes here (README, Deploy), more than CI can spare.
# scripts/images.sh alone builds the release binary for real images.
tier_deploy() {
  local bin
  bin=$(test_build_taxi_bin) && [ -x "$bin" ] && scripts/deploy-test.sh "$bin"
}

# One build, no incremental cache: CI builds once from a clean clone, and the cache alone
# was 10 GB of the test build.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

scripts/ensure-redis.sh
rustup component add rustfmt clippy >/dev/null 2>&1 || true

summary=""
for tier in "${tiers[@]}"; do
  start=$SECONDS
  if "tier_$tier"; then
    echo "tier $tier: passed in $((SECONDS - start)) s"
    summary+=" $tier $((SECONDS - start)) s,"
  else
    status=$?
    echo "tier $tier: FAILED after $((SECONDS - start)) s (exit $status)" >&2
    exit "$status"
  fi
done
echo "all tiers passed:${summary%,} (total ${SECONDS} s)"
