#!/usr/bin/env bash
# End to end (issue 7): reports and overdue lists follow when things
# happened, not when they arrived. The six inputs of the issue, each through
# the real daemon and the real clients (tanfang-admin, tanfang-field,
# tanfang-super), with the clocks of the daemon and of each client pinned
# (--now) to the moment an office or a field worker acts. All times are
# Asia/Shanghai; each was computed with `TZ=Asia/Shanghai date -d ... +%s`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$ADMIN" "$FIELD" "$SUPER"

T_SEP01=1788228000    # 2026-09-01 10:00: the registry is made
T_OCT05=1791165600    # 2026-10-05 10:00
T_OCT15=1792029600    # 2026-10-15 10:00
T_OCT28=1793152800    # 2026-10-28 10:00: E1 dies; recorded offline
T_NOV02=1793584800    # 2026-11-02 10:00: October is read and filed
T_NOV03=1793671200    # 2026-11-03 10:00: the death is synced
T_NOV05=1793840400    # 2026-11-05 09:00: E3 admitted (reported on 11-12)
T_NOV10=1794276000    # 2026-11-10 10:00: E3 discharged (reported the same day)
T_NOV12=1794448800    # 2026-11-12 10:00
T_NOV12_0900=1794445200
T_NOV15=1794708000    # 2026-11-15 10:00: November's registry changes
T_DEC01_0730=1796081400 # 2026-12-01 07:30 Beijing (23:30 on 30 November in UTC)
T_DEC02=1796176800    # 2026-12-02 10:00: October is read again
T_DEC05=1796436000    # 2026-12-05 10:00
T_JAN05=1799114400    # 2027-01-05 10:00: a wrong device date

BANNER=152223
TOWN=152223100
C=152223100203 # input 1, 2 and 5
TOWN2=152223200
A=152223200201 # input 3
B=152223200202

NOW=$T_SEP01
restart_at() { # the daemon's clock moves: restart it pinned to $1
	[[ -n $daemon_pid ]] && stop_daemon
	NOW=$1
	shift
	start_daemon --now "$NOW" "$@"
}
admin() { "$ADMIN" --endpoint "$EP" --data "$tmp/data" --now "$NOW" --timeout 10000 "$@"; }
# run ARGS: tanfang-super as the banner supervisor, at the daemon's time.
run() {
	rc=0
	"$SUPER" --endpoint "$EP" --data "$tmp/data" --key "$tmp/s1.key" --now "$NOW" \
		--timeout 10000 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
field() { # the grid worker's device, its clock at $NOW unless FIELD_NOW says otherwise
	"$FIELD" --dir "$tmp/g1" --now "${FIELD_NOW:-$NOW}" "$@"
}
sync_field() {
	field sync --endpoint "$EP" --server-key-file "$tmp/data/curve.pub" --timeout 10000 \
		>"$tmp/sync.out" 2>&1 || true
}
# row JSON AREA FIELD: one figure of one area's row.
row() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
print(next(r[sys.argv[3]] for r in rows if r["area"] == sys.argv[2]))
PY
}
expect_row() { # FILE AREA REQUIRED VISITED
	local req vis
	req=$(row "$1" "$2" required)
	vis=$(row "$1" "$2" visited)
	[[ $req == "$3" && $vis == "$4" ]] ||
		fail "$1: area $2 required $req visited $vis, expected $3 / $4"
	ok
}
status_of() {
	admin list elders --area "$2" --format json >"$tmp/elders.json"
	python3 - "$tmp/elders.json" "$1" <<'PY'
import json, sys
print(next(e["status"] for e in json.load(open(sys.argv[1], encoding="utf-8")) if e["id"] == sys.argv[2]))
PY
}

