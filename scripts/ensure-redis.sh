#!/usr/bin/env bash
# Makes sure `redis-server` and `redis-cli` (which creates the tests' private clusters) are on
# PATH, installing Debian/Ubuntu's packages for whichever is missing: redis-server, and
# redis-tools (redis-cli; redis-server's package depends on it).
# Nothing is started here: `taxi` and the tests start private servers on free loopback ports.
set -euo pipefail

packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
echo "${packages[*]} not found: installing from the OS packages" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "error: we are not root; install them with: apt-get install -y ${packages[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
# Debian's package may start a system-wide server; we never use it, and it must not linger.
if command -v service >/dev/null 2>&1; then
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
command -v redis-server >/dev/null
command -v redis-cli >/dev/null
echo "installed $(redis-server --version | cut -d' ' -f1-3), $(redis-cli --version)" >&2
