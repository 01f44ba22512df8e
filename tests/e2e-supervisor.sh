#!/usr/bin/env bash
# End to end: the supervisor's view (tanfang-super) of data made by
# tanfang-demo-gen, against a real tanfangd on a loopback port.
#
# The daemon's clock is pinned (--now): first to 2026-09-30 12:00 in
# Asia/Shanghai, when the registry is made (so the elders are on the list
# for all of October), then, after a restart, to 2026-11-20 10:00, when the
# visits of October and November so far are sent, each signed by its
# visitor. The generator prints (--expect) what the October report must say,
# tallied from the visits it sent; the daemon's report must agree to the
# elder. Then, as a township supervisor: the overdue list (aligned table,
# CSV with a byte order mark, JSON), the report's rows and rates, a scope
# refusal, an elder's history and the quarter's activity.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$SUPER" "$GEN"

ELDERS=60
SEED=7
T_REG=1790740800 # 2026-09-30 12:00 Asia/Shanghai
T_NOW=1795140000 # 2026-11-20 10:00 Asia/Shanghai
BANNER=152223
TOWN=152223100  # 音德尔镇
OTHER=152223101 # 新林镇

# run KEYNAME ARGS...: tanfang-super signed with demo-keys/KEYNAME.key.
run() {
	local key=$1
	shift
	rc=0
	"$SUPER" --endpoint "$EP" --data "$tmp/data" --key "$tmp/data/demo-keys/$key.key" \
		--now "$T_NOW" --timeout 10000 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

init_daemon
GEN_ARGS=(--endpoint "$EP" --data "$tmp/data" --elders "$ELDERS" --seed "$SEED" --timeout 10000)

# --- the registry, on the last day of September ---
start_daemon --now "$T_REG"
timeout 120 "$GEN" "${GEN_ARGS[@]}" --phase registry --now "$T_REG" >"$tmp/gen1.out" 2>&1 ||
	{ cat "$tmp/gen1.out"; fail "demo-gen --phase registry"; }
grep -q "elders      $ELDERS " "$tmp/gen1.out" || { cat "$tmp/gen1.out"; fail "demo-gen did not make $ELDERS elders"; }
grep -q " 0 refused" "$tmp/gen1.out" || { cat "$tmp/gen1.out"; fail "registry requests refused"; }
ok
[[ -f $tmp/data/demo-keys/S$BANNER.key && -f $tmp/data/demo-keys/S$TOWN.key ]] || fail "no supervisor keys"
ok
# A second registry run into the same daemon is refused before sending anything.
rc=0
"$GEN" "${GEN_ARGS[@]}" --phase registry --now "$T_REG" >"$tmp/gen-again.out" 2>&1 || rc=$?
[[ $rc == 1 ]] && grep -q "generated into this daemon before" "$tmp/gen-again.out" ||
	{ cat "$tmp/gen-again.out"; fail "a second demo-gen run was not refused (rc $rc)"; }
ok
stop_daemon

# --- the visits, on 20 November ---
start_daemon --now "$T_NOW"
timeout 300 "$GEN" "${GEN_ARGS[@]}" --phase visits --now "$T_NOW" --expect >"$tmp/gen2.out" 2>&1 ||
	{ cat "$tmp/gen2.out"; fail "demo-gen --phase visits"; }
grep -q "2026-10 and 2026-11 up to 2026-11-20" "$tmp/gen2.out" || { cat "$tmp/gen2.out"; fail "visit span"; }
grep -qE "^ +[0-9]+ ok, 0 duplicate, 0 refused" "$tmp/gen2.out" || { cat "$tmp/gen2.out"; fail "visits refused"; }
ok

# expected MONTH AREA FIELD: a figure from the generator's --expect lines.
expected() {
	awk -v m="$1" -v a="$2" -v f="$3" '$1 == "expect" && $2 == m && $3 == a {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$tmp/gen2.out"
}
[[ $(expected 2026-10 $BANNER required) == "$ELDERS" ]] || fail "generator's own expectation is off"

# --- the banner's October report agrees with what was sent, figure by figure ---
expect 0 "S$BANNER" report --month 2026-10 --format json
python3 -m json.tool "$tmp/out" >/dev/null || fail "report JSON does not parse"
cp "$tmp/out" "$tmp/report-banner.json"
fields=(required visited party_required party_done neighbour_required neighbour_set_up neighbour_done)
check_report() { # JSON MONTH AREA
	for f in "${fields[@]}"; do
		got=$(python3 -c 'import json,sys; r=[x for x in json.load(open(sys.argv[1])) if x["area"]==sys.argv[2]]; print(r[0][sys.argv[3]] if r else "missing")' "$1" "$3" "$f")
		want=$(expected "$2" "$3" "$f")
		[[ -n $want && $got == "$want" ]] || fail "report $2 $3 $f: daemon says $got, generator sent $want"
		ok
	done
}
check_report "$tmp/report-banner.json" 2026-10 $BANNER
check_report "$tmp/report-banner.json" 2026-10 $TOWN
# The banner's 'required' is every elder generated; rates are percentages
# with one decimal, the banner row first at depth 0.
python3 - "$tmp/report-banner.json" "$ELDERS" <<'EOF' || fail "banner report rows"
import json, sys
rows = json.load(open(sys.argv[1]))
b = rows[0]
assert b["area"] == "152223" and b["name"] == "扎赉特旗" and b["depth"] == 0, b
assert b["required"] == int(sys.argv[2]), b
assert abs(b["visit_rate"] - round(1000 * b["visited"] / b["required"]) / 10) < 0.051, b
assert len([r for r in rows if r["depth"] == 1]) == 12, "12 townships and sumu"
assert all(len(r["area"]) == 12 for r in rows if r["depth"] == 2), "villages at depth 2"
assert sum(r["required"] for r in rows if r["depth"] == 1) == b["required"]
EOF
ok
# November so far, too.
expect 0 "S$BANNER" report --month 2026-11 --format json
cp "$tmp/out" "$tmp/report-nov.json"
check_report "$tmp/report-nov.json" 2026-11 $BANNER

# --depth 1: the banner and its townships only, nothing deeper.
expect 0 "S$BANNER" report --month 2026-11 --format json --depth 1
python3 - "$tmp/out" "$tmp/report-nov.json" <<'PY' || fail "report --depth 1"
import json, sys
short, full = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert short and all(r["depth"] <= 1 for r in short), short
assert [r for r in full if r["depth"] <= 1] == short
assert len(short) < len(full)
PY
ok

# --- a township supervisor ---
# The report: township row first, then its villages, indented; rates.
expect 0 "S$TOWN" report --month 2026-10
out_has "音德尔镇"
out_has "探访率%"
out_has "达标率%"
head -n 3 "$tmp/out" | tail -n 1 | grep -q "^$TOWN " || { cat "$tmp/out"; fail "township row not first"; }
grep -qE "^${TOWN}2[0-9][0-9]   " "$tmp/out" || { cat "$tmp/out"; fail "no indented village rows"; }
town_visited=$(expected 2026-10 $TOWN visited)
town_required=$(expected 2026-10 $TOWN required)
rate=$(python3 -c "import sys; print('%.1f' % (round(1000*$town_visited/$town_required)/10) if $town_required else '-')")
grep -E "^$TOWN " "$tmp/out" | grep -qF " $rate " || { cat "$tmp/out"; fail "township visit rate is not $rate"; }
ok
err_has "2026-10"

# A month to come has no report (it would read 0%): refused, as filing it is.
expect 1 "S$TOWN" report --month 2027-01
err_has "2027-01 has not begun"
[[ ! -s $tmp/out ]] || { cat "$tmp/out"; fail "a report of a month to come printed rows"; }

# Scope: another township, or the banner, is not theirs.
expect 1 "S$TOWN" report --month 2026-10 --area $OTHER
err_has "FORBIDDEN"
expect 1 "S$TOWN" overdue --area $BANNER
err_has "FORBIDDEN"

# The overdue list as JSON: every row inside the township; the "1+2 not set
# up" rows are exactly the generator's count (they fall due at once).
expect 0 "S$TOWN" overdue --per-page 1000 --format json
python3 -m json.tool "$tmp/out" >/dev/null || fail "overdue JSON does not parse"
cp "$tmp/out" "$tmp/overdue.json"
python3 - "$tmp/overdue.json" "$TOWN" "$(expected 2026-10 $TOWN not_set_up)" <<'EOF' || fail "overdue JSON content"
import json, sys
doc = json.load(open(sys.argv[1]))
rows = doc["items"]
assert doc["total"] == len(rows) and doc["total_exact"], "the total"
assert rows, "nothing overdue in a township where the generator left gaps"
assert all(r["area"].startswith(sys.argv[2]) for r in rows), "row outside the scope"
assert all(r["days_overdue"] >= 0 for r in rows), "without --within only overdue rows"
days = [r["days_overdue"] for r in rows]
assert days == sorted(days, reverse=True), "longest overdue first"
nsu = [r for r in rows if r["rule"] == "1+2_not_set_up"]
assert len(nsu) == int(sys.argv[3]), (len(nsu), sys.argv[3])
EOF
ok
# --within lists what falls due soon: the monthly visits due on 1 December.
expect 0 "S$TOWN" overdue --rule monthly_visit --within 15 --per-page 1000 --format json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["items"]; assert r and all(x["rule"]=="monthly_visit" for x in r) and any(x["days_overdue"] < 0 and x["due"]=="2026-12-01" for x in r), r' "$tmp/out" ||
	fail "--within 15 does not show the visits due on 2026-12-01"
ok

# The table: Chinese names in aligned columns, the page line on stderr.
expect 0 "S$TOWN" overdue --per-page 5
err_has "page 1 of"
python3 - "$tmp/out" <<'EOF' || { cat "$tmp/out"; fail "overdue table is not aligned"; }
import sys, unicodedata
def cells(line):
    """The character shown at each terminal cell (a wide one fills two)."""
    out = []
    for ch in line:
        out += [ch] * (2 if unicodedata.east_asian_width(ch) in "WF" else 1)
    return out
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) >= 3, "header, dashes and at least one row"
dashes = lines[1]
cols = []  # (start, end) of each column, from the line of dashes
for i, ch in enumerate(dashes):
    if ch == "-" and (i == 0 or dashes[i - 1] == " "):
        cols.append([i, i])
    if ch == "-":
        cols[-1][1] = i + 1
