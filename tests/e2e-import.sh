#!/usr/bin/env bash
# End to end: bulk import of elders from CSV through tanfang-admin into a
# real tanfangd. deploy/elders-example.csv (BOM, Chinese headers) imports
# whole; a file with bad rows reports every one and stores nothing; a file
# the daemon refuses (an unknown visitor on its last row) stores nothing
# either, since ImportElders is all or nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$ADMIN"

run() {
	rc=0
	"$ADMIN" --endpoint "$EP" --timeout 10000 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

init_daemon
start_daemon

D=(--data "$tmp/data")
EXAMPLE="${TANFANG_SRC:-$(dirname "$0")/..}/deploy/elders-example.csv"
[[ -f $EXAMPLE ]] || fail "no $EXAMPLE"

# Number of elders the daemon lists, and whether an id is among them.
count_elders() {
	expect 0 "${D[@]}" list elders --format json
	python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/out"
}

# --- the registry the example file refers to ---
expect 0 "${D[@]}" area add 152223 扎赉特旗
expect 0 "${D[@]}" area add 152223100 音德尔镇 --parent 152223
expect 0 "${D[@]}" area add 152223100201 巴彦乌兰嘎查 --parent 152223100
expect 0 "${D[@]}" area add 152223100202 永安村 --parent 152223100
expect 0 "${D[@]}" area add 152223101 新林镇 --parent 152223
expect 0 "${D[@]}" area add 152223101201 五家子村 --parent 152223101
expect 0 "${D[@]}" visitor add gw-bywl 王海军 --role grid_worker --area 152223100201
expect 0 "${D[@]}" visitor add gw-yax 李红梅 --role grid_worker --area 152223100202
expect 0 "${D[@]}" visitor add gw-wjz 宝音 --role grid_worker --area 152223101201
expect 0 "${D[@]}" visitor add pm-01 刘建国 --role party_member --area 152223100
expect 0 "${D[@]}" visitor add pm-02 孟庆华 --role party_member --area 152223
for i in 1 2 3 4; do
	expect 0 "${D[@]}" visitor add "nb-0$i" "邻居$i" --role neighbour --area 152223100201
done
for i in 5 6; do
	expect 0 "${D[@]}" visitor add "nb-0$i" "邻居$i" --role neighbour --area 152223100202
done
for i in 7 8; do
	expect 0 "${D[@]}" visitor add "nb-0$i" "邻居$i" --role neighbour --area 152223101201
done

# --- dry run: checked by the daemon, nothing stored ---
expect 0 "${D[@]}" import elders "$EXAMPLE" --dry-run
out_has "20 elders ready to import"
[[ $(count_elders) == 0 ]] || fail "a dry run stored elders"

# --- the example file ---
expect 0 "${D[@]}" import elders "$EXAMPLE"
out_has "20 elders imported"
[[ $(count_elders) == 20 ]] || fail "expected 20 elders after the import"
python3 - "$tmp/out" <<'PY' || fail "imported elders"
import json, sys
rows = {r["id"]: r for r in json.load(open(sys.argv[1], encoding="utf-8"))}
e = rows["zlt-000001"]
assert e["name"] == "张桂兰" and e["area"] == "152223100201", e
assert e["categories"] == "living_alone;incapacitated" and e["tier"] == "high", e
assert e["neighbours"] == "nb-01;nb-02" and e["visitors"] == "gw-bywl;pm-01", e
assert rows["zlt-000003"]["birth_date"] == "1936-01-28", rows["zlt-000003"]
assert rows["zlt-000010"]["lat"] is None, rows["zlt-000010"]
assert rows["zlt-000020"]["address"] == "五家子村三社22号, 东院", rows["zlt-000020"]
assert rows["zlt-000006"]["name"] == "孟和巴雅尔"
PY
expect 0 "${D[@]}" list elders --area 152223101
out_has "乌云其其格"
grep -qF "张桂兰" "$tmp/out" && fail "--area 152223101 listed an elder of 152223100"
expect 0 "${D[@]}" list elders --format csv
out_has $'zlt-000013,乌云其其格,"\t152223101201",active' # the code as text for Excel

# --- two bad rows: both reported, exit 1, nothing stored ---
{
	printf '\xef\xbb\xbf编号,姓名,区划代码,出生日期,类别\r\n'
	printf 'zz-0001,白玉兰,152223100201,1941-02-03,独居\r\n'
	printf 'zz-0002,韩秀云,152223100201,1943-02-29,空巢\r\n'
	printf 'zz-0003,董立新,152223100201,1939-05-06,特困\r\n'
	printf 'zz-0004,苏和,152223100201,1940-01-01,卧床\r\n'
} >"$tmp/bad.csv"
expect 1 "${D[@]}" import elders "$tmp/bad.csv"
err_has "row 2 (line 3): column 出生日期: '1943-02-29' is not a date"
err_has "row 4 (line 5): column 类别: unknown category '卧床'"
err_has "2 errors; nothing was imported"
[[ $(count_elders) == 20 ]] || fail "elders changed after a refused file"
grep -qF "zz-000" "$tmp/out" && fail "an elder of the bad file was stored"

# --- a file only the daemon can refuse: the last row names a visitor that
#     does not exist. All or nothing: the first rows must not stay. ---
cat >"$tmp/refused.csv" <<'CSV'
id,name,area,visitors
yy-0001,白玉兰,152223100201,gw-bywl
yy-0002,韩秀云,152223100202,gw-yax
yy-0003,董立新,152223100201,gw-ghost
CSV
expect 1 "${D[@]}" import elders "$tmp/refused.csv"
err_has "row 3 (line 4): column visitors: no visitor named 'gw-ghost' (or with that id) in your scope"
[[ $(count_elders) == 20 ]] || fail "a refused import left elders behind"
grep -qF "yy-000" "$tmp/out" && fail "an elder of the refused file was stored"

# --- a lat column without lon, and the reverse: the importer read the
#     header before its first cell and crashed (issue 8, item 6). Now one
#     clear error for the file, exit 1, nothing stored. ---
printf 'id,name,area,lat\nll-0001,白玉兰,152223100201,46.1\nll-0002,韩秀云,152223100201,\n' \
	>"$tmp/lat-only.csv"
expect 1 "${D[@]}" import elders "$tmp/lat-only.csv"
err_has "column lat 'lat' has no lon column"
printf '编号,姓名,区划代码,经度\nll-0003,董立新,152223100201,122.9\n' >"$tmp/lon-only.csv"
expect 1 "${D[@]}" import elders "$tmp/lon-only.csv"
err_has "column lon '经度' has no lat column"
[[ $(count_elders) == 20 ]] || fail "a file with half a location stored elders"

# --- re-importing the same file is safe: the same 20 elders ---
expect 0 "${D[@]}" import elders "$EXAMPLE"
[[ $(count_elders) == 20 ]] || fail "re-import changed the number of elders"

# --- from standard input ---
rc=0
printf 'id,name,area\nxx-1,常青,152223100201\n' |
	"$ADMIN" --endpoint "$EP" "${D[@]}" import elders - >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 0 ]] || { cat "$tmp/err"; fail "import from stdin exited $rc"; }
