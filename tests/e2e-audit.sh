#!/usr/bin/env bash
# End to end (issue 8, item 4): the audit sees every edit and deletion.
#
# A real daemon, checkpointing every second, receives registry changes from
# tanfang-admin and visits and a care event from tanfang-field; it is
# stopped, and copies of its data folder are then tampered with by
# tests/tf-tamper (an intruder going through store.h, keeping chain hashes,
# head and content hashes consistent wherever it can). tanfangd verify-log
# must pass the untouched store (exit 0) and find every tampering (exit 3,
# naming what and where):
#   (a) the last entries of the log deleted and the head rewritten; an
#       entry removed, or replaced by a copy of another, with the chain
#       recomputed: all consistent chains,
#       found only by the signed checkpoints (shown: with only the first,
#       empty checkpoint the chain passes); the journal's copy of the
#       checkpoints finds it even when checkpoints.log was cut too; and a
#       restarted daemon refuses to sign the cut log;
#   (b) a stored visit deleted; (c) a stored record edited, its content hash
#       recomputed; a record added that was never received;
#   (e) a forged checkpoint line (bad signature), one signed with another
#       key, and a data folder whose key and checkpoints were both replaced
#       (found with --key, the key kept apart).
# Cannot-read cases exit 1, usage errors 2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$ADMIN" "$FIELD"
: "${TF_TAMPER:?set TF_TAMPER to the tf-tamper helper}"
[[ -x $TF_TAMPER ]] || { echo "SKIP: $TF_TAMPER not built"; exit 77; }

