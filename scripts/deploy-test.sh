#!/usr/bin/env bash
# The deploy tier: the deployment as it will run, on this machine, with no registry.
#  1. scripts/images.sh: the Debian base (debootstrap), taxi:latest with TAXI_BIN in it,
#     taxi-redis:latest.
#  2. deploy/docker-compose.yml under podman-compose (deploy/requirements.txt, in
#     target/deploy-venv), a project of its own, gRPC (TLS, a throw-away CA's certificate
#     from the OS's openssl) and Redis published on free loopback ports
#     (deploy/compose.test.yml adds Redis' port and the terminal gateway's gRPC health), the
#     terminal gateway's JT/T 808 port, a random Redis password.
#  3. tests/python/acceptance.py against the published ports, each service's calls routed to
#     the container serving it: foundation, orders, dispatch; console (an operator logs in to
#     the console container over HTTPS, books through its JSON API, and sees the order, made
#     there, cancelled through the hotline container in its live feed); terminal (a JT/T 808
#     terminal on the gateway container's TCP port registers, authenticates, reports, gets
#     the 905 offer of an order booked through the hotline container, grabs it, and is told
#     when the operator cancels it). (Not callcentre: the city's
#     SMS gateway is no part of the stack, and the server sends webhooks over plain http only
#     to a loopback host; scripts/outside.sh runs it.)
#  4. Crashes, as the runtime sees them (SIGKILL of the container's main process: `podman
#     kill` counts as a stop and is not restarted): the hotline container, then Redis. Each
#     must be running again and every service SERVING within 30 s, and every order acknowledged
#     before it must read back.
#  5. deploy/k8s under `podman kube play` (the Deployments with a ConfigMap and the Secret,
#     Redis from taxi-redis:latest), each pod's exec probe (`taxi health`) passing; then
#     `podman kube down`.
# Everything it starts is removed at the end, pass or fail.
# Usage: scripts/deploy-test.sh TAXI_BIN   (a `taxi` binary for the image and the host side)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] && [ -x "$1" ] || { echo "usage: $0 TAXI_BIN" >&2; exit 2; }
bin=$(realpath "$1")
started=$SECONDS
# Every taxi container of deploy/docker-compose.yml and Deployment of deploy/k8s (by file
# name), and the health service each is ready by.
roles=(fleet driver hotline onekey dispatch notify console terminal)
declare -A service=(
  [fleet]=taxi.v1.FleetService [driver]=taxi.v1.DriverService
  [hotline]=taxi.v1.HotlineService [onekey]=taxi.v1.OneKeyService
  [dispatch]=taxi.v1.DispatchService [notify]=taxi.v1.NotificationService
  [console]=taxi.console [terminal]=taxi.terminal
)

# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh

venv=target/deploy-venv
stamp="$venv/.requirements"
if ! cat deploy/requirements.txt tests/python/requirements.txt | cmp -s - "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    -r deploy/requirements.txt -r tests/python/requirements.txt
  cat deploy/requirements.txt tests/python/requirements.txt >"$stamp"
fi

