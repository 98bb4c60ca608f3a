#!/bin/sh

test_description='ordering audit: no close() returns before its fdatasync

filed runs under strace -f -ttt -T, tracing only the calls on its journal
(-P), and four writer threads create 100 jobs at once; each writer prints the
time just after close() returned 0. For every job, the first journal
fdatasync that began after the journal write holding the job'"'"'s record
must have ended before that time: the acknowledgement never overtakes the
sync. Group commit: each batch is one write and one fdatasync, there are
never more syncs than jobs, and every batch saves or queues jobs.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

JOBS=${FILED_ORDER_JOBS:-100}

if ! command -v strace >/dev/null 2>&1
then
	skip_all="strace is needed for the ordering audit"
	test_done
fi
if ! strace -f -qq -o /dev/null -e trace=write true 2>/dev/null
then
	skip_all="strace cannot trace here"
	test_done
fi

traced_filed -ttt -T -s 65536 -P "$TRASH_REAL/state/journal" \
	-e trace=write,writev,pwrite64,pwritev,pwritev2,fdatasync,fsync

# The writers: THREADS threads create N jobs in all, job1..jobN; for each
# one a line "NAME SECONDS.MICROSECONDS" taken right after close()
# returned, or "NAME FAIL ERRNO".
cat >"$TRASH/writers.py" <<'EOF'
import os, sys, threading, time
d, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out, lock = [], threading.Lock()
def writer(k):
	for i in range(k, n + 1, threads):
		name = "job%d" % i
		try:
			fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
			os.write(fd, b"true\n")
			os.close(fd)
			ns = time.time_ns()
			line = "%s %d.%06d" % (name, ns // 1000000000, (ns // 1000) % 1000000)
		except OSError as e:
			line = "%s FAIL %s" % (name, e.strerror)
		with lock:
			out.append(line)
ts = [threading.Thread(target=writer, args=(k,)) for k in range(1, threads + 1)]
for t in ts: t.start()
for t in ts: t.join()
sys.stdout.write("\n".join(out) + "\n")
EOF

test_expect_success 'start filed under strace; a blocker holds the one slot' '
	filed_ini max_jobs=1 &&
	traced_filed_start &&
	gate g1 >mnt/pending/blocker &&
	wait_job_in active blocker
'

test_expect_success "four writers create $JOBS jobs at once" '
	"$FILED_PYTHON" writers.py mnt/pending $JOBS 4 >client.out &&
	! grep FAIL client.out &&
	test "$(wc -l <client.out)" = $JOBS &&
	test "$(ls mnt/pending | wc -l)" = $JOBS
'

test_expect_success 'stop filed; the trace is complete' '
	kill -TERM "$(cat state/lock)" &&
	filed_wait_exit 20 &&
	test "$filed_status" = 0 &&
	test -s strace.out
'

# audit: read strace.out, then client.out; print one line per problem.
cat >audit.awk <<'EOF'
# SECONDS.MICROSECONDS -> microseconds, exactly
function us(s,    p) {
	p = index(s, ".")
	return substr(s, 1, p - 1) * 1000000 + substr(s, p + 1, 6)
}
# duration "<0.000123>" at the end of a line -> microseconds
function dur(line,    m) {
	if (!match(line, /<[0-9]+\.[0-9]+>$/))
		return -1
	return us(substr(line, RSTART + 1, RLENGTH - 2))
}
FNR == NR {
	pid = $1; t = us($2); rest = substr($0, index($0, $3))
	if (rest ~ /^<\.\.\. [a-z0-9]+ resumed>/) {
		# the end of a call begun on an earlier line of this pid
		if (!(pid in open_kind)) next
		kind = open_kind[pid]; t = open_t[pid]; idx = open_idx[pid]
		delete open_kind[pid]
		d = dur($0)
		if (kind == "sync") { send[idx] = t + d; sres[idx] = $0 }
		else wend[idx] = t + d
		next
	}
	if (rest ~ /^(write|writev|pwrite64|pwritev|pwritev2)\(/) {
		nw++; wpos[nw] = NR; wbody[nw] = rest
		if (rest ~ /<unfinished \.\.\.>$/) {
			open_kind[pid] = "write"; open_t[pid] = t; open_idx[pid] = nw
		} else wend[nw] = t + dur($0)
		# the records of this write that queue a job, not name it
		if (rest ~ / queue id=[0-9]+ /) wq[nw] = 1
		# every job named in this write
		s = rest
		while (match(s, / name=job[0-9]+ /)) {
			name = substr(s, RSTART + 6, RLENGTH - 7)
			if (name in jw) print "job " name " written twice"
			jw[name] = nw
			wn[nw] = 1
			s = substr(s, RSTART + RLENGTH)
		}
		next
	}
	if (rest ~ /^fdatasync\(/) {
		ns++; spos[ns] = NR; sstart[ns] = t; sres[ns] = rest
		if (rest ~ /<unfinished \.\.\.>$/) {
			open_kind[pid] = "sync"; open_t[pid] = t; open_idx[pid] = ns
		} else send[ns] = t + dur($0)
		next
	}
	next
}
$2 == "FAIL" { print "job " $1 " failed: " $0; next }
{
	name = $1; c = us($2); njobs++
	if (!(name in jw)) { print "job " name ": no journal write names it"; next }
	w = jw[name]
	# the first fdatasync after that write, in the trace and in time
	for (i = 1; i <= ns; i++)
		if (spos[i] > wpos[w] && sstart[i] >= wend[w]) break
	if (i > ns) { print "job " name ": no fdatasync after its write"; next }
	if (sres[i] !~ /= 0 </) { print "job " name ": its fdatasync failed: " sres[i]; next }
	if (send[i] > c)
		printf "job %s: close() returned at %.0f us, before its fdatasync ended at %.0f (write #%d, sync #%d)\n", name, c, send[i], w, i
	if (!(i in used)) { used[i] = 1; batches++ }
	if (minm == "" || c - send[i] < minm) minm = c - send[i]
	if (first == "" || wpos[w] < first) first = wpos[w]
	if (spos[i] > last) last = spos[i]
}
END {
	# the syncs and writes from the first job write to the last job's sync
	for (i = 1; i <= ns; i++) if (spos[i] >= first && spos[i] <= last) syncs++
	for (i = 1; i <= nw; i++) if (wpos[i] >= first && wpos[i] <= last) writes++
	printf "%d jobs, %d batches, %d fdatasyncs, %d writes; the closest close() returned %.0f us after its fdatasync\n", njobs, batches, syncs, writes, minm > "/dev/stderr"
	if (syncs > njobs) print "more fdatasyncs (" syncs ") than jobs (" njobs ")"
	if (syncs != writes) print syncs " fdatasyncs for " writes " writes: not one each per batch"
	# a batch holds new jobs, or the records that queue them once their
	# creators let go of them, and nothing else
	for (i = 1; i <= nw; i++)
		if (wpos[i] >= first && wpos[i] <= last && !(i in wn) && !(i in wq))
			print "write #" i " neither saves nor queues a job: " wbody[i]
}
EOF

test_expect_success 'the trace has the journal writes and fdatasyncs' '
	grep " name=job1 " strace.out &&
	grep "fdatasync(" strace.out >syncs &&
	test -s syncs
'

test_expect_success 'every close() returned after its fdatasync ended' '
	awk -f audit.awk strace.out client.out >problems &&
	test_must_be_empty problems
'

test_expect_success 'after a restart every job is there and runs' '
	open_gate g1 &&
	filed_start &&
	wait_job_in complete blocker &&
	wait_for 60 "test \$(ls mnt/complete | wc -l) = $((JOBS + 1))" &&
	{ sed "s/ .*//" client.out && echo blocker; } | LC_ALL=C sort >expect &&
	ls mnt/complete | LC_ALL=C sort >actual &&
	test_cmp expect actual &&
	filed_stop
'

test_done