assert len(cols) == 8, cols
for line in [lines[0]] + lines[2:]:
    c = cells(line) + [" "] * 200
    # Text columns (elder, id, area, rule) start at their column.
    for start, _ in cols[:4]:
        assert c[start] != " " and (start == 0 or c[start - 1] == " "), (line, start)
    # Days overdue is right-aligned: it ends where its column ends.
    start, end = cols[6]
    assert c[end - 1] != " " and c[end] == " ", (line, end)
names = [l.split()[0] for l in lines[2:]]
assert any(unicodedata.east_asian_width(ch) == "W" for n in names for ch in n), "no Chinese name"
EOF
ok
# CSV for Excel: UTF-8 byte order mark, CRLF, header in Chinese and English.
expect 0 "S$TOWN" overdue --format csv --output "$tmp/overdue.csv"
[[ $(head -c 3 "$tmp/overdue.csv" | od -An -tx1 | tr -d ' \n') == efbbbf ]] || fail "CSV lacks the UTF-8 BOM"
ok
head -n 1 "$tmp/overdue.csv" | grep -q $'老人 Elder,.*\r$' || fail "CSV header"
ok
[[ ! -s $tmp/out ]] || fail "--output wrote to stdout too"
ok

# History of one elder of the township: newest first, every entry made by
# the elder's own grid worker, party member or neighbour households.
elder=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["elder_id"])' "$tmp/overdue.json")
name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["elder_name"])' "$tmp/overdue.json")
expect 0 "S$TOWN" history "$elder"
out_has "$name ($elder)"
expect 0 "S$TOWN" history "$elder" --format json
python3 - "$tmp/out" "$elder" <<'EOF' || fail "history content"
import json, sys
items = json.load(open(sys.argv[1]))
n = sys.argv[2][1:]
# The entry's registration is in the history too, signed by the admin.
reg = [i for i in items if i["type"].startswith("registry ")]
assert reg and reg[-1]["type"] == "registry registered" and reg[-1]["visitor_id"] == "admin", items
items = [i for i in items if not i["type"].startswith("registry ")]
assert items, "no history"
assert all(i["visitor_id"].startswith(("G", "P")) or i["visitor_id"] in ("N%sa" % n, "N%sb" % n) for i in items), items
whens = [i["when"] for i in items]
assert whens == sorted(whens, reverse=True), "newest first"
EOF
ok
# An elder of another township is outside the scope.
expect 0 "S$BANNER" overdue --area $OTHER --per-page 1 --format json
other_elder=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["items"]; print(r[0]["elder_id"] if r else "")' "$tmp/out")
if [[ -n $other_elder ]]; then
	expect 1 "S$TOWN" history "$other_elder"
	err_has "FORBIDDEN"
