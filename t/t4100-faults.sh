#!/bin/sh

test_description='the disk says no: EIO and ENOSPC from the journal

filed runs under strace, which makes one chosen fdatasync or write on the
journal fail. The user sees it where the manual says: the close(), rm or mv
whose batch failed returns the error, the change is not made, everything
acknowledged before is still there, and filed recovers without a restart
(after a failed fdatasync by rewriting the journal from the committed state).
A restart then shows exactly the acknowledged state.

Then the disk fails for good: every fdatasync of the journal and of
journal.new from the chosen one on, so that the rewrite fails too. The
refused create, rm or mv must still not take effect after a restart: the
failed batch was cut out of the journal before it was answered. And when
that cut fails as well, filed exits with status 2 without answering.

strace counts invocations for when= per thread, so filed runs with
UV_THREADPOOL_SIZE=1: every journal write and fdatasync then comes from the
one thread of the pool, and -P limits tracing and counting to the journal
(and to journal.new where the rewrite must fail too). Each fault run is
preceded by a dry run of the same steps that counts the journal calls up to
the last acknowledged job; the fault hits the next one. The cut of a failed
batch (ftruncate, then fsync of the journal) is traced, and so can be made
to fail, only by the tests that name those calls: strace injects faults
only into the calls it traces.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

if ! command -v strace >/dev/null 2>&1
then
	skip_all="strace is needed for fault injection"
	test_done
fi
if ! strace -f -qq -o /dev/null -e trace=fdatasync \
	-e inject=fdatasync:error=EIO:when=1 true 2>/dev/null
then
	skip_all="strace cannot trace or inject faults here"
	test_done
fi

# traced_start FAULT [CALLS [new]]: filed -s state mnt under strace with that
# injection (empty for a dry run), tracing CALLS (default write,fdatasync)
# on the journal, and on journal.new too with "new".
traced_start() {
	if test "${3:-}" = new
	then
		traced_filed -pool1 -s 65536 -P "$TRASH_REAL/state/journal" \
			-P "$TRASH_REAL/state/journal.new" \
			-e trace="${2:-write,fdatasync}"
	else
		traced_filed -pool1 -s 65536 -P "$TRASH_REAL/state/journal" \
			-e trace="${2:-write,fdatasync}"
	fi &&
	FILED_FAULT=$1 &&
	traced_filed_start
}

# calls_upto SYSCALL NAME: how many journal SYSCALLs strace.out has up to and
# including the first one after the journal write that queued job NAME: the
# record that says its creator let go of it ("queue", or its first "start"),
# which follows the one that saved its text at the close.
calls_upto() {
	awk -v sc="$1(" -v pat=" name=$2 " '
		index($0, " write(") && id == "" && index($0, pat) &&
		    match($0, /new id=[0-9]+ name=/) {
			id = substr($0, RSTART + 7, RLENGTH - 13)
		}
		index($0, " write(") && id != "" &&
		    (index($0, " queue id=" id " ") ||
		    index($0, " start id=" id " attempt=1 ")) { seen = 1 }
		index($0, " " sc) { n++; if (seen) { print n; found = 1; exit } }
		END { if (!found) exit 1 }
	' "$TRASH/strace.out"
}

# released NAME: the journal holds the record that says the creator of job
# NAME let go of it. Waiting for it keeps that record out of the batch of the
# next change, so that the dry run and the fault run count the same syncs.
released() {
	rel_id=$(sed -n "s/.* new id=\([0-9]*\) name=$1 .*/\1/p" \
		"$TRASH/state/journal" | tail -n 1) &&
	test -n "$rel_id" &&
	grep -q -e " queue id=$rel_id " -e " start id=$rel_id attempt=1 " \
		"$TRASH/state/journal"
}

# fresh_state KEY=VALUE...: an empty state dir with these settings. A filed
# left running by a failed test is killed first, so that one failure does not
# fail every later test.
fresh_state() {
	if pid_alive "$filed_pid"
	then
		kill -9 "$(cat "$TRASH/state/lock")" "$filed_pid" 2>/dev/null
		filed_wait_exit 10
		fusermount3 -u -z "$TRASH/mnt" 2>/dev/null
	fi
	rm -rf "$TRASH/state" "$TRASH/strace.out" &&
	filed_ini "$@"
}

# in_journal NAME: how many records of the journal name job NAME.
in_journal() {
	grep -c " name=$1 " "$TRASH/state/journal"
}

