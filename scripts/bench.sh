#!/usr/bin/env bash
# The project's benchmark: starts the RELEASE server (it builds nothing), stores BENCH_SEED_BUYS
# media buys through create_media_buy, then drives POST /mcp with wrk (BENCH_THREADS threads,
# BENCH_CONNECTIONS concurrent clients, BENCH_SECONDS per tool) for
#   get_products, create_media_buy, get_media_buys (one buy), get_media_buy_delivery (one buy)
# on SQLite and on Postgres, and prints req/s, p50 and p99 per tool, the server's peak RSS
# (VmHWM), and a PASS/MISS per target:
#   at 16 concurrent clients
#     get_products            >= 7,500 req/s and p99 <= 5 ms          (SQLite)
#     create_media_buy        >= 2,000 req/s (SQLite), >= 1,500 req/s (Postgres), p99 <= 20 ms
#     get_media_buy_delivery  >= 4,000 req/s for one buy               (each backend)
#   peak RSS                  <= 60 MiB                                 (each backend)
# A MISS is reported, not a failure. A run in which any response was not HTTP 200 with
# "isError":false (or any socket error or timeout happened) is reported as INVALID.
#
# usage: scripts/bench.sh            (not part of scripts/test.sh; build first: cargo build --release)
#
# exit status: 0 all runs valid (targets may still be missed), 2 some run was INVALID,
#              1 the benchmark could not run (no binary, server did not start, seeding failed, a
#              requested backend could not be set up).
#
# environment:
#   SALES_AGENT_BIN        server binary (default target/release/sales-agent, relative to the repo)
#   BENCH_SECONDS          measured seconds per tool (default 10)
#   BENCH_WARMUP           unmeasured warm-up seconds before each tool (default 1; 0 for none)
#   BENCH_THREADS          wrk threads (default 2)
#   BENCH_CONNECTIONS      concurrent clients (default 16; the targets are defined at 16)
#   BENCH_SEED_BUYS        media buys stored before the measured runs (default 10000)
#   BENCH_SEED_TIMEOUT     seconds allowed for seeding (default 900)
#   BENCH_BACKENDS         "sqlite postgres" (default), or one of them
#   BENCH_POSTGRES_URL     maintenance URL used to create and drop a fresh database
#                          (default postgres://postgres@127.0.0.1:5432/postgres)
#   BENCH_OUT              JSON results file (default bench-results.json, relative to the caller's
#                          directory)
#   BENCH_TOKEN            buyer token (default test-token, the demo's)
#   BENCH_WRK_TIMEOUT      wrk's per-request timeout (default 10s)
#   BENCH_KEEP=1           keep the work directory (server logs, raw wrk output)
set -euo pipefail

CALLER_DIR=$(pwd)
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$SA_REPO"

