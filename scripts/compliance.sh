#!/usr/bin/env bash
# Run AdCP compliance storyboards (@adcp/sdk 6.11.0 runner, AdCP 3.0.6) against a FRESH server.
#
# usage: scripts/compliance.sh [--backend sqlite|postgres] [STORYBOARDS]
#   --backend   sqlite (default): a new temp SQLite file; postgres: a new database on the server
#               named by E2E_POSTGRES_URL (a maintenance URL such as
#               postgres://postgres@127.0.0.1:5432/postgres; derived from TEST_DATABASE_URL when
#               only that is set), dropped afterwards
#   STORYBOARDS comma-separated storyboard or bundle ids. Default: the runner's capability-driven
#               selection (every universal storyboard, the media_buy baseline and the declared
#               specialisms), judged against scripts/compliance-expected-failures.txt: a failed
#               storyboard not listed there fails the run, and so does a listed one that passes.
#
# Builds nothing: the binary comes from SALES_AGENT_BIN (default target/debug/sales-agent). Every
# storyboard runs against a server with empty state: the run starts a fresh one, and before each
# further storyboard scripts/lib/restart-server.sh replaces it with a fresh one on the same port.
# The storyboards assume it: several use fixed idempotency keys, and the pagination ones count
# exactly what they seeded (list_accounts has no filter that would tell their accounts apart).
# COMPLIANCE_SHARED_SERVER=1 runs them all against one server instead.
#
# Prints a per-storyboard table and, last, `compliance: N passed, M failed, K skipped`. Exits
# non-zero when a storyboard failed, when none passed, or when the runner could not run.
#
# environment: ADCP_SDK_DIR (default ~/.cache/sales-agent/npm/node_modules/@adcp/sdk),
#   COMPLIANCE_TOKEN (default test-token, the demo buyer), COMPLIANCE_TIMEOUT (runner --timeout,
#   default 600), COMPLIANCE_OUT_DIR (default compliance-results/<UTC time>-<backend>),
#   COMPLIANCE_EXTRA_ARGS (more runner flags), COMPLIANCE_PROBE_TASK
#   (inject a test kit {auth:{api_key:TOKEN, probe_task}} for security_baseline; the runner allows
#   list_creatives, get_media_buy_delivery, list_authorized_properties, ...), SA_KEEP_TMP=1 keeps
#   the server's temp dir.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BACKEND=sqlite
STORYBOARDS=""
EXPECTED="$SA_REPO/scripts/compliance-expected-failures.txt"
while [ $# -gt 0 ]; do
  case "$1" in
    --backend)
      [ $# -ge 2 ] || sa_die "--backend needs sqlite or postgres"
      BACKEND=$2
      shift 2
      ;;
    --backend=*)
      BACKEND=${1#--backend=}
      shift
      ;;
    -h | --help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    -*) sa_die "unknown option $1" ;;
    *)
      STORYBOARDS=$1
      shift
      ;;
  esac
done
case "$BACKEND" in sqlite | postgres) ;; *) sa_die "--backend must be sqlite or postgres (got '$BACKEND')" ;; esac
[ -z "$STORYBOARDS" ] || EXPECTED="" # an explicit selection is judged on its own
if [ "$BACKEND" = postgres ] && [ -z "${E2E_POSTGRES_URL:-}" ] && [ -n "${TEST_DATABASE_URL:-}" ]; then
  E2E_POSTGRES_URL=$(sa_postgres_maintenance_url "$TEST_DATABASE_URL") # same server, database postgres
  export E2E_POSTGRES_URL
fi

command -v node >/dev/null 2>&1 || sa_die "node not found on PATH"
command -v python3 >/dev/null 2>&1 || sa_die "python3 not found on PATH"
[ -f "$ADCP_SDK_DIR/bin/adcp.js" ] || sa_die "no AdCP CLI at $ADCP_SDK_DIR/bin/adcp.js (run scripts/setup-test-deps.sh)"

TOKEN=${COMPLIANCE_TOKEN:-test-token}
TIMEOUT_S=${COMPLIANCE_TIMEOUT:-600}
OUT_DIR=${COMPLIANCE_OUT_DIR:-$SA_REPO/compliance-results/$(date -u +%Y%m%dT%H%M%SZ)-$BACKEND}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
rm -f "$OUT_DIR/result.json" "$OUT_DIR/capture.json" "$OUT_DIR/stderr.log" "$OUT_DIR/summary.txt"

STATE_FILE="$OUT_DIR/server.state"
rm -f "$STATE_FILE"
stop_server() {
  sa_load_state "$STATE_FILE" # the server restart-server.sh started last, if any
  sa_stop
}
trap stop_server EXIT
trap 'exit 130' INT TERM

