#!/usr/bin/env bash
# End to end (issue 7, item 9 "Upgrade"): a store made by the previous
# release (git de7d36e, the last one before the time-aware registry) opens in
# this release, is migrated once, and keeps its answers.
#
# The test builds de7d36e's daemon and clients from git into its temporary
# folder (no sanitizers), makes a small store with them, then starts this
# release's daemon ($TANFANGD) on the same data folder and checks, with this
# release's clients:
#   - the log says "store migrated" on the first start, and not on the next;
#   - tanfangd verify-log passes on the migrated store;
#   - every elder's entry (status, area, categories, neighbours, visitors) is
#     what the old daemon listed, its history the same records; no client
#     shows the registration date, so it is checked through the reports (E3
#     and E10 counted from M1) and the "1+2 not set up" due dates;
#   - the monthly reports of two past months give the old required/visited
#     figures, except where a fact (a death) now counts at its own date, which
#     is asserted by hand below with the reason;
#   - the overdue list names the same elders and duties; the duties whose
#     start the new rule takes from the timeline differ, asserted by hand;
#   - after a restart every answer is byte for byte the same;
#   - a new visit, recorded by the new tanfang-field on the old device folder,
#     syncs and shows in the elder's history;
#   - last, a discharge keeps its own date (docs/operations.md names it among
#     the events migrated at the times they occurred).
#
# The old tanfang-admin and tanfang-field have no --now: they sign with the
# real clock, which the daemon accepts within 600 s. So both daemons are
# pinned (--now) to the real time at the start of the test, and every date
# is relative to it: M0 is the current month in Asia/Shanghai, M1 the one
# before, M2 the one before that. Registrations are on the first of M2 (or
# of M1), visits and events on given days of M2 and M1 at 10:00.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$ADMIN" "$FIELD" "$SUPER"
: "${TANFANG_SRC:?set TANFANG_SRC to the source tree (a git clone)}"
OLD_COMMIT=de7d36e
for t in git meson ninja tar; do
	command -v $t >/dev/null || { echo "SKIP: $t needed to build $OLD_COMMIT"; exit 77; }
done
git -C "$TANFANG_SRC" cat-file -e "$OLD_COMMIT^{commit}" 2>/dev/null ||
	{ echo "SKIP: commit $OLD_COMMIT (the previous release) is not in $TANFANG_SRC (shallow clone?)"; exit 77; }

# ---- the previous release, built from git ----
mkdir "$tmp/old"
git -C "$TANFANG_SRC" archive "$OLD_COMMIT" | tar -x -C "$tmp/old"
(
	unset CFLAGS LDFLAGS CPPFLAGS
	meson setup "$tmp/old/build" "$tmp/old" --buildtype=debugoptimized -Db_sanitize=none >/dev/null &&
		ninja -C "$tmp/old/build" daemon/tanfangd clients/tanfang-admin clients/tanfang-field \
			clients/tanfang-super
) >"$tmp/old-build.log" 2>&1 || { tail -n 40 "$tmp/old-build.log"; fail "building $OLD_COMMIT"; }
OLD_D=$tmp/old/build/daemon/tanfangd
OLD_ADMIN=$tmp/old/build/clients/tanfang-admin
OLD_FIELD=$tmp/old/build/clients/tanfang-field
OLD_SUPER=$tmp/old/build/clients/tanfang-super
ok

# ---- the clock and the dates ----
NOW=$(date +%s)
# M0 M1 M2, the first days of M1 and M2, and 10:00 on days of M2 and M1.
read -r M0 M1 M2 REG1 REG2 M2_05 M2_10 M2_15 M2_20 M2_25 M1_05 M1_10 M1_12 M1_15 < <(
	python3 - "$NOW" <<'PY'
import sys, datetime as dt
from zoneinfo import ZoneInfo
tz = ZoneInfo("Asia/Shanghai")
now = dt.datetime.fromtimestamp(int(sys.argv[1]), tz)
def back(y, m, n):
    m -= n
    while m < 1:
        y, m = y - 1, m + 12
    return y, m
m0 = (now.year, now.month)
m1, m2 = back(*m0, 1), back(*m0, 2)
at = lambda ym, d: str(int(dt.datetime(ym[0], ym[1], d, 10, 0, tzinfo=tz).timestamp()))
out = ["%04d-%02d" % m for m in (m0, m1, m2)]
out += ["%04d-%02d-01" % m for m in (m1, m2)]
out += [at(m2, d) for d in (5, 10, 15, 20, 25)] + [at(m1, d) for d in (5, 10, 12, 15)]
print(" ".join(out))
PY
)
[[ -n $M1_15 ]] || fail "computing the dates"

