#!/usr/bin/env bash
# End to end: deployment. deploy/install.sh stages an install of this build
# under a temporary root (--destdir: no users, no chown, no root needed);
# the files, modes and unit contents are checked, a second run changes
# nothing it should keep, `systemd-analyze verify` checks the units (when
# available; systemd need not be running), and then the installed daemon is
# started the way tanfangd.service starts it, in the foreground with the
# installed configuration, and used through the installed clients: registry,
# dispatcher enrolment as install.sh prints it, an urgent event, and the
# installed tanfang-alert.conf with the example SMS command.
set -euo pipefail

: "${TANFANGD:?set TANFANGD to the tanfangd binary}"
: "${TANFANG_BIN:?set TANFANG_BIN to the clients folder}"
: "${TANFANG_SRC:?set TANFANG_SRC to the source tree}"
build=$(cd "$(dirname "$TANFANGD")/.." && pwd)
for b in "$TANFANGD" "$TANFANG_BIN/tanfang-admin" "$TANFANG_BIN/tanfang-alert" "$TANFANG_BIN/tanfang-field"; do
	[[ -x $b ]] || { echo "SKIP: $b not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/e2e-deploy.XXXXXX")
daemon_pid=
cleanup() {
	if [[ -n $daemon_pid ]]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	if [[ -z ${TFT_KEEP:-} ]]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[[ -e $tmp/daemon.log ]] && { echo "--- daemon log:" >&2; tail -n 30 "$tmp/daemon.log" >&2; }
	exit 1
}
step() { echo "== $*"; }
mode_is() { # mode_is MODE PATH
	[[ -e $2 ]] || fail "missing: $2"
	local m
	m=$(stat -c %a "$2")
	[[ $m == "$1" ]] || fail "$2 has mode $m, expected $1"
}
has_line() { grep -qxF -- "$2" "$1" || fail "$1 lacks the line: $2"; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

R=$tmp/root
INSTALL=$TANFANG_SRC/deploy/install.sh

step "usage"
rc=0
bash "$INSTALL" --bogus >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "install.sh --bogus exited $rc, expected 2"
rc=0
bash "$INSTALL" --build "$tmp/nothing" --destdir "$tmp/x" >/dev/null 2>"$tmp/err" || rc=$?
[[ $rc == 1 ]] && grep -q "no tanfangd" "$tmp/err" || fail "a missing build was not reported (exit $rc)"

step "staged install"
bash "$INSTALL" --build "$build" --destdir "$R" >"$tmp/install1.log" 2>&1 ||
	{ cat "$tmp/install1.log"; fail "install.sh exited $?"; }
grep -q "staging: user tanfang not created" "$tmp/install1.log" || fail "users were not skipped under --destdir"
grep -q "systemctl enable --now tanfangd" "$tmp/install1.log" || fail "no next steps printed"

P=$R/usr/local
mode_is 755 "$P/sbin/tanfangd"
for c in tanfang-admin tanfang-field tanfang-alert; do mode_is 755 "$P/bin/$c"; done
cmp -s "$P/sbin/tanfangd" "$TANFANGD" || fail "installed tanfangd differs from the build"
for u in tanfangd.service tanfang-alert.service tanfang-alert.timer; do
	mode_is 644 "$R/etc/systemd/system/$u"
done
mode_is 755 "$R/etc/tanfang"
mode_is 644 "$R/etc/tanfang/tanfangd.conf"
mode_is 644 "$R/etc/tanfang/policy.conf"
mode_is 640 "$R/etc/tanfang/tanfang-alert.conf"
mode_is 600 "$R/etc/tanfang/tanfang-alert.key"
mode_is 644 "$R/etc/tanfang/curve.pub"
mode_is 700 "$R/var/lib/tanfang"
for f in admin.key curve.key data.mdb; do mode_is 600 "$R/var/lib/tanfang/$f"; done
cmp -s "$R/var/lib/tanfang/curve.pub" "$R/etc/tanfang/curve.pub" || fail "curve.pub not published to /etc/tanfang"
mode_is 755 "$P/share/tanfang/sms-gateway-example.sh"
mode_is 644 "$P/share/tanfang/tanfang.crontab"

svc=$R/etc/systemd/system/tanfangd.service
has_line "$svc" "ExecStart=/usr/local/sbin/tanfangd run --config /etc/tanfang/tanfangd.conf"
has_line "$svc" "User=tanfang"
has_line "$svc" "StateDirectory=tanfang"
has_line "$svc" "StateDirectoryMode=0700"
has_line "$svc" "ExecReload=/bin/kill -HUP \$MAINPID"
has_line "$svc" "CapabilityBoundingSet="
has_line "$svc" "ProtectSystem=strict"
has_line "$svc" "SystemCallFilter=@system-service"
has_line "$R/etc/systemd/system/tanfang-alert.service" "Type=oneshot"
has_line "$R/etc/systemd/system/tanfang-alert.service" "User=tanfang-alert"
has_line "$R/etc/systemd/system/tanfang-alert.timer" "OnCalendar=*:0/5"
has_line "$R/etc/systemd/system/tanfang-alert.timer" "Persistent=true"
grep -qE '^\*/5 \* \* \* \* tanfang-alert flock -n \S+ /usr/local/bin/tanfang-alert --config /etc/tanfang/tanfang-alert.conf' \
	"$P/share/tanfang/tanfang.crontab" || fail "crontab line"
# The staging root never leaks into installed files.
if grep -rlF "$R" "$R/etc" "$P/share/tanfang"; then fail "installed files name the staging root"; fi

step "second run keeps keys, data and edited configuration"
pk1=$("$P/bin/tanfang-alert" pubkey --key "$R/etc/tanfang/tanfang-alert.key")
admin1=$(cat "$R/var/lib/tanfang/admin.key")
echo "# edited by the administrator" >>"$R/etc/tanfang/tanfang-alert.conf"
bash "$INSTALL" --build "$build" --destdir "$R" >"$tmp/install2.log" 2>&1 ||
	{ cat "$tmp/install2.log"; fail "second install.sh run exited $?"; }
grep -q "kept $R/var/lib/tanfang (already initialised)" "$tmp/install2.log" || fail "data folder not kept"
[[ $("$P/bin/tanfang-alert" pubkey --key "$R/etc/tanfang/tanfang-alert.key") == "$pk1" ]] || fail "dispatcher key replaced"
[[ $(cat "$R/var/lib/tanfang/admin.key") == "$admin1" ]] || fail "admin key replaced"
tail -n 1 "$R/etc/tanfang/tanfang-alert.conf" | grep -q "edited by the administrator" || fail "edited config overwritten"
grep -qF "key enrol $pk1 --visitor dispatcher" "$tmp/install2.log" || fail "next steps lack the dispatcher key"

step "--prefix"
bash "$INSTALL" --build "$build" --destdir "$tmp/opt" --prefix /opt/tanfang >"$tmp/install3.log" 2>&1 ||
	{ cat "$tmp/install3.log"; fail "install.sh --prefix exited $?"; }
has_line "$tmp/opt/etc/systemd/system/tanfangd.service" \
	"ExecStart=/opt/tanfang/sbin/tanfangd run --config /etc/tanfang/tanfangd.conf"
has_line "$tmp/opt/etc/systemd/system/tanfang-alert.service" \
	"ExecStart=/opt/tanfang/bin/tanfang-alert --config /etc/tanfang/tanfang-alert.conf"
grep -q "^command = /opt/tanfang/share/tanfang/sms-gateway-example.sh" "$tmp/opt/etc/tanfang/tanfang-alert.conf" ||
	fail "tanfang-alert.conf does not name the prefix"
[[ -x $tmp/opt/opt/tanfang/sbin/tanfangd ]] || fail "no tanfangd under --prefix"

# ---- systemd-analyze verify, where there is one ----
# The units name /usr/local/...; verify the staged copies with the staging
# root spliced in, so the binaries they name exist.
if command -v systemd-analyze >/dev/null && [[ -e /lib/systemd/system/sysinit.target || -e /usr/lib/systemd/system/sysinit.target ]]; then
	step "systemd-analyze verify"
	mkdir "$tmp/units"
	for u in tanfangd.service tanfang-alert.service tanfang-alert.timer; do
		sed "s|/usr/local/|$P/|g" "$R/etc/systemd/system/$u" >"$tmp/units/$u"
	done
	(cd "$tmp/units" && systemd-analyze verify tanfangd.service tanfang-alert.service tanfang-alert.timer) \
		>"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log"; fail "systemd-analyze verify"; }
	# Anything it says about our units is a finding, even with exit 0.
	if grep -i "tanfang" "$tmp/verify.log"; then fail "systemd-analyze verify printed warnings"; fi
