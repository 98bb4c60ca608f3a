#!/bin/sh

test_description='orphans: what attempts left behind is killed at the next start

Every process of an attempt carries FILED_RUN=MARK/ID/ATTEMPT, MARK naming
the state directory. When filed starts, before anything runs, it kills every
process that carries its mark, every process in the session of one, and the
sessions of the attempts the journal says were running: even when filed died
between the spawn and the record of the start, no two attempts of a job ever
run at once. Processes marked for another state directory are left alone.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# mark_of DIR: the mark of a state directory, as filed makes it.
mark_of() {
	echo "$(stat -c %D "$1")-$(printf %x "$(stat -c %i "$1")")"
}

# sid_of PID: the session id of a process.
sid_of() {
	sed -e 's/^.*) //' "/proc/$1/stat" | cut -d " " -f 4
}

# marked_pids MARK: the processes whose environment holds FILED_RUN=MARK/.
marked_pids() {
	for p in /proc/[0-9]*
	do
		p=${p#/proc/}
		tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" |
		grep -q "^FILED_RUN=$1/" &&
		pid_alive "$p" &&
		echo "$p"
	done
	:
}

# seen_text NAME KIDFILE: shell text for a job that writes, into NAME.seen,
# whether the process whose pid is in KIDFILE is alive ("alive" or "dead").
seen_text() {
	cat <<-EOF
	kid=\$(cat "$TRASH/$2")
	st=\$(sed -e "s/^.*) //" "/proc/\$kid/stat" 2>/dev/null)
	case "\$st" in
	""|Z*|X*) echo dead ;;
	*) echo alive ;;
	esac >"$TRASH/$1.seen"
	EOF
}

# write_and_kill NAME TEXT: create pending/NAME holding TEXT, and SIGKILL
# filed at a random moment 0 to 2 ms after close() returned.
write_and_kill() {
	"$FILED_PYTHON" - "$TRASH/mnt/pending/$1" "$2" "$filed_pid" <<-\EOF
	import os, random, signal, sys, time
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
	os.write(fd, os.fsencode(sys.argv[2]))
	os.close(fd)
	time.sleep(random.uniform(0, 0.002))
	os.kill(int(sys.argv[3]), signal.SIGKILL)
	EOF
}

# run_or_kept NAME: job NAME runs to complete/. If filed died before the
# record that queues it was on disk, it was kept as a draft: queue it.
run_or_kept() {
	if test "$(xattr "mnt/pending/$1" state 2>/dev/null)" = draft
	then
		filed_log | grep "job .$1.: filed stopped while it was being written" &&
		mv "mnt/pending/$1" "mnt/pending/.$1" &&
		mv "mnt/pending/.$1" "mnt/pending/$1" || return 1
	fi
	wait_job_in complete "$1" 20
}

test_expect_success 'setup' '
	mkdir locks &&
	: >double &&
	filed_ini max_jobs=4 max_retries=0 backoff_base=0 kill_grace=5 &&
	filed_start &&
	mark=$(mark_of state)
'

# A second attempt that runs while the first still holds the job's lock
# cannot take it, and writes the job's name into double.
test_expect_success 'kill -9 just after close: never two runs of a job at once' '
	round=0 &&
	while test $round -lt 10
	do
		round=$((round + 1)) &&
		text="flock -n \"$TRASH/locks/\$FILED_JOB\" sh -c '\''echo \$\$ >>\"$TRASH/runs.\$FILED_JOB\"; sleep 1'\'' || echo \"\$FILED_JOB\" >>\"$TRASH/double\"" &&
		write_and_kill "round$round" "$text" &&
		filed_wait_exit 10 &&
		filed_wait_stale &&
		{ fusermount3 -u -z mnt 2>/dev/null || :; } &&
		filed_start &&
		run_or_kept "round$round" || return 1
	done &&
	echo "$(grep -c "killed" filed.log) of 10 rounds left an attempt running" &&
	test_must_be_empty double
