#!/usr/bin/env bash
# End-to-end test: the official MCP Python SDK client talks to mcp-server-sqlite and to
# @modelcontextprotocol/server-filesystem (npm) through target/release/sentinel (see
# scripts/e2e_client.py, e2e_approvals.py and e2e_filesystem.py for the checks), and, through
# `sentinel --upstream URL`, to MCP servers over HTTP: scripts/e2e_http_server.py (FastMCP,
# Streamable HTTP and legacy HTTP+SSE) and @modelcontextprotocol/server-everything
# (streamableHttp and sse modes); see scripts/e2e_upstream.py.
#
# Creates/reuses a virtualenv in .venv-e2e/ (not tracked by git), installs the
# pinned PyPI packages, builds the release binary and runs the client.
# Last line of output is always "e2e: N passed, M failed"; exit status is 0 only
# when M is 0.
#
# Environment knobs:
#   PYTHON      interpreter used to create the venv (default: python3)
#   E2E_VENV    venv directory (default: .venv-e2e)
#   E2E_KEEP=1  keep the temp dir with test.db / audit.log / sentinel.stderr
#   E2E_ONLY=upstream  run only the `--upstream` steps (e2e_upstream.py)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MCP_VERSION=1.30.0
MCP_SERVER_SQLITE_VERSION=2025.4.25
PYTHON=${PYTHON:-python3}
VENV=${E2E_VENV:-.venv-e2e}
ONLY=${E2E_ONLY:-}
case "$ONLY" in "" | upstream) ;; *) echo "e2e: E2E_ONLY must be empty or 'upstream'" >&2; exit 2 ;; esac
EVERYTHING_VERSION=2026.8.31

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

fail() {
    echo "e2e: setup failed: $*" >&2
    echo "e2e: 0 passed, 1 failed"
    exit 1
}

venv_ok() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1
}

make_venv() {
    rm -rf "$VENV"
    # Stock Debian python3 may lack ensurepip (package python3-venv), in which
    # case `python3 -m venv` fails; fall back to virtualenv, installed with
    # --target so it neither needs root nor trips PEP 668.
    if "$PYTHON" -m venv "$VENV" >/dev/null 2>&1 && venv_ok; then
        return 0
    fi
    echo "e2e: '$PYTHON -m venv' unavailable, bootstrapping virtualenv from PyPI" >&2
    rm -rf "$VENV"
    local boot
    boot=$(mktemp -d)
    "$PYTHON" -m pip install -q --target "$boot" virtualenv ||
        { rm -rf "$boot"; return 1; }
    PYTHONPATH="$boot" "$PYTHON" -m virtualenv -q "$VENV" ||
        { rm -rf "$boot"; return 1; }
    rm -rf "$boot"
    venv_ok
}

if venv_ok; then
    echo "e2e: reusing $VENV"
else
    echo "e2e: creating $VENV"
    make_venv || fail "could not create a virtualenv in $VENV"
fi

if [ -z "$ONLY" ]; then
echo "e2e: installing mcp==$MCP_VERSION mcp-server-sqlite==$MCP_SERVER_SQLITE_VERSION"
"$VENV/bin/python" -m pip install -q \
    "mcp==$MCP_VERSION" \
    "mcp-server-sqlite==$MCP_SERVER_SQLITE_VERSION" ||
    fail "pip install failed"
[ -x "$VENV/bin/mcp-server-sqlite" ] || fail "$VENV/bin/mcp-server-sqlite missing after install"

# The real @modelcontextprotocol/server-filesystem, two releases whose tool definitions differ
# (the newer adds annotations and rewords descriptions): the pinning sessions' rug pull.
FS_OLD=2025.7.29
FS_NEW=2026.8.31
NPM_DIR=${E2E_NPM:-.npm-e2e}
if ! command -v npm >/dev/null 2>&1; then
    echo "e2e: npm not found, installing Debian's nodejs and npm" >&2
    { apt-get update -q && apt-get install -y -q nodejs npm; } >/dev/null || fail "could not install nodejs and npm"
fi
fs_js() { echo "$NPM_DIR/fs-$1/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"; }
for v in "$FS_OLD" "$FS_NEW"; do
    if [ ! -f "$(fs_js "$v")" ]; then
        echo "e2e: installing @modelcontextprotocol/server-filesystem@$v (npm)"
        npm install --prefix "$NPM_DIR/fs-$v" --no-audit --no-fund --silent \
            "@modelcontextprotocol/server-filesystem@$v" >/dev/null || fail "npm install server-filesystem@$v failed"
    fi
    [ -f "$(fs_js "$v")" ] || fail "$(fs_js "$v") missing after npm install"
done
else
    echo "e2e: installing mcp==$MCP_VERSION"
    "$VENV/bin/python" -m pip install -q "mcp==$MCP_VERSION" || fail "pip install failed"
    NPM_DIR=${E2E_NPM:-.npm-e2e}
    if ! command -v npm >/dev/null 2>&1; then
        echo "e2e: npm not found, installing Debian's nodejs and npm" >&2
        { apt-get update -q && apt-get install -y -q nodejs npm; } >/dev/null || fail "could not install nodejs and npm"
    fi
fi
# @modelcontextprotocol/server-everything, run in its streamableHttp and sse modes for the
# `--upstream` steps.
EVERYTHING_JS="$NPM_DIR/everything-$EVERYTHING_VERSION/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
if [ ! -f "$EVERYTHING_JS" ]; then
    echo "e2e: installing @modelcontextprotocol/server-everything@$EVERYTHING_VERSION (npm)"
    npm install --prefix "$NPM_DIR/everything-$EVERYTHING_VERSION" --no-audit --no-fund --silent \
        "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION" >/dev/null || fail "npm install server-everything failed"