else
	echo "   (systemd-analyze or systemd's units not available: verify skipped)"
fi

# ---- the installed daemon, as the service runs it ----
step "installed daemon in the foreground"
# The installed configuration names /etc/tanfang and /var/lib/tanfang of the
# target system; the staged copy names the staging root, and a free port.
port=$(free_port)
EP="tcp://127.0.0.1:$port"
sed -e "s|/etc/tanfang|$R/etc/tanfang|g" -e "s|/var/lib/tanfang|$R/var/lib/tanfang|g" \
	-e "s|/usr/local/|$P/|g" -e "s|^listen = .*|listen = $EP|" \
	"$R/etc/tanfang/tanfangd.conf" >"$tmp/tanfangd.conf"
grep -q "^policy = $R/etc/tanfang/policy.conf" "$tmp/tanfangd.conf" || fail "installed tanfangd.conf has no policy line"
"$P/sbin/tanfangd" check-config --config "$tmp/tanfangd.conf" >"$tmp/check.log" 2>&1 ||
	{ cat "$tmp/check.log"; fail "tanfangd check-config on the installed configuration"; }
# ExecStartPre's guard: an initialised folder is left alone.
sh -c "test -e '$R/var/lib/tanfang/data.mdb' || exit 9" || fail "ExecStartPre would re-run init"
"$P/sbin/tanfangd" run --config "$tmp/tanfangd.conf" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 150); do
	grep -q "listening on" "$tmp/daemon.log" 2>/dev/null && break
	kill -0 "$daemon_pid" 2>/dev/null || fail "installed tanfangd exited before listening"
	sleep 0.1
