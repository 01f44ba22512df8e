#!/usr/bin/env bash
# Installs tanfang from a build folder as a systemd service. Run as root:
#
#   meson setup build && ninja -C build
#   sudo deploy/install.sh [--build DIR] [--prefix /usr/local] [--destdir DIR]
#
# What it does (each step is skipped when already done, so it is safe to run
# again, e.g. for an upgrade; see docs/operations.md):
#  - system users tanfang (the daemon), tanfang-alert (the dispatcher) and
#    tanfang-web (the web gateway);
#  - binaries: PREFIX/sbin/tanfangd, PREFIX/bin/tanfang-{admin,field,super,alert,web};
#    documentation in PREFIX/share/doc/tanfang, examples in PREFIX/share/tanfang;
#  - units in /etc/systemd/system: tanfangd.service, tanfang-alert.service and
#    .timer, tanfang-web.service (replaced on every run: local changes belong
#    in `systemctl edit`);
#  - /etc/tanfang: tanfangd.conf, policy.conf, tanfang-alert.conf,
#    tanfang-web.conf, only if absent (your edits are kept);
#  - /var/lib/tanfang initialised as user tanfang (store, admin.key, CURVE
#    keys) if not yet, and its CURVE public key copied to /etc/tanfang/curve.pub;
#  - the dispatcher key /etc/tanfang/tanfang-alert.key and the gateway key
#    /etc/tanfang/tanfang-web.key, if absent;
#  - then it prints the next steps (enable the units, enrol the dispatcher).
#
#  - /var/backups/tanfang (mode 0700, user tanfang) for `tanfangd backup
#    --root` as the service user (README, docs/operations.md);
#  - man pages in PREFIX/share/man, if built (help2man).
#
# --uninstall removes what it installed: the units (stopped and disabled
# first), binaries, man pages, documentation and examples. The data
# (/var/lib/tanfang), the configuration and keys (/etc/tanfang), the
# backups (/var/backups/tanfang) and the users stay, so a later install
# carries on where this one stopped; with --purge they go too (for good).
#
# --destdir DIR stages everything under DIR instead (for packaging and the
# tests): no users are created, nothing is chown'ed, the data folder is
# initialised as the calling user, and root is not required.
set -euo pipefail

prog=install.sh
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build
prefix=/usr/local
destdir=
uninstall=
purge=

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	echo "Options: --build DIR (default: build), --prefix DIR (default: /usr/local),"
	echo "         --destdir DIR (stage under DIR), --uninstall [--purge], --help"
}
die() {
	echo "$prog: $*" >&2
	exit 1
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--build) build=${2:?--build needs a folder}; shift 2 ;;
	--build=*) build=${1#*=}; shift ;;
	--prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--destdir) destdir=${2:?--destdir needs a folder}; shift 2 ;;
	--destdir=*) destdir=${1#*=}; shift ;;
	--uninstall) uninstall=1; shift ;;
	--purge) purge=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "$prog: unknown argument '$1' (see $prog --help)" >&2; exit 2 ;;
	esac