fi
[ -f "$EVERYTHING_JS" ] || fail "$EVERYTHING_JS missing after npm install"

# The binary cargo builds (CARGO_TARGET_DIR is honoured, as cargo does).
BIN=${CARGO_TARGET_DIR:-target}/release/sentinel
echo "e2e: cargo build --release --bin sentinel"
cargo build --release --bin sentinel || fail "cargo build failed"

# ---- BEGIN e2e_serve: `sentinel serve` (MCP over HTTP) -------------------------------------
# The official Python SDK's Streamable HTTP and legacy SSE clients against `sentinel serve` in
# front of a FastMCP stdio server (scripts/e2e_serve_server.py), the real
# @modelcontextprotocol/server-everything (npm) and mcp-server-sqlite, and --tokens; see
# scripts/e2e_serve.py. Its checks print "ok - " / "FAIL - ", each step "PASS name" or
# "FAIL name". On any failure the script ends here with "e2e: N passed, M failed" and status 1.
# E2E_ONLY=serve runs only this block (the setup above is cached after the first run).
e2e_serve() {
    local everything_version=2026.8.31
    local everything_dir="$NPM_DIR/everything-$everything_version"
    local everything_js="$everything_dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    if [ ! -f "$everything_js" ]; then
        echo "e2e: installing @modelcontextprotocol/server-everything@$everything_version (npm)"
        npm install --prefix "$everything_dir" --no-audit --no-fund --silent \
            "@modelcontextprotocol/server-everything@$everything_version" >/dev/null ||
            fail "npm install server-everything@$everything_version failed"
    fi
    [ -f "$everything_js" ] || fail "$everything_js missing after npm install"

    local serve_args=() serve_out serve_rc serve_summary
    [ "${E2E_KEEP:-0}" = 1 ] && serve_args+=(--keep)
    echo "e2e: running scripts/e2e_serve.py (sentinel serve)"
    serve_out=$(mktemp)
    set +e
    timeout 170 "$VENV/bin/python" scripts/e2e_serve.py \
        --sentinel "${CARGO_TARGET_DIR:-target}/release/sentinel" \
        --sqlite "$VENV/bin/mcp-server-sqlite" \
        --everything "$everything_js" \
        "${serve_args[@]+"${serve_args[@]}"}" </dev/null 2>&1 | tee "$serve_out"
    serve_rc=${PIPESTATUS[0]}
    set -e
    serve_summary=$(grep -E '^e2e-serve: [0-9]+ passed, [0-9]+ failed$' "$serve_out" | tail -n 1 || true)
    local passed failed
    passed=$(grep -c '^ok - ' "$serve_out" || true)
    failed=$(grep -c '^FAIL - ' "$serve_out" || true)
    rm -f "$serve_out"
    if [ "$serve_rc" -ne 0 ] || [ -z "$serve_summary" ] || [ "$failed" -ne 0 ]; then
        [ "$serve_rc" -eq 124 ] && echo "e2e: scripts/e2e_serve.py timed out after 170s" >&2
        [ -z "$serve_summary" ] && echo "e2e: scripts/e2e_serve.py exited with status $serve_rc without a summary" >&2
        [ "$failed" -eq 0 ] && failed=1
        echo "e2e: $passed passed, $failed failed"
        exit 1
    fi
    if [ "${E2E_ONLY:-}" = serve ]; then
        echo "e2e: $passed passed, 0 failed"
        exit 0
    fi
    echo "e2e: sentinel serve: $passed passed, 0 failed"
}
e2e_serve
# ---- END e2e_serve --------------------------------------------------------------------------

client_args=()
[ "${E2E_KEEP:-0}" = 1 ] && client_args+=(--keep)

total_passed=0
total_failed=0
status=0
# Runs one client (its arguments), which prints "e2e: N passed, M failed" last; adds its
# counts to the totals (a client that died without a summary counts one more failure).
run_part() {
    local name=$1 out rc summary passed failed
    shift
    echo "e2e: running $name"
    out=$(mktemp)
    set +e
    "$@" </dev/null 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    summary=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
    if [ -z "$summary" ]; then
        passed=$(grep -c '^ok - ' "$out" || true)
        failed=$(( $(grep -c '^FAIL - ' "$out" || true) + 1 ))
        echo "e2e: $name exited with status $rc without a summary" >&2
    else
        passed=$(echo "$summary" | sed -E 's/^e2e: ([0-9]+) passed.*/\1/')
        failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed$/\1/')
        if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
            echo "e2e: $name exited with status $rc" >&2
            failed=1
        fi
    fi
    rm -f "$out"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    [ "$rc" -eq 0 ] || status=1
}

if [ -z "$ONLY" ]; then
    run_part scripts/e2e_client.py "$VENV/bin/python" scripts/e2e_client.py \
        --sentinel "$BIN" \
        --server "$VENV/bin/mcp-server-sqlite" \
        --fs-old "$(fs_js "$FS_OLD")" --fs-new "$(fs_js "$FS_NEW")" \
        "${client_args[@]+"${client_args[@]}"}"
fi
run_part scripts/e2e_upstream.py timeout 600 "$VENV/bin/python" scripts/e2e_upstream.py \
    --sentinel "$BIN" --everything "$EVERYTHING_JS" \
    "${client_args[@]+"${client_args[@]}"}"

[ "$total_failed" -eq 0 ] || status=1
echo "e2e: $total_passed passed, $total_failed failed"
exit "$status"
