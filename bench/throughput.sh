#!/bin/sh
# bench/throughput.sh: how fast filed takes and runs jobs, on this disk.
#
#   sh bench/throughput.sh [FILED] [N] [WRITERS]
#
# Mounts a private filed on a temporary directory, then:
#   1. enqueue: WRITERS shell loops write N `true` jobs in all into
#      pending/ (each close() returns once the job is durable): jobs/s;
#   2. drain: the time until all N are in complete/: jobs/s end to end;
#   3. the journal's commits (batches) per job, from filed's debug log.
# Prints a small table and a TSV line (prefix "tsv").
set -eu

FILED=${1:-./filed}
N=${2:-1000}
W=${3:-1}
FILED=$(cd "$(dirname "$FILED")" && pwd)/$(basename "$FILED")
tmp=$(mktemp -d /tmp/filed-bench.XXXXXX)
mkdir "$tmp/mnt"
cleanup() {
	kill -TERM "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
	fusermount3 -u -z "$tmp/mnt" 2>/dev/null || :
	rm -rf "$tmp"
}
"$FILED" -d -s "$tmp/state" "$tmp/mnt" 2>"$tmp/filed.log" &
pid=$!
trap cleanup EXIT INT TERM
i=0
while ! mountpoint -q "$tmp/mnt"; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$tmp/filed.log"; exit 1; }
	sleep 0.05
done

now() { date +%s.%N; }
per=$((N / W))
t0=$(now)
w=0
writers=
while [ $w -lt "$W" ]; do
	(
		j=0
		while [ $j -lt $per ]; do
			printf 'true\n' >"$tmp/mnt/pending/w$w-$j"
			j=$((j + 1))
		done
	) &
	writers="$writers $!"
	w=$((w + 1))
done
wait $writers
t1=$(now)
total=$((per * W))
while [ "$(ls "$tmp/mnt/complete" | wc -l)" -lt "$total" ]; do
	sleep 0.05
done
t2=$(now)
batches=$(grep -c 'journal: batch of' "$tmp/filed.log" || :)
records=$(awk '/journal: batch of/ { n += $6 } END { print n + 0 }' \
    "$tmp/filed.log")

awk -v n="$total" -v w="$W" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
    -v b="$batches" -v r="$records" 'BEGIN {
	printf "jobs             %d (%d writer%s)\n", n, w, w == 1 ? "" : "s"
	printf "enqueue          %.0f jobs/s (%.3f s)\n", n / (t1 - t0), t1 - t0
	printf "enqueue+run      %.0f jobs/s (%.3f s)\n", n / (t2 - t0), t2 - t0
	printf "journal commits  %d for %d records (%.2f per job)\n", b, r, b / n
	printf "tsv\t%d\t%d\t%.1f\t%.1f\t%.3f\n", n, w, n / (t1 - t0), \
	    n / (t2 - t0), b / n
}'
