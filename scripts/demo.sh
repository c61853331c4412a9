#!/usr/bin/env bash
# The main job: a private Redis, every service, and a simulated central Chongqing for 60 s
# (progress each second, a summary, an SVG map and chart in ./taxi-demo/).
# Extra arguments go to `taxi demo` (--duration, --taxis, --rate, --seed, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-redis.sh
exec cargo run --release --locked -p taxi -- demo "$@"