'

test_expect_success 'a child with a cleared environment, in its own group, is killed before the rerun' '
	cat >mnt/pending/cleared <<-EOF &&
	if ! test -e "$TRASH/cleared.first"
	then
		: >"$TRASH/cleared.first"
		env -i "$FILED_PYTHON" -c "import os; os.setpgid(0, 0); os.execv(\\"/bin/sleep\\", [\\"sleep\\", \\"1000\\"])" &
		echo \$! >"$TRASH/cleared.kid"
		wait
	fi
	$(seen_text cleared cleared.kid)
	EOF
	wait_job_in active cleared &&
	leader=$(xattr mnt/active/cleared pid) &&
	wait_for 10 "test -s cleared.kid" &&
	kid=$(cat cleared.kid) &&
	test_when_finished "kill -9 $kid 2>/dev/null; :" &&
	wait_for 10 "test \"\$(cat /proc/$kid/comm)\" = sleep" &&
	! tr "\0" "\n" </proc/$kid/environ | grep "^FILED_RUN=" &&
	test "$(sid_of $kid)" = "$leader" &&
	test "$(sed -e "s/^.*) //" /proc/$kid/stat | cut -d " " -f 3)" = "$kid" &&
	filed_kill9 &&
	pid_alive "$kid" &&
	filed_start &&
	wait_job_in complete cleared &&
	echo dead >expect &&
	test_cmp expect cleared.seen &&
	! pid_alive "$kid" &&
	filed_log | grep "job $(xattr mnt/complete/cleared id) attempt 1: killed 2 processes left from before the restart"
'

test_expect_success 'a child that left the session with setsid is killed before the rerun' '
	cat >mnt/pending/escaped <<-EOF &&
	if ! test -e "$TRASH/escaped.first"
	then
		: >"$TRASH/escaped.first"
		setsid sh -c "echo \\\$\\\$ >\\"$TRASH/escaped.kid\\"; exec sleep 1000" &
		wait
	fi
	$(seen_text escaped escaped.kid)
	EOF
	wait_job_in active escaped &&
	wait_for 10 "test -s escaped.kid" &&
	kid=$(cat escaped.kid) &&
	test_when_finished "kill -9 $kid 2>/dev/null; :" &&
	test "$(sid_of $kid)" = "$kid" &&
	filed_kill9 &&
	pid_alive "$kid" &&
	filed_start &&
	wait_job_in complete escaped &&
	echo dead >expect &&
	test_cmp expect escaped.seen &&
	! pid_alive "$kid" &&
	filed_log | grep "job $(xattr mnt/complete/escaped id) attempt 1: killed 2 processes left from before the restart"
'

test_expect_success 'a process marked for another state directory is left alone' '
	FILED_TEST_TAG="$filed_tag" FILED_RUN="0-0/1/1" \
		setsid sh -c "echo \$\$ >other.pid; exec sleep 1000" &
	FILED_TEST_TAG="$filed_tag" FILED_RUN="${mark}0/1/1" \
		setsid sh -c "echo \$\$ >prefix.pid; exec sleep 1000" &
	FILED_TEST_TAG="$filed_tag" FILED_RUN="$mark/999/1" \
		setsid sh -c "echo \$\$ >ours.pid; exec sleep 1000" &
	wait_for 10 "test -s other.pid && test -s prefix.pid && test -s ours.pid" &&
	other=$(cat other.pid) &&
	prefix=$(cat prefix.pid) &&
	ours=$(cat ours.pid) &&
	test_when_finished "kill -9 $other $prefix $ours 2>/dev/null; :" &&
	wait_for 10 "marked_pids \"$mark\" | grep -qx $ours" &&
	filed_kill9 &&
	filed_start &&
	! pid_alive "$ours" &&
	pid_alive "$other" &&
	pid_alive "$prefix" &&
	filed_log | grep "job 999 attempt 1: killed 1 process left from before the restart" &&
	test $(filed_log | grep -c "killed") = 1
