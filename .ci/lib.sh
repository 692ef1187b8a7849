# Shared helpers for .ci/serve, .ci/test and .ci/run. Source it; do not run it.
# Everything here installs only what is missing, from crates.io, npm, PyPI and apt.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# One warm target directory outside the clone, shared by every checkout and by CI.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/roster/target}"
# Builds use the committed sqlx query data (.sqlx/), never a live database.
export SQLX_OFFLINE=true
export PATH="$ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130
AIOSMTPD_VERSION=1.4.6
# The independent iCal parser the feed tests read Roster's feeds with.
ICALENDAR_VERSION=7.3.2
# Property-based tests of the REST API against its OpenAPI document.
SCHEMATHESIS_VERSION=4.32.5

# Each line says how long the script has run, so a slow step shows itself.
ROSTER_T0="${ROSTER_T0:-$(date +%s)}"; export ROSTER_T0
log() {
  local s=$(( $(date +%s) - ROSTER_T0 ))
  printf '\033[1;34m==>\033[0m [%d:%02d] %s\n' $((s / 60)) $((s % 60)) "$*" >&2
}
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

apt_install() {
  log "installing from apt: $*"
  if [ "$(id -u)" -ne 0 ]; then die "please install these Debian packages: $*"; fi
  if [ -z "${ROSTER_APT_UPDATED:-}" ]; then apt-get update -qq >&2; export ROSTER_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# Rust toolchain pieces and the pinned cargo-leptos / wasm-bindgen CLIs. Several scripts may
# run this at once (two `serve`s, a `test` beside a `serve`): one installs while the others wait
# for it under a lock, then find the tools there.
setup_rust_tools() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
  mkdir -p "$HOME/.cache/roster"
  exec {tools_lock}>"$HOME/.cache/roster/tools.lock"
  if ! flock -n "$tools_lock"; then
    log "another Roster script is installing the build tools; waiting for it"
    flock "$tools_lock"
  fi
  for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
      log "adding the $component component"
      rustup component add "$component" >&2
    fi
  done
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown >&2
  fi
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    log "installing cargo-leptos $CARGO_LEPTOS_VERSION (several minutes, once)"
    install_tool cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    # Not --locked: its lock file names a webpki-roots release crates.io does not have.
    install_tool wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
  rm -rf "$TOOLS_TARGET_DIR"
  flock -u "$tools_lock"
  exec {tools_lock}>&-
}

# cargo install, without the tools' own `lto = true, codegen-units = 1` release profile (a
# build tool does not need it, and it makes the cold install several times slower). Both tools
# share one target folder, so their common crates compile once.
TOOLS_TARGET_DIR="$HOME/.cache/roster/tools-target"
install_tool() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
    cargo install --target-dir "$TOOLS_TARGET_DIR" "$@" >&2
}

# Node packages of end2end/: Playwright, the OIDC test provider and binaryen's wasm-opt
# (Debian's wasm-opt 108 breaks hydration; ours comes first on PATH).
setup_node() {
  if ! command -v npm >/dev/null; then apt_install nodejs npm; fi
  local stamp="$ROOT/end2end/node_modules/.roster-lock"
  if [ ! -f "$stamp" ] || ! cmp -s "$ROOT/end2end/package-lock.json" "$stamp"; then
    log "installing end2end npm packages"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >&2)
    cp "$ROOT/end2end/package-lock.json" "$stamp"
  fi
}

setup_test_tools() {
  if ! command -v chromium >/dev/null; then apt_install chromium; fi
  if ! python3 -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
    log "installing aiosmtpd $AIOSMTPD_VERSION"
    python3 -m pip install -q "aiosmtpd==$AIOSMTPD_VERSION" >&2 || python3 -m pip install -q --break-system-packages "aiosmtpd==$AIOSMTPD_VERSION" >&2
  fi
  if ! python3 -c "import icalendar, sys; sys.exit(icalendar.__version__ != '$ICALENDAR_VERSION')" 2>/dev/null; then
    log "installing icalendar $ICALENDAR_VERSION"
    python3 -m pip install -q "icalendar==$ICALENDAR_VERSION" >&2 || python3 -m pip install -q --break-system-packages "icalendar==$ICALENDAR_VERSION" >&2
  fi
  if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION"
    python3 -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION" >&2 || python3 -m pip install -q --break-system-packages "schemathesis==$SCHEMATHESIS_VERSION" >&2
  fi
}

pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    # `return 0`, not `return`: in an EXIT trap a bare return gives the failed command's status.
    if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  done
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return 0; fi
  return 1
}

# Runs a Postgres tool as the owner of the data folder (Postgres refuses to run as root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_private_postgres DIR PORT [SERVER OPTIONS]: a private cluster in DIR listening on
# 127.0.0.1:PORT. Sets PG_STARTED=DIR when this call started it.
start_private_postgres() {
  local dir="$1" port="$2" extra="${3:-}" bin
  bin="$(pg_bindir)" || { apt_install postgresql; bin="$(pg_bindir)" || die "no PostgreSQL binaries found"; }
  mkdir -p "$dir"
  # Two scripts starting the same cluster at once take turns (the second finds it running).
  local lock
  exec {lock}>"$dir.lock"
  flock "$lock"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
    chown postgres "$dir"
    # The postgres user must be able to reach the folder.
    local d="$dir"; while [ "$d" != "/" ]; do d="$(dirname "$d")"; chmod o+x "$d" 2>/dev/null || true; done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null {lock}>&-
  fi
  if as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    # Already running on this port (another `serve`): share it. On another port (left by a
    # run that was killed): restart it on the port asked for.
    if [ "$(sed -n 4p "$dir/data/postmaster.pid" 2>/dev/null)" = "$port" ]; then
      exec {lock}>&-
      return 0
    fi
    log "restarting the PostgreSQL cluster in $dir on port $port"
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null {lock}>&-
  fi
  log "starting PostgreSQL on 127.0.0.1:$port"
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir $extra" start >/dev/null {lock}>&-
  PG_STARTED="$dir"
  exec {lock}>&-
}