# all_jobs: DIR/NAME for every job in the mount, sorted.
all_jobs() {
	for d in pending active failed complete
	do
		ls -A "mnt/$d" | sed "s|^|$d/|" || return 1
	done | LC_ALL=C sort
}

accepting="rewritten from the committed state; accepting changes again"

echo true >job.txt

# --- 1. EIO from the journal's fdatasync --------------------------------

test_expect_success 'dry run: count the journal syncs up to job a' '
	fresh_state max_jobs=1 backoff_base=0 &&
	traced_start "" &&
	gate g1 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	dd if=job.txt of=mnt/pending/a status=none &&
	wait_for 10 "released a" &&
	traced_stop &&
	nsync=$(calls_upto fdatasync a) &&
	echo "job a was committed by journal fdatasync #$nsync" &&
	test "$nsync" -ge 2
'

test_expect_success 'EIO from the fdatasync of job b: its close() fails' '
	fresh_state max_jobs=1 backoff_base=0 &&
	traced_start "-e inject=fdatasync:error=EIO:when=$((nsync + 1))" &&
	gate g2 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	dd if=job.txt of=mnt/pending/a status=none &&
	wait_for 10 "released a" &&
	test_must_fail dd if=job.txt of=mnt/pending/b status=none 2>dd.err &&
	cat dd.err &&
	grep "closing output file.*Input/output error" dd.err &&
	grep "fdatasync(.*= -1 EIO .*INJECTED" strace.out
'

test_expect_success 'job b is not in the mount; the acknowledged job a is' '
	printf "%s\n" active/blocker pending/a >expect &&
	all_jobs >actual &&
	test_cmp expect actual &&
	path_is_missing mnt/pending/b
'

test_expect_success 'the log says the journal is refused, then rewritten' '
	filed_log | grep "journal: .*fdatasync: .*refusing changes until the state is rewritten" &&
	wait_for 10 "filed_log | grep -q \"\$accepting\"" &&
	filed_log | grep "$accepting"
'

test_expect_success 'the rewritten journal has a and not b' '
	test "$(in_journal a)" = 1 &&
	test "$(in_journal b)" = 0
'

test_expect_success 'a later create succeeds without a restart, and runs' '
	dd if=job.txt of=mnt/pending/c status=none &&
	test -f mnt/pending/c &&
	open_gate g2 &&
	wait_job_in complete c &&
	printf "%s\n" complete/a complete/blocker complete/c >expect &&
	all_jobs >actual &&
	test_cmp expect actual
'

test_expect_success 'after a restart the acknowledged jobs are there, b is not' '
	traced_stop &&
	filed_start &&
	all_jobs >actual &&
	test_cmp expect actual &&
	test "$(in_journal b)" = 0 &&
	dd if=job.txt of=mnt/pending/b status=none &&
	wait_job_in complete b &&
	filed_stop
'

# --- 2. ENOSPC from the journal's write ---------------------------------

test_expect_success 'dry run: count the journal writes up to job a' '
	fresh_state max_jobs=1 backoff_base=0 &&
	traced_start "" &&
	gate g3 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	dd if=job.txt of=mnt/pending/a status=none &&
	wait_for 10 "released a" &&
	traced_stop &&
	nwrite=$(calls_upto write a) &&
	echo "job a was the journal write #$nwrite" &&
	test "$nwrite" -ge 2
'

test_expect_success 'ENOSPC from the write of job b: close() fails with ENOSPC' '
	fresh_state max_jobs=1 backoff_base=0 &&
	traced_start "-e inject=write:error=ENOSPC:when=$((nwrite + 1))" &&
	gate g4 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	dd if=job.txt of=mnt/pending/a status=none &&
	wait_for 10 "released a" &&
	test_must_fail dd if=job.txt of=mnt/pending/b status=none 2>dd.err &&
	cat dd.err &&
	grep "closing output file.*No space left on device" dd.err &&
	grep "write(.*= -1 ENOSPC .*INJECTED" strace.out &&
	filed_log | grep -i "journal: .*write: no space left on device"
'

test_expect_success 'nothing of b is in the mount or the journal' '
	path_is_missing mnt/pending/b &&
	printf "%s\n" active/blocker pending/a >expect &&
	all_jobs >actual &&
	test_cmp expect actual &&
	test "$(in_journal b)" = 0
'

test_expect_success 'the next create succeeds at once, without a restart' '
	dd if=job.txt of=mnt/pending/c status=none &&
	test -f mnt/pending/c &&
	! filed_log | grep "refusing changes"
'

