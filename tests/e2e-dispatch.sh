#!/usr/bin/env bash
# End to end: alert dispatch. A real tanfangd on a temporary folder and a
# loopback port, the registry built with tanfang-admin, visits and care events
# sent with tanfang-field, and tanfang-alert delivering to a real HTTP receiver
# (tests/dispatch-receiver.py), a shell command, and a stand-in sendmail.
#
#  (a) repeated dispatcher runs deliver each alert exactly once;
#  (b) a failing sink (HTTP 500, a command exiting 1) makes the run exit 1 and
#      the next run delivers the alert, once; --dry-run acknowledges nothing;
#  (c) an urgent fall recorded on a field device reaches the sink;
#  (d) with the daemon's clock moved forward (--now), elders become overdue:
#      one overdue alert per elder, rule and period, an escalation a week
#      later, and none for an elder recorded as deceased;
#  (e) two dispatchers started together deliver every alert once in total;
#  plus the mail sink's message, the exit codes 2 and 3, and keygen.
set -euo pipefail

: "${TANFANGD:?set TANFANGD to the tanfangd binary}"
: "${TANFANG_BIN:?set TANFANG_BIN to the clients folder}"
: "${TANFANG_SRC:?set TANFANG_SRC to the source tree}"
ADMIN="$TANFANG_BIN/tanfang-admin"
FIELD="$TANFANG_BIN/tanfang-field"
ALERT="$TANFANG_BIN/tanfang-alert"
SUPER="$TANFANG_BIN/tanfang-super"
RECEIVER="$TANFANG_SRC/tests/dispatch-receiver.py"
for b in "$TANFANGD" "$ADMIN" "$FIELD" "$ALERT" "$SUPER"; do
	if [[ ! -x $b ]]; then
		echo "SKIP: $b not built"
		exit 77
	fi
done
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
# The receiver is on loopback: no proxy in between.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

