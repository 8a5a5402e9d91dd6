#!/usr/bin/env bash
# Set up gridplan on a fresh Debian/Ubuntu machine with Python 3.11.
#   bash scripts/setup.sh            Python packages, the gridplan command, offline map assets
#   bash scripts/setup.sh --tests    also Chromium, CJK fonts, poppler and PostgreSQL + PostGIS for the test
#                                    suite (the tests start their own throwaway server; none is left running),
#                                    and ruff and mypy (requirements-dev.txt), which the suite runs
#   bash scripts/setup.sh --postgis  also PostgreSQL + PostGIS with a local database "gridplan" for an office's
#                                    shared plan store (prints its URL); GRIDPLAN_DB names another database
# Options combine. Safe to run again: it only installs and creates what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
want_postgis=0
for arg in "$@"; do
  case "$arg" in
    --tests) want_tests=1 ;;
    --postgis) want_postgis=1 ;;
    *) echo "usage: bash scripts/setup.sh [--tests] [--postgis]" >&2; exit 2 ;;
  esac
done

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

pg_major="${GRIDPLAN_PG_MAJOR:-15}"
pg_pkgs=("postgresql-$pg_major" "postgresql-$pg_major-postgis-3")
apt_pkgs=(fonts-noto-cjk)
[ $want_tests -eq 1 ] && apt_pkgs+=(chromium chromium-driver poppler-utils "${pg_pkgs[@]}")
[ $want_postgis -eq 1 ] && apt_pkgs+=("${pg_pkgs[@]}")
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "apt: installing ${missing[*]}"
  sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements.txt
# the linters the test suite runs (tests/test_tooling.py: ruff check ., mypy gridplan)
[ $want_tests -eq 1 ] && python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  -r requirements-dev.txt
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps -e .
# offline map assets (Leaflet, leaflet.draw, …) from the installed packages into static/vendor
python3 -m gridplan.assets install
# the app's first visitor waits for neither: bytecode of the app and the library, and the persistent cache
# (gridplan.diskcache, ~/.cache/gridplan or GRIDPLAN_CACHE_DIR) of the sample city and its first partition
python3 -m compileall -q app.py app_main.py app_pages gridplan >/dev/null || echo "setup: bytecode not written (the app compiles on start)"
python3 -c "from gridplan.demo import warm_sample_cache; warm_sample_cache()" \
  || echo "setup: the sample's cache was not filled (the first visit fills it)"

if [ $want_postgis -eq 1 ]; then
  # a local PostgreSQL cluster (Debian's "main"), a database owned by the user running this script
  # (peer authentication over the Unix socket: no password), PostGIS in it, the gridplan tables
  db="${GRIDPLAN_DB:-gridplan}"
  owner="${SUDO_USER:-$(id -un)}"
  as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else sudo_ runuser -u postgres -- "$@"; fi; }
  if ! pg_lsclusters -h 2>/dev/null | awk -v v="$pg_major" '$1==v && $2=="main"' | grep -q .; then
    sudo_ pg_createcluster "$pg_major" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$pg_major" '$1==v && $2=="main" && $4=="online"' | grep -q .; then
    sudo_ pg_ctlcluster "$pg_major" main start
  fi
  port="$(pg_lsclusters -h | awk -v v="$pg_major" '$1==v && $2=="main" {print $3}')"
  psql_() { as_postgres env PGOPTIONS="-c client_min_messages=warning" psql -X -q -t -A -v ON_ERROR_STOP=1 -p "$port" "$@"; }
  if [ -z "$(psql_ -c "SELECT 1 FROM pg_roles WHERE rolname = '$owner'")" ]; then
    psql_ -c "CREATE ROLE \"$owner\" LOGIN"
  fi
  if [ -z "$(psql_ -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    psql_ -c "CREATE DATABASE \"$db\" OWNER \"$owner\" ENCODING 'UTF8' TEMPLATE template0"
  fi
  psql_ -d "$db" -c "CREATE EXTENSION IF NOT EXISTS postgis"
  url="postgresql:///$db?host=/var/run/postgresql&port=$port"
  if [ "$(id -un)" = "$owner" ]; then
    python3 -m gridplan.cli store init "$url"
  else
    sudo_ runuser -u "$owner" -- python3 -m gridplan.cli store init "$url"
  fi
  echo "plan store for user $owner: $url"
  echo "  e.g. GRIDPLAN_STORE='$url' streamlit run app.py    or    gridplan store list '$url'"
fi
