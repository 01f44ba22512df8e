# Sourced by the end-to-end shell tests: a temporary folder, a real tanfangd
# on a free 127.0.0.1 port with bounded waits, checks, and cleanup at exit.
#
# Each test defines run(): it runs the test's client with "$@", leaving
# stdout in $tmp/out, stderr in $tmp/err and the exit status in $rc (never
# aborting); expect, out_has and err_has build on it.
set -euo pipefail

: "${TANFANGD:?set TANFANGD to the tanfangd binary}"
: "${TANFANG_BIN:?set TANFANG_BIN to the clients folder}"
ADMIN="$TANFANG_BIN/tanfang-admin"
FIELD="$TANFANG_BIN/tanfang-field"
SUPER="$TANFANG_BIN/tanfang-super"
GEN="$TANFANG_BIN/tanfang-demo-gen"

# need PROGRAM...: skips the test (exit 77) unless each is built.
need() {
	for b in "$@"; do
		[[ -x $b ]] || { echo "SKIP: $b not built"; exit 77; }
	done
	command -v python3 >/dev/null || { echo "SKIP: python3 needed"; exit 77; }
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$(basename "$0" .sh).XXXXXX")
# No test reads an installed file (/etc/tanfang): the programs' default
# config folder is one that does not exist.
export TANFANG_SYSCONFDIR="$tmp/no-sysconfdir"
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
	echo "--- daemon log:" >&2
	tail -n 30 "$tmp/daemon.log" >&2 || true
	exit 1
}
pass=0
ok() { pass=$((pass + 1)); }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# init_daemon: a new data folder $tmp/data, and the endpoint $EP to use.
init_daemon() {
	"$TANFANGD" init --data "$tmp/data" >"$tmp/init.log" 2>&1 ||
		{ cat "$tmp/init.log"; fail "tanfangd init"; }
	EP="tcp://127.0.0.1:$(free_port)"
}

# wait_log TEXT: at most 15 s for TEXT in the daemon's log.
wait_log() {
	for _ in $(seq 150); do
		grep -qF -- "$1" "$tmp/daemon.log" 2>/dev/null && return 0
		kill -0 "$daemon_pid" 2>/dev/null || fail "tanfangd exited waiting for '$1'"
		sleep 0.1
	done
	fail "no '$1' in the daemon log within 15 s"
}

# start_daemon [ARGS...]: tanfangd run on $tmp/data and $EP, plus ARGS.
start_daemon() {
	: >"$tmp/daemon.log"
	"$TANFANGD" run --data "$tmp/data" --listen "$EP" "$@" >>"$tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	wait_log "listening on"
}

# stop_daemon: SIGTERM, at most 15 s for a clean exit (status 0).
stop_daemon() {
	kill -TERM "$daemon_pid"
	for _ in $(seq 150); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$daemon_pid" 2>/dev/null && fail "tanfangd did not stop within 15 s"
	wait "$daemon_pid" || fail "tanfangd exited with status $? on SIGTERM"
	daemon_pid=
}

# expect RC ARGS...: run ARGS and check the exit status.
expect() {
	local want=$1
	shift
	run "$@"
	if [[ $rc != "$want" ]]; then
		echo "--- stdout:" >&2; cat "$tmp/out" >&2
		echo "--- stderr:" >&2; cat "$tmp/err" >&2
		fail "$* exited $rc, expected $want"
	fi
	ok
}
out_has() { grep -qF -- "$1" "$tmp/out" || { cat "$tmp/out" >&2; fail "stdout lacks: $1"; }; ok; }
err_has() { grep -qF -- "$1" "$tmp/err" || { cat "$tmp/err" >&2; fail "stderr lacks: $1"; }; ok; }
