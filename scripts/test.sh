#!/usr/bin/env bash
# The project's single test command.
#
#   1. scripts/setup-test-deps.sh       npm (AdCP CLI, schemas) + Python venv (fastmcp, pytest, ...)
#   2. cargo test                       the Rust suite (store tests also on Postgres when
#                                       TEST_DATABASE_URL is set)
#   3. cargo build                      the binary the next steps run
#   4. pytest tests/e2e                 end-to-end with real clients, on SQLite, and on Postgres
#                                       when TEST_DATABASE_URL is set (fresh databases are made on
#                                       that server through its `postgres` maintenance database)
#   5. scripts/adcp_cli_smoke.sh        the official AdCP CLI against a started server
#   6. scripts/compliance.sh            AdCP storyboards (capability-driven selection, judged against
#                                       scripts/compliance-expected-failures.txt) on a fresh server, SQLite (and Postgres)
#   7. scripts/mcp_conformance.sh       the MCP conformance suite (Node 22) on a fresh server, judged
#                                       against scripts/mcp-conformance-baseline.yml
#
# Every step after the build runs even when an earlier one failed (set TEST_FAIL_FAST=1 to stop at
# the first failure); the script exits non-zero if anything failed.
#
# environment: TEST_DATABASE_URL (postgres://user@host:port/db), SALES_AGENT_BIN (default
#   $CARGO_TARGET_DIR or target, /debug/sales-agent), COMPLIANCE_STORYBOARDS (ids for
#   compliance.sh), PYTEST_ARGS (extra pytest arguments), CARGO_TEST_ARGS (extra cargo test args)
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$SA_REPO"

export SALES_AGENT_BIN=${SALES_AGENT_BIN:-${CARGO_TARGET_DIR:-$SA_REPO/target}/debug/sales-agent}
LOCKED=()
if [ "${CI:-}" = true ] && [ -f Cargo.lock ]; then
  LOCKED=(--locked)
fi

FAILED=()
PASSED=()
START=$(date +%s)

# step NAME COMMAND...: run a step under a header, record its outcome.
step() {
  local name=$1 rc=0 t0
  shift
  sa_section "$name"
  t0=$(date +%s)
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    PASSED+=("$name")
    echo "--- $name: ok ($(($(date +%s) - t0))s)"
  else
    FAILED+=("$name (exit $rc)")
    echo "--- $name: FAILED with exit code $rc ($(($(date +%s) - t0))s)"
    if [ "${TEST_FAIL_FAST:-0}" = 1 ]; then
      summary
      exit 1
    fi
  fi
  return 0
}

summary() {
  sa_section "summary ($(($(date +%s) - START))s)"
  local item
  for item in ${PASSED[@]+"${PASSED[@]}"}; do echo "  ok      $item"; done
  for item in ${FAILED[@]+"${FAILED[@]}"}; do echo "  FAILED  $item"; done
}

pytest_e2e() { # pytest_e2e [postgres maintenance URL]
  if [ -n "${1:-}" ]; then
    E2E_POSTGRES_URL=$1 "$SA_VENV/bin/python" -m pytest tests/e2e ${PYTEST_ARGS:-}
  else
    env -u E2E_POSTGRES_URL "$SA_VENV/bin/python" -m pytest tests/e2e ${PYTEST_ARGS:-}
  fi
}

smoke_against_server() ( # a subshell: its trap and any sa_die stay inside this step
  rc=0
  trap sa_stop EXIT
  sa_start sqlite || exit 1
  bash scripts/adcp_cli_smoke.sh "$SA_MCP_URL" test-token || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "server log tail ($SA_LOG):"
    tail -n 40 "$SA_LOG" | sed 's/^/  | /'
  fi
  exit "$rc"
)

compliance() { # compliance sqlite|postgres [maintenance URL]
  if [ -n "${2:-}" ]; then
    E2E_POSTGRES_URL=$2 bash scripts/compliance.sh --backend "$1" ${COMPLIANCE_STORYBOARDS:+"$COMPLIANCE_STORYBOARDS"}
  else
    bash scripts/compliance.sh --backend "$1" ${COMPLIANCE_STORYBOARDS:+"$COMPLIANCE_STORYBOARDS"}
  fi
}

PG_MAINTENANCE=""
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  PG_MAINTENANCE=$(sa_postgres_maintenance_url "$TEST_DATABASE_URL")
  echo "Postgres: TEST_DATABASE_URL is set; e2e and compliance also run on Postgres (via $PG_MAINTENANCE)"
else
  echo "Postgres: TEST_DATABASE_URL is not set; SQLite only"
fi

sa_section "setup test dependencies"
bash scripts/setup-test-deps.sh

# shellcheck disable=SC2086
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy ${LOCKED[@]+"${LOCKED[@]}"} --all-targets -- -D warnings
step "cargo test" cargo test ${LOCKED[@]+"${LOCKED[@]}"} ${CARGO_TEST_ARGS:-}
step "cargo build" cargo build ${LOCKED[@]+"${LOCKED[@]}"}

BUILD_FAILED=0
for item in ${FAILED[@]+"${FAILED[@]}"}; do
  case "$item" in "cargo build"*) BUILD_FAILED=1 ;; esac
done
if [ "$BUILD_FAILED" = 1 ]; then
  FAILED+=("end-to-end steps not run: the build failed")
elif [ ! -x "$SALES_AGENT_BIN" ]; then
  FAILED+=("end-to-end steps not run: no binary at $SALES_AGENT_BIN")
else
  step "e2e (pytest, sqlite)" pytest_e2e
  if [ -n "$PG_MAINTENANCE" ]; then
    step "e2e (pytest, postgres)" pytest_e2e "$PG_MAINTENANCE"
  fi
  step "AdCP CLI smoke" smoke_against_server
  step "compliance (sqlite)" compliance sqlite
  if [ -n "$PG_MAINTENANCE" ]; then
    step "compliance (postgres)" compliance postgres "$PG_MAINTENANCE"
  fi
  step "MCP conformance" bash scripts/mcp_conformance.sh
fi

summary
echo "steps: ${#PASSED[@]} passed, ${#FAILED[@]} failed"
if [ ${#FAILED[@]} -ne 0 ]; then
  exit 1
fi
