#!/bin/sh
# bench/status.sh: how long `filed --status` takes on a queue that retains
# many finished jobs (bench/genjournal writes them, as for section 5 of
# bench/run), with a few jobs in each of the other directories so that
# the table merges four listings.
#
#   sh bench/status.sh [FILED] [GENJOURNAL] [LIVE]
#
# Prints one line per measurement: the command and its wall time (best of
# 3, except -n 0, run once), then a tsv line of the same numbers.
set -eu

FILED=${1:-./filed}
GEN=${2:-./bench/genjournal}
LIVE=${3:-100000}
tmp=$(mktemp -d /tmp/filed-status.XXXXXX)
mkdir "$tmp/mnt" "$tmp/state"
pid=
cleanup() {
	[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || :
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || :
	fusermount3 -u -z "$tmp/mnt" 2>/dev/null || :
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$GEN" "$tmp/state/journal" "$LIVE" "$((LIVE / 2))" >/dev/null
printf '[queue]\nmax_jobs = 1\nmax_retries = 0\nkill_grace = 1\nmax_jobs_total = %d\n' \
    $((LIVE * 2)) >"$tmp/state/filed.ini"
"$FILED" -s "$tmp/state" "$tmp/mnt" 2>"$tmp/filed.log" &
pid=$!
while ! mountpoint -q "$tmp/mnt"; do
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/filed.log"; exit 1; }
	sleep 0.01
done
M=$tmp/mnt

# 5 failed jobs, then one running (it holds the only slot), 5 waiting.
for i in 1 2 3 4 5; do
	echo 'exit 3' >"$M/pending/fail-$i"
done
while [ "$(ls "$M/failed" | wc -l)" -lt 5 ]; do sleep 0.05; done
echo 'sleep 100000' >"$M/pending/blocker"
while ! [ -e "$M/active/blocker" ]; do sleep 0.05; done
for i in 1 2 3 4 5; do
	echo true >"$M/pending/wait-$i"
done

# best N CMD...: the best wall time of N runs of CMD, in seconds.
best() {
	n=$1
	shift
	b=
	while [ "$n" -gt 0 ]; do
		t0=$(date +%s.%N)
		"$@" >"$tmp/out"
		t1=$(date +%s.%N)
		b=$(awk -v a="$t0" -v z="$t1" -v b="${b:-1e9}" \
		    'BEGIN { e = z - a; printf "%.3f", e < b ? e : b }')
		n=$((n - 1))
	done
	echo "$b"
}

ls_t=$(best 3 ls -f "$M/complete")
n20=$(best 3 "$FILED" --status -n 20 "$M")
rows20=$(($(wc -l <"$tmp/out") - 1))
c20=$(best 3 "$FILED" --status -n 20 complete "$M")
all=$(best 1 "$FILED" --status -n 0 "$M")
rowsall=$(($(wc -l <"$tmp/out") - 1))

printf 'jobs retained             %d in complete/, 5 failed, 1 active, 5 pending\n' \
    "$LIVE"
printf 'ls -f complete            %s s (for comparison)\n' "$ls_t"
printf 'filed --status -n 20      %s s (%d rows)\n' "$n20" "$rows20"
printf 'filed --status -n 20 complete %s s\n' "$c20"
printf 'filed --status -n 0       %s s (%d rows)\n' "$all" "$rowsall"
printf 'tsv\t%d\t%s\t%s\t%s\t%s\n' "$LIVE" "$ls_t" "$n20" "$c20" "$all"
