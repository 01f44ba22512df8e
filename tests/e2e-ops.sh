#!/usr/bin/env bash
# End to end (issue 11, item 7, and check-config of item 6): operations.
#
#  - tanfangd check-config reads the installed configuration (here
#    $TANFANG_SYSCONFDIR, never /etc/tanfang) and the policy file it names,
#    and refuses a broken one with "error:";
#  - the store records the version that made it and last ran on it;
#  - tanfangd backup --root makes dated folders while the daemon runs: a
#    second backup the same day works, modes 0700 and 0600, --keep N keeps
#    the newest N; verify-log on a backup writes nothing into it;
#  - deploy/install.sh --uninstall (staged with --destdir, as e2e-deploy.sh
#    does) removes the programs and keeps the data, --purge removes it too.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$TANFANGD" "$ADMIN"
: "${TANFANG_SRC:?set TANFANG_SRC to the source tree}"

mode_is() { # mode_is MODE PATH
	[[ -e $2 ]] || fail "missing: $2"
	local m
	m=$(stat -c %a "$2")
	[[ $m == "$1" ]] || fail "$2 has mode $m, expected $1"
	ok
}
tfd() { # tfd ARGS...: tanfangd, stdout in $tmp/out, stderr in $tmp/err, status in $rc
	rc=0
	"$TANFANGD" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
run() { tfd "$@"; }
VERSION=$("$TANFANGD" --version | awk '{print $3}')
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "tanfangd --version: $VERSION"
ok

# ---- check-config: the installed configuration ----
etc=$tmp/etc
export TANFANG_SYSCONFDIR=$etc
mkdir -p "$etc"
expect 0 check-config
err_has "no installed configuration $etc/tanfangd.conf"
cp "$TANFANG_SRC/deploy/policy.conf" "$etc/policy.conf"
cat >"$etc/tanfangd.conf" <<EOF
[daemon]
data_dir = $tmp/data
listen = tcp://127.0.0.1:7480
policy = $etc/policy.conf
EOF
expect 0 check-config
out_has "configuration $etc/tanfangd.conf OK; policy $etc/policy.conf OK"
expect 0 --check-config
out_has "configuration $etc/tanfangd.conf OK"
# A broken policy file named by the installed configuration is refused.
printf '[rule.monthly_visit]\nperiod = fortnight\n' >>"$etc/policy.conf"
expect 1 check-config
err_has "error:"
err_has "$etc/policy.conf"
grep -q "warning:" "$tmp/err" && fail "a refusal printed as a warning: $(cat "$tmp/err")"
ok
cp "$TANFANG_SRC/deploy/policy.conf" "$etc/policy.conf"
# So is a broken configuration file, and one naming a missing policy.
printf 'no_such_key = 1\n' >>"$etc/tanfangd.conf"
expect 1 check-config
err_has "error: configuration refused"
sed -i '/no_such_key/d; s|^policy = .*|policy = '"$etc"'/missing.conf|' "$etc/tanfangd.conf"
expect 1 check-config
err_has "missing.conf"
sed -i 's|^policy = .*|policy = '"$etc"'/policy.conf|' "$etc/tanfangd.conf"
expect 0 check-config

# ---- the store records its version ----
init_daemon
mdb_version() { mdb_dump -p -s meta "$tmp/data" | python3 -c '
import sys
lines = [l.strip() for l in sys.stdin if l.startswith(" ")]
kv = dict(zip(lines[0::2], lines[1::2]))
print(kv.get(sys.argv[1], "-"))' "$1"; }
if command -v mdb_dump >/dev/null; then
	[[ $(mdb_version version) == "$VERSION" ]] || fail "META version: $(mdb_version version)"
	[[ $(mdb_version created_version) == "$VERSION" ]] || fail "META created_version"
	ok
fi
start_daemon
grep -q "last run by" "$tmp/daemon.log" && fail "the same version logged as an upgrade"
ok

# ---- backups into dated folders, while the daemon runs ----
"$ADMIN" --endpoint "$EP" --data "$tmp/data" area add 152223 扎赉特旗 >/dev/null ||
	fail "area add"
day0=$(TZ=Asia/Shanghai date +%F)
root=$tmp/backups
expect 0 backup --data "$tmp/data" --root "$root"
expect 0 backup --data "$tmp/data" --root "$root"
day1=$(TZ=Asia/Shanghai date +%F)
[[ $day0 == "$day1" ]] || { echo "SKIP: the day changed during the test"; exit 77; }
mode_is 700 "$root"
mode_is 700 "$root/$day0"
mode_is 600 "$root/$day0/data.mdb"
mode_is 700 "$root/$day0.2"
mode_is 600 "$root/$day0.2/data.mdb"
# A whole restore set: the checkpoints, the store and the keys, all 0600.
for f in checkpoints.log admin.key curve.key curve.pub checkpoint.key; do
	mode_is 600 "$root/$day0.2/$f"
done
out_has "copied to $root/$day0.2/data.mdb"
# Something that is not a backup is never touched by --keep.
mkdir "$root/keys-copy" && echo x >"$root/keys-copy/admin.key"
expect 0 backup --data "$tmp/data" --root "$root" --keep 2
[[ -e $root/$day0.3/data.mdb && -e $root/$day0.2/data.mdb && ! -e $root/$day0 ]] ||
	fail "--keep 2 kept: $(ls "$root")"
[[ -e $root/keys-copy/admin.key ]] || fail "--keep removed a folder that is not a backup"
ok
out_has "removed the old backup $root/$day0"
expect 2 backup --data "$tmp/data" --root "$root" --keep 0
expect 2 backup --data "$tmp/data" --to "$tmp/x" --keep 3
expect 2 backup --data "$tmp/data"
err_has "error:"
# --to still copies into one folder, and never over a store.
expect 0 backup --data "$tmp/data" --to "$tmp/one"
expect 1 backup --data "$tmp/data" --to "$tmp/one"
err_has "error:"

# verify-log on a backup writes nothing into it.
snap() { (cd "$1" && find . -printf '%p %s %T@ %m\n' | sort); }
snap "$root/$day0.3" >"$tmp/before"
expect 0 verify-log --data "$root/$day0.3"
out_has "audit log OK"
out_has "checkpoints OK"
snap "$root/$day0.3" >"$tmp/after"
diff "$tmp/before" "$tmp/after" || fail "verify-log wrote into the backup"
ok
[[ ! -e $root/$day0.3/lock.mdb ]] || fail "verify-log left a lock file in the backup"
ok
stop_daemon

# ---- install.sh --uninstall, staged ----
build=$(cd "$(dirname "$TANFANGD")/.." && pwd)
INSTALL=$TANFANG_SRC/deploy/install.sh
R=$tmp/root
bash "$INSTALL" --build "$build" --destdir "$R" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "staged install"; }
mode_is 700 "$R/var/backups/tanfang"
[[ -x $R/usr/local/sbin/tanfangd && -e $R/var/lib/tanfang/data.mdb ]] || fail "staged install incomplete"
ok
[[ -e $R/usr/local/share/doc/tanfang/CHANGELOG.md ]] || fail "CHANGELOG.md not installed"
ok
if [[ -e $build/man/tanfangd.8 ]]; then
	[[ -e $R/usr/local/share/man/man8/tanfangd.8 && -e $R/usr/local/share/man/man1/tanfang-super.1 ]] ||
		fail "man pages not installed"
	ok
fi
rc=0
bash "$INSTALL" --destdir "$R" --purge >"$tmp/err" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "--purge without --uninstall exited $rc"
ok
bash "$INSTALL" --destdir "$R" --uninstall >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "--uninstall"; }
for f in usr/local/sbin/tanfangd usr/local/bin/tanfang-admin usr/local/bin/tanfang-super \
	usr/local/bin/tanfang-web etc/systemd/system/tanfangd.service usr/local/share/doc/tanfang \
	usr/local/share/man/man8/tanfangd.8 usr/local/share/tanfang; do
	[[ ! -e $R/$f ]] || fail "--uninstall left $f"
	ok
done
for f in var/lib/tanfang/data.mdb var/lib/tanfang/admin.key etc/tanfang/tanfangd.conf \
	etc/tanfang/curve.pub var/backups/tanfang; do
	[[ -e $R/$f ]] || fail "--uninstall removed $f (the data stays without --purge)"
	ok
done
out_has "kept $R/var/lib/tanfang"
# Installed again, it carries on with the same store.
bash "$INSTALL" --build "$build" --destdir "$R" >"$tmp/install2.log" 2>&1 ||
	{ cat "$tmp/install2.log"; fail "install after uninstall"; }
grep -q "kept $R/var/lib/tanfang (already initialised)" "$tmp/install2.log" || fail "the store was not kept"
ok
bash "$INSTALL" --destdir "$R" --uninstall --purge >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "--purge"; }
for f in var/lib/tanfang etc/tanfang var/backups/tanfang usr/local/sbin/tanfangd; do
	[[ ! -e $R/$f ]] || fail "--uninstall --purge left $f"
	ok
done

echo "e2e-ops: $pass checks passed"
