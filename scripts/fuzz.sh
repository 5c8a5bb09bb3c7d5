#!/usr/bin/env bash
# Builds the fuzz targets in sync-server/fuzz/ and runs each for a bounded time:
#   scripts/fuzz.sh [seconds per target, default 60] [target...]
# or, with FUZZ_RUNS=N, for exactly N inputs per target from seed FUZZ_SEED (default 1) and
# the checked-in seeds only: a repeatable run, as the test command makes (a timed run explores
# further and differently each time; use it to look for new crashes).
# No cargo-fuzz needed: the crate is built with cargo and the flags cargo-fuzz passes
# (SanitizerCoverage instrumentation for libFuzzer, `--cfg fuzzing`, debug assertions), on the
# stable toolchain and without AddressSanitizer (the code under test is safe Rust). Target dir:
# target/fuzz. New corpus entries go to target/fuzz/corpus/<target> (the checked-in seeds in
# sync-server/fuzz/corpus/<target> are only read); a crash is written to
# target/fuzz/artifacts/<target>/ and fails the script with its path and bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(validate apply)

host=$(rustc -vV | sed -n 's/^host: //p')
target_dir="$root/target/fuzz"
# What cargo-fuzz sets (less -Zsanitizer=address). With an explicit --target these apply to
# the fuzz crate and its dependencies only, not to build scripts and proc macros.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions -Coverflow-checks"

bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
echo "== fuzz: building ${targets[*]} (target/fuzz)" >&2
cargo build --locked --release --manifest-path sync-server/fuzz/Cargo.toml \
    --target "$host" --target-dir "$target_dir" "${bins[@]}"

status=0
for t in "${targets[@]}"; do
    artifacts="$target_dir/artifacts/$t"
    if [ -n "${FUZZ_RUNS:-}" ]; then
        # A fresh corpus each time, so the run depends on nothing left by earlier runs.
        corpus="$target_dir/corpus-repeatable/$t"
        rm -rf "$corpus"
        bound=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
        echo "== fuzz: $t for $FUZZ_RUNS inputs from seed ${FUZZ_SEED:-1}" >&2
    else
        corpus="$target_dir/corpus/$t"
        bound=(-max_total_time="$seconds")
        echo "== fuzz: $t for ${seconds}s" >&2
    fi
    mkdir -p "$corpus" "$artifacts"
    rm -f "$artifacts"/crash-* "$artifacts"/oom-* "$artifacts"/timeout-* "$artifacts"/leak-*
    start=$SECONDS
    if ! "$target_dir/$host/release/$t" "$corpus" "sync-server/fuzz/corpus/$t" \
        "${bound[@]}" -max_len=4096 -rss_limit_mb=2048 -timeout=20 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 2>"$target_dir/$t.log"; then
        status=1
        tail -n 40 "$target_dir/$t.log" >&2
        for crash in "$artifacts"/*; do
            [ -e "$crash" ] || continue
            echo "== fuzz: $t found $crash:" >&2
            od -A d -t u1 "$crash" | head -n 20 >&2
        done
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$target_dir/$t.log" | tr '\n' ' ' >&2
        echo "($((SECONDS - start))s)" >&2
    fi
done
exit $status
