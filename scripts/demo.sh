#!/usr/bin/env bash
# The main job: every service in one process with a private Redis (AOF on, in .taxi-data/).
# Extra arguments go to `taxi serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-redis.sh
exec cargo run --release --locked -p taxi -- serve --role all "$@"
