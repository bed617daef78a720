#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the test suite, on 127.0.0.1:54329.
# usage: postgres.sh start|stop|env|status
#   database dml_test, user dml / password dml (owner of dml_test, CREATEDB);
#   superuser postgres / password postgres; scram-sha-256 auth over TCP only.
# Env overrides: PG_PORT (54329), PG_BIN (directory holding initdb/postgres).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
svc_init postgres

PG_PORT="${PG_PORT:-54329}"
PG_HOST=127.0.0.1
PG_DB=dml_test
PG_USER=dml
PG_PASSWORD=dml
PG_SUPERPASS=postgres
PG_URL="postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DB"
LOGF="$LOG_DIR/postgres.log"
SETUP_LOG="$LOG_DIR/setup.log"
# postgres refuses to run as root: use the unprivileged `postgres` account
if is_root; then RUN_USER=postgres; else RUN_USER="$(id -un)"; fi

find_pg_bin() {
  local d
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/postgres" ] && echo "$PG_BIN"
    return
  fi
  d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1 || true)"
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
    echo "$d"
    return
  fi
  if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
  fi
}

# shellcheck disable=SC2120 # extra psql arguments are optional
pg_super_sql() {
  PGPASSWORD="$PG_SUPERPASS" PGCONNECT_TIMEOUT=3 "$PSQL" -X -q -v ON_ERROR_STOP=1 \
    -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres "$@"
}

healthy() {
  [ "$(PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=3 "$PSQL" -X -At "$PG_URL" -c 'select 1' 2>/dev/null)" = 1 ]
}

# server accepts connections (before role/database exist)
accepting() {
  "$PGBIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -d postgres -U postgres
}

setup_tools() {
  PGBIN="$(find_pg_bin)"
  if [ -z "$PGBIN" ]; then
    apt_ensure postgresql postgresql-client
    PGBIN="$(find_pg_bin)"
    [ -n "$PGBIN" ] || die "PostgreSQL server binaries not found even after installing 'postgresql'"
  fi
  if [ -x "$PGBIN/psql" ]; then
    PSQL="$PGBIN/psql"
  elif command -v psql >/dev/null 2>&1; then
    PSQL="$(command -v psql)"
  else
    apt_ensure postgresql-client
    PSQL="$(command -v psql)"
  fi
}

cmd_start() {
  local t0
  t0=$(now_s)
  setup_tools
  if pid_alive postgres "$PGBIN/postgres"; then
    if healthy; then
      log "already running (pid $(pid_read postgres)) and healthy: $PG_URL"
      return 0
    fi
    log "running (pid $(pid_read postgres)) but not answering yet; waiting"
    wait_until 60 "postgres on $PG_HOST:$PG_PORT" healthy postgres "$LOGF"
    return 0
  fi
  rm -f "$(pid_file postgres)"
  require_port_free "$PG_PORT"

  ensure_user "$RUN_USER"
  local data ver
  data="$(service_data_dir "$RUN_USER" data)"
  ver="$("$PGBIN/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/')"
  if [ -f "$data/PG_VERSION" ] && [ "$(cat "$data/PG_VERSION")" != "$ver" ]; then
    log "data dir was made by PostgreSQL $(cat "$data/PG_VERSION"), server is $ver: re-initialising"
    find "$data" -mindepth 1 -delete
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    find "$data" -mindepth 1 -delete
    local pwfile
    pwfile="$(mktemp /tmp/pgpw.XXXXXX)"
    echo "$PG_SUPERPASS" >"$pwfile"
    chmod 644 "$pwfile"
    step "initdb ($PGBIN)" "$SETUP_LOG" run_as "$RUN_USER" "$PGBIN/initdb" -D "$data" -U postgres \
      --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync
    rm -f "$pwfile"
  fi

  as_user "$RUN_USER"
  # TCP on 127.0.0.1 only, no unix socket; durability off (throwaway cluster)
  start_bg postgres "$LOGF" "${AS_USER[@]}" "$PGBIN/postgres" -D "$data" \
    -c listen_addresses="$PG_HOST" -c port="$PG_PORT" -c unix_socket_directories= \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=200 -c log_min_messages=warning -c log_line_prefix='%m [%p] '
  wait_until 60 "postgres accepting on $PG_HOST:$PG_PORT" accepting postgres "$LOGF"

  # idempotent: role + database
  {
    echo "==== $(date '+%F %T') ensure role $PG_USER / database $PG_DB"
    # shellcheck disable=SC2119
    pg_super_sql <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\\gexec
SQL
  } >>"$SETUP_LOG" 2>&1 || die_with_log "creating role/database failed" "$SETUP_LOG" "$LOGF"
  wait_until 30 "postgres query as $PG_USER" healthy postgres "$LOGF"
  log "up in $(($(now_s) - t0))s: $PG_URL"
}

cmd_stop() {
  # SIGINT = fast shutdown (aborts sessions, then exits cleanly)
  stop_proc postgres INT 30 "/postgres"
  log "stopped"
}

cmd_status() {
  setup_tools
  if pid_alive postgres "/postgres" && healthy; then
    log "running (pid $(pid_read postgres)): $PG_URL"
  else
    log "not running"
    return 1
  fi
}

cmd_env() {
  echo "export PG_URL=$PG_URL"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status ;;
*) usage "$0" ;;
esac
