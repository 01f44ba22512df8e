#!/usr/bin/env bash
# End to end: tanfang-admin against a real tanfangd on a loopback port.
# The registry is built by hand (area tree 152223 扎赉特旗 → township →
# village, visitors, keys, an elder), listed as table/csv/json, and the
# daemon's refusals (non-admin key, revoked key, bad parent) reach the user
# as a status on stderr and exit 1; usage errors exit 2.
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

# --- usage errors: exit 2, nothing sent ---
expect 2 "${D[@]}"
expect 2 "${D[@]}" area add
expect 2 "${D[@]}" area add 15222x 扎赉特旗
err_has "is not an area code"
expect 2 "${D[@]}" visitor add gw1 王海军 --area 152223
err_has "needs --role"
expect 2 "${D[@]}" visitor add gw1 王海军 --role astronaut --area 152223
expect 2 "${D[@]}" key enrol abcd --visitor gw1
expect 2 "${D[@]}" list everything
expect 2 "${D[@]}" --format xml list areas
expect 2 "${D[@]}" area add 152223 扎赉特旗 --dry-run
expect 2 area add 152223 扎赉特旗   # no key at all
# A day that does not exist is refused, not rolled into the next month.
for day in 2026-09-31 '2026-02-29 08:00' 2026-13-01 '2026-09-30 10:61'; do
	expect 2 "${D[@]}" --effective "$day" area add 152223 扎赉特旗
	err_has "is not a real date"
done

# --- the area tree ---
expect 0 "${D[@]}" area add 152223 扎赉特旗 --contact 0482-6121234
out_has "area 152223 扎赉特旗 stored"
expect 0 "${D[@]}" area add 152223100 音德尔镇 --parent 152223
expect 0 "${D[@]}" area add 152223100201 巴彦乌兰嘎查 --parent 152223100
# A parent that does not exist is the daemon's refusal: exit 1 with status.
expect 1 "${D[@]}" area add 152223999201 不存在村 --parent 152223999
err_has "STATUS_INVALID"

# --- visitors and keys ---
expect 0 "${D[@]}" visitor add gw-bywl 王海军 --role grid_worker --area 152223100201 --contact 13904820001
out_has "visitor gw-bywl 王海军 (grid_worker) stored"
expect 0 "${D[@]}" visitor add nb-01 邻居白音 --role neighbour --area 152223100201
expect 0 "${D[@]}" visitor add nb-02 邻居其木格 --role neighbour --area 152223100201
expect 0 "${D[@]}" key new "$tmp/gw.key"
gw_pk=$(cat "$tmp/out")
[[ $gw_pk =~ ^[0-9a-f]{64}$ ]] || fail "key new printed '$gw_pk'"
expect 0 "${D[@]}" key enrol "$gw_pk" --visitor gw-bywl
out_has "enrolled for gw-bywl"
expect 0 "${D[@]}" key enrol "$gw_pk" --visitor gw-bywl   # again: already there, fine
out_has "already enrolled"
expect 1 "${D[@]}" key enrol "$(printf '%064d' 7)" --visitor nobody
err_has "STATUS_NOT_FOUND"

# --- lists, with Chinese names, in three formats ---
expect 0 "${D[@]}" list areas
# Exact aligned lines: 巴彦乌兰嘎查 is 12 cells wide, so the name column is 12.
out_has "code          name          parent     contact"
out_has "------------  ------------  ---------  ------------"
out_has "152223        扎赉特旗                 0482-6121234"
out_has "152223100201  巴彦乌兰嘎查  152223100  "
expect 0 "${D[@]}" list areas --area 152223100 --format csv
[[ $(head -c 3 "$tmp/out" | od -An -tx1 | tr -d ' \n') == efbbbf ]] || fail "CSV does not start with a BOM"
grep -q $'\r$' "$tmp/out" || fail "CSV lines do not end in CRLF"
# Codes as text for Excel (issue 11): after a tab, so quoted.
out_has $'"\t152223100201",巴彦乌兰嘎查,"\t152223100",'
grep -qF "152223,扎赉特旗" "$tmp/out" && fail "--area 152223100 listed the banner above it"
expect 0 "${D[@]}" --format json list visitors
python3 - "$tmp/out" <<'PY' || fail "visitors JSON"
import json, sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
by_id = {r["id"]: r for r in rows}
assert by_id["gw-bywl"]["name"] == "王海军", by_id
assert by_id["gw-bywl"]["role"] == "grid_worker"
assert by_id["gw-bywl"]["area"] == "152223100201"
assert by_id["nb-02"]["name"] == "邻居其木格"
assert "admin" in by_id
PY
expect 0 "${D[@]}" list keys --format json
python3 - "$tmp/out" "$gw_pk" <<'PY' || fail "keys JSON"
import json, sys
rows = json.load(open(sys.argv[1]))
k = [r for r in rows if r["public_key"] == sys.argv[2]]
assert len(k) == 1 and k[0]["visitor"] == "gw-bywl" and k[0]["state"] == "active", rows
PY

