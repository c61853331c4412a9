#!/usr/bin/env bash
# Makes sure the console's browser tests can run: Debian's headless Chromium (`chromium`,
# or `chromium-headless-shell`), CJK fonts (fonts-noto-cjk: the screenshots must show
# real glyphs), and Node.js with npm. Installs the OS packages that are missing; never
# downloads a browser any other way. Nothing is started here.
set -euo pipefail

packages=()
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-headless-shell >/dev/null 2>&1 \
  && [ ! -x /usr/lib/chromium/chromium-headless-shell ]; then
  packages+=(chromium)
fi
if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  packages+=(fonts-noto-cjk)
fi
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
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
echo "installed ${packages[*]}" >&2