BANNER=152223
TOWN=152223100
V1=152223100201
V2=152223100202

oadmin() { "$OLD_ADMIN" --endpoint "$EP" --data "$tmp/data" --timeout 10000 "$@"; }
osuper() {
	"$OLD_SUPER" --endpoint "$EP" --data "$tmp/data" --key "$tmp/s1.key" --now "$NOW" \
		--timeout 10000 "$@"
}
ofield() { # DEVICE ARGS...
	local dev=$1
	shift
	"$OLD_FIELD" --dir "$tmp/$dev" "$@"
}
osync() { # DEVICE: everything pending reaches the old daemon, nothing refused
	ofield "$1" sync --endpoint "$EP" --server-key-file "$tmp/data/curve.pub" --timeout 10000 \
		>"$tmp/sync.out" 2>&1 || { cat "$tmp/sync.out"; fail "old tanfang-field sync ($1)"; }
	ok
}
admin() { "$ADMIN" --endpoint "$EP" --data "$tmp/data" --now "$NOW" --timeout 10000 "$@"; }
# run ARGS: the new tanfang-super as the banner supervisor.
run() {
	rc=0
	"$SUPER" --endpoint "$EP" --data "$tmp/data" --key "$tmp/s1.key" --now "$NOW" \
		--timeout 10000 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# ---- a store made by the previous release ----
TANFANGD=$OLD_D init_daemon
TANFANGD=$OLD_D start_daemon --now "$NOW"
oadmin area add $BANNER 扎赉特旗 >/dev/null
oadmin area add $TOWN 音德尔镇 --parent $BANNER >/dev/null
oadmin area add $V1 一村 --parent $TOWN >/dev/null
oadmin area add $V2 二村 --parent $TOWN >/dev/null
oadmin visitor add g1 网格员 --role grid_worker --area $BANNER >/dev/null
oadmin visitor add p1 党员 --role party_member --area $TOWN >/dev/null
oadmin visitor add n1 邻居一 --role neighbour --area $V2 >/dev/null
oadmin visitor add n2 邻居二 --role neighbour --area $V2 >/dev/null
oadmin visitor add s1 旗民政局 --role supervisor --area $BANNER >/dev/null
for dev in g1 p1; do
	ofield $dev keygen >"$tmp/$dev.pk" 2>"$tmp/keygen.err"
	oadmin key enrol "$(tail -n 1 "$tmp/$dev.pk")" --visitor $dev >/dev/null
done
"$OLD_SUPER" keygen --key "$tmp/s1.key" >"$tmp/s1.pk" 2>"$tmp/keygen.err"
oadmin key enrol "$(grep -oE '[0-9a-f]{64}' "$tmp/s1.pk" | head -n 1)" --visitor s1 >/dev/null
ok
# Village 1: the controls (nothing late about them) and a hand-set status.
oadmin elder add E1 村民一 --area $V1 --categories living_alone --registered "$REG2" >/dev/null
oadmin elder add E2 村民二 --area $V1 --categories empty_nest --registered "$REG2" >/dev/null
oadmin elder add E3 村民三 --area $V1 --categories incapacitated --registered "$REG1" >/dev/null
oadmin elder add E7 村民七 --area $V1 --categories living_alone --registered "$REG2" >/dev/null
oadmin elder add E8 村民八 --area $V1 --registered "$REG2" >/dev/null # no category
oadmin elder add E10 村民十 --area $V1 --categories living_alone --registered "$REG1" >/dev/null
oadmin visitors assign E1 p1 >/dev/null
oadmin visitors assign E2 p1 >/dev/null
# Village 2: care events with dates of their own.
oadmin elder add E4 村民四 --area $V2 --categories living_alone --registered "$REG2" \
	--neighbours n1,n2 >/dev/null
oadmin elder add E5 村民五 --area $V2 --categories living_alone --registered "$REG2" >/dev/null
oadmin elder add E6 村民六 --area $V2 --categories family_planning_special \
	--registered "$REG2" >/dev/null
oadmin elder add E9 村民九 --area $V2 --categories living_alone --registered "$REG2" >/dev/null
oadmin neighbours set E9 n1 n2 >/dev/null
ok
ofield g1 visit --elder E1 --kind door --at "$M2_15" >/dev/null
ofield g1 visit --elder E1 --kind door --at "$M1_15" >/dev/null
ofield g1 visit --elder E2 --kind phone --at "$M2_15" >/dev/null
ofield g1 visit --elder E3 --kind door --at "$M1_15" >/dev/null
ofield g1 visit --elder E7 --kind door --at "$M2_15" >/dev/null
ofield g1 visit --elder E4 --kind door --at "$M2_15" >/dev/null
ofield g1 visit --elder E4 --kind door --at "$M1_05" >/dev/null
ofield g1 visit --elder E6 --kind door --at "$M2_05" >/dev/null
ofield g1 visit --elder E9 --kind door --at "$M1_15" >/dev/null
ofield g1 event --elder E4 --type hospitalised --severity warning --at "$M1_10" >/dev/null
ofield g1 event --elder E5 --type deceased --severity info --at "$M2_20" >/dev/null
ofield g1 event --elder E6 --type deceased --severity info --at "$M2_25" >/dev/null
ofield g1 event --elder E9 --type hospitalised --severity warning --at "$M2_10" >/dev/null
osync g1
# The discharge after the admission, as the old daemon applied events in
# the order they arrived.
ofield g1 event --elder E9 --type discharged --severity info --at "$M2_20" >/dev/null
osync g1
ofield p1 visit --elder E1 --kind party_member --at "$M1_12" >/dev/null
osync p1
oadmin elder set-status E7 moved_away >/dev/null
ok

# What the old daemon answers.
save_old() { # NAME ARGS...: the old tanfang-super's JSON answer, kept as $tmp/old-NAME.json
	local name=$1
	shift
	osuper "$@" --format json >"$tmp/old-$name.json" 2>"$tmp/err" ||
		{ cat "$tmp/err"; fail "old tanfang-super $*"; }
	ok
}
save_old report-m2 report --month "$M2"
save_old report-m1 report --month "$M1"
save_old overdue overdue --per-page 1000
for e in E5 E6 E9; do save_old history-$e history $e; done
oadmin list elders --format json >"$tmp/old-elders.json" || fail "old tanfang-admin list elders"
ok
stop_daemon


# ---- helpers over the JSON answers ----
# fig FILE AREA FIELD: one figure of one area's report row.
fig() {
	python3 - "$@" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
print(next(r[sys.argv[3]] for r in rows if r["area"] == sys.argv[2]))
PY
}
# expect_fig FILE AREA FIELD=VALUE...: the row's figures, as computed by hand.
expect_fig() {
	local file=$1 area=$2 kv got
	shift 2
	for kv in "$@"; do
		got=$(fig "$file" "$area" "${kv%%=*}")
		[[ $got == "${kv#*=}" ]] ||
			fail "$(basename "$file") area $area: ${kv%%=*} is $got, expected ${kv#*=}"
		ok
	done
}
# same_fig OLD NEW AREA FIELD...: the new daemon agrees with the old one.
same_fig() {
	local old=$1 new=$2 area=$3 f a b
	shift 3
	for f in "$@"; do
		a=$(fig "$old" "$area" "$f")
		b=$(fig "$new" "$area" "$f")
		[[ $a == "$b" ]] || fail "area $area $f: the old daemon said $a, the new one says $b"
		ok
	done
}
# duties FILE: the overdue list as sorted "elder rule duty due-date" lines.
duties() {
	python3 - "$1" <<'PY'
import json, sys
items = json.load(open(sys.argv[1], encoding="utf-8"))
items = items["items"] if isinstance(items, dict) else items  # an object since 0.2.0
for i in sorted("%s %s %s %s" % (i["elder_id"], i["rule"], i["duty"].replace(" ", "_"), i["due"][:10])
                for i in items):
    print(i)
PY
}
# new_answers TAG: the new daemon's answers, kept as $tmp/TAG-*.json.
new_answers() {
	local tag=$1 a
	for a in report-m2:"report --month $M2" report-m1:"report --month $M1" \
		overdue:"overdue --per-page 1000" history-E5:"history E5" history-E6:"history E6" \
		history-E9:"history E9"; do
		# shellcheck disable=SC2086 # the arguments are split on purpose
		run ${a#*:} --format json
		[[ $rc == 0 ]] || fail "tanfang-super ${a#*:}: $(cat "$tmp/err")"
		cp "$tmp/out" "$tmp/$tag-${a%%:*}.json"
		ok
	done
	admin list elders --format json >"$tmp/$tag-elders.json" || fail "tanfang-admin list elders"
	ok
}
day() { TZ=Asia/Shanghai date -d "@$1" +%F; }
when() { TZ=Asia/Shanghai date -d "@$1" '+%F %H:%M'; }

# The old daemon's own figures, computed by hand from what was sent, so that
# what is compared below is known (the old report counts an elder from its
# registration month until the month its status changed, and the old store
# dated a status change by its arrival, i.e. today).
#   M2: village 1: E1, E2, E7 visited (E3 and E10 came in M1, E8 has no
#       category): 3/3. Village 2: E4, E6 visited; E5, E9 not: 4/2.
#   M1: village 1: E1, E3 visited; E2, E7, E10 not: 5/2. Village 2: E4, E9
#       visited; E5 and E6 (dead, but only since today for the old store) not:
#       4/2.
O2=$tmp/old-report-m2.json O1=$tmp/old-report-m1.json
expect_fig "$O2" $V1 required=3 visited=3 party_required=2 party_done=0
expect_fig "$O2" $V2 required=4 visited=2
expect_fig "$O2" $BANNER required=7 visited=5
expect_fig "$O1" $V1 required=5 visited=2 party_required=2 party_done=1
expect_fig "$O1" $V2 required=4 visited=2
expect_fig "$O1" $BANNER required=9 visited=4

# ---- this release, first start: the store is migrated ----
start_daemon --now "$NOW"
grep -q "store migrated: registry facts now carry their time of effect" "$tmp/daemon.log" ||
	fail "the first start of the new daemon did not migrate the store"
ok
# Before it listens (docs/operations.md).
[[ $(grep -n "store migrated" "$tmp/daemon.log" | cut -d: -f1) -lt \
	$(grep -n "listening on" "$tmp/daemon.log" | cut -d: -f1) ]] ||
	fail "the daemon listened before the migration"
ok
"$TANFANGD" verify-log --data "$tmp/data" >"$tmp/verify.out" 2>&1 ||
	{ cat "$tmp/verify.out"; fail "verify-log on the migrated store"; }
grep -q "audit log OK" "$tmp/verify.out" || { cat "$tmp/verify.out"; fail "verify-log output"; }
ok
new_answers new1
N2=$tmp/new1-report-m2.json N1=$tmp/new1-report-m1.json

# Every elder as the old daemon listed it: status, area, categories,
# neighbours and assigned visitors. E5 and E6 are still deceased, E4
# hospitalised, E7 moved_away (set by hand), E9 active again.
python3 - "$tmp/old-elders.json" "$tmp/new1-elders.json" <<'PY' || fail "the elders changed in the upgrade"
import json, sys
old = {e["id"]: e for e in json.load(open(sys.argv[1], encoding="utf-8"))}
new = {e["id"]: e for e in json.load(open(sys.argv[2], encoding="utf-8"))}
assert sorted(old) == sorted(new), (sorted(old), sorted(new))
for i, o in old.items():
    for k, v in o.items():
        assert new[i].get(k) == v, (i, k, v, new[i].get(k))
want = {"E1": "active", "E4": "hospitalised", "E5": "deceased", "E6": "deceased",
        "E7": "moved_away", "E8": "active", "E9": "active", "E10": "active"}
for i, s in want.items():
    assert new[i]["status"] == s, (i, new[i]["status"], s)
PY
ok
# The histories are the stored records, unchanged (the deceased events at
# their own dates).
for e in E5 E6 E9; do
	python3 - "$tmp/old-history-$e.json" "$tmp/new1-history-$e.json" <<'PY' || fail "history of $e changed"
import json, sys
old = json.load(open(sys.argv[1], encoding="utf-8"))
new = json.load(open(sys.argv[2], encoding="utf-8"))
# The new history also lists the changes of the registry entry (issue 11,
# item 4); the records are as they were.
new = [n for n in new if not n["type"].startswith("registry ")]
assert len(old) == len(new), (old, new)
for o, n in zip(old, new):
    assert all(n.get(k) == v for k, v in o.items()), (o, n)
PY
	ok
done
[[ $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["when"])' "$tmp/new1-history-E5.json") == "$(when "$M2_20")" ]] ||
	fail "E5's death is not dated $(when "$M2_20") in its history"
ok

# The monthly reports. Village 1 holds the elders with no late fact: the
# figures are the old daemon's, visits, party-member visits and "1+2"
# neighbour figures alike. E3 and E10 (registered on the first of M1) are
# not counted in M2 and are in M1: their registration dates were kept. E7,
# set to moved_away by hand today, is still required in M1: a status set by
# hand takes effect from the date the old store kept for it (today).
for f in required visited party_required party_done neighbour_required neighbour_set_up neighbour_done; do
	same_fig "$O2" "$N2" $V1 $f
	same_fig "$O1" "$N1" $V1 $f
done
# Village 2: the deaths now count at their own dates (docs/supervisor.md:
# an elder who died in the month without a visit is not required, one
# visited before dying is; after the month of the death it is not counted).
#   M2: E5 died on the 20th of M2 without a visit: no longer required
#       (old 4/2, now 3/2: E4 and E6 visited, E9 not).
#   M1: E5 and E6 died in M2: neither is counted in M1 any more (old 4/2,
#       now 2/2: E4 and E9, both visited).
# The township and the banner add village 1 and village 2.
expect_fig "$N2" $V2 required=3 visited=2 party_required=0
expect_fig "$N2" $TOWN required=6 visited=5 party_required=2 party_done=0
expect_fig "$N2" $BANNER required=6 visited=5 party_required=2 party_done=0
expect_fig "$N1" $V2 required=2 visited=2 party_required=0
expect_fig "$N1" $TOWN required=7 visited=4 party_required=2 party_done=1
expect_fig "$N1" $BANNER required=7 visited=4 party_required=2 party_done=1

# The overdue list names the same elders and duties. Where a due date or a
# duty differs, the new duty-start rule explains it: a duty now starts when
# the timeline says it began, and the migration puts each elder's entry
# (with today's assigned visitors and neighbours) in force from its
# registration date, where the old daemon started an assigned duty when it
# was computed (today):
#   - 1+2_not_set_up (a finding at once) was due today; now it is due from
#     the registration: the first of M2 for E1 and E2, of M1 for E3 and E10;
#   - E2's party member p1, assigned today in the old store, never visited
#     E2: the duty now runs from E2's registration (first of M2), so it is
#     overdue since the first of M1; the old daemon had it due at the end
#     of M0. (E1 was visited by p1 in M1: due at the end of M0 either way.)
# monthly_visit duties start at the registration in both releases: E2 (last
# visited in M2) and E10 (never visited) are overdue since the first of M0.
# Since 0.2.0 an elder-wide duty names the elder's assigned visitors whose
# role counts under the rule: E2's monthly visit names p1 (any role counts).
# Two duties are new in this release's default policy and migration:
#   - after_major_change (the 2022 notice): a door visit within 24 hours of
#     E4's admission on the 10th of M1, never made;
#   - E9's neighbour checks: E9 was in hospital from the 10th to the 20th of
#     M2 (both events migrated at their own dates), the neighbour rule pauses
#     then, so its checks run from the discharge and were never made.
duties "$tmp/old-overdue.json" >"$tmp/old-duties.txt"
duties "$tmp/new1-overdue.json" >"$tmp/new1-duties.txt"
TODAY=$(day "$NOW")
cat >"$tmp/want-old.txt" <<EOT
E1 1+2_not_set_up - $TODAY
E10 1+2_not_set_up - $TODAY
E10 monthly_visit - $M0-01
E2 1+2_not_set_up - $TODAY
E2 monthly_visit - $M0-01
E3 1+2_not_set_up - $TODAY
EOT
cat >"$tmp/want-new.txt" <<EOT
E1 1+2_not_set_up - $REG2
E10 1+2_not_set_up - $REG1
E10 monthly_visit - $M0-01
E2 1+2_not_set_up - $REG2
E2 monthly_visit 党员_p1 $M0-01
E2 party_member 党员_p1 $M1-01
E3 1+2_not_set_up - $REG1
E4 after_major_change - $(day $((M1_10 + 86400)))
E9 neighbour_check 邻居一_n1 $(day $((M2_20 + 7 * 86400)))
E9 neighbour_check 邻居二_n2 $(day $((M2_20 + 7 * 86400)))
EOT
diff -u "$tmp/want-old.txt" "$tmp/old-duties.txt" || fail "the old daemon's overdue list is not as computed"
ok
diff -u "$tmp/want-new.txt" "$tmp/new1-duties.txt" || fail "the overdue list after the upgrade"
ok
# The same elders, and E4 and E9 for the two new duties explained above.
diff <( (cut -d' ' -f1 "$tmp/old-duties.txt"; echo E4; echo E9) | sort -u) \
	<(cut -d' ' -f1 "$tmp/new1-duties.txt" | sort -u) ||
	fail "the overdue list names other elders after the upgrade"
ok
stop_daemon
cp "$tmp/daemon.log" "$tmp/first-start.log"

# ---- second start: no migration again, the same answers ----
start_daemon --now "$NOW"
grep -q "store migrated" "$tmp/daemon.log" && fail "the store was migrated a second time"
ok
new_answers new2
for a in report-m2 report-m1 overdue history-E5 history-E6 history-E9 elders; do
	cmp -s "$tmp/new1-$a.json" "$tmp/new2-$a.json" ||
		{ diff "$tmp/new1-$a.json" "$tmp/new2-$a.json" >&2; fail "$a changed after a restart"; }
	ok
done

# ---- new records after the upgrade: the new tanfang-field, on the device
# folder the old one made, records a visit to E2 today and syncs it ----
"$FIELD" --dir "$tmp/g1" --now "$NOW" visit --elder E2 --kind door --at "$NOW" >"$tmp/visit.out" 2>&1 ||
	{ cat "$tmp/visit.out"; fail "new tanfang-field visit on the old device folder"; }
ok
"$FIELD" --dir "$tmp/g1" --now "$NOW" sync --endpoint "$EP" --server-key-file "$tmp/data/curve.pub" \
	--timeout 10000 >"$tmp/sync.out" 2>&1 || { cat "$tmp/sync.out"; fail "new tanfang-field sync"; }
grep -q "stored 1, already stored 0, refused 0, still pending 0" "$tmp/sync.out" ||
	{ cat "$tmp/sync.out"; fail "the new visit was not stored"; }
ok
run history E2 --format json
python3 - "$tmp/out" "$(when "$NOW")" "$(when "$M2_15")" <<'PY' || fail "the new visit is not in E2's history"
import json, sys
h = json.load(open(sys.argv[1], encoding="utf-8"))
h = [x for x in h if not x["type"].startswith("registry ")]  # the entry's changes
assert [(x["when"], x["type"], x["visitor_id"]) for x in h] == \
    [(sys.argv[2], "上门 door", "g1"), (sys.argv[3], "电话 phone", "g1")], h
PY
ok
run overdue --per-page 1000 --format json
duties "$tmp/out" | grep -q "^E2 monthly_visit " && fail "E2 is still overdue for its monthly visit"
ok
run report --month "$M0" --format json
expect_fig "$tmp/out" $V1 visited=1

# ---- E9: hospitalised on the 10th of M2, discharged on the 20th ----
# docs/operations.md: the migration makes "status changes from its stored
# care events (deceased, moved away, hospitalised, discharged) at the times
# they occurred". So E9 is active (and its "1+2" neighbours n1, n2 check on
# it: the neighbour rule pauses only while in hospital) at the end of M2 and
# of M1. Neighbour figures of village 2:
#   M2: E4 (active until the 10th of M1) and E9: required 2, set up 2 (E5
#       and E6 died without a neighbour check: not required);
#   M1: E4 in hospital at the month's end (paused), E9: required 1, set up 1.
# (A first version of the migration kept only the events that move an
# active elder and so dropped the discharge: E9 was then in hospital from
# the 10th of M2 until the day of the upgrade.)
for f in "$N2" "$N1"; do
	want=2
	[[ $f == "$N1" ]] && want=1
	got=$(fig "$f" $V2 neighbour_required)
	[[ $got == "$want" ]] || fail "$(basename "$f"): village 2 neighbour_required $got, expected $want:" \
		"E9's discharge (dated the 20th of M2) was not migrated at its own date"
	ok
	expect_fig "$f" $V2 neighbour_set_up=$want
done
echo "e2e-upgrade: ok ($pass checks)"
