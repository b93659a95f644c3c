#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for SECONDS (default 20).
#
#   scripts/fuzz.sh           # 20 s per target: the CI smoke run
#   scripts/fuzz.sh 600       # a long run
#   FUZZ_TARGETS=event_decode scripts/fuzz.sh 60
#
# Exits non-zero when any target crashes, times out or runs out of memory; libFuzzer's
# "Test unit written to fuzz/artifacts/<target>/..." line names the input, and
# `cargo +nightly fuzz run -s none -a <target> <that file>` replays it.
#
# Settings (environment):
#   FUZZ_TARGET_DIR   cargo target dir (default ~/.cache/platform-fuzz-target), also home of
#                     the growing working corpus (<dir>/fuzz-corpus/<target>); the seeds in
#                     fuzz/corpus/<target> are only read
#   FUZZ_TARGETS      space-separated targets (default: all of them)
#   FUZZ_SANITIZER    none (default) or address. Our crates forbid unsafe code, so ASan
#                     only watches dependencies' unsafe code, and here it cost a third more
#                     build time and 4 to 6 times fewer executions per second; overflow
#                     checks and debug assertions stay on either way (-a).
#   FUZZ_RSS_MB       libFuzzer -rss_limit_mb (default 2048)
#   FUZZ_PROFILE      release (default) or dev: unoptimised targets build in a fraction of
#                     the time and run fewer executions per second, enough for a smoke run
set -euo pipefail

seconds="${1:-20}"
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/platform-fuzz-target}"
targets="${FUZZ_TARGETS:-router_request router_validate_plan event_decode}"
sanitizer="${FUZZ_SANITIZER:-none}"
rss_mb="${FUZZ_RSS_MB:-2048}"
profile="${FUZZ_PROFILE:-release}"

# cargo-fuzz is meant for nightly: use the installed nightly toolchain. Where there is none
# (nothing can download one here), use the default toolchain: without a sanitizer the build
# needs no unstable flag, and RUSTC_BOOTSTRAP covers -Zsanitizer=address.
toolchain=(+nightly)
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: no nightly toolchain; using the default one with RUSTC_BOOTSTRAP=1" >&2
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

fuzz=(cargo "${toolchain[@]}" fuzz)
flags=(--fuzz-dir fuzz --sanitizer "$sanitizer" --debug-assertions)
case "$profile" in
release) ;;
dev) flags+=(--dev) ;;
*)
    echo "FUZZ_PROFILE must be release or dev" >&2
    exit 2
    ;;
esac

started=$(date +%s)
for target in $targets; do
    "${fuzz[@]}" build "${flags[@]}" "$target"
done
echo "fuzz: built in $(($(date +%s) - started)) s"

failed=()
for target in $targets; do
    case "$target" in
    event_decode) dict=fuzz/events.dict ;;
    *) dict=fuzz/graphql.dict ;;
    esac
    corpus="$CARGO_TARGET_DIR/fuzz-corpus/$target"
    mkdir -p "$corpus"
    echo "fuzz: $target for ${seconds} s"
    if ! "${fuzz[@]}" run "${flags[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb="$rss_mb" -timeout=10 \
        -dict="$dict" -print_final_stats=1; then
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    echo "fuzz: FAILED: ${failed[*]} (inputs under fuzz/artifacts/; replay one with" \
        "cargo +nightly fuzz run -s $sanitizer -a <target> <input>)" >&2
    ls -l fuzz/artifacts/*/ 2>/dev/null >&2 || true
    exit 1
fi
echo "fuzz: no crash in $targets"
