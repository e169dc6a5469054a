#!/usr/bin/env bash
# The long run of the SQL differential harness (tests/differential/): many generated
# statements judged by the real sentinel and run against SQLite and a private PostgreSQL.
#   scripts/sql-differential.sh [--cases N] [--seed S]     (defaults: 20000 cases, seed 9)
# Needs PostgreSQL's server programs (/usr/lib/postgresql/*/bin; apt-get install postgresql).
# The full list of violations is written to target/tmp/sql-differential-*.tsv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cases=20000
seed=9
while [ $# -gt 0 ]; do
    case "$1" in
        --cases) cases="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
SENTINEL_SQL_DIFF_CASES="$cases" SENTINEL_SQL_DIFF_SEED="$seed" \
    exec cargo test --release --test differential -- --nocapture
