#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a while (libFuzzer, one process).
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]     (default: 30 s each, every target)
#
# Installs what it needs: a nightly toolchain (rustup), or, where rustup cannot fetch one,
# the stable toolchain with RUSTC_BOOTSTRAP=1; and cargo-fuzz (`cargo install cargo-fuzz
# --locked`, about a minute). Each target starts from its committed seeds (fuzz/corpus/T) and
# adds what it finds to fuzz/target/corpus/T (kept between runs, never committed). Exits
# non-zero when a target crashes, hangs (-timeout) or disagrees with its oracle, printing the
# reproducer's path and how to replay it. SENTINEL_FUZZ_SQL_ORACLE=off leaves the SQLite check
# of the sql_guard target out.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

seconds=30
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds)
        seconds="${2:?--seconds needs a number}"
        shift 2
        ;;
    --seconds=*)
        seconds="${1#--seconds=}"
        shift
        ;;
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "fuzz.sh: unknown option $1" >&2
        exit 2
        ;;
    *)
        targets+=("$1")
        shift
        ;;
    esac
done
case "$seconds" in '' | *[!0-9]*)
    echo "fuzz.sh: --seconds takes a whole number, not '$seconds'" >&2
    exit 2
    ;;
esac

# A nightly toolchain: cargo-fuzz's instrumentation flags are unstable.
toolchain=()
if command -v rustup >/dev/null 2>&1 &&
    { rustup run nightly rustc --version >/dev/null 2>&1 ||
        rustup toolchain install nightly --profile minimal; }; then
    toolchain=(+nightly)
else
    echo "fuzz.sh: no nightly toolchain can be installed here; using stable with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
fi
echo "fuzz.sh: $(rustc "${toolchain[@]}" --version)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    t=$SECONDS
    cargo install cargo-fuzz --locked
    echo "fuzz.sh: cargo-fuzz installed in $((SECONDS - t))s"
fi

if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cd fuzz && cargo "${toolchain[@]}" fuzz list)
fi

# No sanitizer: the fuzzed code is safe Rust (its one `unsafe` is a from_utf8_unchecked that
# AddressSanitizer cannot check), so its slowdown buys nothing; debug assertions and overflow
# checks are on (cargo-fuzz's default).
t=$SECONDS
cargo "${toolchain[@]}" fuzz build --sanitizer none
echo "fuzz.sh: built the targets in $((SECONDS - t))s"

mkdir -p fuzz/target/logs
failed=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/target/corpus/$target" "fuzz/corpus/$target"
    log="fuzz/target/logs/$target.log"
    echo "fuzz.sh: $target for ${seconds}s"
    dict=()
    [ -f "fuzz/dict/$target.dict" ] && dict=(-dict="$root/fuzz/dict/$target.dict")
    # Run in a scratch directory: what the SQLite oracle lets a statement write (ATTACH,
    # VACUUM INTO a relative path) lands there, not in the checkout.
    scratch="fuzz/target/scratch/$target"
    mkdir -p "$scratch"
    status=0
    (cd "$scratch" && cargo "${toolchain[@]}" fuzz run --fuzz-dir "$root/fuzz" \
        --sanitizer none "$target" "$root/fuzz/target/corpus/$target" \
        "$root/fuzz/corpus/$target" -- "${dict[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) \
        >"$log" 2>&1 </dev/null || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(find "fuzz/target/corpus/$target" -type f | wc -l)
    if [ "$status" -eq 0 ]; then
        echo "    ok: ${runs:-?} runs, ${rate:-?} exec/s, $corpus inputs in its corpus"
        continue
    fi
    failed+=("$target")
    echo "    FAILED (exit $status); the end of $log:"
    grep -E -A 12 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -n 40 | sed 's/^/    | /'
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ -n "$artifact" ]; then
        echo "    reproducer: $artifact"
        echo "    replay:     cargo ${toolchain[*]} fuzz run --sanitizer none $target $artifact"
        echo "    minimise:   cargo ${toolchain[*]} fuzz tmin --sanitizer none $target $artifact"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz.sh: ${targets[*]}: ${seconds}s each, no failure"
