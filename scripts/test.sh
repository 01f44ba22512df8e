#!/bin/bash
# Runs the whole test suite on a fresh Debian 12 machine: installs the
# dependencies, builds with AddressSanitizer and UndefinedBehaviorSanitizer,
# runs every unit and end-to-end test, and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || exit 1
# The web app's bundle, from its pinned npm packages (the browser test uses it).
# Where the npm registry cannot be reached at all (exit 3), the browser test
# is skipped, saying so loudly; a build that fails is a failure.
rc=0
bash scripts/webapp.sh || rc=$?
if [ "$rc" = 3 ]; then
  echo "test.sh: WARNING: the npm registry cannot be reached; the web app is not built and its browser test is skipped" >&2
  export TANFANG_NO_WEBAPP=1
elif [ "$rc" != 0 ]; then
  exit 1
fi
build=${BUILD_DIR:-build-test}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
else
  meson setup --reconfigure "$build" >/dev/null || exit 1
fi
ninja -C "$build" || exit 1
export TANFANG_REQUIRE_INTEROP=1
meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
rc=$?
# meson's summary lines ("Ok:", "Fail:", ...) become the closing line.
log="$build/meson-logs/testlog.txt"
ok=$(grep -E '^Ok: ' "$log" | tail -n 1 | awk '{print $2}')
fail=0
for k in 'Fail' 'Unexpected Pass' 'Timeout'; do
  n=$(grep -E "^$k: " "$log" | tail -n 1 | awk -F': ' '{print $2}')
  fail=$((fail + ${n:-0}))
done
echo "${ok:-0} passed, ${fail} failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