# ---- the registry, on 1 September ----
init_daemon
restart_at "$T_SEP01"
admin area add $BANNER 扎赉特旗 >/dev/null
admin area add $TOWN 音德尔镇 --parent $BANNER >/dev/null
admin area add $C 三村 --parent $TOWN >/dev/null
admin area add $TOWN2 新林镇 --parent $BANNER >/dev/null
admin area add $A 一村 --parent $TOWN2 >/dev/null
admin area add $B 二村 --parent $TOWN2 >/dev/null
admin visitor add g1 网格员 --role grid_worker --area $BANNER >/dev/null
admin visitor add hw1 医生 --role health_worker --area $BANNER >/dev/null
admin visitor add p1 党员一 --role party_member --area $TOWN2 >/dev/null
admin visitor add p2 党员二 --role party_member --area $TOWN2 >/dev/null
admin visitor add s1 旗民政局 --role supervisor --area $BANNER >/dev/null
admin visitor add s2 新林镇民政 --role supervisor --area $TOWN2 >/dev/null
g1_pk=$(field keygen | tail -n 1)
admin key enrol "$g1_pk" --visitor g1 >/dev/null
"$FIELD" --dir "$tmp/hw1" keygen >"$tmp/hw1.pk"
admin key enrol "$(tail -n 1 "$tmp/hw1.pk")" --visitor hw1 >/dev/null
for s in s1 s2; do
	"$SUPER" keygen --key "$tmp/$s.key" >"$tmp/$s.pk"
	admin key enrol "$(grep -oE '[0-9a-f]{64}' "$tmp/$s.pk" | head -n 1)" --visitor $s >/dev/null
done
admin elder add E1 李桂芝 --area $C --categories family_planning_special --registered 2026-09-01 >/dev/null
admin elder add E2 王福山 --area $C --categories living_alone --registered 2026-09-01 >/dev/null
admin elder add E3 赵淑珍 --area $C --categories incapacitated --registered 2026-09-01 >/dev/null
admin elder add H1 孟庆和 --area $C --registered 2026-09-01 >/dev/null
for e in A1 A2 A3; do
	admin elder add $e "村民$e" --area $A --categories living_alone --registered 2026-09-01 >/dev/null
done
admin elder add B1 村民B1 --area $B --categories living_alone --registered 2026-09-01 >/dev/null
admin visitors assign A1 p1 >/dev/null
ok

# ---- October: A1 visited; E1's death recorded offline on 10-28 ----
restart_at "$T_OCT15"
field visit --elder A1 --kind door --at "$T_OCT15" >/dev/null
field visit --elder E2 --kind door --at "$T_OCT15" >/dev/null
sync_field
grep -q "refused 0, still pending 0" "$tmp/sync.out" || { cat "$tmp/sync.out"; fail "October visits"; }
ok
# The daemon is not reachable from the village: the device keeps it.
FIELD_NOW=$T_OCT28 field event --elder E1 --type deceased --severity info --at "$T_OCT28" >/dev/null
ok

# ---- input 3, first read: October on 11-02, filed by the township ----
restart_at "$T_NOV02"
run report --month 2026-10 --area $TOWN2 --format json
[[ $rc == 0 ]] || fail "report October: $(cat "$tmp/err")"
cp "$tmp/out" "$tmp/oct-on-nov02.json"
expect_row "$tmp/oct-on-nov02.json" $A 3 1
expect_row "$tmp/oct-on-nov02.json" $B 1 0
expect_row "$tmp/oct-on-nov02.json" $TOWN2 4 1
rc=0
"$SUPER" --endpoint "$EP" --data "$tmp/data" --key "$tmp/s2.key" --now "$NOW" file --month 2026-10 \
	>"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 0 ]] && grep -q "filed 2026-10 for $TOWN2" "$tmp/out" || fail "filing October: $(cat "$tmp/err")"
ok

# ---- input 1: the death of 10-28 synced on 11-03; E2 visited in November ----
restart_at "$T_NOV03"
field visit --elder E2 --kind phone --at "$T_NOV03" >/dev/null
sync_field
grep -q "refused 0, still pending 0" "$tmp/sync.out" || { cat "$tmp/sync.out"; fail "sync of 11-03"; }
[[ $(status_of E1 $C) == deceased ]] || fail "E1 is not deceased"
ok
run report --month 2026-11 --area $C --format json
expect_row "$tmp/out" $C 2 1 # E2 (visited) and E3; E1 died in October, H1 has no category
python3 - "$tmp/out" "$C" <<'PY' || fail "input 1: E1 still counted in November"
import json, sys
r = next(r for r in json.load(open(sys.argv[1], encoding="utf-8")) if r["area"] == sys.argv[2])
# E1 (died 10-28) is not required in November: E2 and E3 are.
assert r["required"] == 2, r
PY
ok

