#!/usr/bin/env bash
# End to end (issue 11, items 5 and 6): exports that survive Excel and the
# command line as people use it, against a real tanfangd on a loopback port.
#
# tanfang-demo-gen registers 1,100 elders on 30 September; on 20 November
# every one of them is overdue, so the overdue export holds more than 1,000
# rows: CSV, xlsx and JSON must hold every row and state the total. An elder
# whose id is an 18-digit ID-card number, in a 12-digit village, named with a
# leading "=" (formula injection), shows the codes kept as text (a tab in
# CSV, a text cell in the xlsx, read back with unzip) and the name
# neutralised. Then: a typo'd rule, an unknown area or visitor is an error;
# --visitor finds a grid worker's elder-wide duties, which name the elder's
# assigned visitors; tables speak Chinese (English with --lang en); the
# printable report; --version and per-command --help everywhere.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$SUPER" "$GEN" "$ADMIN"
command -v unzip >/dev/null || { echo "SKIP: unzip needed"; exit 77; }

ELDERS=1100
T_REG=1790740800 # 2026-09-30 12:00 Asia/Shanghai
T_NOW=1795140000 # 2026-11-20 10:00 Asia/Shanghai
BANNER=152223
TOWN=152223100

run() { # run KEYNAME ARGS...: tanfang-super signed with demo-keys/KEYNAME.key
	local key=$1
	shift
	rc=0
	"$SUPER" --endpoint "$EP" --data "$tmp/data" --key "$tmp/data/demo-keys/$key.key" \
		--now "${CLIENT_NOW:-$T_NOW}" --timeout 20000 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
admin() {
	"$ADMIN" --endpoint "$EP" --data "$tmp/data" --now "$T_REG" --timeout 20000 "$@" \
		>"$tmp/admin.out" 2>&1 || { cat "$tmp/admin.out"; fail "tanfang-admin $*"; }
}

# ---- --version on every program, before any daemon ----
for p in "$TANFANGD" "$ADMIN" "$SUPER" "$FIELD" "$GEN" "$TANFANG_BIN/tanfang-alert" "${TANFANG_WEB:-}"; do
	[[ -n $p && -x $p ]] || continue
	v=$("$p" --version) || fail "$p --version exited $?"
	[[ $v =~ ^[a-z-]+\ \(tanfang\)\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$p --version said: $v"
	ok
done
# Per-command help: the command's own usage, then the global options.
rc=0
"$SUPER" overdue --help >"$tmp/out" 2>&1 || rc=$?
[[ $rc == 0 ]] && head -n 1 "$tmp/out" | grep -q "overdue \[--area CODE\]" || fail "overdue --help"
grep -q "report --month" "$tmp/out" && fail "overdue --help shows the report command too"
ok

init_daemon
start_daemon --now "$T_REG"
timeout 300 "$GEN" --endpoint "$EP" --data "$tmp/data" --elders "$ELDERS" --seed 11 \
	--timeout 20000 --phase registry --now "$T_REG" >"$tmp/gen.out" 2>&1 ||
	{ cat "$tmp/gen.out"; fail "demo-gen --phase registry"; }
grep -q " 0 refused" "$tmp/gen.out" || { cat "$tmp/gen.out"; fail "registry requests refused"; }
ok

# One elder as offices hold them: the id is an 18-digit ID-card number (with
# its GB 11643 check digit), in a 12-digit village, assigned to that
# village's grid worker; the name begins with "=".
CLIENT_NOW=$T_REG run "S$BANNER" overdue --area $TOWN --rule monthly_visit --within 40 --per-page 1 --format json
VILLAGE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["area"])' "$tmp/out")
[[ ${#VILLAGE} == 12 ]] || fail "expected a 12-digit village code, got '$VILLAGE'"
GRID=G$VILLAGE
IDNO=$(python3 -c '
b = "15222319450307001"
w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
print(b + "10X98765432"[sum(int(c) * x for c, x in zip(b, w)) % 11])')
NAME='=HYPERLINK("http://x.example/","点我")'
admin elder add "$IDNO" "$NAME" --area "$VILLAGE" --categories living_alone --visitors "$GRID"
stop_daemon
start_daemon --now "$T_NOW"

# ---- every overdue row, with the total ----
run "S$BANNER" overdue --format json
[[ $rc == 0 ]] || { cat "$tmp/err"; fail "overdue --format json exited $rc"; }
TOTAL=$(python3 - "$tmp/out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["total_exact"] is True, d["total_exact"]
assert d["total"] == len(d["items"]), (d["total"], len(d["items"]))
assert d["total"] > 1000, d["total"]
keys = [(i["elder_id"], i["rule"], i["duty"]) for i in d["items"]]
assert len(set(keys)) == len(keys), "a row twice"
print(d["total"])
EOF
) || fail "the JSON export"
ok
err_has "exported all $TOTAL rows"
# The table's own count agrees.
run "S$BANNER" overdue --per-page 10
err_has "共 $TOTAL 条"
run "S$BANNER" overdue --format csv --output "$tmp/overdue.csv"
[[ $rc == 0 ]] || { cat "$tmp/err"; fail "overdue --format csv exited $rc"; }
lines=$(python3 -c 'import csv,sys; print(len(list(csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline="")))))' "$tmp/overdue.csv")
[[ $lines == $((TOTAL + 1)) ]] || fail "CSV has $lines lines for $TOTAL rows and a header"
ok
err_has "exported all $TOTAL rows"
# Codes and ids as text, the formula neutralised.
python3 - "$tmp/overdue.csv" "$IDNO" "$VILLAGE" "$NAME" <<'EOF' || fail "CSV cells"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline="")))
head = rows[0]
mine = [r for r in rows[1:] if r[head.index("编号 Elder ID")] == "\t" + sys.argv[2]]
assert mine, "the 18-digit id is not written as tab + digits"
r = mine[0]
assert r[head.index("地区代码 Area code")] == "\t" + sys.argv[3], r
assert r[head.index("老人 Elder")] == "'" + sys.argv[4], r
# A negative number of a numeric column stays a number.
assert all(x[head.index("逾期天数 Days overdue")].lstrip("-").isdigit() for x in rows[1:])
# No cell of any row can start a formula.
assert not any(c[:1] in ("=", "+", "-", "@", "\r") and c != "-" for x in rows[1:] for i, c in enumerate(x)
               if head[i] != "逾期天数 Days overdue"), "a live formula"
EOF
ok

# xlsx: unzipped, the sheet holds the id and the code as strings, every
# row, and the name as text (never a formula).
run "S$BANNER" overdue --format xlsx --output "$tmp/overdue.xlsx"
[[ $rc == 0 ]] || { cat "$tmp/err"; fail "overdue --format xlsx exited $rc"; }
unzip -p "$tmp/overdue.xlsx" xl/worksheets/sheet1.xml >"$tmp/sheet1.xml" || fail "the xlsx does not unzip"
python3 - "$tmp/sheet1.xml" "$IDNO" "$VILLAGE" "$TOTAL" "$NAME" <<'EOF' || fail "xlsx cells"
import re, sys, xml.etree.ElementTree as ET
ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
root = ET.parse(sys.argv[1]).getroot()
rows = root.findall(".//m:sheetData/m:row", ns)
assert len(rows) == int(sys.argv[4]) + 1, (len(rows), sys.argv[4])
def text(c):
    return "".join(t.text or "" for t in c.iter("{%s}t" % ns["m"]))
cells = {}
for c in root.iter("{%s}c" % ns["m"]):
    cells.setdefault(text(c), []).append(c)
for want in (sys.argv[2], sys.argv[3], sys.argv[5]):
    assert want in cells, "no text cell " + want
    for c in cells[want]:
        assert c.get("t") in ("inlineStr", "s", "str"), (want, c.attrib)
        assert c.find("m:f", ns) is None, "a formula"
assert root.find(".//m:f", ns) is None, "a formula in the sheet"
EOF
ok

# ---- the command line as people use it ----
run "S$BANNER" overdue --rule monthly
[[ $rc == 1 ]] || fail "overdue --rule monthly (a typo) exited $rc, expected 1"
err_has "error:"
err_has "no rule 'monthly'"
err_has "monthly_visit"
run "S$BANNER" overdue --area 152223999
[[ $rc == 1 ]] || fail "an unknown area exited $rc"
err_has "no area 152223999"
run "S$BANNER" overdue --visitor G000000000000
[[ $rc == 1 ]] || fail "an unknown visitor exited $rc"
err_has "no visitor G000000000000"
run "S$BANNER" activity --period 2026-Q4 --visitor G000000000000
[[ $rc == 1 ]] || fail "activity for an unknown visitor exited $rc"
err_has "no visitor G000000000000"

# A grid worker's elder-wide duties: the monthly visits of the elders the
# grid worker is assigned to, each naming the grid worker.
run "S$BANNER" overdue --visitor "$GRID" --format json
[[ $rc == 0 ]] || { cat "$tmp/err"; fail "overdue --visitor $GRID exited $rc"; }
python3 - "$tmp/out" "$GRID" "$IDNO" <<'EOF' || fail "--visitor finds the grid worker's duties"
import json, sys
d = json.load(open(sys.argv[1]))
items = d["items"]
mv = [i for i in items if i["rule"] == "monthly_visit"]
assert mv, "no monthly visits for the grid worker"
assert all(sys.argv[2] in i["duty"] for i in mv), mv[:3]
assert any(i["elder_id"] == sys.argv[3] for i in mv), "the new elder is missing"
assert d["total"] == len(items)
EOF
ok
# The whole list names the grid worker on the elder's monthly visit too.
run "S$BANNER" overdue --area "$VILLAGE" --rule monthly_visit --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["items"]; r=[i for i in d if i["elder_id"]==sys.argv[2]]; assert r and sys.argv[3] in r[0]["duty"], r' \
	"$tmp/out" "$IDNO" "$GRID" || fail "an elder-wide duty does not name the assigned visitor"
ok

# Values in Chinese in a table, in English with --lang en.
run "S$BANNER" overdue --area "$VILLAGE" --rule monthly_visit --per-page 100
out_has "每月探访"
grep -q "monthly_visit" "$tmp/out" && fail "the table shows the rule's name, not its label"
ok
run "S$BANNER" --lang en overdue --area "$VILLAGE" --rule monthly_visit --per-page 100
out_has "monthly_visit"
run "S$BANNER" --lang fr overdue
[[ $rc == 2 ]] || fail "--lang fr exited $rc"
err_has "error:"

# The registry's list tables too: roles and statuses in Chinese.
"$ADMIN" --endpoint "$EP" --data "$tmp/data" --now "$T_NOW" list visitors --area "$VILLAGE" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "admin list visitors"; }
out_has "网格员"
"$ADMIN" --endpoint "$EP" --data "$tmp/data" --now "$T_NOW" --lang en list elders --area "$VILLAGE" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "admin list elders --lang en"; }
out_has "active"
grep -q "在册" "$tmp/out" && fail "--lang en still shows 在册"
ok

# History: an export names the elder on every row.
run "S$BANNER" history "$IDNO" --format csv
[[ $rc == 0 ]] || { cat "$tmp/err"; fail "history --format csv exited $rc"; }
head -n 1 "$tmp/out" | grep -q "老人编号 Elder ID,老人 Elder," || fail "history CSV header: $(head -n 1 "$tmp/out")"
ok

# The printable monthly report: one self-contained page.
run "S$BANNER" report --month 2026-10 --depth 1 --format html --output "$tmp/report.html"
[[ $rc == 0 ]] || { cat "$tmp/err"; fail "report --format html exited $rc"; }
for want in '<table>' '扎赉特旗' '应探访' '已探访' '探访率%' '党员探访' '“1+2”' '合计' '填报人' '审核人' '签字' '填报日期' "$TOWN"; do
	grep -qF -- "$want" "$tmp/report.html" || fail "the report lacks: $want"
	ok
done
grep -qiE '(src|href)=|<script|@import|url\(' "$tmp/report.html" && fail "the report loads something from elsewhere"
ok
run "S$BANNER" overdue --format html
[[ $rc == 2 ]] || fail "--format html on overdue exited $rc"

stop_daemon
echo "e2e-export: $pass checks passed"
