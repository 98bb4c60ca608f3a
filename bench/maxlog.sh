#!/bin/sh
# bench/maxlog.sh: what max_log_size costs.
#
#   sh bench/maxlog.sh [FILED] [MB] [N]
#
# For each max_log_size (0: the job writes its log itself; 1 MiB: filed
# splices 1 MiB into the log and the rest into /dev/null; MB + 1 MiB:
# filed splices it all into the log), mounts a private filed and:
#   1. big: one job writes MB MiB to stdout (dd from /dev/zero, 64 KiB
#      blocks); seconds from its queueing to complete/, and MiB/s;
#   2. drain: N `true` jobs written into pending/ while paused
#      (max_jobs 0), then max_jobs 2: jobs/s until all are in complete/,
#      and the CPU time filed itself spent per job meanwhile (user and
#      system, from /proc: steadier than jobs/s on a busy machine).
# Prints a table and one TSV line per setting (prefix "tsv": max_log_size,
# big seconds, MiB/s, drain jobs/s, filed's CPU us per job).
set -eu

FILED=${1:-./filed}
MB=${2:-100}
N=${3:-1000}
FILED=$(cd "$(dirname "$FILED")" && pwd)/$(basename "$FILED")
now() { date +%s.%N; }
# cpu PID: the clock ticks of CPU time PID used so far (user + system).
cpu() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# run CAP: one mount with max_log_size CAP; prints the TSV line.
run() {
	tmp=$(mktemp -d /tmp/filed-maxlog.XXXXXX)
	mkdir "$tmp/mnt" "$tmp/state"
	printf '[queue]\nmax_log_size = %s\nmax_retries = 0\n' "$1" \
	    >"$tmp/state/filed.ini"
	"$FILED" -s "$tmp/state" "$tmp/mnt" 2>"$tmp/filed.log" &
	pid=$!
	i=0
	while ! mountpoint -q "$tmp/mnt"; do
		i=$((i + 1))
		[ $i -lt 100 ] || { cat "$tmp/filed.log"; exit 1; }
		sleep 0.05
	done

	t0=$(now)
	printf 'dd if=/dev/zero bs=65536 count=%d 2>/dev/null\n' \
	    $((MB * 16)) >"$tmp/mnt/pending/big"
	cat "$tmp/mnt/wait/big" >/dev/null
	t1=$(now)
	[ -e "$tmp/mnt/complete/big" ] || { echo "big failed" >&2; exit 1; }

	printf '{"max_jobs": 0}\n' >"$tmp/mnt/config.json"
	j=0
	while [ $j -lt "$N" ]; do
		printf 'true\n' >"$tmp/mnt/pending/t$j"
		j=$((j + 1))
	done
	t2=$(now)
	c2=$(cpu "$pid")
	printf '{"max_jobs": 2}\n' >"$tmp/mnt/config.json"
	while [ "$(ls "$tmp/mnt/complete" | wc -l)" -le "$N" ]; do
		sleep 0.05
	done
	t3=$(now)
	c3=$(cpu "$pid")

	kill -TERM "$pid"
	wait "$pid" || :
	rm -rf "$tmp"
	awk -v c="$1" -v mb="$MB" -v n="$N" -v t0="$t0" -v t1="$t1" \
	    -v t2="$t2" -v t3="$t3" -v cpu=$((c3 - c2)) \
	    -v hz="$(getconf CLK_TCK)" 'BEGIN {
		printf "tsv\t%s\t%.3f\t%.0f\t%.0f\t%.0f\n", c, t1 - t0,
		    mb / (t1 - t0), n / (t3 - t2), cpu / hz * 1e6 / n
	}'
}

out=$(for cap in 0 1048576 $(((MB + 1) * 1048576)); do run "$cap"; done)
printf '%-14s %10s %10s %12s %12s\n' max_log_size "big s" "MiB/s" \
    "drain jobs/s" "filed us/job"
printf '%s\n' "$out" | awk -F '\t' '{
	printf "%-14s %10s %10s %12s %12s\n", $2, $3, $4, $5, $6 }'
printf '%s\n' "$out"
