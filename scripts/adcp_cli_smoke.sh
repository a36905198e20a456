#!/usr/bin/env bash
# Smoke test with the official AdCP CLI (@adcp/sdk 6.11.0, `bin/adcp.js`) against a running agent.
#
# usage: scripts/adcp_cli_smoke.sh URL TOKEN
#   URL    the agent's MCP endpoint, e.g. http://127.0.0.1:8080/mcp
#   TOKEN  a buyer token (the demo's is test-token)
#
# Calls get_adcp_capabilities, get_products (with a brief) and list_creative_formats. Each call
# must exit 0 and print the CLI's success marker (and the response's main field); otherwise the
# script fails. The SDK's non-blocking response-schema warnings are reported but do not fail it
# unless ADCP_SMOKE_STRICT=1.
#
# environment: ADCP_SDK_DIR (default ~/.cache/sales-agent/npm/node_modules/@adcp/sdk; run
#              scripts/setup-test-deps.sh first), ADCP_SMOKE_TIMEOUT (seconds per call, default 120)
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

if [ $# -ne 2 ]; then
  echo "usage: $0 URL TOKEN" >&2
  exit 2
fi
URL=$1
TOKEN=$2
case "$URL" in http://* | https://*) ;; *) sa_die "URL must start with http:// or https:// (got '$URL')" ;; esac
command -v node >/dev/null 2>&1 || sa_die "node not found on PATH"
[ -f "$ADCP_SDK_DIR/bin/adcp.js" ] || sa_die "no AdCP CLI at $ADCP_SDK_DIR/bin/adcp.js (run scripts/setup-test-deps.sh)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/adcp-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

failures=0
warnings=0

# smoke NAME TOOL ARGS_JSON EXPECTED_TEXT
smoke() {
  local name=$1 tool=$2 args=$3 expect=$4 out="$WORK/$1.out" rc=0
  echo "--- adcp $tool $args"
  ADCP_SKIP_VERSION_CHECK=1 timeout --kill-after=10 "${ADCP_SMOKE_TIMEOUT:-120}" \
    node "$ADCP_SDK_DIR/bin/adcp.js" "$URL" "$tool" "$args" --auth "$TOKEN" </dev/null >"$out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $name: exit code $rc"
    sed 's/^/  | /' "$out" | head -60
    failures=$((failures + 1))
    return 0
  fi
  if ! grep -q "SUCCESS" "$out"; then
    echo "FAIL $name: the CLI did not report success"
    sed 's/^/  | /' "$out" | head -60
    failures=$((failures + 1))
    return 0
  fi
  if ! grep -q "$expect" "$out"; then
    echo "FAIL $name: no $expect in the response"
    sed 's/^/  | /' "$out" | head -60
    failures=$((failures + 1))
    return 0
  fi
  if grep -q "Schema validation failed" "$out"; then
    echo "WARN $name: the SDK reported response-schema problems:"
    grep -A4 "Schema validation failed" "$out" | sed 's/^/  | /' | head -20
    warnings=$((warnings + 1))
  fi
  echo "ok   $name"
}

smoke capabilities get_adcp_capabilities '{}' '"supported_protocols"'
smoke products get_products \
  '{"buying_mode":"brief","brief":"display ads targeting US tech enthusiasts, developers, $5000 budget"}' '"products"'
smoke formats list_creative_formats '{}' '"formats"'

echo
echo "adcp cli smoke: $((3 - failures)) passed, $failures failed, $warnings with schema warnings"
if [ "$failures" -ne 0 ]; then
  exit 1
fi
if [ "$warnings" -ne 0 ] && [ "${ADCP_SMOKE_STRICT:-0}" = 1 ]; then
  echo "ADCP_SMOKE_STRICT=1: schema warnings fail the smoke test"
  exit 1
fi