tmp=$(mktemp -d "${TMPDIR:-/tmp}/e2e-dispatch.XXXXXX")
# No test reads an installed file (/etc/tanfang): the programs' default
# config folder is one that does not exist, unless a step makes it.
export TANFANG_SYSCONFDIR="$tmp/etc"
daemon_pid=
receiver_pid=
cleanup() {
	for p in $daemon_pid $receiver_pid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ -z ${TFT_KEEP:-} ]]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	echo "--- daemon log:" >&2
	tail -n 30 "$tmp/daemon.log" >&2 || true
	echo "--- last dispatcher stderr:" >&2
	cat "$tmp/alert.err" >&2 || true
	exit 1
}
step() { echo "== $*"; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---- the daemon, restartable with a pinned clock ----

port=$(free_port)
EP="tcp://127.0.0.1:$port"
# One rule, every 3 days, for elders with a category: overdue times are then
# plain arithmetic on the registration time, whatever today's date is.
cat >"$tmp/policy.conf" <<EOF
[policy]
timezone = Asia/Shanghai
high_risk = none

[rule.visit_3d]
elders = special
kinds = door, phone
duty = elder
period = days:3
report = visit
EOF
# The clients sign with the real clock; the pinned daemon clock runs up to
# 12 days ahead, inside this skew allowance.
cat >"$tmp/tanfangd.conf" <<EOF
[daemon]
data_dir = $tmp/data
listen = $EP
policy = $tmp/policy.conf
workers = 2

[ingest]
max_skew_s = 2592000
EOF

start_daemon() { # [--now SECONDS]
	: >"$tmp/daemon.log"
	"$TANFANGD" run --config "$tmp/tanfangd.conf" "$@" >"$tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 150); do
		grep -q "listening on" "$tmp/daemon.log" 2>/dev/null && return 0
		kill -0 "$daemon_pid" 2>/dev/null || fail "tanfangd exited before listening"
		sleep 0.1
	done
	fail "tanfangd did not listen within 15 s"
}
stop_daemon() {
	kill "$daemon_pid"
	local rc=0
	for _ in $(seq 150); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$daemon_pid" || rc=$?
	daemon_pid=
	[[ $rc == 0 ]] || fail "tanfangd exited $rc on SIGTERM"
}

"$TANFANGD" init --config "$tmp/tanfangd.conf" >"$tmp/init.log" 2>&1 ||
	{ cat "$tmp/init.log"; fail "tanfangd init"; }
T0=$(date +%s)
start_daemon

# ---- the HTTP receiver ----

python3 "$RECEIVER" --port-file "$tmp/recv.port" --log "$tmp/recv.log" \
	--failed-log "$tmp/recv-failed.log" --fail-file "$tmp/recv.fail" --delay-ms 20 \
	2>"$tmp/receiver.err" &
receiver_pid=$!
for _ in $(seq 100); do
	[[ -s $tmp/recv.port ]] && break
	kill -0 "$receiver_pid" 2>/dev/null || { cat "$tmp/receiver.err"; fail "receiver exited"; }
	sleep 0.1
done
[[ -s $tmp/recv.port ]] || fail "receiver did not start within 10 s"
URL="http://127.0.0.1:$(cat "$tmp/recv.port")/alerts"
touch "$tmp/recv.log" "$tmp/recv-failed.log"

# ---- registry ----

admin() {
	"$ADMIN" --data "$tmp/data" --endpoint "$EP" --timeout 10000 "$@" >"$tmp/admin.out" 2>&1 ||
		{ cat "$tmp/admin.out"; fail "tanfang-admin $*"; }
}
step "registry"
admin area add 152223 扎赉特旗 --contact banner-duty@example.org
admin area add 152223100 音德尔镇 --parent 152223 --contact 0482-6120001
admin visitor add gw1 王海军 --role grid_worker --area 152223100 --contact 13904820001
admin visitor add sup1 李主任 --role supervisor --area 152223 --contact sup1@example.org
admin visitor add disp1 提醒调度 --role dispatcher --area 152223
# Elders E1..E3 have no category, so the visit rule does not apply to them:
# the first part sees only the alerts its care events make.
admin elder add E1 张桂兰 --area 152223100 --visitors gw1
admin elder add E2 巴特尔 --area 152223100 --visitors gw1
admin elder add E3 其其格 --area 152223100 --visitors gw1
# D-* are under the 3-day rule from now on (part d).
admin elder add D-alive 乌云 --area 152223100 --categories living_alone --visitors gw1
admin elder add D-dead 阿拉坦 --area 152223100 --categories living_alone --visitors gw1
admin elder add D-late 萨仁 --area 152223100 --categories living_alone --visitors gw1
admin elder add D-ctrl 图雅 --area 152223100 --categories living_alone --visitors gw1

"$ALERT" keygen --key "$tmp/disp.key" >"$tmp/disp.pub" 2>"$tmp/alert.err" || fail "keygen"
grep -qE '^[0-9a-f]{64}$' "$tmp/disp.pub" || fail "keygen printed '$(cat "$tmp/disp.pub")'"
admin key enrol "$(cat "$tmp/disp.pub")" --visitor disp1
# A dispatcher may read the areas of its scope, so its overdue list
# (tanfang-super) names villages as a supervisor's does; nothing else of the
# registry.
DISP=(--endpoint "$EP" --server-key-file "$tmp/data/curve.pub" --key "$tmp/disp.key")
"$ADMIN" "${DISP[@]}" list areas >"$tmp/disp.out" 2>&1 || { cat "$tmp/disp.out"; fail "areas as dispatcher"; }
grep -q "音德尔镇" "$tmp/disp.out" || { cat "$tmp/disp.out"; fail "dispatcher cannot read area names"; }
if "$ADMIN" "${DISP[@]}" list elders >"$tmp/disp.out" 2>&1; then fail "a dispatcher listed elders"; fi
grep -q "STATUS_FORBIDDEN" "$tmp/disp.out" || { cat "$tmp/disp.out"; fail "elders as dispatcher"; }
"$FIELD" --dir "$tmp/field" keygen >"$tmp/field.pub" 2>/dev/null || fail "field keygen"
admin key enrol "$(head -n 1 "$tmp/field.pub")" --visitor gw1

field() { # record one visit or event on the field device (its clock: FIELD_NOW if set)
	"$FIELD" --dir "$tmp/field" ${FIELD_NOW:+--now "$FIELD_NOW"} "$@" >"$tmp/field.out" 2>&1 ||
		{ cat "$tmp/field.out"; fail "tanfang-field $*"; }
}
sync_field() {
	"$FIELD" --dir "$tmp/field" sync --endpoint "$EP" --server-key-file "$tmp/data/curve.pub" \
		--timeout 10000 >"$tmp/field.out" 2>&1 || { cat "$tmp/field.out"; fail "tanfang-field sync"; }
	grep -q "refused 0, still pending 0" "$tmp/field.out" || { cat "$tmp/field.out"; fail "sync left records behind"; }
}

# ---- dispatcher helpers ----

# dispatch WANT_RC ARGS...: one bounded run against the daemon.
dispatch() {
	local want=$1 rc=0
	shift
	timeout 120 "$ALERT" --endpoint "$EP" --data "$tmp/data" --key "$tmp/disp.key" \
		--timeout 10000 "$@" >"$tmp/alert.out" 2>"$tmp/alert.err" || rc=$?
	[[ $rc == "$want" ]] || { cat "$tmp/alert.out"; fail "tanfang-alert $* exited $rc, expected $want"; }
}
lines() { wc -l <"$1" | tr -d ' '; }
# Alert ids of a JSON-lines file, one per line.
ids_of() { python3 -c 'import json,sys
for l in open(sys.argv[1], encoding="utf-8"):
    if l.strip(): print(json.loads(l)["id"])' "$1"; }
# Every alert delivered by any sink must appear once across all of them.
ledger() { cat "$tmp/recv.log" "$tmp/cmd.log" "$tmp/mail.ids" 2>/dev/null; }
no_duplicates() {
	local dups
	dups=$(for f in "$tmp/recv.log" "$tmp/cmd.log"; do if [[ -s $f ]]; then ids_of "$f"; fi; done |
		cat - "$tmp/mail.ids" | sort | uniq -d)
	[[ -z $dups ]] || fail "alerts delivered more than once: $dups"
}
# query FILE PYTHON-EXPR: count alerts a in FILE for which EXPR holds.
count_where() { python3 -c 'import json,sys
n=0
for l in open(sys.argv[1], encoding="utf-8"):
    if l.strip():
        a=json.loads(l)
        if eval(sys.argv[2]): n+=1
print(n)' "$1" "$2"; }
touch "$tmp/cmd.log" "$tmp/mail.ids"

# ---- (a) exactly once over repeated runs ----
step "(a) repeated runs deliver each alert once"
field event --elder E1 --type fall --severity urgent --note a1
field event --elder E1 --type emergency_call --severity warning --note a2
field event --elder E2 --type hazard_found --severity info --note a3
field event --elder E2 --type illness --severity urgent --note a4
field event --elder E3 --type fall --severity warning --note a5
field event --elder E3 --type illness --severity info --note not-urgent
field event --elder E3 --type service_delivered --aid meals --severity info --note not-urgent
sync_field
dispatch 0 --webhook "$URL"
[[ $(lines "$tmp/recv.log") == 5 ]] || { cat "$tmp/recv.log"; fail "(a) first run delivered $(lines "$tmp/recv.log"), expected 5"; }
grep -q "5 delivered" "$tmp/alert.err" || fail "(a) summary lacks '5 delivered'"
dispatch 0 --webhook "$URL"
dispatch 0 --webhook "$URL"
[[ $(lines "$tmp/recv.log") == 5 ]] || fail "(a) later runs delivered again: $(lines "$tmp/recv.log") lines"
[[ $(ids_of "$tmp/recv.log" | sort -u | wc -l) == 5 ]] || fail "(a) ids not unique"
[[ $(count_where "$tmp/recv.log" 'a["kind"]=="urgent_event"') == 5 ]] || fail "(a) not all urgent_event"
[[ $(count_where "$tmp/recv.log" '"not-urgent" in a["message"]') == 0 ]] || fail "(a) a non-urgent event made an alert"
for n in a1 a2 a3 a4 a5; do
	[[ $(count_where "$tmp/recv.log" "a['message'].endswith('$n')") == 1 ]] || fail "(a) event $n not delivered once"
done
# The JSON shape of docs/alerts.md.
python3 - "$tmp/recv.log" <<'EOF' || fail "(a) alert JSON shape"
import json, re, sys
for l in open(sys.argv[1], encoding="utf-8"):
    a = json.loads(l)
    assert list(a) == ["id", "kind", "elder_id", "elder_name", "area", "rule", "message",
                       "recipients", "contacts", "created_at", "attempts"], list(a)
    assert re.fullmatch(r"[0-9a-f]{32}", a["id"]), a["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a["created_at"]), a["created_at"]
    assert a["attempts"] == 1, a
    assert a["area"] == "152223100" and "gw1" in a["recipients"], a
    assert "13904820001" in a["contacts"] and "sup1@example.org" in a["contacts"], a
EOF
no_duplicates

# ---- (b) failing sinks, retries, dry run ----
step "(b) a failing webhook: exit 1, delivered once on the next run"
field event --elder E1 --type fall --severity urgent --note b1
field event --elder E2 --type fall --severity urgent --note b2
sync_field
echo 2 >"$tmp/recv.fail"
dispatch 1 --webhook "$URL"
grep -q "HTTP status 500" "$tmp/alert.err" || fail "(b) stderr does not name the 500"
[[ $(lines "$tmp/recv-failed.log") == 2 ]] || fail "(b) receiver saw $(lines "$tmp/recv-failed.log") failed posts, expected 2"
[[ $(lines "$tmp/recv.log") == 5 ]] || fail "(b) a refused alert counted as delivered"
dispatch 0 --webhook "$URL"
[[ $(lines "$tmp/recv.log") == 7 ]] || fail "(b) retry delivered $(($(lines "$tmp/recv.log") - 5)), expected 2"
for n in b1 b2; do
	[[ $(count_where "$tmp/recv.log" "a['message'].endswith('$n')") == 1 ]] || fail "(b) $n not delivered once"
	[[ $(count_where "$tmp/recv.log" "a['message'].endswith('$n') and a['attempts']==2") == 1 ]] ||
		fail "(b) $n: attempts should be 2 after one failure"
done
dispatch 0 --webhook "$URL"
[[ $(lines "$tmp/recv.log") == 7 ]] || fail "(b) delivered again after the retry"

step "(b) a failing command, --dry-run, then a command from a config file"
field event --elder E3 --type emergency_call --severity urgent --note b3
sync_field
dispatch 1 --command 'cat >/dev/null; echo "gateway says no" >&2; exit 1'
grep -q "exited with status 1" "$tmp/alert.err" || fail "(b) stderr does not say the command failed"
dispatch 1 --command 'sleep 60' --sink-timeout 1
grep -q "no result within 1 s" "$tmp/alert.err" || fail "(b) a hung command was not timed out"
# A dry run shows the alert and leaves it pending.
dispatch 0 --dry-run
[[ $(count_where "$tmp/alert.out" "a['message'].endswith('b3')") == 1 ]] || fail "(b) --dry-run did not print the alert"
cat >"$tmp/alert.conf" <<EOF
# as deploy/tanfang-alert.conf, pointed at this test's daemon
[daemon]
endpoint = $EP
server_key_file = $tmp/data/curve.pub
key = $tmp/disp.key
timeout_ms = 10000

[dispatch]
batch = 10
lease_s = 120
max_alerts_per_run = 1000

[sink.command]
command = cat >>'$tmp/cmd.log' && test "\$TANFANG_ALERT_KIND" = urgent_event
timeout_s = 10
EOF
rc=0
timeout 120 "$ALERT" --config "$tmp/alert.conf" >"$tmp/alert.out" 2>"$tmp/alert.err" || rc=$?
[[ $rc == 0 ]] || fail "(b) config-file run exited $rc"
[[ $(lines "$tmp/cmd.log") == 1 ]] || { cat "$tmp/cmd.log"; fail "(b) command sink got $(lines "$tmp/cmd.log") alerts, expected 1"; }
[[ $(count_where "$tmp/cmd.log" "a['message'].endswith('b3') and a['attempts']==4") == 1 ]] ||
	{ cat "$tmp/cmd.log"; fail "(b) command sink did not get b3 after 3 earlier attempts"; }
dispatch 0 --webhook "$URL"
[[ $(lines "$tmp/recv.log") == 7 ]] || fail "(b) the webhook got b3 after the command delivered it"
no_duplicates

# ---- (c) an urgent fall from the field reaches the sink ----
step "(c) urgent fall"
field event --elder E2 --type fall --severity urgent --note 卫生间滑倒
sync_field
dispatch 0 --webhook "$URL"
[[ $(lines "$tmp/recv.log") == 8 ]] || fail "(c) expected one new alert"
tail -n 1 "$tmp/recv.log" >"$tmp/c.json"
python3 - "$tmp/c.json" <<'EOF' || { cat "$tmp/c.json"; fail "(c) the fall alert"; }
import json, sys
a = json.loads(open(sys.argv[1], encoding="utf-8").read())
assert a["kind"] == "urgent_event" and a["elder_id"] == "E2" and a["elder_name"] == "巴特尔", a
assert a["message"].startswith("紧急：巴特尔（E2，音德尔镇）"), a["message"]
assert "跌倒" in a["message"] and "上报人 gw1" in a["message"] and "卫生间滑倒" in a["message"], a
assert a["rule"] == "" and a["recipients"][0] == "gw1", a
EOF

# ---- the mail sink ----
step "mail sink"
cat >"$tmp/sendmail" <<EOF
#!/bin/sh
# stands in for /usr/sbin/sendmail: keeps the arguments and the message
n=\$(ls '$tmp/mail' | wc -l)
echo "\$*" >'$tmp/mail/args'
cat >"$tmp/mail/\$n.eml"
EOF
chmod +x "$tmp/sendmail"
mkdir "$tmp/mail"
cat >"$tmp/mail.conf" <<EOF
[daemon]
endpoint = $EP
server_key_file = $tmp/data/curve.pub
key = $tmp/disp.key

[sink.mail]
sendmail = $tmp/sendmail
from = tanfang@example.org
to-default = duty@example.org
EOF
field event --elder E1 --type hazard_found --severity warning --note 煤气泄漏
sync_field
rc=0
timeout 120 "$ALERT" --config "$tmp/mail.conf" >"$tmp/alert.out" 2>"$tmp/alert.err" || rc=$?
[[ $rc == 0 ]] || fail "mail run exited $rc"
[[ $(cat "$tmp/mail/args") == "-t -i" ]] || fail "sendmail arguments: $(cat "$tmp/mail/args")"
python3 - "$tmp/mail/0.eml" "$tmp/mail.ids" <<'EOF' || { cat "$tmp/mail/0.eml"; fail "mail message"; }
import email, email.policy, sys
raw = open(sys.argv[1], "rb").read()
raw.decode("ascii")  # 7-bit clean: subject RFC 2047, body base64
m = email.message_from_bytes(raw, policy=email.policy.default)
assert m["From"] == "tanfang@example.org", m["From"]
# The alert's mail contacts (the banner's and the supervisor's), not to-default.
assert sorted(a.addr_spec for a in m["To"].addresses) == ["banner-duty@example.org", "sup1@example.org"], m["To"]
assert m["Subject"] == "[探访提醒] 紧急事件：张桂兰（E1）", m["Subject"]
body = m.get_content()
assert "发现安全隐患" in body and "煤气泄漏" in body, body
aid = m["X-Tanfang-Alert-Id"]
assert m["Message-ID"] == "<%s@tanfang-alert>" % aid
open(sys.argv[2], "a").write(aid + "\n")
EOF
no_duplicates

# ---- refusals: exit 2 and 3 ----
step "exit codes"
dispatch 2 # no sink
dispatch 2 --webhook ftp://example.org/
printf '[dispatch]\nbatch = 0\n' >"$tmp/bad.conf"
dispatch 2 --config "$tmp/bad.conf" --stdout
grep -q "bad.conf:2:" "$tmp/alert.err" || fail "config error does not name file:line"
rc=0
"$ALERT" keygen --key "$tmp/disp.key" >/dev/null 2>"$tmp/alert.err" || rc=$?
[[ $rc == 1 ]] && grep -q "never overwritten" "$tmp/alert.err" || fail "keygen overwrote or exited $rc"
# A key the daemon does not know, and a device key (role grid_worker).
"$ALERT" keygen --key "$tmp/stranger.key" >/dev/null
rc=0
"$ALERT" --endpoint "$EP" --data "$tmp/data" --key "$tmp/stranger.key" --stdout >/dev/null 2>"$tmp/alert.err" || rc=$?
[[ $rc == 3 ]] || fail "unknown key: exit $rc, expected 3"
rc=0
"$ALERT" --endpoint "$EP" --data "$tmp/data" --key "$tmp/field/device.key" --stdout >/dev/null 2>"$tmp/alert.err" || rc=$?
[[ $rc == 3 ]] && grep -q FORBIDDEN "$tmp/alert.err" || fail "device key: exit $rc, expected 3 with FORBIDDEN"
rc=0
"$ALERT" --endpoint "tcp://127.0.0.1:$(free_port)" --data "$tmp/data" --key "$tmp/disp.key" --timeout 500 \
	--stdout >/dev/null 2>"$tmp/alert.err" || rc=$?
[[ $rc == 3 ]] || fail "unreachable daemon: exit $rc, expected 3"

# ---- (e) two dispatchers at once ----
step "(e) two concurrent dispatchers"
before=$(lines "$tmp/recv.log")
for i in $(seq 30); do
	field event --elder "E$((i % 3 + 1))" --type fall --severity urgent --note "e$i"
done
sync_field
pids=()
for n in 1 2; do
	timeout 120 "$ALERT" --endpoint "$EP" --data "$tmp/data" --key "$tmp/disp.key" --batch 4 \
		--webhook "$URL" >"$tmp/conc$n.out" 2>"$tmp/conc$n.err" &
	pids+=($!)
done
for n in 0 1; do
	rc=0
	wait "${pids[$n]}" || rc=$?
	[[ $rc == 0 ]] || { cat "$tmp/conc$((n + 1)).err"; fail "(e) dispatcher $((n + 1)) exited $rc"; }
done
after=$(lines "$tmp/recv.log")
[[ $((after - before)) == 30 ]] || fail "(e) delivered $((after - before)), expected 30"
for i in $(seq 30); do
	[[ $(count_where "$tmp/recv.log" "a['message'].endswith('e$i')") == 1 ]] || fail "(e) e$i not delivered exactly once"
done
echo "   dispatcher 1: $(grep -o '[0-9]* delivered' "$tmp/conc1.err" || echo 0 delivered)," \
	"dispatcher 2: $(grep -o '[0-9]* delivered' "$tmp/conc2.err" || echo 0 delivered)"
no_duplicates

# ---- (d) overdue, escalation, and a deceased elder ----
# Every D-* elder was registered at about T0 under a 3-day rule, never
# visited: due at T0+3d. Alerts are made when a dispatcher fetches.
overdue_for() { count_where "$tmp/recv.log" "a['kind']=='$1' and a['elder_id']=='$2'"; }

TB=$((T0 + 4 * 86400 + 3600))
step "(d) daemon clock at T0+4d: D-dead dies before any sweep sees it overdue"
stop_daemon
start_daemon --now "$TB"
FIELD_NOW=$TB # the device's clock agrees with the daemon's
field event --elder D-dead --type deceased --severity info --at "$TB" --note 病故
sync_field
dispatch 0 --webhook "$URL"
for e in D-alive D-late D-ctrl; do
	[[ $(overdue_for overdue "$e") == 1 ]] || fail "(d) $e: $(overdue_for overdue "$e") overdue alerts at T0+4d, expected 1"
done
[[ $(overdue_for overdue D-dead) == 0 ]] || fail "(d) the deceased D-dead got an overdue alert"
python3 - "$tmp/recv.log" <<'EOF' || fail "(d) overdue alert text"
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    a = json.loads(l)
    if a["kind"] == "overdue" and a["elder_id"] == "D-ctrl":
        assert a["rule"] == "visit_3d", a
        assert a["message"].startswith("逾期：图雅（D-ctrl，音德尔镇）visit_3d"), a["message"]
        assert "已逾期 1 天" in a["message"], a["message"]
        assert a["recipients"] == ["gw1"] and a["contacts"] == ["13904820001"], a
EOF
# D-late dies now, after its overdue alert; D-alive gets a visit (next due TB+3d).
field event --elder D-late --type deceased --severity info --at "$TB"
field visit --elder D-alive --kind door --at "$TB"
sync_field
dispatch 0 --webhook "$URL"
for e in D-alive D-late D-ctrl; do
	[[ $(overdue_for overdue "$e") == 1 ]] || fail "(d) $e: a second overdue alert in the same period"
done

TC=$((T0 + 11 * 86400 + 7200))
step "(d) daemon clock at T0+11d: a new period for D-alive, an escalation for D-ctrl, nothing for the dead"
stop_daemon
start_daemon --now "$TC"
dispatch 0 --webhook "$URL"
[[ $(overdue_for overdue D-alive) == 2 ]] || fail "(d) D-alive: $(overdue_for overdue D-alive) overdue alerts, expected 2 (two periods)"
[[ $(overdue_for escalation D-alive) == 0 ]] || fail "(d) D-alive escalated though its new period is 4 days overdue"
[[ $(overdue_for overdue D-ctrl) == 1 ]] || fail "(d) D-ctrl: a second overdue alert for the same period"
[[ $(overdue_for escalation D-ctrl) == 1 ]] || fail "(d) D-ctrl: no escalation after 8 days overdue"
for e in D-dead D-late; do
	[[ $(overdue_for escalation "$e") == 0 ]] || fail "(d) deceased $e escalated"
done
[[ $(overdue_for overdue D-dead) == 0 ]] || fail "(d) deceased D-dead got an overdue alert"
[[ $(overdue_for overdue D-late) == 1 ]] || fail "(d) deceased D-late got another overdue alert"
python3 - "$tmp/recv.log" <<'EOF' || fail "(d) escalation alert"
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    a = json.loads(l)
    if a["kind"] == "escalation":
        assert a["elder_id"] == "D-ctrl" and a["rule"] == "visit_3d", a
        assert a["message"].startswith("升级：图雅（D-ctrl，音德尔镇）"), a["message"]
        # to the parent area (扎赉特旗) and its supervisor
        assert "152223" in a["recipients"] and "sup1" in a["recipients"], a
EOF
dispatch 0 --webhook "$URL"
grep -q "alerts fetched" "$tmp/alert.err" && fail "(d) a run after everything was delivered fetched alerts"
no_duplicates

total=$(ledger | grep -c . || true)
echo "PASS: $total deliveries, each alert exactly once"
