#!/bin/bash
# The fuzz run of the test suite (meson test 'fuzz-run'; tests/README.md):
# builds the libFuzzer targets of tests/fuzz/ with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer in a build folder of their own, then runs
# each over its seed corpus and for a bounded time. Fails on any crash, leak,
# sanitizer report or broken invariant, and prints the input that did it.
#
#   FUZZ_SECONDS   time per target (default 20)
#   FUZZ_SEED      libFuzzer's seed (default 1: the suite's run is the same
#                  walk every time, so its verdict does not depend on luck;
#                  FUZZ_SEED=0 lets libFuzzer choose, for long runs)
#   FUZZ_TARGETS   which targets (default: request csvimport dconfig policy)
#   FUZZ_BUILD     the clang build folder (default: $TANFANG_FUZZ_BUILD, set
#                  by meson to <build>/fuzz-clang)
#
# Run by hand for a long run (see tests/README.md):
#   FUZZ_SECONDS=600 FUZZ_SEED=0 TANFANG_SRC=$PWD FUZZ_BUILD=build-fuzz bash tests/fuzz.sh
set -uo pipefail
src=${TANFANG_SRC:?TANFANG_SRC must point at the source tree}
build=${FUZZ_BUILD:-${TANFANG_FUZZ_BUILD:?set FUZZ_BUILD or TANFANG_FUZZ_BUILD}}
seconds=${FUZZ_SECONDS:-20}
seed=${FUZZ_SEED:-1}
targets=${FUZZ_TARGETS:-request csvimport dconfig policy}

if ! command -v clang >/dev/null; then
	# CI installs clang through scripts/deps.sh; a missing compiler must
	# not pass as "nothing to fuzz".
	echo "fuzz.sh: clang not found; install it (scripts/deps.sh does)" >&2
	exit 1
fi

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$src" -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false --buildtype=debugoptimized >"$build.setup.log" 2>&1 || {
		cat "$build.setup.log" >&2
		exit 1
	}
fi
# Only the fuzz targets and what they link: the core and daemon libraries.
ninja_targets=()
for t in $targets; do ninja_targets+=("tests/fuzz/fuzz-$t"); done
ninja -C "$build" "${ninja_targets[@]}" >"$build/fuzz-ninja.log" 2>&1 || {
	cat "$build/fuzz-ninja.log" >&2
	exit 1
}

# libFuzzer reports leaks and sanitizer findings itself; halt on the first.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in $targets; do
	# New inputs go to the build folder (the first corpus folder is where
	# libFuzzer writes); the checked-in seeds are only read.
	work="$build/fuzz-work/$t"
	mkdir -p "$work/corpus" "$work/artifacts"
	rm -f "$work"/artifacts/* # only this run's findings are reported
	log="$work/fuzz.log"
	"$build/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -seed="$seed" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		"$work/corpus" "$src/tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	# After a crash libFuzzer prints its final stats twice: take the last.
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
	echo "fuzz-$t: ${seconds}s, ${execs:-?} executions, ${rate:-?} exec/s, ${cov:-cov: ?}, exit $rc"
	if [ "$rc" -ne 0 ]; then
		failed=1
		grep -E 'ERROR|runtime error|SUMMARY|broken|fuzz-[a-z]+:' "$log" | head -n 20 >&2
		for a in "$work"/artifacts/*; do
			[ -f "$a" ] || continue
			echo "fuzz-$t: failing input $a (base64 below); add it to tests/fuzz/corpus/$t/" >&2
			base64 -w 0 "$a" >&2
			echo >&2
		done
		echo "fuzz-$t: full log in $log" >&2
	fi
done
exit "$failed"