echo "compliance: storyboards ${STORYBOARDS:-capability-driven}, backend $BACKEND, binary $(sa_bin)"
if ! sa_start "$BACKEND"; then
  echo "compliance: 0 passed, 0 failed, 0 skipped (the server did not start)"
  exit 1
fi
sa_save_state "$STATE_FILE"
BEFORE_EACH=""
if [ "${COMPLIANCE_SHARED_SERVER:-0}" != 1 ]; then
  BEFORE_EACH="$(printf '%q %q %q' "$SA_REPO/scripts/lib/restart-server.sh" "$STATE_FILE" "$BACKEND") >>$(printf '%q' "$OUT_DIR/restarts.log")"
fi

read -r -a EXTRA <<<"${COMPLIANCE_EXTRA_ARGS:-}"
# --webhook-receiver: the runner hosts a loopback receiver so that webhook_emission can observe
# this server's push notifications (retries with a stable idempotency_key included).
ARGS=(storyboard run "$SA_MCP_URL" ${STORYBOARDS:+--storyboards "$STORYBOARDS"} --json --protocol mcp
  --timeout "$TIMEOUT_S" --allow-http --auth "$TOKEN" --webhook-receiver ${EXTRA[@]+"${EXTRA[@]}"})
printf 'node --require scripts/lib/storyboard-capture.cjs %s %s\n' "$ADCP_SDK_DIR/bin/adcp.js" "${ARGS[*]}" >"$OUT_DIR/command.txt"

KIT_JSON=""
# The 6.11 CLI cannot load a test kit, so security_baseline's API-key branch needs one injected:
# the probe is list_creatives, a protected read-only tool (COMPLIANCE_PROBE_TASK= disables it).
COMPLIANCE_PROBE_TASK=${COMPLIANCE_PROBE_TASK-list_creatives}
if [ -n "${COMPLIANCE_PROBE_TASK:-}" ]; then
  KIT_JSON=$(T="$TOKEN" P="$COMPLIANCE_PROBE_TASK" python3 -c \
    'import json, os; print(json.dumps({"auth": {"api_key": os.environ["T"], "probe_task": os.environ["P"]}}))')
fi

# signed_requests: this agent declares covers_content_digest "either", so the vectors written for
# the "required" (007) and "forbidden" (018) profiles do not apply to it.
SKIP_VECTORS=${COMPLIANCE_SKIP_SIGNING_VECTORS-007-missing-content-digest,018-digest-covered-when-forbidden}

RUNNER_RC=0
ADCP_SKIP_VERSION_CHECK=1 SA_CAPTURE_FILE="$OUT_DIR/capture.json" SA_TEST_KIT_JSON="$KIT_JSON" ADCP_SDK_DIR="$ADCP_SDK_DIR" \
  SA_SKIP_SIGNING_VECTORS="$SKIP_VECTORS" SA_BEFORE_EACH_STORYBOARD="$BEFORE_EACH" \
  timeout --kill-after=10 $((TIMEOUT_S + 120)) \
  node --require "$SA_REPO/scripts/lib/storyboard-capture.cjs" "$ADCP_SDK_DIR/bin/adcp.js" "${ARGS[@]}" \
  </dev/null >"$OUT_DIR/result.json" 2>"$OUT_DIR/stderr.log" || RUNNER_RC=$?
echo "$RUNNER_RC" >"$OUT_DIR/runner-exit-code"

# Runner exit codes: 0 passing/partial, 3 failing/unreachable/auth_required, 1 crash or timeout,
# 2 usage error; 124/137 = our hard limit.
if [ "$RUNNER_RC" -ne 0 ] && [ "$RUNNER_RC" -ne 3 ]; then
  echo "the runner exited $RUNNER_RC; stderr tail:" >&2
  tail -n 25 "$OUT_DIR/stderr.log" | sed 's/^/  | /' >&2
fi

sa_load_state "$STATE_FILE"
SUMMARY_RC=0
python3 "$SA_REPO/scripts/lib/compliance_summary.py" "$OUT_DIR" "$RUNNER_RC" "$EXPECTED" | tee "$OUT_DIR/summary.txt" || SUMMARY_RC=$?
if [ "$SUMMARY_RC" -ne 0 ]; then
  echo "server log tail ($SA_LOG):"
  tail -n 40 "$SA_LOG" | sed 's/^/  | /'
fi
echo "(results in $OUT_DIR)" >&2
exit "$SUMMARY_RC"
