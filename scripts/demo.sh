#!/bin/bash
# The demo, on a fresh Debian 12 machine as root: installs what is needed,
# builds, starts tanfangd on an LMDB store in ./demo, registers Zalaite
# Banner's 4,890 special-difficulty elders with their visitors, sends a month
# and a bit of signed visits, records a visit and an urgent fall on a field
# device (offline, then synced), shows what a supervisor sees: the overdue
# list and the monthly visit-rate report; then starts tanfang-web on the demo
# store and prints a one-time link that opens the banner's dashboard in a
# browser. tanfangd and tanfang-web keep running for it (demo/*.pid).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
webapp=yes
bash scripts/webapp.sh >/dev/null || {
	webapp=
	echo "demo.sh: the web app could not be built (npm registry unreachable?); the browser part is left out" >&2
}
build=build-demo
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
bin="$build/clients"

# A previous demo's daemon and gateway are stopped first.
for f in demo/tanfangd.pid demo/tanfang-web.pid; do
	if [ -f "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; fi
done
rm -rf demo
mkdir -p demo
port=${TANFANG_DEMO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
ep="tcp://127.0.0.1:$port"
keys=demo/data/demo-keys
section() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s#$build/clients/##g; s#$build/daemon/##g"; "$@"; }

section "Start the daemon on an embedded LMDB store in demo/data"
run "$build/daemon/tanfangd" init --data demo/data
setsid "$build/daemon/tanfangd" run --data demo/data --listen "$ep" </dev/null >/dev/null 2>demo/tanfangd.log &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
echo "$pid" >demo/tanfangd.pid
for _ in $(seq 100); do grep -q 'listening on' demo/tanfangd.log && break; sleep 0.1; done
grep 'listening on' demo/tanfangd.log || { cat demo/tanfangd.log; exit 1; }

section "Register Zalaite Banner (扎赉特旗) and send a month of signed visits"
run "$bin/tanfang-demo-gen" --data demo/data --endpoint "$ep"

section "A grid worker's field device: record while offline, then sync"
pk=$("$bin/tanfang-field" --dir demo/device keygen | grep -oE '[0-9a-f]{64}' | head -n 1)
echo "device public key: $pk"
run "$bin/tanfang-admin" --data demo/data --endpoint "$ep" key enrol "$pk" --visitor G152223100201
run "$bin/tanfang-field" --dir demo/device visit --elder E000019 --kind door \
	--lat 46.6162 --lon 122.9387 --duration 25 --living ok --safety 'concern:煤炉烟道需清理' \
	--family ok --care ok --needs cleaning,meals --follow-up --note '老人腿脚不便，已联系助洁'
run "$bin/tanfang-field" --dir demo/device event --elder E000019 --type fall --severity urgent \
	--note '院内滑倒，已送卫生院'
run "$bin/tanfang-field" --dir demo/device status
run "$bin/tanfang-field" --dir demo/device sync --endpoint "$ep" --server-key-file demo/data/curve.pub

section "What was stored: the elder's history (as the banner supervisor)"
super=("$bin/tanfang-super" --endpoint "$ep" --server-key-file demo/data/curve.pub)
run "${super[@]}" --key "$keys/S152223.key" history E000019 --limit 6

section "Audit: every accepted envelope re-verified along the hash chain"
run "$build/daemon/tanfangd" verify-log --data demo/data

month=$(TZ=Asia/Shanghai date -d "$(TZ=Asia/Shanghai date +%Y-%m-01) -1 day" +%Y-%m)
section "The whole banner's report, every village, as CSV for Excel (UTF-8 with a BOM)"
run "${super[@]}" --key "$keys/S152223.key" --format csv --output "demo/report-$month.csv" \
	report --month "$month"
head -n 4 "demo/report-$month.csv"

section "Overdue list for 音德尔镇 (the township supervisor's first page)"
run "${super[@]}" --key "$keys/S152223100.key" overdue --per-page 15

section "Monthly visit-rate report for $month: the banner and its townships"
run "${super[@]}" --key "$keys/S152223.key" report --month "$month" --depth 1

section "... and one township down to its villages"
run "${super[@]}" --key "$keys/S152223100.key" report --month "$month"

if [ -z "$webapp" ]; then
	echo
	echo "The store, keys and CSV are in demo/. The daemon log is demo/tanfangd.log."
	exit 0
fi
section "The dashboard in a browser: tanfang-web on the demo store"
# The gateway's own key, enrolled for a gateway visitor; and, for the demo
# only, a one-time link that enrols the browser's key for the banner's
# supervisor (S152223), signed by the demo's admin key.
webkey=demo/tanfang-web.key
wpk=$("$build/web/tanfang-web" keygen --key "$webkey")
run "$bin/tanfang-admin" --data demo/data --endpoint "$ep" visitor add web 网关 --role gateway --area 152223
run "$bin/tanfang-admin" --data demo/data --endpoint "$ep" key enrol "$wpk" --visitor web
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
webport=${TANFANG_DEMO_WEB_PORT:-8080}
python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$webport" 2>/dev/null ||
	webport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >demo/tanfang-web.conf <<CONF
[web]
listen = 127.0.0.1:$webport
root = $PWD/web/app/dist
endpoint = $ep
server_key_file = $PWD/demo/data/curve.pub
key = $PWD/$webkey
demo_admin_key = $PWD/demo/data/admin.key
demo_token = $token
demo_visitor = S152223
CONF
setsid "$build/web/tanfang-web" run --config demo/tanfang-web.conf >demo/tanfang-web.log 2>&1 </dev/null &
echo $! >demo/tanfang-web.pid
for _ in $(seq 100); do grep -q '(port ' demo/tanfang-web.log && break; sleep 0.1; done
grep -q '(port ' demo/tanfang-web.log || { cat demo/tanfang-web.log; exit 1; }
# The daemon stays up for the browser: no longer this script's to stop.
trap - EXIT

echo
echo "The store, keys and CSV are in demo/. The logs are demo/tanfangd.log and demo/tanfang-web.log."
echo
echo "Open the banner's dashboard (the link enrols your browser once, for the demo only):"
echo "    http://127.0.0.1:$webport/#/enrol?token=$token"
echo "The grid worker's field app (docs/field-app.md), in this browser's phone view or on a phone"
echo "through HTTPS: open http://127.0.0.1:$webport/field.html, then enrol the key its 本机 page shows:"
echo "    $bin/tanfang-admin --data demo/data --endpoint $ep key enrol HEX --visitor G152223100201"
echo "tanfangd and tanfang-web keep running for it; stop them with:"
echo "    kill \$(cat demo/tanfangd.pid demo/tanfang-web.pid)"
