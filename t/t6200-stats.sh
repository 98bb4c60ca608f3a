#!/bin/sh

test_description='stats: the Prometheus text file at the root

stats passes a strict checker of the text format (t/promcheck.py, which
has tests of its own here) at any moment, during a burst of jobs too; its
counters count what was done since filed started, its gauges of jobs agree
with ls, its histograms count every attempt that ended, and the journal
counts its records, commits and fdatasyncs. Counters start from zero at
each start; the jobs stay, and so do the mode and owner of stats.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

PROMCHECK="$SHARNESS_TEST_SRCDIR/promcheck.py"

# promcheck FILE: run the checker on FILE.
promcheck() {
	"$FILED_PYTHON" "$PROMCHECK" "$@"
}

# rejects NAME: the checker refuses bad.NAME (and says so on stderr).
rejects() {
	test_expect_code 1 promcheck "bad.$1" 2>"err.$1" &&
	grep -q "^promcheck: bad.$1:" "err.$1"
}

# scrape: read stats once (one open: one snapshot) into stats.out and check
# it; promtool checks it too where it is installed.
scrape() {
	cat mnt/stats >stats.out &&
	test -s stats.out &&
	promcheck stats.out &&
	if test_have_prereq PROMTOOL
	then
		promtool check metrics <stats.out
	fi
}

# m SERIES [FILE]: the value of SERIES (name{labels} as filed writes it) in
# FILE (stats.out); it must be there exactly once.
m() {
	awk -v s="$1" '$1 == s { v = $2; n++ } END { if (n != 1) exit 1; print v }' \
		"${2:-stats.out}"
}

# expect SERIES=VALUE...: scrape, and every SERIES has its VALUE.
expect() {
	scrape || return 1
	for expect__kv
	do
		expect__got=$(m "${expect__kv%=*}") || {
			echo "no series ${expect__kv%=*} in stats" >&2
			return 1
		}
		if test "$expect__got" != "${expect__kv##*=}"
		then
			echo "${expect__kv%=*} is $expect__got, want ${expect__kv##*=}" >&2
			return 1
		fi
	done
}

# jobs_match_ls: scrape, and filed_jobs agrees with ls -A of each directory
# (pending/ holds the new, draft and pending jobs).
jobs_match_ls() {
	scrape &&
	jml__p=$(( $(m 'filed_jobs{state="new"}') +
		$(m 'filed_jobs{state="draft"}') +
		$(m 'filed_jobs{state="pending"}') )) &&
	test "$(ls -A mnt/pending | wc -l)" = "$jml__p" &&
	for jml__d in active failed complete
	do
		jml__g=$(m "filed_jobs{state=\"$jml__d\"}") &&
		test "$(ls -A "mnt/$jml__d" | wc -l)" = "$jml__g" || {
			echo "$jml__d: ls shows $(ls -A "mnt/$jml__d" | wc -l), stats $jml__g" >&2
			return 1
		}
	done
}

# consistent FILE...: in each snapshot FILE the counters and the gauges
# agree: every attempt started in this run has ended, was removed with its
# job, or runs, and the run time histogram counts each one that ended.
consistent() {
	awk '
	function get(k) {
		if (!(k in v)) {
			print file ": no " k >"/dev/stderr"
			bad = 1
		}
		return v[k]
	}
	function check() {
		ended = get("filed_jobs_completed_total")
		ended += get("filed_attempts_failed_total")
		ended += get("filed_attempts_interrupted_total")
		ended += get("filed_jobs_cancelled_total")
		running = get("filed_attempts_started_total") - ended
		running -= get("filed_jobs_removed_total{state=\"active\"}")
		if (running != get("filed_jobs{state=\"active\"}") ||
		    ended != get("filed_attempt_duration_seconds_count")) {
			print file ": started " \
			    get("filed_attempts_started_total") ", ended " \
			    ended ", active " get("filed_jobs{state=\"active\"}") \
			    ", run time count " \
			    get("filed_attempt_duration_seconds_count") \
			    >"/dev/stderr"
			bad = 1
		}
		split("", v)
	}
	FNR == 1 && NR != 1 { check() }
	FNR == 1 { file = FILENAME }
	!/^#/ { v[$1] = $2 }
	END { check(); exit bad }
	' "$@"
}

command -v promtool >/dev/null 2>&1 && test_set_prereq PROMTOOL

