#!/usr/bin/env bash
# Mutation testing of the modules that decide verdicts, time-boxed: does `cargo test` notice
# when the code is wrong? Installs cargo-mutants, then tests every mutant of each FILE given
# (default: the verdict paths below) and prints the kill rate per module (a folder: its own
# .rs files, one cargo-mutants run, so one baseline build per module). The guard and policy
# modules are tested without the process-lifecycle and reload suites (tests/lifecycle.rs,
# tests/reload.rs: 3 of the suite's 5 seconds, spent on timing, none on verdicts; src/policy,
# which holds the reload thread, keeps tests/reload.rs), which can only make their kill rates
# lower than the whole suite's.
# Results: target/mutants/<module>/mutants.out/{caught,missed,timeout,unviable}.txt
#
#   scripts/mutants.sh [--minutes N] [--jobs J] [--list] [FILE|FOLDER...]
#
#   --minutes N   stop starting new modules after N minutes in all (default: no limit)
#   --jobs J      mutants tested at once (default 2)
#   --list        only count the mutants per module, test nothing
#
# Survivors judged harmless are listed, with why, in README ("Mutation testing").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MUTANTS_VERSION=27.1.0
minutes=0
jobs=2
list=0
files=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --list) list=1; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "mutants: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
    esac
done

if [[ ${#files[@]} -eq 0 ]]; then
    # The verdict paths, by module: strict parsing, the core, policy evaluation and loading,
    # the guards, the server-output scanner.
    for m in src/base/json src/base/jsonrpc src/gateway src/policy src/policy/file \
        src/guards/sql src/guards/breaker src/base/scan src/base/lines.rs \
        src/guards/secrets src/guards/egress; do
        [[ -e $m ]] && files+=("$m")
    done
    if [[ ${#files[@]} -eq 0 ]]; then
        # The flat layout this project had before its modules were grouped into folders.
        for m in src/jsonrpc.rs src/scan.rs src/lines.rs src/gateway.rs src/policy.rs \
            src/policy_file.rs src/sql.rs src/egress.rs src/secrets.rs src/breaker.rs; do
            [[ -e $m ]] && files+=("$m")
        done
    fi
fi

# A module (folder) stands for its own .rs files, not its subfolders'; unit-test modules and
# the parser's test oracle are tests, not code under test.
module_files() {
    if [[ -d $1 ]]; then
        ls "$1"/*.rs | grep -v -e '/tests\.rs$' -e '/reference\.rs$'
    else
        echo "$1"
    fi
}

if ! cargo mutants --version 2>/dev/null | grep -q "$MUTANTS_VERSION"; then
    echo "mutants: installing cargo-mutants $MUTANTS_VERSION" >&2
    cargo install --locked cargo-mutants --version "$MUTANTS_VERSION"
fi

if [[ $list -eq 1 ]]; then
    for f in "${files[@]}"; do
        mapfile -t fs < <(module_files "$f")
        printf '%5d  %s\n' "$(cargo mutants --list ${fs[@]/#/-f } 2>/dev/null | wc -l)" "$f"
    done
    exit 0
fi

start=$SECONDS
summary=()
for f in "${files[@]}"; do
    if ((minutes > 0 && SECONDS - start > minutes * 60)); then
        summary+=("$(printf '%-40s %s' "$f" "not run: time box of $minutes min used up")")
        continue
    fi
    out="target/mutants/$(echo "$f" | tr '/' '_')"
    rm -rf "$out"
    mkdir -p "$out"
    echo "==> $f" >&2
    # Exit code 2 means "some mutants missed": that is the result, not a failure of the run.
    tests=()
    case "$f" in
    *guards/* | *policy* | src/sql.rs | src/egress.rs | src/secrets.rs | src/breaker.rs)
        tests=(-- --bins --test egress --test policy --test policies --test sql_rules
            --test breaker --test cli --test wire --test strict)
        # The policy in force and its reload thread are what tests/reload.rs tests.
        [[ $f == src/policy || $f == src/policy/ ]] && tests+=(--test reload)
        ;;
    esac
    mapfile -t fs < <(module_files "$f")
    cargo mutants -j "$jobs" ${fs[@]/#/-f } -o "$out" --no-shuffle ${tests[@]+"${tests[@]}"} \
        >"$out/log.txt" 2>&1 || true
    d="$out/mutants.out"
    count() { [[ -f "$d/$1.txt" ]] && wc -l <"$d/$1.txt" | tr -d ' ' || echo 0; }
    caught=$(count caught) missed=$(count missed) timeout=$(count timeout) unviable=$(count unviable)
    viable=$((caught + missed + timeout))
    rate=$(awk -v c=$((caught + timeout)) -v v=$viable 'BEGIN { if (v) printf "%.1f%%", 100*c/v; else print "-" }')
    summary+=("$(printf '%-40s %5s caught %4d  timeout %3d  missed %4d  unviable %3d' \
        "$f" "$rate" "$caught" "$timeout" "$missed" "$unviable")")
    sed 's/^/    missed: /' "$d/missed.txt" 2>/dev/null | head -50 >&2 || true
done

echo
echo "kill rate (caught + timeout) / (caught + timeout + missed), per module:"
printf '%s\n' "${summary[@]}" | tee target/mutants/summary.txt
