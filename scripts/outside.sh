#!/usr/bin/env bash
# The outside tier: tests/python/acceptance.py, a client nobody here wrote (Python grpcio
# stubs generated from proto/), over TLS (a throw-away CA from the OS's openssl), against a
# real `taxi serve` on a private redis-server, both
# started here on free loopback ports and stopped at the end. Every flow logs in for real,
# the console's over HTTPS on the gRPC port, the in-car terminal's over JT/T 808 on the
# gateway's port.
# Usage: scripts/outside.sh TAXI_BIN
# Installs python3-venv and openssl from the OS packages if missing, and the pinned
# packages of tests/python/requirements.txt from PyPI into target/outside-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] && [ -x "$1" ] || { echo "usage: $0 TAXI_BIN" >&2; exit 2; }
bin=$(realpath "$1")

venv=target/outside-venv
stamp="$venv/.requirements"
if ! cmp -s tests/python/requirements.txt "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    echo "python3-venv not found: installing from the OS packages" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt "$stamp"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

export TAXI_REDIS_URL="redis://127.0.0.1:$redis_port"
export TAXI_BIN="$bin"
export TAXI_NOTIFY_SENDER=webhook
export TAXI_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$(free_port)/sms"
export TAXI_NOTIFY_WEBHOOK_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
if ! command -v openssl >/dev/null 2>&1; then
  echo "openssl not found: installing from the OS packages" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends openssl >/dev/null
fi
# The server speaks TLS as in production: a throw-away CA and a certificate for
# 127.0.0.1 and localhost, made here with the OS's openssl; the client trusts that CA only.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=taxi outside-tier CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=localhost" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/ext"
openssl x509 -req -days 1 -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null
listen="127.0.0.1:$(free_port)"
terminal="127.0.0.1:$(free_port)"
TAXI_LISTEN="$listen" TAXI_METRICS_ADDR=127.0.0.1:0 TAXI_TERMINAL_LISTEN="$terminal" \
  TAXI_TLS_CERT="$work/server.pem" TAXI_TLS_KEY="$work/server.key" \
  "$bin" serve --role all,terminal-gateway >"$work/taxi.log" 2>&1 &
pids+=($!)

if ! "$venv/bin/python" tests/python/acceptance.py "$listen" --tls-ca "$work/ca.pem" \
  --console "$listen" --terminal "$terminal" foundation orders dispatch callcentre console terminal; then
  echo "--- taxi serve's log (last 40 lines) ---" >&2
  tail -40 "$work/taxi.log" >&2
  exit 1
fi
