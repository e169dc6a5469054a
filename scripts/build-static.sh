#!/usr/bin/env bash
# Build the shipped binary: `sentinel` statically linked for x86_64-unknown-linux-musl with
# the `dist` profile (whole-program optimisation), at
# target/x86_64-unknown-linux-musl/dist/sentinel (under
# $CARGO_TARGET_DIR instead of target/ when it is set), check that it really is
# static, and enforce the product's size budget, 12 MiB with everything in it (it was kept
# tighter while features arrived: 9 MiB until issue 12, 8 until 11, 7 until 10, 6 until 9).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=x86_64-unknown-linux-musl
BIN="${CARGO_TARGET_DIR:-target}/${TARGET}/dist/sentinel"
MAX_BYTES=$((12 * 1024 * 1024))

die() {
    echo "build-static: $*" >&2
    exit 1
}

# 1. The Rust standard library for the musl target (idempotent).
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "${TARGET}"; then
        echo "build-static: installing rustup target ${TARGET}" >&2
        rustup target add "${TARGET}"
    fi
else
    echo "build-static: rustup not found; assuming ${TARGET} std is installed" >&2
fi

# 2. A C compiler for the musl target, should any dependency build C code.
#    Prefer musl-gcc; otherwise fall back to the host gcc.
if [[ -z "${CC_x86_64_unknown_linux_musl:-}" ]] && ! command -v musl-gcc >/dev/null 2>&1; then
    export CC_x86_64_unknown_linux_musl=gcc
fi

# 3. Build.
cargo build --profile dist --target "${TARGET}" --bin sentinel

[[ -f "${BIN}" ]] || die "expected binary not found: ${BIN}"

# 4. Verify static linking.
if command -v file >/dev/null 2>&1; then
    desc="$(file -b "${BIN}")"
    echo "build-static: file: ${desc}"
    if [[ "${desc}" != *static* ]]; then
        die "${BIN} is not statically linked"
    fi
elif command -v ldd >/dev/null 2>&1; then
    # ldd exits non-zero for static binaries; only its message matters.
    ldd_out="$(ldd "${BIN}" 2>&1 || true)"
    echo "build-static: ldd: ${ldd_out}"
    if [[ "${ldd_out}" != *"not a dynamic executable"* && "${ldd_out}" != *"statically linked"* ]]; then
        die "${BIN} is not statically linked"
    fi
else
    # Last resort: a dynamically linked ELF has a PT_INTERP (.interp) section.
    if command -v readelf >/dev/null 2>&1; then
        if readelf -l "${BIN}" | grep -q INTERP; then
            die "${BIN} has a program interpreter: not statically linked"
        fi
    else
        echo "build-static: warning: neither file, ldd nor readelf found; static linking not verified" >&2
    fi
fi

# 5. Size budget.
size="$(wc -c <"${BIN}" | tr -d '[:space:]')"
mib="$(awk -v b="${size}" 'BEGIN { printf "%.2f", b / 1048576 }')"
echo "build-static: ${BIN}: ${size} bytes (${mib} MiB)"
if ((size >= MAX_BYTES)); then
    die "binary is ${mib} MiB, budget is < 12 MiB"
fi
