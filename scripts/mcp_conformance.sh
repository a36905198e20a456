#!/usr/bin/env bash
# Run the MCP conformance suite (@modelcontextprotocol/conformance 0.1.16, its active server
# scenarios, on Node 22) against a FRESH server on an empty SQLite file, judged against the
# committed baseline scripts/mcp-conformance-baseline.yml: a failing scenario not listed there
# fails the run, and so does a listed one that passes (the baseline must be kept current).
#
# usage: scripts/mcp_conformance.sh
#
# Builds nothing: the binary comes from SALES_AGENT_BIN (default target/debug/sales-agent); the
# suite from scripts/setup-test-deps.sh. Results go to MCP_CONFORMANCE_OUT_DIR (default
# compliance-results/<UTC time>-mcp-conformance). The scenarios are about the MCP transport and
# protocol, which do not depend on the storage backend.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -x "$SA_CONFORMANCE_NODE" ] || sa_die "no Node 22 at $SA_CONFORMANCE_NODE (run scripts/setup-test-deps.sh)"
[ -f "$SA_CONFORMANCE_CLI" ] || sa_die "no MCP conformance suite at $SA_CONFORMANCE_CLI (run scripts/setup-test-deps.sh)"
BASELINE="$SA_REPO/scripts/mcp-conformance-baseline.yml"
OUT_DIR=${MCP_CONFORMANCE_OUT_DIR:-$SA_REPO/compliance-results/$(date -u +%Y%m%dT%H%M%SZ)-mcp-conformance}
mkdir -p "$OUT_DIR"

trap sa_stop EXIT
trap 'exit 130' INT TERM
sa_start sqlite || sa_die "the server did not start"

RC=0
timeout --kill-after=10 600 "$SA_CONFORMANCE_NODE" "$SA_CONFORMANCE_CLI" server --url "$SA_MCP_URL" \
  --expected-failures "$BASELINE" -o "$OUT_DIR" </dev/null >"$OUT_DIR/output.txt" 2>&1 || RC=$?
# The summary and the baseline verdict, without the per-scenario progress lines.
sed -n '/=== SUMMARY ===/,$p' "$OUT_DIR/output.txt" | sed 's/\x1b\[[0-9;]*m//g'
echo "mcp conformance: exit $RC (results in $OUT_DIR)"
exit "$RC"