done
[[ $prefix == /* ]] || { echo "$prog: --prefix must be an absolute path" >&2; exit 2; }
[[ -z $purge || -n $uninstall ]] || { echo "$prog: --purge goes with --uninstall" >&2; exit 2; }
prefix=${prefix%/}
if [[ -n $destdir ]]; then
	mkdir -p "$destdir"
	destdir=$(cd "$destdir" && pwd)
elif [[ $(id -u) != 0 ]]; then
	die "run as root (or stage with --destdir DIR)"
fi
R=$destdir # the root everything is installed under
etc=/etc/tanfang
state=/var/lib/tanfang
backups=/var/backups/tanfang
units=/etc/systemd/system
say() { echo "$prog: $*"; }
programs=(tanfang-admin tanfang-field tanfang-super tanfang-alert tanfang-web)
unit_files=(tanfangd.service tanfang-alert.service tanfang-alert.timer tanfang-web.service)

# ---- uninstall ----
if [[ -n $uninstall ]]; then
	if [[ -z $destdir ]] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now tanfang-alert.timer tanfang-web.service tanfangd.service \
			>/dev/null 2>&1 || true
	fi
	for u in "${unit_files[@]}"; do rm -f "$R$units/$u"; done
	if [[ -z $destdir ]] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload >/dev/null 2>&1 || true
	fi
	rm -f "$R$prefix/sbin/tanfangd" "$R$prefix/share/man/man8/tanfangd.8"
	for c in "${programs[@]}"; do rm -f "$R$prefix/bin/$c" "$R$prefix/share/man/man1/$c.1"; done
	rm -rf "$R$prefix/share/doc/tanfang" "$R$prefix/share/tanfang"
	say "removed the units, binaries, man pages, documentation and examples"
	if [[ -z $purge ]]; then
		for d in "$R$state" "$R$etc" "$R$backups"; do
			if [[ -e $d ]]; then say "kept $d (--purge removes it)"; fi
		done
		exit 0
	fi
	rm -rf "$R$state" "$R$etc" "$R$backups"
	say "purged $R$state, $R$etc and $R$backups"
	if [[ -z $destdir ]]; then
		for user in tanfang-web tanfang-alert tanfang; do
			if id -u "$user" >/dev/null 2>&1; then
				userdel "$user" && say "removed user $user"
			fi
		done
	fi
	exit 0
fi

[[ -x $build/daemon/tanfangd ]] ||
	die "no tanfangd in $build: build first (meson setup build && ninja -C build) or give --build DIR"

# Runs a command as USER (a real install) or as the caller (staging).
as_user() {
	local user=$1
	shift
	if [[ -n $destdir ]]; then
		"$@"
	else
		runuser -u "$user" -- "$@"
	fi
}
owner() { # owner USER:GROUP PATH...
	local og=$1
	shift
	[[ -n $destdir ]] || chown "$og" "$@"
}

# ---- users ----
for user in tanfang tanfang-alert tanfang-web; do
	if [[ -n $destdir ]]; then
		say "staging: user $user not created"
	elif id -u "$user" >/dev/null 2>&1; then
		say "user $user exists"
	else
		case $user in
		tanfang) home=$state comment="tanfang daemon" ;;
		tanfang-alert) home=/nonexistent comment="tanfang alert dispatcher" ;;
		*) home=/nonexistent comment="tanfang web gateway" ;;
		esac
		useradd --system --user-group --no-create-home --home-dir "$home" \
			--shell /usr/sbin/nologin --comment "$comment" "$user"
		say "created system user $user"
	fi
done

# ---- binaries, documentation, examples ----
install -d -m 0755 "$R$prefix/sbin" "$R$prefix/bin" "$R$prefix/share/doc/tanfang" \
	"$R$prefix/share/tanfang"
install -m 0755 "$build/daemon/tanfangd" "$R$prefix/sbin/tanfangd"
for c in tanfang-admin tanfang-field tanfang-super tanfang-alert web/tanfang-web; do
	if [[ $c == */* ]]; then
		bin=$build/$c c=${c#*/}
	else
		bin=$build/clients/$c
	fi
	if [[ -x $bin ]]; then
		install -m 0755 "$bin" "$R$prefix/bin/$c"
	else
		say "warning: $bin not built; skipped"
	fi
done
say "installed binaries in $R$prefix/sbin and $R$prefix/bin"
for f in "$src"/docs/*.md "$src/CHANGELOG.md"; do
	if [[ -e $f ]]; then install -m 0644 "$f" "$R$prefix/share/doc/tanfang/"; fi
done
# Man pages, when the build made them (help2man installed).
for m in "$build"/man/*.[18]; do
	[[ -e $m ]] || continue
	install -d -m 0755 "$R$prefix/share/man/man${m##*.}"
	install -m 0644 "$m" "$R$prefix/share/man/man${m##*.}/"
done
install -m 0755 "$src/deploy/sms-gateway-example.sh" "$R$prefix/share/tanfang/"
for f in tanfang.crontab tanfangd.conf tanfang-alert.conf tanfang-web.conf policy.conf \
	elders-example.csv nginx-tanfang-web.conf; do
	if [[ -e $src/deploy/$f ]]; then install -m 0644 "$src/deploy/$f" "$R$prefix/share/tanfang/"; fi
done

# The web app's files, if built (scripts/webapp.sh): served by tanfang-web.
if [[ -f $src/web/app/dist/app.js ]]; then
	rm -rf "$R$prefix/share/tanfang/web"
	install -d -m 0755 "$R$prefix/share/tanfang/web"
	install -m 0644 "$src"/web/app/dist/* "$R$prefix/share/tanfang/web/"
	say "installed the web app in $R$prefix/share/tanfang/web"
else
	say "warning: the web app is not built (bash scripts/webapp.sh); tanfang-web will answer 404"
fi

# Our files name /usr/local; point them at the prefix.
with_prefix() { sed "s|/usr/local/|$prefix/|g" "$1"; }

# ---- systemd units ----
install -d -m 0755 "$R$units"
for u in tanfangd.service tanfang-alert.service tanfang-alert.timer tanfang-web.service; do
	with_prefix "$src/deploy/$u" >"$R$units/$u.tmp"
	chmod 0644 "$R$units/$u.tmp"
	mv -f "$R$units/$u.tmp" "$R$units/$u"
done
say "installed units in $R$units"

# ---- configuration, kept if present ----
install -d -m 0755 "$R$etc"
conf() { # conf SOURCE NAME MODE [GROUP]
	local dst=$R$etc/$2
	if [[ -e $dst ]]; then
		say "kept $dst"
		return
	fi
	with_prefix "$1" >"$dst.tmp"
	chmod "$3" "$dst.tmp"
	if [[ -n ${4:-} ]]; then owner "root:$4" "$dst.tmp"; fi
	mv "$dst.tmp" "$dst"
	say "installed $dst"
}
conf "$src/deploy/tanfangd.conf" tanfangd.conf 0644
conf "$src/deploy/policy.conf" policy.conf 0644
# May hold a webhook token: readable by the dispatcher only.
conf "$src/deploy/tanfang-alert.conf" tanfang-alert.conf 0640 tanfang-alert
conf "$src/deploy/tanfang-web.conf" tanfang-web.conf 0640 tanfang-web

# ---- the data folder ----
tanfangd=$R$prefix/sbin/tanfangd
if [[ -e $R$state/data.mdb ]]; then
	say "kept $R$state (already initialised)"
else
	install -d -m 0700 "$R$state"
	owner tanfang:tanfang "$R$state"
	# Staged: the installed config names /var/lib/tanfang, so say where.
	log=$(mktemp)
	as_user tanfang "$tanfangd" init --config "$R$etc/tanfangd.conf" --data "$R$state" \
		>"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; die "tanfangd init failed"; }
	sed 's/^/  /' "$log"
	rm -f "$log"
	say "initialised $R$state (the admin key is $state/admin.key)"
fi
# Backups as the service user: `tanfangd backup --root /var/backups/tanfang`.
if [[ ! -d $R$backups ]]; then
	install -d -m 0700 "$R$backups"
	owner tanfang:tanfang "$R$backups"
	say "made $R$backups (backups, user tanfang, mode 0700)"
fi
# Clients on this machine read the daemon's public key here (the unit does
# the same at each start).
if ! cmp -s "$R$state/curve.pub" "$R$etc/curve.pub"; then
	install -m 0644 "$R$state/curve.pub" "$R$etc/curve.pub"
	say "published $R$etc/curve.pub"
fi

# ---- the dispatcher key ----
alert_key=$R$etc/tanfang-alert.key
alert=$R$prefix/bin/tanfang-alert
if [[ -e $alert_key ]]; then
	say "kept $alert_key"
	dispatcher_pk=$("$alert" pubkey --key "$alert_key")
else
	dispatcher_pk=$("$alert" keygen --key "$alert_key")
	owner tanfang-alert:tanfang-alert "$alert_key"
	say "made the dispatcher key $alert_key"
fi

# ---- the web gateway's key ----
web_key=$R$etc/tanfang-web.key
web=$R$prefix/bin/tanfang-web
if [[ -e $web_key ]]; then
	say "kept $web_key"
	gateway_pk=$("$web" pubkey --key "$web_key")
else
	gateway_pk=$("$web" keygen --key "$web_key")
	owner tanfang-web:tanfang-web "$web_key"
	say "made the gateway key $web_key"
fi

cat <<EOF

tanfang is installed${destdir:+ under $destdir (staged)}. Next steps:

 1. Review $etc/tanfangd.conf (listen: the address field devices reach) and
    $etc/policy.conf (the visit rules; docs/policy.md).
 2. Start the daemon:
      systemctl daemon-reload
      systemctl enable --now tanfangd
      journalctl -u tanfangd        # "listening on ..."
 3. Register your areas and visitors (docs/admin.md), then a dispatcher
    visitor with this key (the area is your top area, e.g. 152223):
      tanfang-admin --data $state visitor add dispatcher 提醒调度 --role dispatcher --area 152223
      tanfang-admin --data $state key enrol $dispatcher_pk --visitor dispatcher
 4. Choose the alert sinks in $etc/tanfang-alert.conf (SMS gateway settings:
    $etc/sms-gateway.env, see $prefix/share/tanfang/sms-gateway-example.sh), then:
      systemctl enable --now tanfang-alert.timer
    (or cron: $prefix/share/tanfang/tanfang.crontab)
 5. The web app for offices (docs/web.md): a gateway visitor with this key,
    then start it (it listens on 127.0.0.1:8080; HTTPS or nginx: docs/web.md):
      tanfang-admin --data $state visitor add web 网关 --role gateway --area 152223
      tanfang-admin --data $state key enrol $gateway_pk --visitor web
      systemctl enable --now tanfang-web
 6. Backups (as the service user, daily from cron or a timer):
      runuser -u tanfang -- $prefix/sbin/tanfangd backup --config $etc/tanfangd.conf \\
        --root $backups --keep 14
    Key rotation and upgrades: docs/operations.md ($prefix/share/doc/tanfang).
EOF
