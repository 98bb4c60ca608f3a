#!/bin/sh
# bench/replay.sh: how long filed takes from start to a usable mount, and
# its peak memory, on a journal of 1,000,000 records describing 100,000
# live jobs (bench/genjournal writes it).
#
#   sh bench/replay.sh [FILED] [GENJOURNAL] [LIVE] [GONE]
set -eu

FILED=${1:-./filed}
GEN=${2:-./bench/genjournal}
LIVE=${3:-100000}
GONE=${4:-50000}
tmp=$(mktemp -d /tmp/filed-replay.XXXXXX)
mkdir "$tmp/mnt" "$tmp/state"
pid=
cleanup() {
	[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || :
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || :
	fusermount3 -u -z "$tmp/mnt" 2>/dev/null || :
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

records=$("$GEN" "$tmp/state/journal" "$LIVE" "$GONE" | awk '{print $1}')
size=$(wc -c <"$tmp/state/journal")
printf '[queue]\nmax_jobs = 1\n' >"$tmp/state/filed.ini"

t0=$(date +%s.%N)
"$FILED" -s "$tmp/state" "$tmp/mnt" 2>"$tmp/filed.log" &
pid=$!
while ! mountpoint -q "$tmp/mnt"; do
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/filed.log"; exit 1; }
	sleep 0.01
done
t1=$(date +%s.%N)
rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
n=$(ls "$tmp/mnt/complete" | wc -l)

awk -v r="$records" -v s="$size" -v n="$n" -v t0="$t0" -v t1="$t1" \
    -v rss="$rss" 'BEGIN {
	printf "journal          %d records, %.1f MB\n", r, s / 1e6
	printf "live jobs        %d in complete/\n", n
	printf "start to mount   %.3f s\n", t1 - t0
	printf "peak RSS         %.1f MB\n", rss / 1024
	printf "tsv\t%d\t%d\t%d\t%.3f\t%d\n", r, s, n, t1 - t0, rss
}'