done
grep -q "listening on $EP (CURVE" "$tmp/daemon.log" || fail "installed tanfangd does not listen on $EP with CURVE"
python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5).close()' "$port" ||
	fail "nothing accepts connections on port $port"

admin() {
	"$P/bin/tanfang-admin" --endpoint "$EP" --key "$R/var/lib/tanfang/admin.key" \
		--server-key-file "$R/etc/tanfang/curve.pub" --timeout 10000 "$@" >"$tmp/admin.out" 2>&1 ||
		{ cat "$tmp/admin.out"; fail "installed tanfang-admin $*"; }
}
admin area add 152223 扎赉特旗
admin visitor add gw1 王海军 --role grid_worker --area 152223 --contact 13904820001
admin elder add E1 张桂兰 --area 152223 --visitors gw1
# Step 3 of install.sh's next steps, as printed.
enrol=$(grep -F -- "--visitor dispatcher" "$tmp/install1.log" | sed 's/^ *tanfang-admin --data [^ ]* //')
admin visitor add dispatcher 提醒调度 --role dispatcher --area 152223
# shellcheck disable=SC2086
admin $enrol
# Step 5: the web gateway's visitor and key, as printed.
while read -r line; do
	# shellcheck disable=SC2086
	admin $line
done < <(grep -E -- "--role gateway|--visitor web" "$tmp/install1.log" | sed 's/^ *tanfang-admin --data [^ ]* //')
[[ -f $R/etc/systemd/system/tanfang-web.service && -x $P/bin/tanfang-web ]] ||
	fail "tanfang-web and its unit not installed"
