#!/usr/bin/env bash
# End to end: tanfang-field, the field client CLI, against a real tanfangd.
# keygen; visits and a care event recorded while the daemon is down (sync
# says they are still pending, exit 1, nothing lost); the admin enrols the
# key with tanfang-admin; sync stores them, a visit for an unknown elder is
# refused and listed by status; requeue after registering the elder; the
# daemon killed with -9 and restarted loses nothing that was acknowledged;
# usage errors exit 2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$FIELD" "$ADMIN"

# run ARGS...: the field client on the test's device folder.
run() {
	rc=0
	"$FIELD" --dir "$tmp/device" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
admin() {
	"$ADMIN" --endpoint "$EP" --data "$tmp/data" --timeout 10000 "$@" >"$tmp/admin.out" 2>&1 ||
		{ cat "$tmp/admin.out" >&2; fail "tanfang-admin $* failed"; }
}

init_daemon
SYNC=(sync --endpoint "$EP" --server-key-file "$tmp/data/curve.pub" --timeout 5000 --delay 50)

# --- usage errors: exit 2, with a message naming the problem ---
expect 2
err_has "missing command"
expect 2 frobnicate
err_has "unknown command 'frobnicate'"
expect 0 --help
out_has "usage: tanfang-field"
expect 0 visit --help
out_has "--kind KIND"
expect 1 status
err_has "run 'tanfang-field keygen' first"

# --- keygen: prints the public key; never replaces it ---
expect 0 keygen
pk=$(cat "$tmp/out")
[[ $pk =~ ^[0-9a-f]{64}$ ]] || fail "keygen printed '$pk', not 64 hex digits"
[[ $(stat -c %a "$tmp/device/device.key") == 600 ]] || fail "device.key is not mode 0600"
expect 1 keygen
err_has "already has a device key"
expect 0 pubkey
[[ $(cat "$tmp/out") == "$pk" ]] || fail "pubkey differs from keygen's output"

expect 2 visit --elder E-0001 --kind doors
err_has "unknown visit kind 'doors'"
expect 2 visit --elder E-0001 --kind door --living fine
err_has "unknown finding"
expect 2 visit --elder E-0001 --kind door --needs meals,cooking
err_has "unknown aid 'cooking'"
expect 2 visit --elder E-0001 --kind door --lat 46.7
err_has "--lat and --lon go together"
expect 2 visit --elder E-0001 --kind door --at yesterday
err_has "--at"
# Days that do not exist are refused, not rolled into the next month (a
# visit on '31 September' counted for October).
for day in '2026-09-31 10:00' '2026-02-30 10:00' '2026-06-31T08:15' '2026-09-30 24:00'; do
	expect 2 visit --elder E-0001 --kind door --at "$day"
	err_has "is not a real date and time"
done
# Times are Beijing time unless TZ is set (tanfang-admin reads dates so):
# a device left on UTC must not move an evening visit to the next day.
zdir="$tmp/zone-device"
env -u TZ "$FIELD" --dir "$zdir" keygen >/dev/null 2>&1 || fail "keygen (zone)"
env -u TZ "$FIELD" --dir "$zdir" --now 1795000000 visit --elder E1 --kind door >/dev/null ||
	fail "visit (zone)"
env -u TZ "$FIELD" --dir "$zdir" status --pending | grep -q "recorded 2026-11-18 19:06:40" ||
	fail "times are not Beijing time without TZ"
TZ=UTC "$FIELD" --dir "$zdir" status --pending | grep -q "recorded 2026-11-18 11:06:40" ||
	fail "TZ is not followed"
expect 2 visit --elder E-0001 --kind door --bogus
err_has "tanfang-field: error: visit: unknown option '--bogus'"
expect 2 visit --elder 'E 0001' --kind door
err_has "not recorded"
expect 2 event --elder E-0001 --type fall
err_has "--severity are required"
expect 2 event --elder E-0001 --type fall --severity dire
err_has "unknown severity 'dire'"
expect 2 sync
err_has "--endpoint is required"
expect 2 sync --endpoint "$EP" --attempts 0
expect 0 status
out_has "pending: 0"

# --- recorded while the daemon is down ---
expect 0 visit --elder E-0001 --kind door --at '2026-11-20 09:30' --lat 46.7312 --lon 122.9087 \
	--accuracy 10 --duration 35 --living ok --safety 'urgent:煤气灶漏气' --family concern \
	--care 'ok:邻居每天来' --needs meals,emergency --follow-up --note '独居，冬季取暖需检查'
v1=$(cat "$tmp/out")
[[ $v1 =~ ^[0-9a-f]{32}$ ]] || fail "visit printed '$v1', not an id"
expect 0 visit --elder E-0001 --kind phone --duration 10 --living ok
expect 0 event --elder E-0001 --type fall --severity urgent --note '院子里摔倒'
expect 0 event --elder E-0001 --type service_delivered --severity info --aid bathing
expect 0 visit --elder E-0404 --kind door --note 'not registered yet'
v404=$(cat "$tmp/out")
expect 0 status --pending
out_has "pending: 5"
out_has "$v1  visit  elder E-0001"

expect 1 "${SYNC[@]}" --attempts 2 --timeout 300
out_has "still pending 5"
err_has "still pending after 2 attempt(s)"
expect 0 status
out_has "pending: 5"

# --- the daemon comes up; the admin enrols the device ---
start_daemon
admin area add 152223 扎赉特旗
admin visitor add gw-001 包林 --role grid_worker --area 152223
# Not enrolled yet: the daemon refuses the key at the connection, and sync
# says so at once (no five attempts, no "unreachable"); nothing is lost.
t0=$SECONDS
expect 1 "${SYNC[@]}" --attempts 5 --delay 2000
err_has "refused this device's key (not enrolled, or revoked)"
err_has "the 5 record(s) stay in the outbox"
out_has "still pending 5"
((SECONDS - t0 < 5)) || fail "sync retried a refused key for $((SECONDS - t0)) s"
expect 0 status
out_has "refused: 0"
admin key enrol "$pk" --visitor gw-001
admin elder add E-0001 李淑芬 --area 152223 --categories living_alone

expect 1 "${SYNC[@]}"
out_has "sent 5, stored 4, already stored 0, refused 1, still pending 0"
err_has "1 record(s) refused"
expect 0 status
out_has "pending: 0"
out_has "refused: 1"
out_has "$v404  STATUS_UNKNOWN_ELDER  visit  elder E-0404"

# Nothing pending, nothing refused in this run: exit 0.
expect 0 "${SYNC[@]}"
out_has "sent 0"

# --- the elder is registered; the refused visit goes again, unchanged ---
admin elder add E-0404 王桂花 --area 152223 --categories living_alone,extreme_poverty
expect 2 requeue
expect 1 requeue 00000000000000000000000000000000
err_has "no refused record"
expect 0 requeue --all
out_has "$v404 requeued"
expect 0 "${SYNC[@]}"
out_has "stored 1"
expect 0 status
out_has "refused: 0"

# --- kill -9 the daemon: what it acknowledged is kept; what it did not see
# is delivered after the restart ---
for i in $(seq 20); do
	expect 0 visit --elder E-0001 --kind neighbour_check --note "check $i"
done
expect 0 "${SYNC[@]}"
out_has "stored 20"
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
expect 0 event --elder E-0001 --type hospitalised --severity warning
expect 1 "${SYNC[@]}" --attempts 1 --timeout 300
out_has "still pending 1"
start_daemon
expect 0 "${SYNC[@]}"
out_has "stored 1, already stored 0, refused 0, still pending 0"

# --- the daemon's own account: every record stored exactly once ---
kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
if command -v mdb_stat >/dev/null; then
	n=$(mdb_stat -s records "$tmp/data" | awk '/Entries:/ {print $2}')
	[[ $n == 26 ]] || fail "daemon stored $n records, expected 26"
fi

echo "e2e-field: ok"
