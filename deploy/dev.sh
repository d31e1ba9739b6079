#!/usr/bin/env bash
# Sets up a Debian machine for faas and runs the server or the tests; safe to run again and again.
#
#   deploy/dev.sh serve [faas serve options]   Docker engine, debootstrap, npm, .venv; then `faas serve`
#   deploy/dev.sh test  [pytest arguments]     the same plus PostgreSQL and the runtime images; then pytest
#
# Meant for root (CI runs it as root); otherwise sudo is used where root is needed.
# SKIP_IMAGES=1 skips `faas images build` before the tests (for quick unit runs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.faas-pyproject.sha256"
DOCKERD_LOG=/var/log/faas-dockerd.log
export DEBIAN_FRONTEND=noninteractive

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        installed "$pkg" || missing+=("$pkg")
    done
    # A python3 without ensurepip (Debian splits it out) cannot create the venv.
    if ! command -v python3 >/dev/null 2>&1; then
        missing+=(python3 python3-venv)
    elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing+=(python3-venv)
    fi
    # The runtime images' AWS SDK for JavaScript is fetched with npm on the host (Debian's package,
    # unless a Node.js install already brought its own npm).
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing ${missing[*]}"
    as_root apt-get update -q
    as_root apt-get install -y -q "${missing[@]}"
}

dockerd_running() {
    [ -r /var/run/docker.pid ] && as_root kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null
}

ensure_docker() {
    docker info >/dev/null 2>&1 && return 0
    if ! dockerd_running; then
        say "starting dockerd (log: $DOCKERD_LOG)"
        # setsid: the engine outlives this script and a Ctrl-C of `faas serve`.
        as_root sh -c "setsid nohup dockerd >>'$DOCKERD_LOG' 2>&1 </dev/null &"
    else
        say "waiting for dockerd"
    fi
    local waited=0
    until docker info >/dev/null 2>&1; do
        if [ "$waited" -ge 60 ]; then
            tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die "the Docker engine did not answer within 60 s (log: $DOCKERD_LOG)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

ensure_venv() {
    local want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
        say "creating .venv with $(python3 --version 2>&1)"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
        say "installing faas and its test dependencies into .venv"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[test]"
        echo "$want" >"$STAMP"
    fi
}

# "<port> <status>" of PostgreSQL <version>'s cluster `main`; empty when there is none.
pg_main_cluster() {
    pg_lsclusters -h 2>/dev/null | awk -v v="$1" '$1 == v && $2 == "main" { print $3, $4 }'
}

psql_admin() { (cd / && as_root runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -qtAc "$1"); }

ensure_postgres() {
    local version cluster port status
    version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$version" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
    cluster="$(pg_main_cluster "$version")"
    if [ -z "$cluster" ]; then
        say "creating PostgreSQL $version cluster main"
        as_root pg_createcluster "$version" main >/dev/null
        cluster="$(pg_main_cluster "$version")"
    fi
    read -r port status <<<"$cluster"
    if [ "$status" != "online" ]; then
        say "starting PostgreSQL $version"
        as_root pg_ctlcluster "$version" main start
    fi
    local waited=0
    until pg_isready -q -h 127.0.0.1 -p "$port"; do
        [ "$waited" -ge 30 ] && die "PostgreSQL $version did not accept connections on port $port within 30 s"
        sleep 1
        waited=$((waited + 1))
    done
    if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'faas'")" != 1 ]; then
        say "creating PostgreSQL role faas"
        psql_admin "CREATE ROLE faas LOGIN PASSWORD 'faas' CREATEDB"
    fi
    psql_admin "ALTER ROLE faas CREATEDB" >/dev/null  # the tests make a database each
    if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'faas_test'")" != 1 ]; then
        say "creating database faas_test"
        psql_admin "CREATE DATABASE faas_test OWNER faas"
    fi
    export FAAS_TEST_POSTGRES_URL="postgresql://faas:faas@127.0.0.1:$port/faas_test"
}

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

verb="${1:-}"
[ $# -gt 0 ] && shift
case "$verb" in
    serve)
        ensure_packages docker.io debootstrap
        ensure_docker
        ensure_venv
        exec "$VENV/bin/faas" serve "$@"
        ;;
    test)
        # awscli: Debian's AWS CLI v2, which the SQS tests drive (it still speaks SQS's query protocol) and the
        # logs tests run `aws logs tail --follow` with.
        # chromium and chromium-driver: the headless browser the web console's tests drive (selenium).
        ensure_packages docker.io debootstrap postgresql golang-go awscli chromium chromium-driver
        ensure_docker
        ensure_venv
        ensure_postgres
        if [ "${SKIP_IMAGES:-}" != 1 ]; then
            say "building the runtime images that are missing"
            "$VENV/bin/faas" images build
        fi
        cd "$ROOT"
        status=0
        # Two workers, each taking whole test files (their module-scoped servers stay in one worker): the
        # end-to-end tests mostly wait on containers and clocks, so two halve the wall time on two cores.
        # FAAS_TEST_WORKERS=0 runs everything in one process.
        "$VENV/bin/python" -m pytest -n "${FAAS_TEST_WORKERS:-2}" --dist loadfile --durations=30 "$@" || status=$?
        if [ "$status" -eq 5 ]; then
            die "pytest collected no tests (exit status 5): nothing was tested"
        fi
        exit "$status"
        ;;
    *)
        usage
        ;;
esac