grep -q "^ProtectSystem=strict" "$R/etc/systemd/system/tanfang-web.service" ||
	fail "tanfang-web.service lacks the hardening of tanfangd.service"
[[ $(stat -c %a "$R/etc/tanfang/tanfang-web.key") == 600 ]] || fail "the gateway key is not 0600"

# A field device records an urgent fall.
"$P/bin/tanfang-field" --dir "$tmp/field" keygen >"$tmp/field.pub" 2>/dev/null
admin key enrol "$(head -n 1 "$tmp/field.pub")" --visitor gw1
"$P/bin/tanfang-field" --dir "$tmp/field" event --elder E1 --type fall --severity urgent --note 部署测试 >/dev/null
"$P/bin/tanfang-field" --dir "$tmp/field" sync --endpoint "$EP" --server-key-file "$R/etc/tanfang/curve.pub" \
	>"$tmp/sync.out" 2>&1 || { cat "$tmp/sync.out"; fail "field sync"; }

# The installed dispatcher config, pointed at the staged paths and port. Its
# SMS command is the example script: unconfigured it keeps alerts pending
# (exit 75, so the run exits 1); in its dry-run mode it "sends" them.
sed -e "s|/etc/tanfang|$R/etc/tanfang|g" -e "s|/usr/local/|$P/|g" -e "s|^endpoint = .*|endpoint = $EP|" \
	"$R/etc/tanfang/tanfang-alert.conf" >"$tmp/tanfang-alert.conf"
export SMS_GATEWAY_ENV=$tmp/sms-gateway.env
: >"$SMS_GATEWAY_ENV"
rc=0
"$P/bin/tanfang-alert" --config "$tmp/tanfang-alert.conf" >"$tmp/alert.out" 2>"$tmp/alert.err" || rc=$?
[[ $rc == 1 ]] || { cat "$tmp/alert.err"; fail "unconfigured SMS gateway: dispatcher exited $rc, expected 1"; }
grep -q "SMS_GATEWAY_URL is not set" "$tmp/alert.err" || fail "the example script did not explain itself"
echo "SMS_DRY_RUN=1" >"$SMS_GATEWAY_ENV"
rc=0
"$P/bin/tanfang-alert" --config "$tmp/tanfang-alert.conf" >"$tmp/alert.out" 2>"$tmp/alert.err" || rc=$?
[[ $rc == 0 ]] || { cat "$tmp/alert.err"; fail "SMS dry run: dispatcher exited $rc"; }
grep -q "sms-gateway (dry run): alert [0-9a-f]\{32\} to 13904820001: 紧急：张桂兰" "$tmp/alert.err" ||
	{ cat "$tmp/alert.err"; fail "the SMS example did not get the alert"; }
rc=0
"$P/bin/tanfang-alert" --config "$tmp/tanfang-alert.conf" >"$tmp/alert.out" 2>"$tmp/alert.err" || rc=$?
[[ $rc == 0 && ! -s $tmp/alert.err ]] || { cat "$tmp/alert.err"; fail "a third run found alerts again"; }

# Stop as systemd does (SIGTERM): clean exit, and the audit log verifies.
kill "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
[[ $rc == 0 ]] || fail "installed tanfangd exited $rc on SIGTERM"
"$P/sbin/tanfangd" verify-log --config "$tmp/tanfangd.conf" >"$tmp/verify-log.out" 2>&1 ||
	{ cat "$tmp/verify-log.out"; fail "tanfangd verify-log"; }
grep -q "audit log OK" "$tmp/verify-log.out" || fail "verify-log did not report OK"
echo "PASS"
