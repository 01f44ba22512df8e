#!/usr/bin/env bash
# End to end (issue 11, items 1 to 4 and 8): the office's own elder list, as
# Excel and WPS save it, imports through tanfang-admin into a real tanfangd:
# UTF-8 CSV with a BOM, GB18030 "CSV" and UTF-16 "Unicode text" (made with
# iconv), .xlsx and .xls (made by tests/office-files.py with Debian's
# openpyxl and xlwt), with the office's headers, village and visitor names,
# ID-card numbers and dates as written. A bad file reports every problem in
# one run, with row and column; --dry-run finds what only the daemon knows
# (a person registered twice); visitors come in bulk with the elders each
# serves.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$ADMIN"
command -v iconv >/dev/null || { echo "SKIP: iconv needed"; exit 77; }
# Debian's python3 has python3-openpyxl and python3-xlwt (scripts/deps.sh);
# another python3 first on PATH may not.
PY=
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import openpyxl, xlwt' 2>/dev/null; then
		PY=$p
		break
	fi
done
[[ -n $PY ]] || { echo "SKIP: python3-openpyxl and python3-xlwt needed"; exit 77; }

run() {
	rc=0
	"$ADMIN" --endpoint "$EP" --timeout 10000 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

init_daemon
start_daemon
D=(--data "$tmp/data")

# --- the registry: two villages named 永安村, two visitors named 张伟 ---
expect 0 "${D[@]}" area add 152223 扎赉特旗
expect 0 "${D[@]}" area add 152223100 音德尔镇 --parent 152223
expect 0 "${D[@]}" area add 152223100201 巴彦乌兰嘎查 --parent 152223100
expect 0 "${D[@]}" area add 152223100202 永安村 --parent 152223100
expect 0 "${D[@]}" area add 152223101 新林镇 --parent 152223
expect 0 "${D[@]}" area add 152223101201 五家子村 --parent 152223101
expect 0 "${D[@]}" area add 152223101202 永安村 --parent 152223101
expect 0 "${D[@]}" visitor add gw-bywl 王海军 --role grid_worker --area 152223100201
expect 0 "${D[@]}" visitor add gw-yax 李红梅 --role grid_worker --area 152223100202
expect 0 "${D[@]}" visitor add gw-wjz 宝音 --role grid_worker --area 152223101201
expect 0 "${D[@]}" visitor add pm-01 刘建国 --role party_member --area 152223100
expect 0 "${D[@]}" visitor add zw-1 张伟 --role grid_worker --area 152223100201
expect 0 "${D[@]}" visitor add zw-2 张伟 --role party_member --area 152223100201

"$PY" "$(dirname "$0")/office-files.py" "$tmp/f" || fail "office-files.py"
read -r ID1 ID2 ID3 ID4 ID5 < <(sed -n 1p "$tmp/f/ids")
read -r BADCHECK FEB30 MISMATCH _ _ DUP NEWTWIN NEW1 NEW2 < <(sed -n 2p "$tmp/f/ids")

F=$tmp/f
{ printf '\xef\xbb\xbf'; cat "$F/office-utf8.csv"; } >"$F/office-bom.csv"
iconv -f UTF-8 -t GB18030 "$F/office-gb.txt" >"$F/office-gb.csv"
{ printf '\xff\xfe'; iconv -f UTF-8 -t UTF-16LE "$F/office-u16.txt"; } >"$F/office-u16le.txt"
{ printf '\xfe\xff'; iconv -f UTF-8 -t UTF-16BE "$F/office-u16.txt"; } >"$F/office-u16be.txt"

# check_elders PHONE: the five elders, as the file says, the first with PHONE.
check_elders() {
	expect 0 "${D[@]}" list elders --format json
	"$PY" - "$tmp/out" "$1" "$ID1" "$ID2" "$ID3" "$ID4" "$ID5" <<'PY' || fail "elders after import ($1)"
import json, sys
out, phone, id1, id2, id3, id4, id5 = sys.argv[1:]
rows = {r["id"]: r for r in json.load(open(out, encoding="utf-8"))}
assert set(rows) == {id1, id2, id3, id4, id5}, sorted(rows)
e = rows[id1]
assert e["name"] == "张桂兰" and e["area"] == "152223100201", e
assert e["birth_date"] == "1942-11-05", e          # from the ID-card number
assert e["phone"] == phone, e
assert e["categories"] == "living_alone;incapacitated", e
assert e["visitors"] == "gw-bywl", e
e = rows[id2]
assert e["birth_date"] == "1938-01-01" and e["categories"] == "extreme_poverty", e
assert e["visitors"] == "gw-bywl;pm-01", e
assert e["phone"] == "13904820000", e
e = rows[id3]
assert e["area"] == "152223100202" and e["birth_date"] == "1945-03-07", e
assert e["categories"] == "empty_nest;left_behind" and e["visitors"] == "gw-yax", e
e = rows[id4]
assert e["area"] == "152223101201" and e["birth_date"] == "1950-12-31", e
assert e["categories"] == "family_planning_special" and e["visitors"] == "", e
e = rows[id5]
assert e["birth_date"] == "1936-01-28" and e["visitors"] == "gw-wjz", e
assert e["categories"] == "incapacitated;severely_disabled" or e["categories"] == "severely_disabled;incapacitated", e
PY
}

count_elders() {
	expect 0 "${D[@]}" list elders --format json
	"$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/out"
}

# --- dry run of the UTF-8 file: the daemon checks, nothing is stored ---
expect 0 "${D[@]}" import elders "$F/office-bom.csv" --dry-run
out_has "5 elders ready to import (dry run: checked by the daemon, nothing stored)"
[[ $(count_elders) == 0 ]] || fail "a dry run stored elders"

# --- each format in turn; each changes the first elder's phone ---
expect 0 "${D[@]}" import elders "$F/office-bom.csv"
out_has "5 elders imported"
check_elders 13904821234
expect 0 "${D[@]}" import elders "$F/office-gb.csv"
check_elders 13900000001
expect 0 "${D[@]}" import elders "$F/office-u16le.txt"
check_elders 13900000002
expect 0 "${D[@]}" import elders "$F/office-u16be.txt"
check_elders 13900000002
expect 0 "${D[@]}" import elders "$F/office.xlsx"
err_has "line 2 is taken as the header; the 1 line above it is ignored"
check_elders 13900000003
expect 0 "${D[@]}" import elders "$F/office.xls"
check_elders 13900000004

# --- a bad file: every problem in one run, once each, with row and column ---
# idc BIRTH SEQ: an ID-card number with its check digit (seq odd: a man).
idc() {
	"$PY" -c 'import sys
b = "152223" + sys.argv[1] + "%03d" % int(sys.argv[2])
w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
print(b + "10X98765432"[sum(int(c) * x for c, x in zip(b, w)) % 11])' "$1" "$2"
}
TWIN_A=$(idc 19330303 41)
TWIN_B=$(idc 19330303 43)
cat >"$F/bad.csv" <<CSV
序号,姓名,身份证号码,出生年月,所属村（社区）,老人类别,包联人
1,甲,$BADCHECK,,巴彦乌兰嘎查,独居,
2,乙,$NEW1,,永安村,独居,
3,丙,$NEW2,,红旗村,独居,
4,丁,$(idc 19400505 91),,巴彦乌兰嘎查,独居,张伟
5,戊,$(idc 19400606 92),,巴彦乌兰嘎查,独居,李四
6,己,$FEB30,1945-02-30,巴彦乌兰嘎查,独居,
7,庚,$DUP,,巴彦乌兰嘎查,独居,
8,辛,$DUP,,巴彦乌兰嘎查,独居,
9,壬,$TWIN_A,,五家子村,独居,
10,壬,$TWIN_B,,五家子村,卧床,
11,癸,$MISMATCH,1944-05,五家子村,空巢,
CSV
expect 1 "${D[@]}" import elders "$F/bad.csv"
B=$F/bad.csv
err_has "$B: row 1 (line 2): column 身份证号码: '$BADCHECK' fails the check digit (GB 11643): a digit is mistyped"
err_has "$B: row 2 (line 3): column 所属村（社区）: '永安村' names 2 areas: 永安村 (152223100202, in 音德尔镇); 永安村 (152223101202, in 新林镇); write the code instead"
err_has "$B: row 3 (line 4): column 所属村（社区）: no area named '红旗村' in your scope"
err_has "$B: row 4 (line 5): column 包联人: '张伟' names 2 visitors: zw-1 (grid_worker, 巴彦乌兰嘎查); zw-2 (party_member, 巴彦乌兰嘎查); write the id instead"
err_has "$B: row 5 (line 6): column 包联人: no visitor named '李四' (or with that id) in your scope"
err_has "$B: row 6 (line 7): column 出生年月: '1945-02-30' is not a date"
err_has "$B: row 8 (line 9): column 身份证号码: the same id as row 7 (line 8)"
err_has "$B: row 10 (line 11): column 姓名: the same name and birth date in the same village as row 9 (line 10)"
err_has "$B: row 10 (line 11): column 老人类别: unknown category '卧床'"
err_has "$B: row 11 (line 12): column 出生年月: '1944-05' differs from the birth date 1944-04-04 in the ID-card number"
err_has "10 errors; nothing was imported"
[[ $(grep -c "bad.csv: row" "$tmp/err") == 10 ]] || { cat "$tmp/err"; fail "each problem once"; }
[[ $(count_elders) == 5 ]] || fail "a bad file stored elders"

# --- what only the daemon knows: the same person registered already, by
#     ID-card number or by name and birth date in the village ---
cat >"$F/twins.csv" <<CSV
编号,姓名,身份证号码,所属村（社区）
n-1,新人,$NEW1,巴彦乌兰嘎查
n-2,张桂兰,$NEWTWIN,巴彦乌兰嘎查
n-3,王福,$ID2,巴彦乌兰嘎查
CSV
T=$F/twins.csv
for mode in --dry-run ""; do
	expect 1 "${D[@]}" import elders "$T" $mode
	err_has "$T: row 2 (line 3): column 姓名: the same name and birth date (张桂兰, 1942-11-05) in area 152223100201 are already registered as elder $ID1: the same person twice?"
	err_has "$T: row 3 (line 4): column 身份证号码: ID-card number $ID2 is already registered as elder $ID2: the same person twice?"
	err_has "2 of 3 elders refused"
	[[ $(grep -c "twins.csv: row" "$tmp/err") == 2 ]] || { cat "$tmp/err"; fail "each once"; }
	[[ $(count_elders) == 5 ]] || fail "a refused import ($mode) stored elders"
done

# --- --map for headers the importer does not know ---
cat >"$F/map.csv" <<CSV
户主姓名,公民身份号码,村组,备注
新人,$NEW1,巴彦乌兰嘎查,x
CSV
expect 1 "${D[@]}" import elders "$F/map.csv"
err_has "missing required columns name (姓名), area"
# A --map that is not header=field, or names no field, is a usage error;
# one naming a header the file lacks (a typo) is said, not ignored.
expect 2 "${D[@]}" import elders "$F/map.csv" --map 'garbage'
err_has "--map: 'garbage' is not header=field"
expect 2 "${D[@]}" import elders "$F/map.csv" --map '户主姓名=nonsense'
err_has "'nonsense' is not a field"
expect 1 "${D[@]}" import elders "$F/map.csv" --map '户主姓名=name,村组=area,备住=-'
err_has "has no column '备住'"
expect 0 "${D[@]}" import elders "$F/map.csv" --map '户主姓名=name,村组=area,备注=-'
out_has "1 elders imported"
[[ $(count_elders) == 6 ]] || fail "--map import"

# --- visitors in bulk, with the elders each serves ---
expect 0 "${D[@]}" import visitors "$F/visitors.xlsx" --dry-run
out_has "4 visitors ready to import"
expect 0 "${D[@]}" import visitors "$F/visitors.xlsx"
out_has "4 visitors imported, with the elders each serves"
expect 0 "${D[@]}" list visitors --format json
"$PY" - "$tmp/out" <<'PY' || fail "imported visitors"
import json, sys
v = {r["id"]: r for r in json.load(open(sys.argv[1], encoding="utf-8"))}
assert v["13800000001"]["name"] == "白音" and v["13800000001"]["role"] == "grid_worker", v
assert v["13800000002"]["role"] == "party_member" and v["13800000002"]["area"] == "152223100", v
assert v["13800000003"]["role"] == "neighbour", v
PY
expect 0 "${D[@]}" list elders --format json
"$PY" - "$tmp/out" "$ID1" "$ID2" "$ID3" <<'PY' || fail "assignments"
import json, sys
rows = {r["id"]: r for r in json.load(open(sys.argv[1], encoding="utf-8"))}
e = rows[sys.argv[2]]
assert e["visitors"] == "gw-bywl;13800000001", e      # kept, and added
assert e["neighbours"] == "13800000003;13800000004", e
assert rows[sys.argv[3]]["visitors"] == "gw-bywl;pm-01;13800000001", rows[sys.argv[3]]
assert rows[sys.argv[4]]["visitors"] == "gw-yax;13800000002", rows[sys.argv[4]]
PY
# A third neighbour household for 张桂兰: only the daemon knows she has two.
cat >"$F/nb3.csv" <<CSV
姓名,身份,所属村（社区）,联系电话,包联老人
邻居丙,邻里户,巴彦乌兰嘎查,13800000005,张桂兰
某人,厨师,巴彦乌兰嘎查,13800000006,
CSV
expect 1 "${D[@]}" import visitors "$F/nb3.csv"
err_has "row 2 (line 3): column 身份: unknown role '厨师'"
sed -i '$d' "$F/nb3.csv"
expect 1 "${D[@]}" import visitors "$F/nb3.csv" --dry-run
err_has "nb3.csv: row 1 (line 2): column 包联老人: assignment 1 of 1 (visitor 13800000005, elder $ID1): elder $ID1: at most two neighbour households"
expect 0 "${D[@]}" list visitors --format json
grep -qF 13800000005 "$tmp/out" && fail "a refused visitor import stored the visitor"

# --- names are found in the importer's scope only: an admin of 新林镇 sees
#     one 永安村 (its own), and not 巴彦乌兰嘎查 ---
expect 0 "${D[@]}" key new "$tmp/xl.key"
xl_pk=$(grep -oE '[0-9a-f]{64}' "$tmp/out" | head -1)
expect 0 "${D[@]}" visitor add adm-xl 新林镇管理员 --role admin --area 152223101
expect 0 "${D[@]}" key enrol "$xl_pk" --visitor adm-xl
XL=(--key "$tmp/xl.key" --server-key-file "$tmp/data/curve.pub")
cat >"$F/xl.csv" <<CSV
姓名,身份证号码,所属村（社区）
新甲,$(idc 19350505 101),永安村
新乙,$(idc 19350606 103),巴彦乌兰嘎查
CSV
expect 1 "${XL[@]}" import elders "$F/xl.csv" --dry-run
err_has "row 2 (line 3): column 所属村（社区）: no area named '巴彦乌兰嘎查' in your scope"
[[ $(grep -c "xl.csv: row" "$tmp/err") == 1 ]] || { cat "$tmp/err"; fail "永安村 is one village in 新林镇's scope"; }
sed -i '$d' "$F/xl.csv"
expect 0 "${XL[@]}" import elders "$F/xl.csv"
expect 0 "${D[@]}" list elders --format csv
out_has "新甲,\""$'\t'"152223101202\""   # codes kept as text in CSV: a tab before them

# Zip bombs: refused at once with a reason, within a bounded size.
for bomb in bomb.xlsx bomb-texts.xlsx; do
	t0=$SECONDS
	expect 1 "${D[@]}" import elders "$F/$bomb" --dry-run
	err_has "unpacks to more than an office's list can"
	((SECONDS - t0 < 20)) || fail "$bomb took $((SECONDS - t0)) s"
done
# ... and those small unpacked but huge once read, within a bounded memory.
for bomb in bomb-far.xlsx bomb-copies.xlsx; do
	t0=$SECONDS
	rc=0
	# The client's peak memory, as the kernel counts it (ru_maxrss, KB).
	"$PY" -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1] + "/out", "w"), stderr=open(sys.argv[1] + "/err", "w"))
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$tmp" \
		"$ADMIN" --endpoint "$EP" --timeout 10000 "${D[@]}" import elders "$F/$bomb" --dry-run \
		>"$tmp/maxrss" || fail "$bomb: could not run"
	read -r rc kb <"$tmp/maxrss"
	[[ $rc == 1 ]] || { cat "$tmp/err"; fail "$bomb: exit $rc"; }
	err_has "would take more than 64 MB once read"
	((kb < 400000)) || fail "$bomb held $kb KB"
	((SECONDS - t0 < 20)) || fail "$bomb took $((SECONDS - t0)) s"
done

kill -0 "$daemon_pid" || fail "tanfangd died"
echo "e2e-import-office: ok ($pass checks)"
