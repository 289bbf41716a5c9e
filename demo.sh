#!/bin/sh
# demo.sh: a master with 4 namespace nodes on this machine, a few commands
# a user of a real cluster would type, then everything stopped again.
# Needs root (namespace nodes); run it as `make demo` or `sudo ./demo.sh`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bin=$here/bin
[ -x "$bin/bproc" ] || { echo "demo: run make first (no $bin/bproc)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "demo: needs root for namespace nodes; try: sudo $0" >&2; exit 1; }

dir=$(mktemp -d /tmp/bproc-demo.XXXXXX)
export BPROC_SOCKET=$dir/master.sock
master=

stop() {
	if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
		kill -TERM "$master"
		wait "$master" || true
	fi
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

show() {
	printf '\n$ %s\n' "$*"
	"$@"
}

"$bin/bpmaster" --local-nodes 4 --listen 127.0.0.1:0 --state-dir "$dir/state" 2>"$dir/master.log" &
master=$!

# Wait until the 4 nodes are up (a few milliseconds each).
i=0
until [ "$("$bin/bpstat" -n allup 2>/dev/null | wc -w)" = 4 ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$master" 2>/dev/null; then
		echo "demo: nodes did not come up; master log:" >&2
		cat "$dir/master.log" >&2
		exit 1
	fi
	sleep 0.1
done

show "$bin/bpstat"
show "$bin/bpsh" -a -p hostname
show "$bin/bpsh" -p 0-3 sh -c 'echo "rank $BPROC_RANK: pid $$ on $(hostname)"'
printf '\n$ bpsh 2 sleep 30 &   # its ghost is a process here\n'
"$bin/bpsh" 2 sleep 30 &
bpsh=$!
sleep 0.3
ps -o pid,ppid,args --ppid "$bpsh" || true
show "$bin/bpstat" -p
printf '\n$ kill -USR1 <ghost>   # reaches the sleep on node 2\n'
pkill -USR1 -P "$bpsh" -x sleep || true
status=0
wait "$bpsh" || status=$?
echo "bpsh exited with $status (128+SIGUSR1 = 138)"
printf '\n$ echo hello | bpsh 1 tr a-z A-Z\n'
echo hello | "$bin/bpsh" 1 tr a-z A-Z
show "$bin/bpsh" 3 sh -c 'exit 7' || echo "exit status $?"
printf '\nstopping the master: its nodes go with it\n'