test_expect_success 'the checker takes a valid file of every type' '
	cat >good <<-\EOF &&
	# A comment.
	# HELP up_total Things, with a \\ and a\nnewline.
	# TYPE up_total counter
	up_total{a="x\"y\\z\nw",b="2",} 3 1700000000000
	up_total{a="other"} 0
	# TYPE temp gauge
	# HELP temp A gauge.
	temp NaN
	temp{where="out"} -Inf
	temp{where="in"} 1.5e+3
	# HELP lat A histogram.
	# TYPE lat histogram
	lat_bucket{le="0.1"} 1
	lat_bucket{le="1"} 2
	lat_bucket{le="+Inf"} 2
	lat_sum 0.7
	lat_count 2
	lat_bucket{path="/x",le="1"} 0
	lat_bucket{path="/x",le="+Inf"} 0
	lat_sum{path="/x"} 0
	lat_count{path="/x"} 0
	# HELP rpc A summary.
	# TYPE rpc summary
	rpc{quantile="0.5"} 2
	rpc_sum 10
	rpc_count 5
	EOF
	promcheck good &&
	: >empty &&
	promcheck empty
'

test_expect_success 'the checker rejects what the format forbids' '
	printf "# HELP a x\n# TYPE a gauge\na 1" >bad.nonl &&
	printf "# HELP a x\n# TYPE a gauge\r\na 1\n" >bad.cr &&
	printf "a 1\n" >bad.notype &&
	printf "# TYPE a gauge\na 1\n" >bad.nohelp &&
	printf "# HELP a x\n# TYPE a counter\na 1\n" >bad.nototal &&
	printf "# HELP a_total x\n# TYPE a_total gauge\na_total 1\n" >bad.total &&
	printf "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n" >bad.twotypes &&
	printf "# HELP a x\n# HELP a y\n# TYPE a gauge\na 1\n" >bad.twohelps &&
	printf "# HELP a x\n# TYPE a gauge\na 1\n# TYPE a gauge\n" >bad.latetype &&
	printf "# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na 1\n" >bad.notfirst &&
	printf "# HELP a x\n# TYPE a gauge\na{l=\"1\"} 1\n# HELP b x\n# TYPE b gauge\nb 1\na{l=\"2\"} 2\n" >bad.regroup &&
	printf "# HELP a x\n# TYPE a gauge\na{l=\"1\"} 1\na{l=\"1\"} 2\n" >bad.dup &&
	printf "# HELP a x\n# TYPE a gauge\na{m=\"1\",l=\"2\"} 1\na{l=\"2\",m=\"1\"} 2\n" >bad.dupordered &&
	printf "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n" >bad.name &&
	printf "# HELP a x\n# TYPE a gauge\na{1l=\"1\"} 1\n" >bad.labelname &&
	printf "# HELP a x\n# TYPE a gauge\na{__l=\"1\"} 1\n" >bad.reserved &&
	printf "# HELP a x\n# TYPE a gauge\na{l=\"1\",l=\"2\"} 1\n" >bad.twolabels &&
	printf "# HELP a x\n# TYPE a gauge\na{l=\"x\"y\"} 1\n" >bad.quote &&
	printf "# HELP a x\n# TYPE a gauge\na{l=\"x\\\\ty\"} 1\n" >bad.escape &&
	printf "# HELP a x\n# TYPE a gauge\na{l=\"x} 1\n" >bad.unterminated &&
	printf "# HELP a x\n# TYPE a gauge\na{l=1} 1\n" >bad.unquoted &&
	printf "# HELP a x\\\\t\n# TYPE a gauge\na 1\n" >bad.helpescape &&
	printf "# HELP a x\n# TYPE a gauge\na one\n" >bad.value &&
	printf "# HELP a x\n# TYPE a gauge\na Inf\n" >bad.inf &&
	printf "# HELP a x\n# TYPE a gauge\na 0x10\n" >bad.hex &&
	printf "# HELP a x\n# TYPE a gauge\na 1 2.5\n" >bad.timestamp &&
	printf "# HELP a x\n# TYPE a gauge\na 1 2 3\n" >bad.fields &&
	printf "# HELP a x\n# TYPE a gauge\na 1 \n" >bad.trailing &&
	printf "# HELP a x\n# TYPE a gauge\na\n" >bad.novalue &&
	printf "# HELP a x\n# TYPE a meter\na 1\n" >bad.type &&
	printf "# HELP a_total x\n# TYPE a_total counter\na_total -1\n" >bad.negative &&
	printf "# HELP a_total x\n# TYPE a_total counter\na_total NaN\n" >bad.nan &&
	printf "# HELP a x\n# TYPE a gauge\na{le=\"1\"} 1\n" >bad.le &&
	printf "# HELP h x\n# TYPE h histogram\nh 1\n" >bad.hbare &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n" >bad.leorder &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n" >bad.ledup &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 2\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n" >bad.decrease &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n" >bad.noinf &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"2\"} 1\nh_sum 1\nh_count 1\n" >bad.infnotlast &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n" >bad.count &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n" >bad.nosum &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 2\n" >bad.nocount &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n" >bad.nole &&
	printf "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"x\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n" >bad.lefloat &&
	printf "# HELP h x\n# TYPE h histogram\n# HELP h_count x\n# TYPE h_count gauge\nh_count 1\n" >bad.clash &&
	printf "# HELP s x\n# TYPE s summary\ns{quantile=\"2\"} 1\ns_sum 1\ns_count 1\n" >bad.quantile &&
	printf "# HELP a x\n# TYPE a gauge\na{l=\"\\377\"} 1\n" >bad.utf8 &&
	for f in bad.*
	do
		rejects "${f#bad.}" || {
			echo "the checker took $f:" >&2
			cat "$f" >&2
			return 1
		}
	done