BIN=${SALES_AGENT_BIN:-target/release/sales-agent}
case "$BIN" in /*) ;; *) BIN="$SA_REPO/$BIN" ;; esac
SECONDS_PER_TOOL=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-1}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
SEED_BUYS=${BENCH_SEED_BUYS:-10000}
SEED_TIMEOUT=${BENCH_SEED_TIMEOUT:-900}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=${BENCH_OUT:-bench-results.json}
case "$OUT" in /*) ;; *) OUT="$CALLER_DIR/$OUT" ;; esac
TOKEN=${BENCH_TOKEN:-test-token}
WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-10s}
LUA="$SA_REPO/scripts/bench/mcp.lua"
TOOLS=(get_products create_media_buy get_media_buys get_media_buy_delivery)

for v in SECONDS_PER_TOOL WARMUP THREADS CONNECTIONS SEED_BUYS SEED_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || sa_die "$v must be a whole number (got '${!v}')"
done
[ "$SECONDS_PER_TOOL" -ge 1 ] || sa_die "BENCH_SECONDS must be at least 1"
[ "$SEED_BUYS" -ge 1 ] || sa_die "BENCH_SEED_BUYS must be at least 1"
if [ "$THREADS" -lt 1 ] || [ "$CONNECTIONS" -lt "$THREADS" ]; then
  sa_die "need BENCH_CONNECTIONS >= BENCH_THREADS >= 1"
fi
for b in $BACKENDS; do
  case "$b" in sqlite | postgres) ;; *) sa_die "unknown backend '$b' in BENCH_BACKENDS (sqlite, postgres)" ;; esac
done

# --- prerequisites --------------------------------------------------------------------------------
[ -x "$BIN" ] || sa_die "no server binary at $BIN: build it with 'cargo build --release' (or set SALES_AGENT_BIN)"
[ -f "$LUA" ] || sa_die "missing $LUA"
for tool in curl jq python3; do
  command -v "$tool" >/dev/null 2>&1 || sa_die "$tool not found on PATH"
done
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "wrk not found; installing the Debian package"
    { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null || sa_die "could not install wrk"
  else
    sa_die "wrk not found (Debian: apt-get install wrk)"
  fi
fi
case " $BACKENDS " in *" postgres "*) command -v psql >/dev/null 2>&1 || sa_die "psql not found (needed for Postgres)" ;; esac

# end_time of every created buy: 30 days after the script started, RFC 3339 UTC.
END_TIME=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
  python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
NONCE="$(date +%s).$$"
# shellcheck disable=SC2016 # the brief's "$5000" is literal text
PRODUCTS_ARGS='{"buying_mode":"brief","brief":"display ads targeting US tech enthusiasts, developers, $5000 budget"}'
# @KEY@ becomes a unique idempotency key per request (scripts/bench/mcp.lua).
CREATE_ARGS='{"idempotency_key":"@KEY@","account":{"brand":{"domain":"bench.example"},"operator":"bench.example"},"brand":{"domain":"bench.example"},"start_time":"asap","end_time":"'"$END_TIME"'","packages":[{"product_id":"prod-tech-display-001","pricing_option_id":"cpm_guaranteed","budget":3000,"creative_assignments":[{"creative_id":"c1"}]}]}'

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sa-bench.XXXXXX")
WRK_PID=""
# The server is started and stopped by sa_start / sa_stop (scripts/lib/common.sh), with the
# release binary, quiet logs and databases on the benchmark's Postgres server.
export SALES_AGENT_BIN="$BIN" E2E_POSTGRES_URL="$PG_URL" RUST_LOG=warn
EXIT_STATUS=0

cleanup() {
  if [ -n "$WRK_PID" ] && kill -0 "$WRK_PID" 2>/dev/null; then
    kill -TERM "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" 2>/dev/null || true
  fi
  WRK_PID=""
  sa_stop # the server and its Postgres database (scripts/lib/common.sh)
  if [ -n "${SA_TMP:-}" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$SA_TMP"
  fi
}
# shellcheck disable=SC2317 # called through the EXIT trap
on_exit() {
  local rc=$?
  cleanup
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers --------------------------------------------------------------------------------------
log() { printf '%s\n' "$*" >&2; }

# proc_kb PID FIELD: a kB figure from /proc/PID/status (VmHWM, VmRSS).
proc_kb() {
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# call_tool TOOL ARGS_JSON OUTFILE: one tools/call with curl; succeeds when HTTP 200 and "isError":false.
call_tool() {
  local tool=$1 args=$2 out=$3 code
  code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 30 -X POST "$SA_MCP_URL" \
    -H 'Content-Type: application/json' -H 'Accept: application/json' -H "Authorization: Bearer $TOKEN" \
    --data-binary "{\"jsonrpc\":\"2.0\",\"id\":\"bench-check\",\"method\":\"tools/call\",\"params\":{\"name\":\"$tool\",\"arguments\":$args}}" \
    2>>"$out.curlerr") || code=000
  if [ "$code" != 200 ] || grep -q '"isError":true' "$out" || ! grep -q '"isError":false' "$out"; then
    log "check call $tool failed (HTTP $code): $(head -c 600 "$out" 2>/dev/null; cat "$out.curlerr" 2>/dev/null)"
    return 1
  fi
}

# count_buys BACKEND DIR: media buys stored (empty when it cannot be read).
count_buys() {
  case "$1" in
    sqlite)
      if command -v sqlite3 >/dev/null 2>&1; then
        sqlite3 -readonly "$2/bench.sqlite" 'select count(*) from media_buys' 2>/dev/null || true
      else
        python3 - "$2/bench.sqlite" <<'PY' 2>/dev/null || true
import sqlite3, sys
print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("select count(*) from media_buys").fetchone()[0])
PY
      fi
      ;;
    postgres) psql "$(sa_with_db "$PG_URL" "$SA_PG_DB")" -qAtX -c 'select count(*) from media_buys' 2>/dev/null || true ;;
  esac
}

# run_wrk NAME TOOL ARGS SECONDS OUTPREFIX [QUOTA]: one wrk run; writes OUTPREFIX.txt (raw output) and
# OUTPREFIX.json (the BENCH_JSON line). With QUOTA, wrk runs until QUOTA successful responses arrived
# (at most SECONDS) and is then told to finish (SIGINT) so it reports at once.
run_wrk() {
  local name=$1 tool=$2 args=$3 secs=$4 prefix=$5 quota=${6:-} done_dir="$5.done" rc=0
  mkdir -p "$done_dir"
  BENCH_TOOL=$tool BENCH_ARGS=$args BENCH_TOKEN=$TOKEN BENCH_NONCE="$NONCE.$name" BENCH_THREADS=$THREADS \
    BENCH_QUOTA=$quota BENCH_DONE_DIR=$done_dir \
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "${secs}s" --timeout "$WRK_TIMEOUT" -s "$LUA" "$SA_MCP_URL" \
    >"$prefix.txt" 2>&1 </dev/null &
  WRK_PID=$!
  if [ -n "$quota" ]; then
    while kill -0 "$WRK_PID" 2>/dev/null; do
      if [ "$(find "$done_dir" -type f | wc -l)" -ge "$THREADS" ]; then
        kill -INT "$WRK_PID" 2>/dev/null || true
        break
      fi
      sleep 0.05
    done
  fi
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  if ! grep '^BENCH_JSON ' "$prefix.txt" | tail -n 1 | sed 's/^BENCH_JSON //' | jq -c . >"$prefix.json" 2>/dev/null ||
    [ ! -s "$prefix.json" ]; then
    log "wrk ($name) produced no result (exit $rc):"
    sed 's/^/  | /' "$prefix.txt" >&2
    return 1
  fi
}

fmt_row() { # fmt_row LABEL JSONFILE
  jq -r --arg name "$1" '[$name, (.rps * 10 | round / 10 | tostring), (.p50_ms * 100 | round / 100 | tostring),
      (.p99_ms * 100 | round / 100 | tostring), (.requests | tostring), ((.errors + .socket_errors) | tostring),
      (if (.errors + .socket_errors) > 0 or .requests == 0 then "INVALID" else "ok" end)] | @tsv' "$2" |
    awk -F'\t' '{ printf "  %-28s %10s %9s %9s %10s %7s  %s\n", $1, $2, $3, $4, $5, $6, $7 }'
}

# bench_backend BACKEND: everything for one backend; writes $WORK/BACKEND/result.json.
bench_backend() {
  local backend=$1 dir="$WORK/$1" buy_id stored_before stored_after hwm rss_start t
  mkdir -p "$dir"
  sa_section "$backend"
  if [ "$backend" = postgres ] && ! psql "$PG_URL" -qAtX -c 'select 1' >/dev/null 2>&1; then
    log "cannot connect to Postgres at $PG_URL (set BENCH_POSTGRES_URL, or BENCH_BACKENDS=sqlite)"
    jq -n --arg b "$backend" '{backend: $b, status: "failed", reason: "cannot connect to Postgres"}' >"$dir/result.json"
    return 1
  fi
  if ! sa_start "$backend" >/dev/null; then
    jq -n --arg b "$backend" '{backend: $b, status: "failed", reason: "server did not start"}' >"$dir/result.json"
    return 1
  fi
  rss_start=$(proc_kb "$SA_PID" VmRSS)
  echo "server pid $SA_PID at $SA_MCP_URL (RSS after start: ${rss_start:-?} kB)"

  # One create with curl: checks the request and gives the buy the get/delivery runs read.
  if ! call_tool create_media_buy "${CREATE_ARGS/@KEY@/bench.$NONCE.$backend.first}" "$dir/first-create.json"; then
    jq -n --arg b "$backend" '{backend: $b, status: "failed", reason: "create_media_buy check call failed"}' >"$dir/result.json"
    return 1
  fi
  buy_id=$(jq -r '.result.structuredContent.media_buy_id // empty' "$dir/first-create.json")
  if [ -z "$buy_id" ]; then
    buy_id=$(grep -o 'mb_[A-Za-z0-9_-]*' "$dir/first-create.json" | head -n 1 || true)
  fi
  [ -n "$buy_id" ] || {
    log "no media_buy_id in the create response: $(head -c 600 "$dir/first-create.json")"
    jq -n --arg b "$backend" '{backend: $b, status: "failed", reason: "no media_buy_id in create response"}' >"$dir/result.json"
    return 1
  }

  echo "seeding $SEED_BUYS media buys ($CONNECTIONS concurrent create_media_buy clients)..."
  if ! run_wrk "$backend-seed" create_media_buy "$CREATE_ARGS" "$SEED_TIMEOUT" "$dir/seed" "$((SEED_BUYS - 1))"; then
    jq -n --arg b "$backend" '{backend: $b, status: "failed", reason: "seeding failed"}' >"$dir/result.json"
    return 1
  fi
  stored_before=$(count_buys "$backend" "$dir")
  if [ "$(jq '.ok' "$dir/seed.json")" -lt "$((SEED_BUYS - 1))" ] || { [ -n "$stored_before" ] && [ "$stored_before" -lt "$SEED_BUYS" ]; }; then
    log "seeding stopped short: $(jq -c '{ok, errors, socket_errors, first_error}' "$dir/seed.json"), ${stored_before:-?} buys stored"
    jq -n --arg b "$backend" --slurpfile seed "$dir/seed.json" \
      '{backend: $b, status: "failed", reason: "seeding stopped short", seed: $seed[0]}' >"$dir/result.json"
    return 1
  fi
  echo "seeded in $(jq -r '.duration_s' "$dir/seed.json") s; ${stored_before:-?} media buys stored; using $buy_id"

  local -A args=(
    [get_products]=$PRODUCTS_ARGS
    [create_media_buy]=$CREATE_ARGS
    [get_media_buys]="{\"media_buy_ids\":[\"$buy_id\"]}"
    [get_media_buy_delivery]="{\"media_buy_ids\":[\"$buy_id\"]}"
  )
  for t in "${TOOLS[@]}"; do
    local check_args=${args[$t]}
    check_args=${check_args/@KEY@/bench.$NONCE.$backend.check.$t}
    call_tool "$t" "$check_args" "$dir/check-$t.json" || log "warning: the $t check call failed; its run will show errors"
    if [ "$WARMUP" -gt 0 ]; then
      run_wrk "$backend-warmup-$t" "$t" "${args[$t]}" "$WARMUP" "$dir/warmup-$t" >/dev/null 2>&1 || true
    fi
    echo "measuring $t for ${SECONDS_PER_TOOL}s..."
    if ! run_wrk "$backend-$t" "$t" "${args[$t]}" "$SECONDS_PER_TOOL" "$dir/$t"; then
      jq -n --arg t "$t" '{tool: $t, requests: 0, ok: 0, errors: 0, socket_errors: 0, rps: 0, p50_ms: 0, p99_ms: 0,
        first_error: "wrk produced no result"}' >"$dir/$t.json"
    fi
  done

  hwm=$(proc_kb "$SA_PID" VmHWM)
  stored_after=$(count_buys "$backend" "$dir")
  cleanup # stop this backend's server, drop its database

  jq -n --arg b "$backend" --arg hwm "${hwm:-}" --arg rss0 "${rss_start:-}" --arg before "${stored_before:-}" \
    --arg after "${stored_after:-}" --arg buy "$buy_id" --slurpfile seed "$dir/seed.json" \
    --slurpfile gp "$dir/get_products.json" --slurpfile cr "$dir/create_media_buy.json" \
    --slurpfile gm "$dir/get_media_buys.json" --slurpfile dl "$dir/get_media_buy_delivery.json" '
    def valid: .valid = ((.errors + .socket_errors) == 0 and .requests > 0);
    def num: if . == "" then null else tonumber end;
    {backend: $b, status: "ok", media_buy_id: $buy,
     buys_stored_before_runs: ($before | num), buys_stored_after_runs: ($after | num),
     rss_after_start_kb: ($rss0 | num),
     peak_rss_kb: ($hwm | num), peak_rss_mib: (if $hwm == "" then null else ($hwm | tonumber) / 1024 end),
     seed: ($seed[0] | valid),
     tools: {get_products: ($gp[0] | valid), create_media_buy: ($cr[0] | valid),
             get_media_buys: ($gm[0] | valid), get_media_buy_delivery: ($dl[0] | valid)}}' >"$dir/result.json"

  echo
  printf '  %-28s %10s %9s %9s %10s %7s  %s\n' tool "req/s" "p50 ms" "p99 ms" requests errors run
  fmt_row "create_media_buy (seed)" "$dir/seed.json"
  for t in "${TOOLS[@]}"; do
    fmt_row "$t" "$dir/$t.json"
  done
  printf '  peak RSS (VmHWM): %s kB (%s MiB); RSS after start: %s kB\n' "${hwm:-?}" \
    "$(jq -r '.peak_rss_mib // "?" | if type == "number" then (. * 10 | round / 10) else . end' "$dir/result.json")" "${rss_start:-?}"
  for t in "${TOOLS[@]}"; do
    if [ "$(jq '(.errors + .socket_errors) > 0' "$dir/$t.json")" = true ]; then
      echo "  INVALID $t: $(jq -r '"\(.errors) bad responses, \(.socket_errors) socket errors/timeouts; first: \(.first_error[0:300])"' "$dir/$t.json")"
    fi
  done
}

# --- run ------------------------------------------------------------------------------------------
echo "sales-agent benchmark: $BIN"
echo "  wrk -t $THREADS -c $CONNECTIONS, ${SECONDS_PER_TOOL}s per tool (+${WARMUP}s warm-up), $SEED_BUYS buys seeded," \
  "backends: $BACKENDS, $(nproc) CPUs shared by wrk and the server"
[ "$CONNECTIONS" = 16 ] || echo "  note: the targets are defined at 16 concurrent clients; this run uses $CONNECTIONS"

for backend in $BACKENDS; do
  if ! bench_backend "$backend"; then
    EXIT_STATUS=1
    cleanup
  fi
done

# --- summary --------------------------------------------------------------------------------------
commit=$(git -C "$SA_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$SA_REPO" status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
results=()
for backend in $BACKENDS; do
  [ -f "$WORK/$backend/result.json" ] && results+=("$WORK/$backend/result.json")
done
jq -n --arg commit "$commit" --arg bin "$BIN" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --argjson secs "$SECONDS_PER_TOOL" --argjson threads "$THREADS" --argjson conns "$CONNECTIONS" \
  --argjson seed "$SEED_BUYS" --argjson cpus "$(nproc)" --arg backends "$BACKENDS" \
  --slurpfile r <(if [ ${#results[@]} -gt 0 ]; then cat "${results[@]}"; fi) '
  ($r | map({key: .backend, value: .}) | from_entries) as $by
  | def target($id; $backend; $tool; $metric; $op; $limit; $unit):
      ($by[$backend]) as $b
      | (if $b == null then {result: "NOT RUN", measured: null}
         elif $b.status != "ok" then {result: "NOT RUN", measured: null}
         elif $tool == null then
           ($b[$metric]) as $m
           | {measured: $m, result: (if $m == null then "NOT RUN"
                                     elif (if $op == ">=" then $m >= $limit else $m <= $limit end) then "PASS"
                                     else "MISS" end)}
         else
           ($b.tools[$tool]) as $t
           | {measured: $t[$metric],
              result: (if $t.valid | not then "INVALID"
                       elif (if $op == ">=" then $t[$metric] >= $limit else $t[$metric] <= $limit end) then "PASS"
                       else "MISS" end)}
         end) as $m
      | {id: $id, backend: $backend, tool: $tool, metric: $metric, op: $op, target: $limit, unit: $unit}
        + $m + {at_target_concurrency: ($conns == 16)};
  {date: $date, commit: $commit, binary: $bin, cpus: $cpus,
   wrk: {threads: $threads, connections: $conns, seconds_per_tool: $secs}, seed_buys: $seed,
   backends_requested: ($backends | split(" ") | map(select(. != ""))),
   results: $by,
   targets: [
     target("get_products_rps_sqlite"; "sqlite"; "get_products"; "rps"; ">="; 7500; "req/s"),
     target("get_products_p99_sqlite"; "sqlite"; "get_products"; "p99_ms"; "<="; 5; "ms"),
     target("create_media_buy_rps_sqlite"; "sqlite"; "create_media_buy"; "rps"; ">="; 2000; "req/s"),
     target("create_media_buy_p99_sqlite"; "sqlite"; "create_media_buy"; "p99_ms"; "<="; 20; "ms"),
     target("create_media_buy_rps_postgres"; "postgres"; "create_media_buy"; "rps"; ">="; 1500; "req/s"),
     target("create_media_buy_p99_postgres"; "postgres"; "create_media_buy"; "p99_ms"; "<="; 20; "ms"),
     target("get_media_buy_delivery_rps_sqlite"; "sqlite"; "get_media_buy_delivery"; "rps"; ">="; 4000; "req/s"),
     target("get_media_buy_delivery_rps_postgres"; "postgres"; "get_media_buy_delivery"; "rps"; ">="; 4000; "req/s"),
     target("peak_rss_sqlite"; "sqlite"; null; "peak_rss_mib"; "<="; 60; "MiB"),
     target("peak_rss_postgres"; "postgres"; null; "peak_rss_mib"; "<="; 60; "MiB")
   ]}' >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"

sa_section "summary"
printf '  %-10s %-24s %10s %9s %9s  %s\n' backend tool "req/s" "p50 ms" "p99 ms" run
for backend in $BACKENDS; do
  jq -r --arg b "$backend" '.results[$b] // empty | select(.status == "ok") | .tools | to_entries[]
    | [$b, .key, (.value.rps * 10 | round / 10 | tostring), (.value.p50_ms * 100 | round / 100 | tostring),
       (.value.p99_ms * 100 | round / 100 | tostring), (if .value.valid then "ok" else "INVALID" end)] | @tsv' "$OUT" |
    awk -F'\t' '{ printf "  %-10s %-24s %10s %9s %9s  %s\n", $1, $2, $3, $4, $5, $6 }'
  jq -r --arg b "$backend" '.results[$b] // empty | if .status == "ok" then
      [$b, "peak RSS (VmHWM)", "\(.peak_rss_kb) kB = \(.peak_rss_mib * 10 | round / 10) MiB"]
    else [$b, "NOT RUN", .reason] end | @tsv' "$OUT" |
    awk -F'\t' '{ printf "  %-10s %-24s %s\n", $1, $2, $3 }'
done
echo
printf '  %-8s %-36s %14s %14s\n' result target measured wanted
jq -r '.targets[] | [.result, (if .tool == null then "peak RSS" else .tool + (if .metric == "p99_ms" then " p99" else " req/s" end) end) + " (\(.backend))",
    (if .measured == null then "-" else (.measured * 100 | round / 100 | tostring) + " " + .unit end),
    "\(.op) \(.target) \(.unit)"] | @tsv' "$OUT" |
  awk -F'\t' '{ printf "  %-8s %-36s %14s %14s\n", $1, $2, $3, $4 }'
echo
jq -r '.targets | "targets: \(map(select(.result == "PASS")) | length) passed, \(map(select(.result == "MISS")) | length) missed, \(map(select(.result == "INVALID")) | length) invalid, \(map(select(.result == "NOT RUN")) | length) not run"' "$OUT"
echo "results written to $OUT"

if [ "$EXIT_STATUS" = 0 ] && [ "$(jq '[.results[] | select(.status == "ok") | (.tools[], .seed) | select(.valid | not)] | length' "$OUT")" != 0 ]; then
  echo "some runs had errors (INVALID): their figures do not count"
  EXIT_STATUS=2
fi
exit "$EXIT_STATUS"