[[ $(count_elders) == 21 ]] || fail "import from stdin"

# --- files that cannot be read or are not CSV ---
expect 1 "${D[@]}" import elders "$tmp/missing.csv"
err_has "cannot read"
expect 1 "${D[@]}" import elders "$tmp"
err_has "Is a directory"
# A header and only blank rows: nothing to import is an error, not "0 imported".
printf '姓名,所属村,编号\n\n,,\n' >"$tmp/header-only.csv"
expect 1 "${D[@]}" import elders "$tmp/header-only.csv"
err_has "no elders under the header"
printf 'id,name,area\nx1,\xff\xff\x80,15\n' >"$tmp/notext.csv"
expect 1 "${D[@]}" import elders "$tmp/notext.csv"
err_has "neither UTF-8 nor GB18030"

# --- corrections: a field edit, removal and restore, an import undone ---
status_of() { # ID -> the elder's status in 'list elders'
	expect 0 "${D[@]}" list elders --format json
	python3 -c 'import json,sys; print([r for r in json.load(open(sys.argv[1])) if r["id"]==sys.argv[2]][0]["status"])' "$tmp/out" "$1"
}
expect 2 "${D[@]}" elder edit zlt-000001
err_has "needs at least one field"
expect 2 "${D[@]}" elder remove zlt-000002
err_has "needs --reason"
expect 2 "${D[@]}" elder remove zlt-000002 --reason bored
expect 0 "${D[@]}" elder edit zlt-000001 --phone 13904829999
out_has "changed phone"
expect 0 "${D[@]}" list elders --format json
python3 - "$tmp/out" <<'PY' || fail "an edit of the phone changed more than the phone"
import json, sys
e = {r["id"]: r for r in json.load(open(sys.argv[1], encoding="utf-8"))}["zlt-000001"]
assert e["phone"] == "13904829999", e
assert e["categories"] == "living_alone;incapacitated" and e["tier"] == "high", e
assert e["neighbours"] == "nb-01;nb-02" and e["visitors"] == "gw-bywl;pm-01", e
assert e["name"] == "张桂兰" and e["birth_date"], e
PY
expect 1 "${D[@]}" elder edit nobody-1 --phone 1
err_has "STATUS_UNKNOWN_ELDER"
expect 0 "${D[@]}" elder remove zlt-000002 --reason error --note 重复录入
out_has "entered in error"
[[ $(status_of zlt-000002) == removed ]] || fail "zlt-000002 not removed"
expect 0 "${D[@]}" elder restore zlt-000002
[[ $(status_of zlt-000002) == active ]] || fail "zlt-000002 not restored"
# Restoring an elder that is not removed says so, instead of claiming it.
expect 1 "${D[@]}" elder restore zlt-000002
err_has "is not removed as entered in error: nothing to restore"
expect 1 "${D[@]}" elder restore nobody-1
err_has "STATUS_UNKNOWN_ELDER"
# 'removed' is not a status to set: it points to the removal.
expect 2 "${D[@]}" elder set-status zlt-000002 removed
err_has "elder remove zlt-000002 --reason error"
expect 0 "${D[@]}" elder remove zlt-000003 --reason deceased
[[ $(status_of zlt-000003) == deceased ]] || fail "zlt-000003 not deceased"
printf 'id,name,area\nmis-1,误录一,152223100201\nmis-2,误录二,152223100201\n' >"$tmp/mistake.csv"
expect 0 "${D[@]}" import elders "$tmp/mistake.csv"
batch=$(sed -n 's/.*(batch \([0-9a-f]\{64\}\);.*/\1/p' "$tmp/out")
[[ ${#batch} == 64 ]] || fail "import printed no batch: $(cat "$tmp/out")"
expect 2 "${D[@]}" import undo 1234
expect 1 "${D[@]}" import undo "$(printf '%064d' 0)"
err_has "STATUS_NOT_FOUND"
expect 0 "${D[@]}" import undo "$batch"
out_has "2 elders of the import removed"
[[ $(status_of mis-1) == removed && $(status_of mis-2) == removed ]] || fail "import not undone"
[[ $(status_of zlt-000001) == active ]] || fail "undo touched an elder of another import"

kill -0 "$daemon_pid" || fail "tanfangd died"
echo "e2e-import: ok"