scripts/images.sh --binary "$bin"
echo "deploy: images ready after $((SECONDS - started)) s"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
project="taxi-deploy-$$"
work=$(mktemp -d)
compose=("$venv/bin/podman-compose" -p "$project" -f deploy/docker-compose.yml -f deploy/compose.test.yml)
kube_files=()
kube_secret=0
# Stops and removes everything this run started, whatever happened.
cleanup() {
  set +e
  if [ ${#kube_files[@]} -gt 0 ]; then
    for f in "${kube_files[@]}"; do podman kube down "$f" >/dev/null 2>&1; done
    # kube down (4.3) leaves the ConfigMap's volume, and kube play makes its default network.
    podman volume rm -f redis-config >/dev/null 2>&1
    podman network rm podman-default-kube-network >/dev/null 2>&1
  fi
  [ $kube_secret -eq 0 ] || podman secret rm taxi-redis >/dev/null 2>&1
  podman network rm -f "$project-kube" >/dev/null 2>&1
  "${compose[@]}" down -v >/dev/null 2>&1
  podman volume rm -f "${project}_redis-data" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# TLS as in production: a throw-away CA, and one server certificate for every role's name
# (compose's service names and the k8s Services', taxi-<role>) and for the host's loopback,
# where the ports are published; the clients trust that CA only. The directory mounted into
# the containers holds what a kubernetes.io/tls Secret holds: tls.crt, tls.key, ca.crt.
tls="$work/tls"
mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=taxi deploy-tier CA" -keyout "$work/ca.key" -out "$tls/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=localhost" -keyout "$tls/tls.key" -out "$work/tls.csr" 2>/dev/null
sans="DNS:localhost,IP:127.0.0.1"
for role in "${roles[@]}"; do sans+=",DNS:$role,DNS:taxi-$role"; done
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$sans" >"$work/ext"
openssl x509 -req -days 1 -in "$work/tls.csr" -CA "$tls/ca.crt" -CAkey "$work/ca.key" \
  -CAcreateserial -CAserial "$work/ca.srl" -extfile "$work/ext" -out "$tls/tls.crt" 2>/dev/null
# The containers run as uid 10001: the throw-away key is world-readable in a private dir.
chmod 755 "$work" "$tls"
chmod 644 "$tls/tls.key" "$tls/tls.crt" "$tls/ca.crt"
export TAXI_TLS_DIR="$tls"

TAXI_REDIS_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
TAXI_REDIS_PORT=$(free_port)
export TAXI_REDIS_PASSWORD TAXI_REDIS_PORT
# port[ROLE]: where the host reaches the role's gRPC (health, and the console's HTTPS); the
# terminal gateway's gRPC is published by compose.test.yml for the tier only, its JT/T 808
# port as a deployment publishes it.
declare -A port
for role in "${roles[@]}"; do
  port[$role]=$(free_port)
  [ "$role" = terminal ] || export "TAXI_${role^^}_PORT=${port[$role]}"
done
export TAXI_TERMINAL_HEALTH_PORT=${port[terminal]}
TAXI_TERMINAL_PORT=$(free_port)
export TAXI_TERMINAL_PORT

# Every role's service SERVING on its published port, within $1 seconds: prints how long it took.
wait_serving() {
  local limit=$1 from=$2 role
  while :; do
    local all=1
    for role in "${roles[@]}"; do
      if ! "$bin" health --addr "127.0.0.1:${port[$role]}" --service "${service[$role]}" \
        --tls-ca "$tls/ca.crt" --timeout-ms 1000 >/dev/null 2>&1; then
        all=0
        break
      fi
    done
    local now
    now=$(date +%s.%N)
    if [ $all -eq 1 ]; then
      python3 -c "print(f'{$now - $from:.1f}')"
      return 0
    fi
    if python3 -c "import sys; sys.exit(0 if $now - $from > $limit else 1)"; then
      echo "deploy: not every service SERVING within $limit s" >&2
      "${compose[@]}" ps >&2 || true
      for role in redis "${roles[@]}"; do
        echo "--- $role (last 15 lines) ---" >&2
        podman logs --tail 15 "${project}_${role}_1" >&2 || true
      done
      return 1
    fi
    sleep 0.2
  done
}

up=$(date +%s.%N)
"${compose[@]}" up -d --no-build >"$work/compose-up.log" 2>&1 || {
  cat "$work/compose-up.log" >&2
  exit 1
}
serving=$(wait_serving 60 "$up")
echo "deploy: compose stack up and every service SERVING after $serving s"

export TAXI_REDIS_URL="redis://:$TAXI_REDIS_PASSWORD@127.0.0.1:$TAXI_REDIS_PORT/"
export TAXI_BIN="$bin"
export TAXI_ACCEPTANCE_ORDERS="$work/orders"
routes=()
for role in fleet driver onekey dispatch; do
  routes+=(--route "${service[$role]}=127.0.0.1:${port[$role]}")
done
acceptance() {
  "$venv/bin/python" tests/python/acceptance.py "127.0.0.1:${port[hotline]}" "${routes[@]}" \
    --tls-ca "$tls/ca.crt" "$@"
}
acceptance foundation orders dispatch book \
  console --console "127.0.0.1:${port[console]}" \
  terminal --terminal "127.0.0.1:$TAXI_TERMINAL_PORT"

# A crash of one container: SIGKILL to its main process (the runtime restarts it; `podman
# kill` would count as a stop). Then, within 30 s of the kill: running again under a new
# process, every service SERVING, and every order acknowledged before the kill read back.
elapsed() { python3 -c "import sys; print(f'{$(date +%s.%N) - $1:.1f}')"; }
crash() {
  local name="${project}_$1_1" pid from now
  acceptance book >/dev/null
  pid=$(podman inspect --format '{{.State.Pid}}' "$name")
  from=$(date +%s.%N)
  kill -9 "$pid"
  while :; do
    now=$(podman inspect --format '{{.State.Running}} {{.State.Pid}}' "$name")
    [ "${now%% *}" = true ] && [ "${now#* }" != "$pid" ] && [ "${now#* }" != 0 ] && break
    if [ "$(elapsed "$from" | cut -d. -f1)" -ge 30 ]; then
      echo "deploy: $name was not restarted within 30 s ($now)" >&2
      exit 1
    fi
    sleep 0.1
  done
  local restarted serving total
  restarted=$(elapsed "$from")
  serving=$(wait_serving 30 "$from")
  # A service may still say SERVING before it noticed Redis went away: a failed read is
  # tried again until the 30 s are up, and only then counts.
  until acceptance readback >"$work/readback.log" 2>&1; do
    if [ "$(elapsed "$from" | cut -d. -f1)" -ge 30 ]; then
      cat "$work/readback.log" >&2
      echo "deploy: after the $1 crash the orders did not read back within 30 s" >&2
      exit 1
    fi
    sleep 0.5
  done
  total=$(elapsed "$from")
  echo "deploy: $1 killed (SIGKILL of pid $pid): running again after $restarted s, every" \
    "service SERVING after $serving s, every acknowledged order read back after $total s"
}
crash hotline
crash redis
# The stack still works end to end after both crashes.
acceptance dispatch
"${compose[@]}" down -v >/dev/null 2>&1
echo "deploy: compose part passed after $((SECONDS - started)) s"

# The Kubernetes manifests under `podman kube play`: the Secret as `kubectl create secret`
# would hold it (kube play 4.3 stores a Secret document in a form its own secretKeyRef cannot
# read), Redis with the alias `redis` (its Service's name), then the taxi Deployments.
t=$SECONDS
if podman volume exists redis-config; then
  echo "deploy: a podman volume redis-config exists already; kube play would use it (remove it first)" >&2
  exit 1
fi
"$venv/bin/python" scripts/kube-play-manifests.py "$work"
printf '{"password":"%s"}' "$(printf %s "$TAXI_REDIS_PASSWORD" | base64 -w0)" |
  podman secret create taxi-redis - >/dev/null
kube_secret=1
podman network create "$project-kube" >/dev/null
kube_files=("$work/taxi.yaml" "$work/redis.yaml")
# Its log says that healthchecks need systemd: without it they run when asked (below).
podman kube play --network "$project-kube:alias=redis" "$work/redis.yaml" >"$work/kube.log" 2>&1 &&
  podman kube play --network "$project-kube" "$work/taxi.yaml" >>"$work/kube.log" 2>&1 || {
  cat "$work/kube.log" >&2
  exit 1
}
# Each pod's probes as Kubernetes would run them, inside its container: readiness (the role's
# service SERVING, so Redis was reached with the Secret's password) within 60 s, then the
# liveness probe through podman's own healthcheck, which kube play made of it.
for role in "${roles[@]}"; do
  ctr="taxi-$role-pod-0-taxi"
  mapfile -t ready < <("$venv/bin/python" -c '
import sys, yaml
d = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d["metadata"]["name"] == sys.argv[2])
print("\n".join(d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]))
' "$work/taxi.yaml" "taxi-$role")
  deadline=$((SECONDS + 60))
  until podman exec "$ctr" "${ready[@]}" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "deploy: kube play: $ctr never ready: $(podman exec "$ctr" "${ready[@]}" 2>&1)" >&2
      podman logs --tail 20 "$ctr" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  podman healthcheck run "$ctr" >/dev/null 2>&1 || {
    echo "deploy: kube play: $ctr's liveness probe failed: $(podman inspect --format '{{json .Config.Healthcheck}}' "$ctr")" >&2
    exit 1
  }
done
for f in "${kube_files[@]}"; do podman kube down "$f" >/dev/null 2>&1; done
kube_files=()
podman volume rm -f redis-config >/dev/null
podman secret rm taxi-redis >/dev/null
kube_secret=0
echo "deploy: kube play: Redis and the ${#roles[@]} taxi Deployments ran, every readiness and liveness probe passed ($((SECONDS - t)) s)"

echo "deploy: passed in $((SECONDS - started)) s"