# ---- input 2: discharge (11-10) reported before the admission (11-05) ----
restart_at "$T_NOV10"
field event --elder E3 --type discharged --severity info --at "$T_NOV10" >/dev/null
sync_field
restart_at "$T_NOV12"
field event --elder E3 --type hospitalised --severity warning --at "$T_NOV05" >/dev/null
sync_field
grep -q "refused 0, still pending 0" "$tmp/sync.out" || { cat "$tmp/sync.out"; fail "sync of 11-12"; }
[[ $(status_of E3 $C) == active ]] || fail "input 2: E3 is $(status_of E3 $C), expected active"
ok

# ---- input 5: a health visit (11-12), then a category (11-15), then a
# policy where health visits count: the overdue list and the report agree ----
"$FIELD" --dir "$tmp/hw1" --now "$T_NOV12" visit --elder H1 --kind health --at "$T_NOV12_0900" >/dev/null
"$FIELD" --dir "$tmp/hw1" --now "$T_NOV12" sync --endpoint "$EP" \
	--server-key-file "$tmp/data/curve.pub" --timeout 10000 >"$tmp/sync.out" 2>&1 ||
	{ cat "$tmp/sync.out"; fail "health visit"; }
ok

# ---- input 3, November: a move, a lost category, a new party member ----
restart_at "$T_NOV15"
admin elder add A2 村民A2 --area $B --categories living_alone >/dev/null
admin elder add A3 村民A3 --area $A >/dev/null
admin visitors assign A1 p2 >/dev/null
admin elder add H1 孟庆和 --area $C --categories living_alone >/dev/null
ok
cat >"$tmp/policy.conf" <<'POLICY'
[policy]
timezone = Asia/Shanghai

[rule.monthly_visit]
elders = special
kinds = door, phone, health
duty = elder
period = month
report = visit
POLICY
restart_at "$T_NOV15" --policy "$tmp/policy.conf"
run overdue --area $C --rule monthly_visit --within 60 --format json
python3 - "$tmp/out" <<'PY' || fail "input 5: overdue list"
import json, sys
items = json.load(open(sys.argv[1], encoding="utf-8"))["items"]
h1 = [i for i in items if i["elder_id"] == "H1"]
# Visited on 11-12 by a health visit, which counts now: next due 2027-01-01.
assert len(h1) == 1 and h1[0]["due"].startswith("2027-01-01"), h1
PY
run report --month 2026-11 --area $C --format json
python3 - "$tmp/out" "$C" <<'PY' || fail "input 5: the report disagrees with the overdue list"
import json, sys
r = next(r for r in json.load(open(sys.argv[1], encoding="utf-8")) if r["area"] == sys.argv[2])
# E2 (phone), E3 (not visited), H1 (health visit, counted as the overdue list counts it).
assert (r["required"], r["visited"]) == (3, 2), r
PY
ok

# ---- input 6: 07:30 on 1 December in Beijing, still 30 November in UTC ----
restart_at "$T_DEC01_0730"
rc=0
admin elder add D1 新登记 --area $C --categories living_alone --registered 2026-12-01 \
	>"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 0 ]] || fail "input 6: --registered 2026-12-01 refused at 07:30 Beijing: $(cat "$tmp/err")"
ok

# ---- input 3, second read: October again on 12-02 ----
restart_at "$T_DEC02"
run report --month 2026-10 --area $TOWN2 --format json
cp "$tmp/out" "$tmp/oct-on-dec02.json"
expect_row "$tmp/oct-on-dec02.json" $A 3 1
expect_row "$tmp/oct-on-dec02.json" $B 1 0
expect_row "$tmp/oct-on-dec02.json" $TOWN2 4 1
# Nothing about October arrived late, so no figure changed since filing.
python3 - "$tmp/oct-on-dec02.json" "$TOWN2" <<'PY' || fail "input 3: marks on October"
import json, sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
top = next(r for r in rows if r["area"] == sys.argv[2])
assert top["filed_at"].startswith("2026-11-02") and top["changed"] == "", top
PY
run report --month 2026-10 --area $TOWN2 --as-filed --format json
[[ $rc == 0 ]] || fail "as filed: $(cat "$tmp/err")"
cmp -s <(python3 -c 'import json,sys; [print(r["area"], r["required"], r["visited"]) for r in json.load(open(sys.argv[1]))]' "$tmp/out") \
	<(python3 -c 'import json,sys; [print(r["area"], r["required"], r["visited"]) for r in json.load(open(sys.argv[1]))]' "$tmp/oct-on-nov02.json") ||
	fail "input 3: October as filed differs from what was read when it was filed"