'

test_expect_success 'start filed: stats is there, read-only, and passes the checker' '
	filed_ini max_jobs=2 max_retries=1 backoff_base=0 &&
	filed_start &&
	ls mnt >root &&
	grep -qx stats root &&
	test "$(errno_of open mnt/stats O_WRONLY)" = EACCES &&
	expect filed_jobs_submitted_total=0 filed_attempts_started_total=0 \
		"filed_jobs{state=\"pending\"}=0" filed_max_jobs=2 \
		filed_max_retries=1 filed_backoff_base_seconds=0 \
		filed_max_existing_jobs=100000 filed_timeout_seconds=0 \
		filed_attempt_duration_seconds_count=0
'

test_expect_success 'filed_build_info carries the version filed --version prints' '
	version=$("$FILED_BIN" --version | sed -n "s/^filed //p") &&
	test -n "$version" &&
	expect "filed_build_info{version=\"$version\"}=1"
'

test_expect_success 'filed_start_time_seconds is the moment filed started' '
	scrape &&
	start=$(m filed_start_time_seconds) &&
	now=$(date +%s) &&
	test "${start%.*}" -le "$now" &&
	test "${start%.*}" -ge $(( now - 60 )) &&
	echo "$start" >start.1
'

test_expect_success '5 jobs that succeed and 2 that fail with max_retries 1' '
	scrape && cp stats.out before &&
	for i in 1 2 3 4 5
	do
		echo true >mnt/pending/ok$i || return 1
	done &&
	echo "exit 3" >mnt/pending/bad1 &&
	echo "exit 4" >mnt/pending/bad2 &&
	for i in 1 2 3 4 5
	do
		wait_job_in complete ok$i || return 1
	done &&
	wait_job_in failed bad1 &&
	wait_job_in failed bad2 &&
	expect filed_jobs_submitted_total=7 filed_attempts_started_total=9 \
		filed_jobs_completed_total=5 filed_jobs_failed_total=2 \
		filed_attempts_failed_total=4 filed_retries_total=2 \
		filed_attempts_timed_out_total=0 filed_jobs_cancelled_total=0 \
		filed_attempts_interrupted_total=0 filed_jobs_rerun_total=0 \
		"filed_jobs{state=\"complete\"}=5" \
		"filed_jobs{state=\"failed\"}=2" \
		"filed_jobs{state=\"pending\"}=0" \
		"filed_jobs{state=\"active\"}=0" &&
	jobs_match_ls
'

test_expect_success 'the histograms count every attempt that ended, and each first start' '
	expect filed_attempt_duration_seconds_count=9 \
		"filed_attempt_duration_seconds_bucket{le=\"+Inf\"}=9" \
		filed_queue_wait_seconds_count=7 \
		"filed_queue_wait_seconds_bucket{le=\"+Inf\"}=7" &&
	consistent stats.out