'

test_expect_success 'a clean stop leaves no orphan, and the next start kills nothing' '
	cat >mnt/pending/clean <<-EOF &&
	echo "\$FILED_RUN \$FILED_ATTEMPT" >"$TRASH/clean.run"
	tr "\\0" "\\n" </proc/\$\$/environ | grep -c ^FILED_RUN= >"$TRASH/clean.count"
	if ! test -e "$TRASH/clean.first"
	then
		: >"$TRASH/clean.first"
		sleep 1000 &
		$(gate clean)
	fi
	EOF
	wait_job_in active clean &&
	id=$(xattr mnt/active/clean id) &&
	wait_for 10 "test -s clean.count" &&
	echo "$mark/$id/1 1" >expect &&
	test_cmp expect clean.run &&
	echo 1 >expect &&
	test_cmp expect clean.count &&
	filed_stop &&
	marked_pids "$mark" >left &&
	test_must_be_empty left &&
	rm clean.run clean.count &&
	FILED_RUN="$mark/7/7" &&
	export FILED_RUN &&
	filed_start &&
	unset FILED_RUN &&
	wait_job_in complete clean &&
	! filed_log | grep "killed" &&
	echo "$mark/$id/2 2" >expect &&
	test_cmp expect clean.run &&
	echo 1 >expect &&
	test_cmp expect clean.count
'

# append_start NAME ID PID BOOT: append to the journal of a stopped filed
# the records of a job NAME, id ID, whose attempt started as PID (with its
# true start time) in the boot BOOT, as a filed that died would have left.
append_start() {
	"$FILED_PYTHON" - state/journal "$1" "$2" "$3" "$4" <<-\EOF
	import sys, time
	def crc32c(data):
	    crc = 0xFFFFFFFF
	    for b in data:
	        crc ^= b
	        for _ in range(8):
	            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
	    return crc ^ 0xFFFFFFFF
	path, name, jid, pid, boot = sys.argv[1:6]
	with open("/proc/%s/stat" % pid) as f:
	    pst = f.read().rsplit(")", 1)[1].split()[19]
	lines = open(path).read().splitlines()
	seq = int(lines[-1].split()[0]) if len(lines) > 1 else 0
	now = time.time_ns()
	bodies = ["new id=%s name=%s uid=0 gid=0 time=%d text=true" % (jid, name, now),
	          "boot id=%s" % boot,
	          "start id=%s attempt=1 pid=%s pst=%s off=0 time=%d" % (jid, pid, pst, now)]
	with open(path, "a") as f:
	    for body in bodies:
	        seq += 1
	        line = "%d %s" % (seq, body)
	        f.write("%s %08x\n" % (line, crc32c(line.encode())))
	EOF
}

# A process of the recorded pid and start time that is not filed's (a
# setsid'd sleep here): in the same boot it is the attempt's, and killed;
# recorded in another boot, its pid means nothing, and it is left alone.
test_expect_success 'a pid the journal recorded in another boot is never killed' '
	boot=$(cat /proc/sys/kernel/random/boot_id) &&
	filed_stop &&
	{ setsid sleep 1000 & sleeper=$!; } &&
	test_when_finished "kill -9 $sleeper 2>/dev/null || :" &&
	wait_for 10 "test \"\$(sid_of $sleeper)\" = $sleeper" &&
	append_start otherboot 1000000 "$sleeper" 00000000-0000-0000-0000-000000000000 &&
	filed_start &&
	wait_job_in complete otherboot &&
	pid_alive "$sleeper" &&
	! filed_log | grep "killed" &&
	filed_stop &&
	append_start sameboot 1000001 "$sleeper" "$boot" &&
	filed_start &&
	wait_job_in complete sameboot &&
	! pid_alive "$sleeper" &&
	filed_log | grep "job 1000001 attempt 1: killed 1 process"
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