ok
# November shows the changes: A2 now in B, A3 without a category.
run report --month 2026-11 --area $TOWN2 --format json
expect_row "$tmp/out" $A 1 0
expect_row "$tmp/out" $B 2 0

# ---- input 4: a wrong device date (2027-01-05 for a visit of 10-05) ----
restart_at "$T_DEC05"
rc=0
field visit --elder B1 --kind door --at "$T_JAN05" >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 2 ]] && grep -q "dated in the future" "$tmp/err" ||
	fail "input 4: the device recorded a visit dated 2027 (rc $rc): $(cat "$tmp/err")"
ok
# A device whose whole clock is wrong signs it; the daemon refuses it.
FIELD_NOW=$T_JAN05 field visit --elder B1 --kind door --at "$T_JAN05" >/dev/null
sync_field
field status >"$tmp/status.out" 2>&1 || true
grep -qE "STATUS_(CLOCK_SKEW|DATED_IN_FUTURE)" "$tmp/status.out" ||
	{ cat "$tmp/sync.out" "$tmp/status.out"; fail "input 4: the future visit was not refused"; }
ok
run overdue --area $B --rule monthly_visit --format json
python3 - "$tmp/out" <<'PY' || fail "input 4: B1 is not on the overdue list"
import json, sys
items = json.load(open(sys.argv[1], encoding="utf-8"))["items"]
b1 = [i for i in items if i["elder_id"] == "B1"]
# Never visited since registration on 1 September: overdue since 1 October.
assert len(b1) == 1 and b1[0]["due"].startswith("2026-10-01"), b1
PY
run report --month 2026-11 --area $B --format json
expect_row "$tmp/out" $B 2 0

# A late fact for a filed month is listed: a visit of 10-05 to B1, synced now.
"$FIELD" --dir "$tmp/hw1" --now "$T_DEC05" visit --elder B1 --kind door --at "$T_OCT05" >/dev/null
"$FIELD" --dir "$tmp/hw1" --now "$T_DEC05" sync --endpoint "$EP" \
	--server-key-file "$tmp/data/curve.pub" --timeout 10000 >"$tmp/sync.out" 2>&1 ||
	{ cat "$tmp/sync.out"; fail "late October visit"; }
run report --month 2026-10 --area $TOWN2 --late --format json
python3 - "$tmp/out" <<'PY' || fail "the late visit is not listed"
import json, sys
late = json.load(open(sys.argv[1], encoding="utf-8"))
assert any(f["kind"] == "visit" and f["elder_id"] == "B1" and f["signer"] == "hw1" for f in late), late
PY
run report --month 2026-10 --area $TOWN2 --format json
python3 - "$tmp/out" "$TOWN2" "$B" <<'PY' || fail "the changed figure is not marked"
import json, sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
top = next(r for r in rows if r["area"] == sys.argv[2])
assert top["visited"] == 2 and "visited 1→2" in top["changed"], top
PY
run report --month 2026-10 --area $TOWN2 --as-filed --format json
expect_row "$tmp/out" $TOWN2 4 1
ok

# ---- a wrong death corrected by the office (item 8) ----
# The supervisor finds the event's id in the history and withdraws it; the
# elder is back on the register, and the history keeps both.
run history E1 --format json
eid=$(python3 - "$tmp/out" <<'PY'
import json, sys
items = json.load(open(sys.argv[1], encoding="utf-8"))
print(next(i["record_id"] for i in items if "deceased" in i["type"]))
PY
) || fail "no deceased event in E1's history"
rc=0
admin event correct "$eid" --note 误报 >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 0 ]] && grep -q "withdrawn" "$tmp/out" || fail "event correct: $(cat "$tmp/err")"
[[ $(status_of E1 $C) == active ]] || fail "E1 is $(status_of E1 $C) after the correction"
run history E1 --format json
python3 - "$tmp/out" <<'PY' || fail "the corrected event is not marked in the history"
import json, sys
items = json.load(open(sys.argv[1], encoding="utf-8"))
ev = [i for i in items if "deceased" in i["type"]]
assert len(ev) == 1 and "corrected" in ev[0]["flags"], items
PY
# An unknown event id is refused (a grid worker cannot correct: test-timeline).
rc=0
admin event correct 00000000000000000000000000000000 >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 1 ]] && grep -q "STATUS_NOT_FOUND" "$tmp/err" || fail "unknown event id: rc $rc $(cat "$tmp/err")"
ok
echo "e2e-time: ok ($pass checks)"
