#!/usr/bin/env bash
# End to end: SIGHUP reloads the policy in a running daemon without losing
# or refusing anything; a bad policy file is refused with a message naming
# its line, and the old policy stays in force. Then a hot backup of the
# running daemon's store verifies like the store itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$ADMIN" "$SUPER" "$FIELD"
init_daemon

NOW=$(date +%s) # the real clock: signed requests must be within the skew window

admin() { "$ADMIN" --data "$tmp/data" --endpoint "$EP" "$@" >/dev/null; }
overdue_json() { "$SUPER" --data "$tmp/data" --endpoint "$EP" --format json overdue --within 40 --per-page 100; }

cp "$TANFANG_SRC/deploy/policy.conf" "$tmp/policy.conf"
start_daemon --policy "$tmp/policy.conf"

admin area add 152223 扎赉特旗
admin area add 152223100 音德尔镇 --parent 152223
admin visitor add g1 网格员甲 --role grid_worker --area 152223100
admin visitor add n1 邻居一 --role neighbour --area 152223100
admin elder add e1 张秀英 --area 152223100 --categories living_alone --neighbours n1
overdue_json >"$tmp/o1.json"
grep -q '1+2_not_set_up' "$tmp/o1.json" || fail "one neighbour household: expected 1+2 not set up"
grep -q 'neighbour_check' "$tmp/o1.json" || fail "expected n1's neighbour-check duty"

# A field device records 40 visits; they are synced while the policy reloads.
"$FIELD" --dir "$tmp/dev" keygen >"$tmp/pk"
admin key enrol "$(tr -d '\n' <"$tmp/pk" | grep -oE '[0-9a-f]{64}' | head -n1)" --visitor g1
for i in $(seq 40); do
	"$FIELD" --dir "$tmp/dev" visit --elder e1 --kind phone --at $((NOW - 86400 * 20 + i * 60)) >/dev/null
done
cat >"$tmp/policy.conf" <<'POLICY'
[policy]
timezone = Asia/Shanghai

[rule.monthly_visit]
elders = special
kinds = door, phone
duty = elder
period = month
report = visit
POLICY
"$FIELD" --dir "$tmp/dev" sync --endpoint "$EP" --server-key-file "$tmp/data/curve.pub" \
	>"$tmp/sync.out" 2>&1 &
sync_pid=$!
kill -HUP "$daemon_pid"
wait "$sync_pid" || { cat "$tmp/sync.out" >&2; fail "sync during the reload did not finish cleanly"; }
grep -q 'stored 40' "$tmp/sync.out" || { cat "$tmp/sync.out" >&2; fail "expected all 40 visits stored"; }
wait_log "policy installed"
overdue_json >"$tmp/o2.json"
if grep -q -e '1+2_not_set_up' -e 'neighbour_check' "$tmp/o2.json"; then
	fail "after the reload the neighbour rules should be gone"
fi

# A bad policy is refused with its line; the old one stays, nothing is refused.
printf '[rule.monthly_visit]\nduty = elder\nperiod = fortnight\n' >"$tmp/policy.conf"
kill -HUP "$daemon_pid"
wait_log "policy.conf:3"
wait_log "the old policy stays in force"
kill -0 "$daemon_pid" || fail "daemon died on a bad policy"
overdue_json >"$tmp/o3.json"
cmp -s "$tmp/o2.json" "$tmp/o3.json" || fail "the overdue list changed after a refused policy"
"$FIELD" --dir "$tmp/dev" visit --elder e1 --kind door --at $((NOW - 3600)) >/dev/null
"$FIELD" --dir "$tmp/dev" sync --endpoint "$EP" --server-key-file "$tmp/data/curve.pub" \
	>"$tmp/sync2.out" 2>&1 || { cat "$tmp/sync2.out" >&2; fail "sync after the refused policy"; }
grep -q 'stored 1' "$tmp/sync2.out" || fail "the new visit was not stored"

# A hot backup of the running daemon's store is consistent and complete.
"$TANFANGD" backup --data "$tmp/data" --to "$tmp/backup" >/dev/null || fail "backup"
# The log and record lines; the live folder also reports its checkpoints,
# which a backup (the store alone) does not have.
live=$("$TANFANGD" verify-log --data "$tmp/data" | head -n2) || fail "verify-log of the live store"
copy=$("$TANFANGD" verify-log --data "$tmp/backup" 2>/dev/null | head -n2) ||
	fail "verify-log of the backup"
[[ $live == "$copy" && $live == *"entries"* ]] || fail "backup differs: '$live' / '$copy'"
rc=0; "$TANFANGD" backup --data "$tmp/data" --to "$tmp/backup" 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "a backup over an existing one must be refused (exit $rc)"
rc=0; "$TANFANGD" backup --data "$tmp/data" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "backup without --to is a usage error (exit $rc)"

# A backup is private like the store (issue 8, item 9): data.mdb 0600 and
# a new folder 0700, whatever the umask; also in a folder made beforehand
# with loose permissions, as README's one-liner may meet.
mode() { stat -c %a "$1"; }
[[ $(mode "$tmp/backup/data.mdb") == 600 ]] || fail "backup data.mdb is $(mode "$tmp/backup/data.mdb"), expected 600"
[[ $(mode "$tmp/backup") == 700 ]] || fail "backup folder is $(mode "$tmp/backup"), expected 700"
(umask 000 && "$TANFANGD" backup --data "$tmp/data" --to "$tmp/backup-umask0" >/dev/null) ||
	fail "backup with umask 000"
[[ $(mode "$tmp/backup-umask0/data.mdb") == 600 ]] ||
	fail "with umask 000 the backup is $(mode "$tmp/backup-umask0/data.mdb"), expected 600"
[[ $(mode "$tmp/backup-umask0") == 700 ]] ||
	fail "with umask 000 the backup folder is $(mode "$tmp/backup-umask0"), expected 700"
mkdir -m 0755 "$tmp/backup-premade"
(umask 022 && "$TANFANGD" backup --data "$tmp/data" --to "$tmp/backup-premade" >/dev/null) ||
	fail "backup into a folder made beforehand"
[[ $(mode "$tmp/backup-premade/data.mdb") == 600 ]] ||
	fail "backup into a 0755 folder is $(mode "$tmp/backup-premade/data.mdb"), expected 600"
copy=$("$TANFANGD" verify-log --data "$tmp/backup-premade") || fail "verify-log of the premade-folder backup"
[[ $live == "$copy" ]] || fail "premade-folder backup differs: '$live' / '$copy'"
echo "e2e-reload: OK"
