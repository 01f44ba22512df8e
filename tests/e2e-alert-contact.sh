#!/usr/bin/env bash
# End to end, issue 8 item 7: an alert is acknowledged only when a sink
# delivered it. The example SMS command (deploy/sms-gateway-example.sh) used
# to exit 0 ("nothing to send") for an alert with no phone number among its
# contacts, so the dispatcher acknowledged it: "1+2 not set up" alerts for a
# village without a contact disappeared on the first run. Here, with a real
# tanfangd, tanfang-admin and tanfang-alert running that script:
#  - such an alert is not delivered: exit 1, logged, still pending next run;
#  - once the village has a phone number, the same alert reaches it;
#  - SMS_DROP_NO_PHONE=1 drops one, explicitly and logged;
#  - --data beats the config file's server_key_file, and the default config
#    is read from $TANFANG_SYSCONFDIR, never from /etc/tanfang in a test.
source "$(dirname "$0")/lib.sh"
ALERT="$TANFANG_BIN/tanfang-alert"
SMS="${TANFANG_SRC:?set TANFANG_SRC to the source tree}/deploy/sms-gateway-example.sh"
need "$TANFANGD" "$ADMIN" "$ALERT"

# run ARGS...: one bounded dispatcher run against this test's daemon.
run() {
	rc=0
	timeout 120 "$ALERT" --endpoint "$EP" --data "$tmp/data" --key "$tmp/disp.key" \
		--timeout 10000 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
admin() {
	"$ADMIN" --data "$tmp/data" --endpoint "$EP" --timeout 10000 "$@" >"$tmp/admin.out" 2>&1 ||
		{ cat "$tmp/admin.out"; fail "tanfang-admin $*"; }
}
# pending KIND ELDER: how many alerts of KIND about ELDER a dry run lists.
pending() {
	expect 0 --dry-run
	python3 -c 'import json,sys
n=0
for l in open(sys.argv[1], encoding="utf-8"):
    if l.strip():
        a=json.loads(l)
        n+=a["kind"]==sys.argv[2] and a["elder_id"]==sys.argv[3]
print(n)' "$tmp/out" "$1" "$2"
}

init_daemon
start_daemon

# Two villages without a contact and without a supervisor; in each an elder
# under the built-in "1+2" rule with no neighbour household: a "not set up"
# alert each, addressed to the village alone, with no contact at all.
admin area add 152223 扎赉特旗
admin area add 152223100201 巴彦乌兰嘎查 --parent 152223
admin area add 152223100202 永安村 --parent 152223
admin visitor add disp1 提醒调度 --role dispatcher --area 152223
admin elder add N1 张桂兰 --area 152223100201 --categories living_alone
admin elder add N2 李秀英 --area 152223100202 --categories living_alone
"$ALERT" keygen --key "$tmp/disp.key" >"$tmp/disp.pub" 2>"$tmp/err" || fail "keygen"
admin key enrol "$(cat "$tmp/disp.pub")" --visitor disp1

export SMS_GATEWAY_ENV="$tmp/sms-gateway.env"
echo "SMS_DRY_RUN=1" >"$SMS_GATEWAY_ENV"

# --- no phone number: not delivered, said so, kept ---
expect 1 --command "$SMS"
err_has "no phone number among its contacts; not sent, kept pending"
err_has "reached nobody"
err_has "0 delivered, 2 failed"
[[ $(pending not_set_up N1) == 1 ]] || fail "N1's alert was lost after a run that reached nobody"
[[ $(pending not_set_up N2) == 1 ]] || fail "N2's alert was lost after a run that reached nobody"
# Again: still not delivered, still there.
expect 1 --command "$SMS"
[[ $(pending not_set_up N1) == 1 ]] || fail "N1's alert was lost after a second run"

# --- the village gets a phone number: the same alert reaches it ---
admin area add 152223100201 巴彦乌兰嘎查 --parent 152223 --contact 13904820009
expect 1 --command "$SMS" # N2 still has nobody
err_has "sms-gateway (dry run): alert"
grep -q "to 13904820009: “1+2”未落实：张桂兰（N1" "$tmp/err" ||
	{ cat "$tmp/err"; fail "N1's alert did not reach the village's new number"; }
err_has "1 delivered, 1 failed"
[[ $(pending not_set_up N1) == 0 ]] || fail "N1's delivered alert is still pending"
[[ $(pending not_set_up N2) == 1 ]] || fail "N2's alert was lost"

# --- an explicit drop: logged, acknowledged ---
printf 'SMS_DRY_RUN=1\nSMS_DROP_NO_PHONE=1\n' >"$SMS_GATEWAY_ENV"
expect 0 --command "$SMS"
err_has "no phone number among its contacts; DROPPED (SMS_DROP_NO_PHONE=1"
err_has "1 delivered, 0 failed"
[[ $(pending not_set_up N2) == 0 ]] || fail "the dropped alert is still pending"
expect 0 --command "$SMS"
grep -q "alerts fetched" "$tmp/err" && fail "a run after everything was delivered fetched alerts"
ok

# --- the command line beats the config file; tests never read /etc ---
# The default config (in $TANFANG_SYSCONFDIR, set by lib.sh) names a
# server key that is not the daemon's: the run cannot talk to the daemon.
mkdir -p "$TANFANG_SYSCONFDIR"
echo 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7' >"$tmp/wrong.pub"
cat >"$TANFANG_SYSCONFDIR/tanfang-alert.conf" <<EOF
[daemon]
endpoint = $EP
server_key_file = $tmp/wrong.pub
key = $tmp/disp.key
timeout_ms = 1500

[sink.stdout]
EOF
rc=0
timeout 60 "$ALERT" >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 3 ]] || { cat "$tmp/err"; fail "the default config was not read from \$TANFANG_SYSCONFDIR (exit $rc)"; }
ok
# --data DIR on the command line: DIR/curve.pub, whatever the file says.
rc=0
timeout 60 "$ALERT" --data "$tmp/data" >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 0 ]] || { cat "$tmp/err"; fail "--data lost to the config file's server_key_file (exit $rc)"; }
ok
# An explicit --server-key-file beats --data.
rc=0
timeout 60 "$ALERT" --data "$tmp/data" --server-key-file "$tmp/wrong.pub" >"$tmp/out" 2>"$tmp/err" || rc=$?
[[ $rc == 3 ]] || { cat "$tmp/err"; fail "--server-key-file did not beat --data (exit $rc)"; }
ok

kill -0 "$daemon_pid" || fail "tanfangd died"
echo "e2e-alert-contact: ok ($pass checks)"