'

test_expect_success 'the journal counters grew with the jobs; an fdatasync for every commit' '
	scrape &&
	for c in filed_journal_records_total filed_journal_commits_total \
		filed_journal_written_bytes_total filed_journal_size_bytes \
		filed_journal_fdatasync_seconds_count
	do
		test "$(m $c)" -gt "$(m $c before)" || {
			echo "$c: $(m $c before) before the jobs, $(m $c) after" >&2
			return 1
		}
	done &&
	test "$(m filed_journal_fdatasync_seconds_count)" -ge "$(m filed_journal_commits_total)" &&
	test "$(m filed_journal_records_total)" -ge "$(m filed_journal_commits_total)" &&
	test "$(m filed_journal_size_bytes)" = "$(stat -c %s state/journal)" &&
	test "$(m filed_journal_failed_commits_total)" = 0 &&
	test "$(m filed_journal_broken)" = 0
'

test_expect_success 'drafts, and a job being written, count as ls shows them' '
	echo "echo draft" >mnt/pending/.d1 &&
	echo "echo draft" >mnt/pending/.d2 &&
	test_when_finished "open_gate w" &&
	{
		{
			echo true
			/bin/true
			while ! test -e gate.w; do sleep 0.02; done
			echo true
		} >mnt/pending/w &
	} &&
	wait_for 10 "grep -q \" name=w \" state/journal" &&
	test "$(xattr mnt/pending/w state)" = new &&
	wait_for 10 "expect \"filed_jobs{state=\\\"draft\\\"}=2\" 2>/dev/null" &&
	expect "filed_jobs{state=\"new\"}=1" "filed_jobs{state=\"pending\"}=0" &&
	jobs_match_ls &&
	open_gate w &&
	wait_job_in complete w &&
	expect "filed_jobs{state=\"new\"}=0" "filed_jobs{state=\"complete\"}=6" \
		filed_jobs_submitted_total=8 &&
	jobs_match_ls
'

test_expect_success 'a timeout is counted, and the settings are read as they change' '
	printf "{\"timeout\": 0.5, \"kill_grace\": 0}" >mnt/config.json &&
	expect filed_timeout_seconds=0.5 filed_kill_grace_seconds=0 &&
	echo "sleep 60" >mnt/pending/slow &&
	wait_job_in failed slow 20 &&
	printf "{\"timeout\": 0}" >mnt/config.json &&
	expect filed_attempts_timed_out_total=2 filed_jobs_failed_total=3 \
		filed_retries_total=3 filed_attempts_failed_total=6 \
		filed_timeout_seconds=0
'

test_expect_success 'a cancel, removals from each state, and a rerun' '
	echo "$(gate g1)" >mnt/pending/g1 &&
	echo "$(gate g2)" >mnt/pending/g2 &&
	wait_job_in active g1 &&
	wait_job_in active g2 &&
	echo true >mnt/pending/p1 &&
	wait_for 10 "expect \"filed_jobs{state=\\\"pending\\\"}=1\" 2>/dev/null" &&
	rm mnt/pending/p1 &&
	rm mnt/active/g1 &&
	mv mnt/active/g2 mnt/failed/ &&
	rm mnt/failed/g2 &&
	rm mnt/complete/ok5 &&
	rm mnt/pending/.d1 &&
	mv mnt/complete/ok1 mnt/pending/ &&
	wait_job_in complete ok1 &&
	expect filed_jobs_cancelled_total=1 filed_jobs_rerun_total=1 \
		"filed_jobs_removed_total{state=\"draft\"}=1" \
		"filed_jobs_removed_total{state=\"pending\"}=1" \
		"filed_jobs_removed_total{state=\"active\"}=1" \
		"filed_jobs_removed_total{state=\"failed\"}=1" \
		"filed_jobs_removed_total{state=\"complete\"}=1" \
		filed_jobs_submitted_total=12 filed_jobs_completed_total=7 &&
	jobs_match_ls &&
	consistent stats.out
'