test_expect_success 'a restart replays the journal: a and c, no b, no torn tail' '
	traced_stop &&
	filed_start &&
	! filed_log | grep -i "torn" &&
	open_gate g4 &&
	wait_job_in complete blocker &&
	wait_job_in complete c &&
	printf "%s\n" complete/a complete/blocker complete/c >expect &&
	all_jobs >actual &&
	test_cmp expect actual &&
	test "$(in_journal b)" = 0 &&
	filed_stop
'

# --- 3. EIO on rm and mv ------------------------------------------------

# rename_setup FAULT GATE [new]: the same steps for the dry run and the fault
# run: f fails for good, the blocker holds the one slot, p waits in pending/.
rename_setup() {
	fresh_state max_jobs=1 max_retries=0 backoff_base=0 &&
	traced_start "$1" write,fdatasync "$3" &&
	echo "exit 3" >mnt/pending/f &&
	wait_job_in failed f &&
	gate "$2" >mnt/pending/blocker &&
	wait_job_in active blocker &&
	dd if=job.txt of=mnt/pending/p status=none &&
	wait_for 10 "released p"
}

test_expect_success 'dry run: count the journal syncs up to job p' '
	rename_setup "" g6 &&
	traced_stop &&
	nsync=$(calls_upto fdatasync p) &&
	echo "job p was committed by journal fdatasync #$nsync"
'

test_expect_success 'EIO from the fdatasync of an unlink: rm fails, p stays' '
	rename_setup "-e inject=fdatasync:error=EIO:when=$((nsync + 1))..$((nsync + 2))" g7 &&
	test_must_fail rm mnt/pending/p 2>rm.err &&
	cat rm.err &&
	grep "Input/output error" rm.err &&
	test -f mnt/pending/p &&
	test "$(cat mnt/pending/p)" = true
'