# run ARGS...: tanfangd with ARGS (verify-log, checkpoint-key).
run() {
	rc=0
	"$TANFANGD" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
admin() {
	"$ADMIN" --endpoint "$EP" --data "$tmp/data" --timeout 10000 "$@" >"$tmp/admin.out" 2>&1 ||
		{ cat "$tmp/admin.out" >&2; fail "tanfang-admin $* failed"; }
}
tamper() { "$TF_TAMPER" "$@" || fail "tf-tamper $*"; }
# fresh NAME: a copy of the untouched data folder at $tmp/NAME.
fresh() {
	rm -rf "${tmp:?}/$1"
	cp -a "$tmp/pristine" "$tmp/$1"
}
NOW=$(date +%s)

init_daemon
grep -qE '^checkpoint key: +[0-9a-f]{64}' "$tmp/init.log" || fail "init did not print the checkpoint key"
KEY=$(grep -oE '^checkpoint key: +[0-9a-f]{64}' "$tmp/init.log" | grep -oE '[0-9a-f]{64}')
[[ $(stat -c %a "$tmp/data/checkpoint.key") == 600 ]] || fail "checkpoint.key is not mode 0600"
cmp -s "$tmp/data/checkpoint.key" "$tmp/data/curve.key" && fail "checkpoint key is the CURVE key"
ok
expect 0 checkpoint-key --data "$tmp/data"
[[ $(cat "$tmp/out") == "$KEY" ]] || fail "checkpoint-key printed $(cat "$tmp/out"), init $KEY"

printf '[daemon]\ncheckpoint_interval_s = 1\n' >"$tmp/tanfangd.conf"
start_daemon --config "$tmp/tanfangd.conf"
wait_log "audit checkpoints signed with key $KEY"
wait_log "audit tanfang-checkpoint v1 entries=0 "
[[ $(stat -c %a "$tmp/data/checkpoints.log") == 600 ]] || fail "checkpoints.log is not mode 0600"
ok

admin area add 152223 扎赉特旗
admin visitor add g1 网格员甲 --role grid_worker --area 152223
admin elder add e1 张秀英 --area 152223 --categories living_alone
admin elder add e2 李淑芬 --area 152223 --categories living_alone
"$FIELD" --dir "$tmp/dev" keygen >"$tmp/pk"
admin key enrol "$(grep -oE '[0-9a-f]{64}' "$tmp/pk" | head -n1)" --visitor g1
for i in 1 2 3; do
	"$FIELD" --dir "$tmp/dev" visit --elder e$((i % 2 + 1)) --kind door --at $((NOW - i * 3600)) \
		--note "visit $i" >/dev/null
done
"$FIELD" --dir "$tmp/dev" event --elder e1 --type fall --severity warning --note 院子里摔倒 >/dev/null
"$FIELD" --dir "$tmp/dev" sync --endpoint "$EP" --server-key-file "$tmp/data/curve.pub" \
	>"$tmp/sync.out" 2>&1 || { cat "$tmp/sync.out" >&2; fail "sync"; }
grep -q 'stored 4' "$tmp/sync.out" || { cat "$tmp/sync.out" >&2; fail "expected 4 records stored"; }
# A restart: the stop leaves a checkpoint of these 9 entries whatever the
# timer did, and the new start finds its checkpoints and goes on from them.
stop_daemon
grep -q "audit tanfang-checkpoint v1 entries=9 " "$tmp/daemon.log" || fail "no checkpoint of 9 entries"
ok
grep "audit tanfang-checkpoint" "$tmp/daemon.log" >"$tmp/journal.txt" # the service log's copy
start_daemon --config "$tmp/tanfangd.conf"
grep -q "does not extend" "$tmp/daemon.log" && fail "the restart refused its own checkpoints"
ok
# The last two entries are registry changes, which have no stored record:
# only the checkpoints can tell that they were cut off.
admin elder add e3 王桂花 --area 152223 --categories extreme_poverty
admin area add 152223100 音德尔镇 --parent 152223
ENTRIES=11 # 7 registry changes, 3 visits, 1 care event

# The periodic checkpoint covers the grown log while the daemon runs.
wait_log "audit tanfang-checkpoint v1 entries=$ENTRIES "
expect 0 verify-log --data "$tmp/data"
out_has "audit log OK: $ENTRIES entries"
stop_daemon
grep -c "audit tanfang-checkpoint v1 entries=$ENTRIES " "$tmp/daemon.log" | grep -qx 1 ||
	fail "the stop wrote a second checkpoint of an unchanged log"
ok
grep "audit tanfang-checkpoint" "$tmp/daemon.log" >>"$tmp/journal.txt"
cp -a "$tmp/data" "$tmp/pristine"

# ---- (d) the untouched store passes, against the file, the journal, --key ----
expect 0 verify-log --data "$tmp/data"
out_has "audit log OK: $ENTRIES entries, every signature and the hash chain verified"
out_has "records OK: 4 visits and care events"
out_has "checkpoints OK:"
out_has "$ENTRIES entries at"
expect 0 verify-log --data "$tmp/data" --checkpoints "$tmp/journal.txt" --key "$KEY"
out_has "checkpoints OK:"
# A folder with a store but no checkpoints at all (a backup copy): checked
# without them, and said so.
mkdir "$tmp/backup"
cp "$tmp/data/data.mdb" "$tmp/backup/"
expect 0 verify-log --data "$tmp/backup"
err_has "not held against a checkpoint"
expect 0 verify-log --data "$tmp/backup" --checkpoints "$tmp/data/checkpoints.log" --key "$KEY"
out_has "checkpoints OK:"

# ---- (a) the tail cut off and the head rewritten ----
fresh cut
tamper "$tmp/cut" truncate 2
# The cut chain is consistent in itself: held only against the first
# checkpoint (the empty log), it passes. The later checkpoints find it.
head -n1 "$tmp/cut/checkpoints.log" >"$tmp/first-only.log"
expect 0 verify-log --data "$tmp/cut" --checkpoints "$tmp/first-only.log"
out_has "audit log OK: $((ENTRIES - 2)) entries"
expect 3 verify-log --data "$tmp/cut"
out_has "audit log FAILED:"
out_has "the log held $ENTRIES entries when it was signed, it holds $((ENTRIES - 2)) now"
out_has "were deleted and the head rewritten (the log agrees with the other checkpoints up to entry 9)"
out_has "checkpoints.log line"
# The intruder cuts checkpoints.log to match; the journal's copy still holds.
head -n1 "$tmp/data/checkpoints.log" >"$tmp/cut/checkpoints.log"
expect 0 verify-log --data "$tmp/cut"
expect 3 verify-log --data "$tmp/cut" --checkpoints "$tmp/journal.txt"
out_has "were deleted and the head rewritten"
# A daemon started on the cut store (with its full checkpoints.log) refuses
# to sign a checkpoint of it, and says why.
fresh cut2
tamper "$tmp/cut2" truncate 2
: >"$tmp/daemon.log"
"$TANFANGD" run --data "$tmp/cut2" --listen "$EP" >>"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
wait_log "listening on"
grep -q "audit log does not extend the last signed checkpoint: the log holds $((ENTRIES - 2)) entries, fewer than the $ENTRIES" \
	"$tmp/daemon.log" || fail "the daemon did not refuse to checkpoint the cut log"
ok
stop_daemon
[[ $(wc -l <"$tmp/cut2/checkpoints.log") == $(wc -l <"$tmp/pristine/checkpoints.log") ]] ||
	fail "a checkpoint of the cut log was signed"
ok

# An entry removed and the chain recomputed after it (head rewritten).
fresh dropped
tamper "$tmp/dropped" drop-entry $((ENTRIES - 1))
expect 0 verify-log --data "$tmp/dropped" --checkpoints "$tmp/first-only.log"
expect 3 verify-log --data "$tmp/dropped"
out_has "it holds $((ENTRIES - 1)) now: entries were deleted and the head rewritten"
# An entry (elder e3 registered) replaced by a copy of another (the first
# area), the chain recomputed: the same count, every signature good.
fresh rechained
tamper "$tmp/rechained" replace-entry $((ENTRIES - 1)) 1
expect 0 verify-log --data "$tmp/rechained" --checkpoints "$tmp/first-only.log"
out_has "audit log OK: $ENTRIES entries"
expect 3 verify-log --data "$tmp/rechained"
out_has "the chain up to entry $ENTRIES is not the one signed then: entries were changed, removed or inserted and the chain recomputed (the log agrees with the other checkpoints up to entry 9)"

# ---- (b) a stored visit deleted ----
"$TF_TAMPER" "$tmp/pristine" records >"$tmp/records" || fail "tf-tamper records"
[[ $(wc -l <"$tmp/records") == 4 ]] || fail "expected 4 stored records"
read -r VISIT _ VSEQ < <(grep ' visit ' "$tmp/records" | head -n1)
read -r EVENT _ ESEQ < <(grep ' event ' "$tmp/records" | head -n1)
fresh gone
tamper "$tmp/gone" delete-record "$VISIT"
expect 3 verify-log --data "$tmp/gone"
out_has "entry $VSEQ: visit $VISIT of elder"
out_has "has no stored record (the record was deleted)"

# ---- (c) a stored record edited, its content hash made to match ----
fresh edited
tamper "$tmp/edited" edit-record "$EVENT"
expect 3 verify-log --data "$tmp/edited"
out_has "entry $ESEQ: the stored record of care event $EVENT differs from what was signed"
fresh edited2
tamper "$tmp/edited2" edit-record "$VISIT"
expect 3 verify-log --data "$tmp/edited2"
out_has "the stored record of visit $VISIT differs from what was signed (edited)"
# ... and a record added that was never received.
fresh forged
tamper "$tmp/forged" forge-record "$VISIT"
expect 3 verify-log --data "$tmp/forged"
out_has "has no log entry"
out_has "added without being received"

# ---- (e) forged checkpoint lines ----
fresh badsig
last=$(tail -n1 "$tmp/badsig/checkpoints.log")
# The last line again, claiming one more entry: the signature does not cover it.
echo "${last/entries=$ENTRIES /entries=$((ENTRIES + 1)) }" >>"$tmp/badsig/checkpoints.log"
LINES=$(wc -l <"$tmp/badsig/checkpoints.log")
expect 3 verify-log --data "$tmp/badsig"
out_has "checkpoint FAILED: $tmp/badsig/checkpoints.log line $LINES: the signature does not verify"
out_has "audit log OK: $ENTRIES entries" # the log itself is still reported
# A line signed with a forger's own key.
HEAD=$(grep -oE 'head=[0-9a-f]{64}' <<<"$last" | cut -d= -f2)
mkdir "$tmp/forger"
tamper "$tmp/forger/checkpoint.key" sign 99 "$HEAD" "$NOW" >"$tmp/forged-line"
fresh otherkey
cat "$tmp/forged-line" >>"$tmp/otherkey/checkpoints.log"
expect 3 verify-log --data "$tmp/otherkey"
out_has "signed with key"
out_has "not the trusted key $KEY (forged)"
# A line that is not a checkpoint at all.
fresh garbled
echo "tanfang-checkpoint v1 entries=3 head=zz" >>"$tmp/garbled/checkpoints.log"
expect 3 verify-log --data "$tmp/garbled"
out_has "not a well-formed checkpoint"
# The whole folder re-keyed: the forger's key replaces checkpoint.key and
# checkpoints.log holds only a checkpoint of the cut log signed with it. The
# folder's own key now vouches for it; the key kept apart (--key) does not.
fresh rekeyed
tamper "$tmp/rekeyed" truncate 2
cp "$tmp/forger/checkpoint.key" "$tmp/rekeyed/checkpoint.key"
: >"$tmp/rekeyed/checkpoints.log"
: >"$tmp/daemon.log"
"$TANFANGD" run --data "$tmp/rekeyed" --listen "$EP" >>"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
wait_log "listening on"
stop_daemon # it signs the cut log with the forger's key, as the intruder wants
expect 0 verify-log --data "$tmp/rekeyed"
expect 3 verify-log --data "$tmp/rekeyed" --key "$KEY"
out_has "not the trusted key $KEY (forged)"
expect 3 verify-log --data "$tmp/rekeyed" --key "$KEY" --checkpoints "$tmp/journal.txt"
out_has "were deleted and the head rewritten"

# checkpoints.log deleted while the daemon's key is there.
fresh nofile
rm "$tmp/nofile/checkpoints.log"
expect 3 verify-log --data "$tmp/nofile"
out_has "checkpoints.log is missing, but the daemon signs checkpoints"
expect 3 verify-log --data "$tmp/nofile" --key "$KEY"
out_has "checkpoints.log is missing, but the daemon signs checkpoints"
# ... or emptied.
fresh emptied
: >"$tmp/emptied/checkpoints.log"
expect 3 verify-log --data "$tmp/emptied"
out_has "holds no checkpoint"

# ---- cannot read: exit 1; usage: exit 2 ----
expect 1 verify-log --data "$tmp/data" --checkpoints "$tmp/no-such-file"
err_has "cannot read the checkpoints"
expect 1 verify-log --data "$tmp/nowhere"
err_has "holds no store"
mkdir "$tmp/keyless"
cp "$tmp/data/data.mdb" "$tmp/keyless/"
expect 1 verify-log --data "$tmp/keyless" --checkpoints "$tmp/journal.txt"
err_has "give --key HEX"
expect 2 verify-log --data "$tmp/data" --key 1234
err_has "--key: expected 64 hex digits"
expect 2 verify-log --data "$tmp/data" --to x
expect 1 checkpoint-key --data "$tmp/keyless"

echo "e2e-audit: OK ($pass checks)"