test_expect_success 'a cat of stats during a burst of 1000 jobs always reads a consistent file' '
	n0=$(ls mnt/complete | wc -l) &&
	(
		i=0
		while test $i -lt 1000
		do
			echo true >mnt/pending/burst$i || exit 1
			i=$((i + 1))
		done
	) &
	writer=$! &&
	end=$(( $(date +%s) + 120 )) &&
	k=0 &&
	while pid_alive $writer || test "$(ls mnt/complete | wc -l)" -lt $((n0 + 1000))
	do
		cat mnt/stats >snap.$k &&
		k=$((k + 1)) &&
		test "$(date +%s)" -lt "$end" || return 1
	done &&
	wait $writer &&
	echo "$k snapshots" &&
	test "$k" -ge 3 &&
	promcheck snap.* &&
	consistent snap.* &&
	expect filed_jobs_submitted_total=1012 filed_jobs_completed_total=1007 &&
	jobs_match_ls
'

test_expect_success 'after a restart the counters are zero; the jobs, and the mode and owner of stats, stay' '
	chmod 0604 mnt/stats &&
	chown 1:1 mnt/stats &&
	test "$(stat -c "%a %u:%g" mnt/stats)" = "604 1:1" &&
	filed_stop &&
	filed_start &&
	test "$(stat -c "%a %u:%g" mnt/stats)" = "604 1:1" &&
	expect filed_jobs_submitted_total=0 filed_attempts_started_total=0 \
		filed_jobs_completed_total=0 filed_jobs_failed_total=0 \
		filed_attempts_failed_total=0 filed_retries_total=0 \
		filed_attempts_timed_out_total=0 filed_jobs_cancelled_total=0 \
		filed_attempts_interrupted_total=0 filed_jobs_rerun_total=0 \
		"filed_jobs_removed_total{state=\"active\"}=0" \
		filed_attempt_duration_seconds_count=0 \
		filed_queue_wait_seconds_count=0 \
		"filed_jobs{state=\"complete\"}=1005" \
		"filed_jobs{state=\"failed\"}=3" \
		"filed_jobs{state=\"draft\"}=1" &&
	jobs_match_ls &&
	test "$(m filed_start_time_seconds)" != "$(cat start.1)"
'

test_expect_success 'an attempt cut short by kill -9 is counted as interrupted at the next start' '
	echo "$(gate k)" >mnt/pending/k &&
	wait_job_in active k &&
	filed_kill9 &&
	filed_start &&
	wait_for 10 "test \"\$(xattr mnt/active/k attempts 2>/dev/null)\" = 2" &&
	expect filed_attempts_interrupted_total=1 \
		filed_attempts_started_total=1 filed_jobs_submitted_total=0 \
		filed_attempt_duration_seconds_count=1 \
		filed_queue_wait_seconds_count=0 &&
	open_gate k &&
	wait_job_in complete k &&
	expect filed_jobs_completed_total=1 \
		filed_attempt_duration_seconds_count=2 &&
	jobs_match_ls
'

# fuse_delta OP A B: how much filed_fuse_requests_total{op="OP"} grew from
# scrape A to scrape B.
fuse_delta() {
	echo $(( $(m "filed_fuse_requests_total{op=\"$1\"}" "$3") -
		$(m "filed_fuse_requests_total{op=\"$1\"}" "$2") ))
}

test_expect_success 'a cat of a job counts its lookup, open, read and release requests' '
	scrape && cp stats.out f0 &&
	scrape && cp stats.out f1 &&
	for i in 1 2 3 4 5 6 7 8 9 10
	do
		cat mnt/complete/k >/dev/null || return 1
	done &&
	scrape && cp stats.out f2 &&
	for op in lookup open read release
	do
		idle=$(fuse_delta $op f0 f1) &&
		cats=$(fuse_delta $op f1 f2) &&
		echo "$op: $idle for a read of stats, $cats with 10 cats" &&
		test "$cats" -ge $((idle + 10)) || return 1
	done &&
	test "$(fuse_delta create f1 f2)" = 0 &&
	test "$(m "filed_fuse_requests_total{op=\"init\"}" f2)" = 1 &&
	test "$(m "filed_fuse_requests_total{op=\"other\"}" f2)" = 0
'

test_expect_success 'the FUSE requests count from zero again after a restart' '
	test "$(m "filed_fuse_requests_total{op=\"read\"}" f2)" -gt 10 &&
	filed_stop &&
	filed_start &&
	scrape &&
	test "$(m "filed_fuse_requests_total{op=\"init\"}")" = 1 &&
	test "$(m "filed_fuse_requests_total{op=\"read\"}")" -lt 10
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