# --- a non-admin key is refused: FORBIDDEN, exit 1, nothing changed ---
G=(--key "$tmp/gw.key" --server-key-file "$tmp/data/curve.pub")
expect 1 "${G[@]}" area add 152223100202 永安村 --parent 152223100
err_has "STATUS_FORBIDDEN"
expect 1 "${G[@]}" list areas
err_has "STATUS_FORBIDDEN"
expect 0 "${D[@]}" list areas --format csv
grep -qF "152223100202" "$tmp/out" && fail "a grid worker's key created an area"
# A key nobody enrolled.
expect 0 "${D[@]}" key new "$tmp/stranger.key"
expect 1 --key "$tmp/stranger.key" --server-key-file "$tmp/data/curve.pub" list areas
err_has "STATUS_UNKNOWN_SIGNER"

# --- an elder by hand, its "1+2" neighbours, visitors, status ---
expect 0 "${D[@]}" elder add zlt-9001 张桂兰 --area 152223100201 --address 巴彦乌兰嘎查一组12号 \
	--birth 1938/4/12 --categories 独居,incapacitated --tier high --lat 46.7312 --lon 122.9105 \
	--phone 13904821101
out_has "elder zlt-9001 张桂兰 stored"
expect 2 "${D[@]}" elder add zlt-9002 王福山 --area 152223100201 --lat 46.7
err_has "both --lat and --lon"
expect 2 "${D[@]}" elder add zlt-9002 王福山 --area 152223100201 --categories 独居,rich
expect 1 "${D[@]}" elder add zlt-9002 王福山 --area 152223100201 --visitors ghost
err_has "STATUS_INVALID"
# The day an elder entered the register: a real past date, or a usage error.
expect 2 "${D[@]}" elder add zlt-9003 赵淑珍 --area 152223100201 --registered 2099-01-01
err_has "--registered"
expect 0 "${D[@]}" elder add zlt-9003 赵淑珍 --area 152223100201 --registered 2026-09-01
# The same person twice (name and birth date in one village) is refused by
# hand as in an import; so is an edit that makes one elder another's twin.
expect 1 "${D[@]}" elder add zlt-9004 张桂兰 --area 152223100201 --birth 1938-04-12
err_has "already registered as elder zlt-9001: the same person twice?"
expect 0 "${D[@]}" elder add zlt-9004 张桂兰 --area 152223100201 --birth 1938-04-13
expect 1 "${D[@]}" elder edit zlt-9004 --birth 1938-04-12
err_has "already registered as elder zlt-9001"
expect 0 "${D[@]}" elder add zlt-9001 张桂兰 --area 152223100201 --address 巴彦乌兰嘎查一组12号 \
	--birth 1938/4/12 --categories 独居,incapacitated --tier high --lat 46.7312 --lon 122.9105 \
	--phone 13904821101 # the same elder again: no twin of itself
expect 0 "${D[@]}" elder remove zlt-9004 --reason error
expect 0 "${D[@]}" neighbours set zlt-9001 nb-01 nb-02
expect 0 "${D[@]}" visitors assign zlt-9001 gw-bywl
expect 1 "${D[@]}" neighbours set zlt-nobody nb-01
err_has "STATUS_UNKNOWN_ELDER"
expect 2 "${D[@]}" neighbours set zlt-9001 nb-01 nb-02 nb-01
expect 0 "${D[@]}" elder set-status zlt-9001 hospitalised
out_has "is now hospitalised"
expect 1 "${D[@]}" elder set-status zlt-nobody deceased
err_has "STATUS_UNKNOWN_ELDER"
expect 2 "${D[@]}" elder set-status zlt-9001 asleep
expect 0 "${D[@]}" list elders --format json
python3 - "$tmp/out" <<'PY' || fail "elders JSON"
import json, sys
rows = json.load(open(sys.argv[1], encoding="utf-8"))
assert [r["id"] for r in rows if r["status"] != "removed"] == ["zlt-9001", "zlt-9003"], rows
e = rows[0]
assert e["id"] == "zlt-9001" and e["name"] == "张桂兰", e
assert e["status"] == "hospitalised", e
assert e["tier"] == "high", e
assert e["categories"] == "living_alone;incapacitated", e
assert e["birth_date"] == "1938-04-12", e
assert abs(e["lat"] - 46.7312) < 1e-6 and abs(e["lon"] - 122.9105) < 1e-6, e
assert e["neighbours"] == "nb-01;nb-02", e
assert e["visitors"] == "gw-bywl", e
PY
expect 0 "${D[@]}" list elders
out_has "张桂兰"

# --- revoking a key: the device is refused from then on ---
expect 0 "${D[@]}" key revoke "$gw_pk"
expect 0 "${D[@]}" list keys --format csv
grep -F "$gw_pk" "$tmp/out" | grep -qF ",revoked," || fail "revoked key not listed as revoked"
expect 1 "${G[@]}" list elders
err_has "STATUS_UNKNOWN_SIGNER"
expect 1 "${D[@]}" key enrol "$gw_pk" --visitor gw-bywl
err_has "STATUS_INVALID"

# --- an unreachable daemon is exit 1, within the timeout ---
rc=0
"$ADMIN" "${D[@]}" --endpoint "tcp://127.0.0.1:$(free_port)" --timeout 300 list areas \
	>"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 1 ]] || fail "unreachable daemon: exit $rc"
err_has "no reply from"

kill -0 "$daemon_pid" || fail "tanfangd died"
echo "e2e-admin: ok"
