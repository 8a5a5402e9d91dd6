#!/usr/bin/env bash
# Set up gridplan on a fresh Debian/Ubuntu machine with Python 3.11.
#   bash scripts/setup.sh           Python packages, the gridplan command, offline map assets
#   bash scripts/setup.sh --tests   also Chromium, CJK fonts and poppler for the test suite
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_pkgs=(fonts-noto-cjk)
[ $want_tests -eq 1 ] && apt_pkgs+=(chromium chromium-driver poppler-utils)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "apt: installing ${missing[*]}"
  sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements.txt
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps -e .
# offline map assets (Leaflet, leaflet.draw, …) from the installed packages into static/vendor
python3 -m gridplan.assets install
