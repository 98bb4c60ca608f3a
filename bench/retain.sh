#!/bin/sh
# bench/retain.sh: how long filed takes to remove a backlog of expired
# finished jobs, and how long stat and ls through the mount take
# meanwhile.
#
#   sh bench/retain.sh [FILED] [GENJOURNAL] [N]
#
# bench/genjournal writes a journal of N complete jobs (default 100,000),
# weeks old; each gets an output file of 80 bytes. filed starts on them
# with keep_complete 0. A prober times, one after the other, a stat of a
# draft (LOOKUP + GETATTR: filed answers every one, nothing is cached) and
# a listing of pending/ (OPENDIR + READDIR + RELEASEDIR): for 3 s with
# nothing else happening, then from the moment keep_complete is set to one
# day until stats counts N removals. Prints the removal time and rate, and
# the count, p50, p99 and max of each probe, idle and during the removal.
# Works in .bench-retain.XXXXXX in the current directory (the disk the
# numbers are for), removed on exit.
set -eu

FILED=${1:-./filed}
GEN=${2:-./bench/genjournal}
N=${3:-100000}
tmp=$(mktemp -d "$PWD/.bench-retain.XXXXXX")
mkdir "$tmp/mnt" "$tmp/state" "$tmp/state/output"
pid=
cleanup() {
	[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || :
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || :
	fusermount3 -u -z "$tmp/mnt" 2>/dev/null || :
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$GEN" "$tmp/state/journal" "$N" 0 >/dev/null
python3 - "$tmp/state/output" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
	with open(os.path.join(d, str(i)), "w") as f:
		f.write("x" * 79 + "\n")
EOF
printf '[queue]\nmax_jobs = 1\nmax_jobs_total = %d\n' $((N + 10)) >"$tmp/state/filed.ini"

"$FILED" -s "$tmp/state" "$tmp/mnt" 2>"$tmp/filed.log" &
pid=$!
while ! mountpoint -q "$tmp/mnt"; do
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/filed.log"; exit 1; }
	sleep 0.01
done
: >"$tmp/mnt/pending/.probe"

python3 - "$tmp/mnt" "$N" <<'EOF'
import os, sys, time

mnt, n = sys.argv[1], int(sys.argv[2])
probe = os.path.join(mnt, "pending", ".probe")
pending = os.path.join(mnt, "pending")

def removed():
	with open(os.path.join(mnt, "stats")) as f:
		for line in f:
			if line.startswith('filed_jobs_removed_total{state="complete"}'):
				return int(line.split()[1])
	return 0

slow = []
def probe_until(done):
	st, ls = [], []
	while not done():
		t0 = time.perf_counter()
		os.stat(probe)
		t1 = time.perf_counter()
		os.listdir(pending)
		t2 = time.perf_counter()
		st.append(t1 - t0)
		ls.append(t2 - t1)
		slow.append((max(t1 - t0, t2 - t1), t0))
	return st, ls

def show(what, v):
	v = sorted(v)
	q = lambda p: v[min(len(v) - 1, int(p * len(v)))] * 1e3
	print("%-22s %7d  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms" %
	    (what, len(v), q(0.5), q(0.99), v[-1] * 1e3))
	return v

end = time.time() + 3
idle = probe_until(lambda: time.time() >= end)
base = removed()
t0 = time.time()
with open(os.path.join(mnt, "config.json"), "w") as f:
	f.write('{"keep_complete": 86400}\n')
last = [0.0]
def finished():
	now = time.time()
	if now - last[0] < 0.01:
		return False
	last[0] = now
	if now - t0 > 600:
		sys.exit("not done after 600 s")
	return removed() - base >= n
during = probe_until(finished)
t1 = time.time()
print("removed %d jobs in %.2f s: %.0f jobs/s" % (n, t1 - t0, n / (t1 - t0)))
p0 = time.perf_counter() - (time.time() - t0)
print("slowest probes: " + ", ".join("%.1f ms at %+.3f s" % (d * 1e3, at - p0)
    for d, at in sorted(slow, reverse=True)[:5]))
show("stat, idle", idle[0])
ls0 = show("ls pending/, idle", idle[1])
s1 = show("stat, removing", during[0])
l1 = show("ls pending/, removing", during[1])
print("tsv\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f" % (n, t1 - t0,
    s1[len(s1) // 2] * 1e3, s1[-1] * 1e3, l1[len(l1) // 2] * 1e3,
    l1[-1] * 1e3))
EOF
left=$(ls "$tmp/state/output" | grep -c -v '^\.' || :)
echo "output files left: $left"
# A compaction builds its snapshot on the loop: a probe may wait for it.
grep "journal: compacted" "$tmp/filed.log" || :
