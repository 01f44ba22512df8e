#!/bin/bash
# Runs the whole test suite on a fresh Debian 12 machine: installs the
# dependencies, builds with AddressSanitizer and UndefinedBehaviorSanitizer,
# runs every unit and end-to-end test, and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || exit 1
# The web app's bundle, from its pinned npm packages (the browser test uses it).
# TANFANG_ALLOW_NO_NPM=1 is for a sandbox that cannot reach the npm registry:
# the browser test is then skipped, saying so.
if ! bash scripts/webapp.sh; then
  [ "${TANFANG_ALLOW_NO_NPM:-}" = 1 ] || exit 1
  echo "test.sh: the web app could not be built (npm registry unreachable?); its browser test is skipped" >&2
  export TANFANG_NO_WEBAPP=1
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
