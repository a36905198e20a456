#!/usr/bin/env bash
# Replace the server of a test run with a FRESH one (empty state) on the same port, so that a
# client that already points at it starts over from nothing.
#
# usage: scripts/lib/restart-server.sh STATE_FILE sqlite|postgres
#   STATE_FILE  written by sa_save_state (scripts/lib/common.sh) for the running server; rewritten
#               for the new one. Progress goes to stderr.
# environment: as for sa_start (E2E_POSTGRES_URL for postgres, SALES_AGENT_BIN, SA_KEEP_TMP).
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ $# -eq 2 ] || sa_die "usage: restart-server.sh STATE_FILE sqlite|postgres"
STATE=$1
BACKEND=$2
[ -f "$STATE" ] || sa_die "no server state at $STATE"
sa_load_state "$STATE"
PORT=$SA_PORT
sa_stop
SA_WANT_PORT=$PORT sa_start "$BACKEND" >&2 || sa_die "the fresh server did not start on port $PORT"
sa_save_state "$STATE"