fi
expect 1 "S$TOWN" history E999999
err_has "UNKNOWN_ELDER"

# Activity for the quarter: the township's visitors' visits add up to what
# the generator had accepted from them.
expect 0 "S$TOWN" activity --period 2026-Q4 --format json
python3 - "$tmp/out" "$(awk -v a=$TOWN '$1=="expect-visits" && $2==a {print $3}' "$tmp/gen2.out")" <<'EOF' || fail "activity sum"
import json, sys
rows = json.load(open(sys.argv[1]))
total = sum(r["visits"] for r in rows)
assert total == int(sys.argv[2]), (total, sys.argv[2])
assert {r["role"] for r in rows} >= {"grid_worker", "party_member", "neighbour"}
assert all(r["door"] + r["phone"] + r["neighbour_checks"] <= r["visits"] for r in rows)
EOF
ok
expect 0 "S$TOWN" activity --period 2026-Q4 --role grid_worker
out_has "网格员"
grep -q "neighbour " "$tmp/out" && fail "--role grid_worker shows neighbours"
ok

# --- usage errors exit 2, an unreachable daemon 1 ---
expect 2 "S$TOWN" report --month 2026-13
expect 2 "S$TOWN" report
expect 2 "S$TOWN" activity --period 2026-Q5
expect 2 "S$TOWN" overdue --per-page 0
expect 2 "S$TOWN" history
expect 2 "S$TOWN" frobnicate
rc=0
"$SUPER" --endpoint "tcp://127.0.0.1:$(free_port)" --data "$tmp/data" --timeout 500 --now "$T_NOW" \
	overdue >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 1 ]] || fail "unreachable daemon: exit $rc, expected 1"
err_has "no reply"

kill -0 "$daemon_pid" || fail "tanfangd died"
stop_daemon
echo "$pass passed, 0 failed"
