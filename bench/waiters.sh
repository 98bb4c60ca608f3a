#!/bin/sh
# bench/waiters.sh: what readers blocked in wait/NAME cost filed.
#
#   sh bench/waiters.sh [FILED] [WAITERS] [JOBS]     (10000 and 2000)
#
# Two runs, each in a fresh filed (max_jobs 1, max_retries 0, no -d): a
# blocker job (sleep) runs; JOBS `true` jobs are queued behind it, then a
# second blocker, then WAITERS `true` jobs, which stay pending behind that
# one for the whole run. The second run then opens wait/NAME of each of
# the WAITERS jobs, one reader thread each (bench/waiters.c, built here
# with cc), and waits until every reader is blocked in a read of the
# mount (their kernel stacks, as root), then 1 s more. In both runs:
# filed's VmRSS; then the first blocker is removed and the time until the
# second one starts is taken (the JOBS jobs drained in between: jobs/s);
# then SIGTERM, which answers every parked read with ECONNABORTED (the
# readers count their answers).
#
# Build filed without --enable-sanitizers for numbers worth quoting: ASan
# makes every allocation larger. Needs root or FUSE access, cc, python3
# (enqueueing, timing). KEEP=1 keeps the temporary directory.
set -eu

FILED=${1:-./filed}
W=${2:-10000}
J=${3:-2000}
FILED=$(cd "$(dirname "$FILED")" && pwd)/$(basename "$FILED")
PY=$(python3 -c 'import sys; print(sys.executable)')
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "$top/.bench-waiters.XXXXXX")
pid=
rpid=

cleanup() {
	set +e
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
	[ -n "$rpid" ] && kill -KILL "$rpid" 2>/dev/null
	fusermount3 -u -z "$tmp/mnt" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# enq.py MNT PREFIX N: queue N `true` jobs PREFIX0.., 8 writer threads.
cat >"$tmp/enq.py" <<\EOF
import os, sys, threading
mnt, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def writer(k):
    for i in range(k, n, 8):
        fd = os.open("%s/pending/%s%d" % (mnt, prefix, i),
            os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"true\n")
        os.close(fd)
ts = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
for t in ts: t.start()
for t in ts: t.join()
EOF

${CC:-cc} -O2 -D_GNU_SOURCE -pthread -o "$tmp/waiters" "$top/bench/waiters.c"

# drain.py MNT: remove the running blocker b1, wait until b2 runs: seconds.
cat >"$tmp/drain.py" <<\EOF
import os, sys, time
mnt = sys.argv[1]
t0 = time.monotonic()
os.unlink(mnt + "/active/b1")
while not os.path.exists(mnt + "/active/b2"):
    time.sleep(0.005)
print("%.4f" % (time.monotonic() - t0))
EOF

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }

wait_until() {
	i=0
	while ! eval "$2"; do
		i=$((i + 1))
		[ $i -lt $(($1 * 20)) ] || { echo "timed out: $2" >&2; exit 1; }
		sleep 0.05
	done
}

# The reader threads blocked in a read of the mount.
blocked() {
	grep -l fuse_file_read_iter /proc/"$rpid"/task/*/stack 2>/dev/null |
	    wc -l
}

# run N: one run with N readers; sets rss0, rss1, secs, answers.
run() {
	rm -rf "$tmp/state" "$tmp/mnt"
	mkdir -p "$tmp/state" "$tmp/mnt"
	printf '[queue]\nmax_jobs = 1\nmax_retries = 0\nbackoff_base = 0\n' \
	    >"$tmp/state/filed.ini"
	"$FILED" -s "$tmp/state" "$tmp/mnt" 2>>"$tmp/filed.log" &
	pid=$!
	wait_until 10 'mountpoint -q "$tmp/mnt"'
	echo 'exec sleep 100000' >"$tmp/mnt/pending/b1"
	wait_until 10 'test -e "$tmp/mnt/active/b1"'
	"$PY" "$tmp/enq.py" "$tmp/mnt" t "$J"
	echo 'exec sleep 100000' >"$tmp/mnt/pending/b2"
	"$PY" "$tmp/enq.py" "$tmp/mnt" w "$W"
	wait_until 10 'test -e "$tmp/mnt/pending/w$((W - 1))"'
	sleep 1
	rss0=$(rss)
	answers=
	if [ "$1" -gt 0 ]; then
		"$tmp/waiters" "$tmp/mnt" w "$1" >"$tmp/answers" &
		rpid=$!
		wait_until 120 'grep -q started "$tmp/answers"'
		if [ -r "/proc/$rpid/stack" ]; then
			wait_until 120 '[ "$(blocked)" -ge "$1" ]'
		fi
		sleep 1
	fi
	rss1=$(rss)
	secs=$("$PY" "$tmp/drain.py" "$tmp/mnt")
	n=$(ls "$tmp/mnt/complete" | wc -l)
	[ "$n" = "$J" ] || { echo "$n jobs complete, not $J" >&2; exit 1; }
	kill -TERM "$pid"
	wait "$pid"
	pid=
	if [ "$1" -gt 0 ]; then
		wait "$rpid"
		rpid=
		answers=$(grep -v started "$tmp/answers" | tr '\n' ' ')
	fi
}

run 0
base_rss=$rss1 base_secs=$secs
run "$W"

awk -v w="$W" -v j="$J" -v r0="$base_rss" -v s0="$base_secs" \
    -v a="$rss0" -v b="$rss1" -v s1="$secs" -v ans="$answers" 'BEGIN {
	printf "filed RSS, no readers            %8d KiB\n", r0
	printf "filed RSS, %5d readers parked   %8d KiB (%d KiB before they came)\n", w, b, a
	printf "  per parked reader              %8.0f bytes\n", (b - a) * 1024 / w
	printf "drain of %d true jobs, no readers       %7.1f jobs/s (%.3f s)\n", j, j / s0, s0
	printf "drain of %d true jobs, %d parked  %7.1f jobs/s (%.3f s)\n", j, w, j / s1, s1
	printf "  ratio                          %8.3f\n", s0 / s1
	printf "the readers'"'"' answers at SIGTERM: %s\n", ans
	printf "tsv\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\n", w, j, r0, a, b, j / s0, j / s1
}'
