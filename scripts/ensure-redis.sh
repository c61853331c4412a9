#!/usr/bin/env bash
# Makes sure `redis-server` is on PATH, installing Debian/Ubuntu's package if it is missing.
# Nothing is started here: `taxi` and the tests start private servers on free loopback ports.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
echo "redis-server not found: installing it from the OS packages" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "error: redis-server is missing and we are not root; install it with: apt-get install -y redis-server" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends redis-server >/dev/null
# Debian's package may start a system-wide server; we never use it, and it must not linger.
if command -v service >/dev/null 2>&1; then
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
command -v redis-server >/dev/null
echo "installed $(redis-server --version | cut -d' ' -f1-3)" >&2