stop_private_postgres() {
  local dir="$1" bin
  bin="$(pg_bindir)" || return 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_line FILE PATTERN SECONDS: waits until FILE has a line matching PATTERN; prints it.
wait_for_line() {
  local file="$1" pattern="$2" seconds="$3" i
  for ((i = 0; i < seconds * 10; i++)); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

wait_for_http() {
  local url="$1" seconds="$2" i
  for ((i = 0; i < seconds * 5; i++)); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

# start_identity_and_mail WORK: the Keycloak-shaped OIDC provider and the SMTP capture server
# on free ports, logging into WORK; exports ROSTER_TEST_OIDC_ISSUER, ROSTER_TEST_SMTP_URL,
# ROSTER_TEST_MAIL_DIR and adds both processes to the caller's `started` array.
start_identity_and_mail() {
  local work="$1" issuer_line smtp_line
  node "$ROOT/end2end/support/oidc-provider.mjs" --port 0 --realm roster-test --client-id roster \
    --client-secret roster-test-secret >"$work/oidc.log" 2>"$work/oidc.err" &
  started+=($!)
  SMTP_DIR="$work/mail"
  python3 "$ROOT/end2end/support/smtp_capture.py" --port 0 --dir "$SMTP_DIR" >"$work/smtp.log" 2>"$work/smtp.err" &
  started+=($!)
  issuer_line="$(wait_for_line "$work/oidc.log" '^oidc-provider ready ' 30)" || { cat "$work/oidc.err" >&2; die "the OIDC provider did not start"; }
  smtp_line="$(wait_for_line "$work/smtp.log" '^smtp-capture ready ' 30)" || { cat "$work/smtp.err" >&2; die "the SMTP server did not start"; }
  export ROSTER_TEST_OIDC_ISSUER="${issuer_line#oidc-provider ready }"
  export ROSTER_TEST_SMTP_URL="smtp://${smtp_line#smtp-capture ready }"
  export ROSTER_TEST_MAIL_DIR="$SMTP_DIR"
  log "OIDC provider $ROSTER_TEST_OIDC_ISSUER, SMTP $ROSTER_TEST_SMTP_URL"
}

# start_release_server WORK DATABASE: the release build (`cargo leptos build --release` done)
# against a fresh DATABASE on DATABASE_URL's server, with the test identity provider and
# mail server, on a free port (SERVER_PORT); waits until it is ready.
start_release_server() {
  local work="$1" db="$2"
  psql "$DATABASE_URL" -qc "drop database if exists $db with (force)" -c "create database $db" >/dev/null
  SERVER_PORT="$(free_port)"
  (
    export DATABASE_URL="${DATABASE_URL%/*}/$db"
    export LEPTOS_SITE_ADDR="127.0.0.1:$SERVER_PORT" LEPTOS_SITE_ROOT="$ROOT/target/site" LEPTOS_ENV=PROD LEPTOS_OUTPUT_NAME=roster
    export ROSTER_PUBLIC_URL="http://127.0.0.1:$SERVER_PORT"
    export ROSTER_OIDC_ISSUER="$ROSTER_TEST_OIDC_ISSUER" ROSTER_OIDC_CLIENT_ID=roster ROSTER_OIDC_CLIENT_SECRET=roster-test-secret
    export ROSTER_EMAIL_LOGIN=on ROSTER_SMTP_URL="$ROSTER_TEST_SMTP_URL" ROSTER_LOG_FORMAT=text
    exec "$CARGO_TARGET_DIR/release/roster"
  ) >"$work/server.log" 2>&1 &
  started+=($!)
  wait_for_http "http://127.0.0.1:$SERVER_PORT/readyz" 60 || { tail -n 50 "$work/server.log" >&2; die "the server did not become ready"; }
}

# use_private_test_postgres: without DATABASE_URL, a throw-away cluster in .roster/test-postgres
# on a free port (the caller stops PG_STARTED on exit); sets DATABASE_URL.
use_private_test_postgres() {
  PG_STARTED=""
  if [ -z "${DATABASE_URL:-}" ]; then
    PG_DIR="$ROOT/.roster/test-postgres"
    PG_PORT="$(free_port)"
    start_private_postgres "$PG_DIR" "$PG_PORT" "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  fi
}

# build_release: the optimised server and WASM (hashed names), then the /pkg files
# precompressed for serving.
build_release() {
  log "cargo leptos build --release"
  # Hashed names change with every build: start /pkg empty so no stale file is served.
  rm -rf "$ROOT/target/site/pkg"
  cargo leptos build --release 2>&1 | tail -n 3
  node "$ROOT/.ci/precompress.mjs" "$ROOT/target/site/pkg"
}
