#!/usr/bin/env bash
# Load benchmark of `sentinel serve` (issue 12): many concurrent MCP sessions over Streamable
# HTTP on loopback, for 1, 10, 100 and 1000 sessions, each a closed loop of `tools/call`
# requests on its own keep-alive connection. Every point runs twice on fresh processes:
#   direct:       benches/http_load/ -> benches/http_echo.rs (a fast HTTP MCP server)
#   via Sentinel: benches/http_load/ -> sentinel serve -> a stdio benches/echo_server.rs
#                 (bench_echo) process per session
# and prints Markdown tables (also written to $CARGO_TARGET_DIR/bench-http.md, or
# target/bench-http.md): requests/s, p50/p99 latency and what Sentinel adds, Sentinel's CPU
# per request, and memory per session (Sentinel's own, then its server processes'). This is a
# benchmark, not a test: it exits 0 once the table is printed, whatever the figures.
#
# Usage: scripts/bench-http.sh [--quick] [--no-build] [--sse] [--sessions LIST]
#                              [--duration S] [--warmup S]
#   --quick          1,10,100 sessions, 3 s each after 1 s of warm-up (about 30 s)
#   --no-build       use the binaries already built
#   --sse            send `Accept: application/json, text/event-stream` (what SDK clients
#                    send: answers come as SSE streams) instead of `Accept: application/json`
#   --sessions LIST  comma-separated session counts [default: 1,10,100,1000]
#   --duration S     measured seconds per point [default: 10]
#   --warmup S       unmeasured seconds before each point's window [default: 2]
#
# Builds the `dist` profile (the shipped build's, as scripts/bench): the sentinel binary and
# the examples bench_echo, bench_http_echo and bench_http_load, under $CARGO_TARGET_DIR when it
# is set, else target/. The full run takes about 4 minutes after the build (on 2 CPUs, about
# 1.5 of them are the 1000 sessions opening through Sentinel).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
invocation="${CARGO_TARGET_DIR:+CARGO_TARGET_DIR=${CARGO_TARGET_DIR} }scripts/bench-http.sh${*:+ $*}"

build=1
load_args=()
sessions="1,10,100,1000"
duration=10
warmup=2
while (($#)); do
    case "$1" in
        --quick)
            sessions="1,10,100"
            duration=3
            warmup=1
            ;;
        --no-build) build=0 ;;
        --sse) load_args+=(--sse) ;;
        --sessions | --duration | --warmup)
            [[ $# -ge 2 ]] || { echo "bench-http: $1 needs a value" >&2; exit 2; }
            case "$1" in
                --sessions) sessions="$2" ;;
                --duration) duration="$2" ;;
                --warmup) warmup="$2" ;;
            esac
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bench-http: unexpected argument '$1' (see scripts/bench-http.sh --help)" >&2
            exit 2
            ;;
    esac
    shift
done

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BIN="${TARGET_DIR}/dist"
if ((build)); then
    cargo build --profile dist --bin sentinel \
        --example bench_echo --example bench_http_echo --example bench_http_load
fi
for f in "$BIN/sentinel" "$BIN/examples/bench_echo" "$BIN/examples/bench_http_echo" \
    "$BIN/examples/bench_http_load"; do
    [[ -x "$f" ]] || { echo "bench-http: $f is missing (run without --no-build)" >&2; exit 1; }
done

# 1000 sessions: 1000 client sockets here; in sentinel serve a socket, pipes and a server
# process each.
max_sessions=$(tr ',' '\n' <<<"$sessions" | sort -n | tail -1)
want=$((max_sessions * 12 + 256))
if (($(ulimit -n) < want)); then
    ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi
if (($(ulimit -n) < want)); then
    echo "bench-http: warning: ulimit -n is $(ulimit -n), $want wanted for $max_sessions sessions" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
trap 'rm -rf "$work"' EXIT

out="${TARGET_DIR}/bench-http.md"
{
    echo "<!-- ${invocation}, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg) -->"
    echo
    "$BIN/examples/bench_http_load" bench \
        --sentinel "$BIN/sentinel" --echo "$BIN/examples/bench_echo" \
        --http-echo "$BIN/examples/bench_http_echo" \
        --sessions "$sessions" --duration "$duration" --warmup "$warmup" \
        --dir "$work" ${load_args[@]+"${load_args[@]}"}
} | tee "$out"
echo "(written to $out)" >&2