test_expect_success 'EIO from the fdatasync of a rename: mv fails, f stays' '
	wait_for 10 "test \"\$(filed_log | grep -c \"\$accepting\")\" = 1" &&
	test_must_fail mv mnt/failed/f mnt/pending/ 2>mv.err &&
	cat mv.err &&
	grep "Input/output error" mv.err &&
	test -f mnt/failed/f &&
	path_is_missing mnt/pending/f &&
	test "$(grep -c "fdatasync(.*= -1 EIO .*INJECTED" strace.out)" = 2 &&
	printf "%s\n" active/blocker failed/f pending/p >expect &&
	all_jobs >actual &&
	test_cmp expect actual
'

test_expect_success 'after the second rewrite rm and mv work again' '
	wait_for 10 "test \"\$(filed_log | grep -c \"\$accepting\")\" = 2" &&
	rm mnt/pending/p &&
	mv mnt/failed/f mnt/pending/ &&
	printf "%s\n" active/blocker pending/f >expect &&
	all_jobs >actual &&
	test_cmp expect actual
'

test_expect_success 'a restart shows exactly what was acknowledged' '
	traced_stop &&
	filed_start &&
	open_gate g7 &&
	wait_job_in complete blocker &&
	wait_job_in failed f &&
	printf "%s\n" complete/blocker failed/f >expect &&
	all_jobs >actual &&
	test_cmp expect actual &&
	filed_stop
'

# --- 4. A second filed on the same state dir ----------------------------

test_expect_success 'a second filed exits non-zero at once and changes nothing' '
	fresh_state max_jobs=1 &&
	filed_start &&
	dd if=job.txt of=mnt/pending/x status=none &&
	wait_job_in complete x &&
	find state -type f | LC_ALL=C sort | xargs sha256sum >before &&
	mkdir -p mnt2 &&
	t0=$(date +%s%N) &&
	filed_run 1 -s "$TRASH/state" "$TRASH/mnt2" &&
	t1=$(date +%s%N) &&
	echo "the second filed exited after $(( (t1 - t0) / 1000000 )) ms" &&
	test $(( (t1 - t0) / 1000000 )) -lt 2000 &&
	find state -type f | LC_ALL=C sort | xargs sha256sum >after &&
	test_cmp before after &&
	! mountpoint -q mnt2 &&
	test -f mnt/complete/x &&
	filed_stop
'

# --- 5. A refused change never takes effect later -----------------------

# From the fault on, every fdatasync of the journal and of journal.new fails,
# as on a disk that died: the change is refused, and so is the rewrite that
# would drop it from the journal. Then SIGTERM, and a start without faults.

test_expect_success 'dry run: count the syncs up to job a, journal.new traced' '
	fresh_state max_jobs=1 backoff_base=0 &&
	traced_start "" write,fdatasync new &&
	gate g10 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	dd if=job.txt of=mnt/pending/a status=none &&
	wait_for 10 "released a" &&
	traced_stop &&
	nsync_a=$(calls_upto fdatasync a) &&
	echo "job a was committed by journal fdatasync #$nsync_a" &&
	test "$nsync_a" -ge 2
'

test_expect_success 'every fdatasync from the next on fails: creating ghost gets EIO' '
	fresh_state max_jobs=1 backoff_base=0 &&
	traced_start "-e inject=fdatasync:error=EIO:when=$((nsync_a + 1))+" \
		write,fdatasync new &&
	gate g11 >mnt/pending/blocker &&
	wait_job_in active blocker &&
	dd if=job.txt of=mnt/pending/a status=none &&
	wait_for 10 "released a" &&
	test "$(errno_of write mnt/pending/ghost "echo ghost ran")" = EIO &&
	path_is_missing mnt/pending/ghost &&
	test "$(in_journal ghost)" = 0 &&
	wait_for 10 "filed_log | grep -q \"compaction: .*journal.new: fdatasync\"" &&
	! filed_log | grep "$accepting"
'

# touch returns before anything is saved: the empty draft is saved as its
# last open file is released, and that save fails here. Nothing of it is
# left: no name stuck in state "new", no EBUSY.
test_expect_success 'an empty draft whose save at release fails leaves nothing behind' '
	touch mnt/pending/.empty &&
	wait_for 10 "filed_log | grep -q \"job .\\.empty.: not kept: it could not be saved\"" &&
	path_is_missing mnt/pending/.empty &&
	test "$(errno_of open mnt/pending/.empty O_RDONLY)" = ENOENT &&
	test "$(in_journal .empty)" = 0
'

test_expect_success 'after SIGTERM and a start without faults, ghost is nowhere' '
	traced_stop &&
	filed_start &&
	path_is_missing mnt/pending/.empty &&
	for d in pending active failed complete
	do
		path_is_missing mnt/$d/ghost &&
		test "$(errno_of getxattr mnt/$d/ghost user.filed.state)" = ENOENT ||
		return 1
	done &&
	test "$(in_journal ghost)" = 0
'

test_expect_success 'the jobs acknowledged before the fault are there, and run' '
	open_gate g11 &&
	wait_job_in complete blocker &&
	wait_job_in complete a &&
	printf "%s\n" complete/a complete/blocker >expect &&
	all_jobs >actual &&
	test_cmp expect actual &&
	test "$(xattr mnt/complete/a state)" = complete &&
	! grep -r "ghost ran" state/logs &&
	filed_stop
'

test_expect_success 'dry run: count the syncs up to job p, journal.new traced' '
	rename_setup "" g12 new &&
	traced_stop &&
	nsync_p=$(calls_upto fdatasync p) &&
	echo "job p was committed by journal fdatasync #$nsync_p"
'

test_expect_success 'every fdatasync from the next on fails: rm gets EIO' '
	rename_setup "-e inject=fdatasync:error=EIO:when=$((nsync_p + 1))+" \
		g13 new &&
	test "$(errno_of unlink mnt/pending/p)" = EIO &&
	test -f mnt/pending/p &&
	test "$(in_journal p)" = 1
'

# At the restart the interrupted blocker runs first again, ahead of p.
test_expect_success 'after SIGTERM and a start without faults, p is still there' '
	traced_stop &&
	filed_start &&
	wait_job_in active blocker &&
	printf "%s\n" active/blocker failed/f pending/p >expect &&
	all_jobs >actual &&
	test_cmp expect actual &&
	test "$(xattr mnt/pending/p state)" = pending &&
	open_gate g13 &&
	wait_job_in complete p &&
	filed_stop
'

# A job moved back to pending/ would run and, failing again, end up in
# failed/ once more: its change time tells whether it moved.
test_expect_success 'every fdatasync from the next on fails: mv failed/f pending/ gets EIO' '
	rename_setup "-e inject=fdatasync:error=EIO:when=$((nsync_p + 1))+" \
		g14 new &&
	xattr mnt/failed/f changed >f.changed &&
	test "$(errno_of rename mnt/failed/f mnt/pending/f)" = EIO &&
	test -f mnt/failed/f &&
	path_is_missing mnt/pending/f &&
	! grep " move id=[0-9]* to=pending " state/journal
'

test_expect_success 'after SIGTERM and a start without faults, f is still failed' '
	traced_stop &&
	filed_start &&
	wait_job_in active blocker &&
	printf "%s\n" active/blocker failed/f pending/p >expect &&
	all_jobs >actual &&
	test_cmp expect actual &&
	test "$(xattr mnt/failed/f state)" = failed &&
	test "$(xattr mnt/failed/f changed)" = "$(cat f.changed)" &&
	! grep " move id=[0-9]* to=pending " state/journal &&
	open_gate g14 &&
	wait_job_in complete blocker &&
	wait_job_in complete p &&
	test "$(xattr mnt/failed/f changed)" = "$(cat f.changed)" &&
	filed_stop
'

# --- 6. The cut fails too: filed exits 2 --------------------------------

# cut_fails CALL GATE: the fdatasync of ghost's batch fails, then CALL (the
# ftruncate or the fsync of the journal that would cut it back) fails too.
# ghost's creator gets no answer from filed; filed.status and ghost.errno
# keep what happened. strace (filed_pid) exits only once every process it
# traces has, the blocker that filed left running included: its gate opens
# once filed is gone.
cut_fails() {
	fresh_state max_jobs=1 backoff_base=0 &&
	traced_start "-e inject=fdatasync:error=EIO:when=$((nsync_a + 1)) -e inject=$1:error=EIO" \
		"write,fdatasync,$1" &&
	gate "$2" >mnt/pending/blocker &&
	wait_job_in active blocker &&
	dd if=job.txt of=mnt/pending/a status=none &&
	wait_for 10 "released a" &&
	errno_of write mnt/pending/ghost "echo ghost ran" >ghost.errno &&
	filed_wait_stale &&
	open_gate "$2" &&
	filed_wait_exit 20 &&
	echo "$filed_status" >filed.status &&
	echo "filed exited with status $filed_status; ghost got $(cat ghost.errno)" &&
	{ fusermount3 -u -z mnt 2>/dev/null || :; }
}

test_expect_success 'the ftruncate of the cut fails: filed exits with status 2' '
	cut_fails ftruncate g15 &&
	test "$(cat filed.status)" = 2 &&
	grep "ftruncate(.*= -1 EIO .*INJECTED" strace.out &&
	filed_log | grep "journal: .*/journal: ftruncate: .* (EIO) while cutting back 1 refused records, which the next start may replay; exiting without answering them"
'

test_expect_success 'and answers nothing: the creator of ghost sees ECONNABORTED' '
	test "$(cat ghost.errno)" = ECONNABORTED
'

# ghost was saved at its close, but its creator never let go of it (it got
# no answer): it is kept as a draft, and never runs by itself.
test_expect_success 'the next start replays the journal as it stands, ghost too' '
	filed_start &&
	wait_job_in complete blocker &&
	wait_job_in complete a &&
	test "$(xattr mnt/pending/ghost state)" = draft &&
	filed_log | grep "job .ghost.: filed stopped while it was being written" &&
	filed_stop
'

test_expect_success 'the fsync of the cut fails: the same' '
	cut_fails fsync g16 &&
	test "$(cat filed.status)" = 2 &&
	test "$(cat ghost.errno)" = ECONNABORTED &&
	grep "fsync(.*= -1 EIO .*INJECTED" strace.out &&
	filed_log | grep "journal: .*/journal: fsync: .* (EIO) while cutting back" &&
	filed_start &&
	wait_job_in complete a &&
	filed_stop
'

# --- 7. SIGTERM while the save of a job being written is in flight ------

# The save of a job whose creator still holds it (here at the close of a
# duplicate) is written to the journal, and its fdatasync takes 2 s: the
# SIGTERM comes in between. filed stops only once that commit is done, and
# says what the job then is: a draft, kept.
test_expect_success 'SIGTERM during the save of a job being written: kept as a draft, said so' '
	fresh_state max_jobs=1 &&
	traced_start "-e inject=fdatasync:delay_enter=2s" &&
	test_when_finished "open_gate slow" &&
	{
		{
			echo "touch \"$TRASH/ran.slow\""
			/bin/true
			while ! test -e "$TRASH/gate.slow"; do sleep 0.02; done
		} >mnt/pending/slow 2>/dev/null &
	} &&
	wait_for 10 "test \"\$(in_journal slow)\" = 1" &&
	traced_stop &&
	filed_log | grep "job .slow.: still being written as filed stops: kept as a draft, not run" &&
	! filed_log | grep "never saved" &&
	filed_start &&
	test "$(xattr mnt/pending/slow state)" = draft &&
	filed_log | grep "job .slow.: filed stopped while it was being written" &&
	filed_stop &&
	! test -e ran.slow
'

test_done
