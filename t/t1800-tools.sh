#!/bin/sh

test_description='tools users run on the mount: cp -p, install, rsync, sed -i

A tool either succeeds and queues the job once, or fails and queues
nothing. chmod and chown of a job are kept, as a file'"'"'s are; utimes
succeeds and changes nothing. An editor run on a draft edits the draft and
runs nothing: a file made as mkstemp(3) makes one is a draft whatever its
name, and a draft renamed over a draft replaces it.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

command -v rsync >/dev/null 2>&1 && test_set_prereq RSYNC
test "$(id -u)" = 0 && command -v setpriv >/dev/null 2>&1 &&
	test_set_prereq SETPRIV
VIM=$(command -v vim || command -v vim.tiny || command -v vi)
test -n "$VIM" && test_set_prereq VIM

# only_drafts: every file in pending/ is a draft, and no job ran but those
# in complete/ before (complete.before).
only_drafts() {
	for od__f in mnt/pending/* mnt/pending/.[!.]*
	do
		test -e "$od__f" || continue
		test "$(xattr "$od__f" state)" = draft || return 1
	done &&
	{ ls -A mnt/active && ls -A mnt/failed; } >actual &&
	test_must_be_empty actual &&
	ls -A mnt/complete >actual &&
	test_cmp complete.before actual
}

test_expect_success 'start filed' '
	filed_ini max_jobs=2 max_retries=0 backoff_base=0 &&
	filed_start &&
	echo "echo copied" >src.sh &&
	chmod 0644 src.sh
'

test_expect_success 'cp -p into pending/ succeeds, and the job runs once' '
	cp -p src.sh mnt/pending/cpjob &&
	wait_job_in complete cpjob &&
	echo copied >expect &&
	test_cmp expect mnt/complete/cpjob &&
	test "$(stat -c %a mnt/complete/cpjob)" = 444
'

# install chmods by path after its close; on an idle queue the job may
# have started by then (see the manual), so the queue is paused meanwhile.
test_expect_success 'install (0755) and install -m 0640 succeed; the jobs run' '
	printf "{\"max_jobs\": 0}\n" >mnt/config.json &&
	install src.sh mnt/pending/inst &&
	install -m 0640 src.sh mnt/pending/inst2 &&
	test "$(stat -c %a mnt/pending/inst)" = 555 &&
	printf "{\"max_jobs\": 2}\n" >mnt/config.json &&
	wait_job_in complete inst &&
	wait_job_in complete inst2 &&
	test "$(stat -c %a mnt/complete/inst)" = 555 &&
	test "$(stat -c %a mnt/complete/inst2)" = 440
'

test_expect_success RSYNC 'rsync -a into pending/ succeeds, and the job runs once' '
	rsync -a src.sh mnt/pending/rsjob &&
	wait_job_in complete rsjob &&
	echo copied >expect &&
	test_cmp expect mnt/complete/rsjob
'

test_expect_success 'a chmod or chown that changes nothing succeeds' '
	echo "exec sleep 1000" >mnt/pending/same &&
	wait_job_in active same &&
	mode=$(stat -c %a mnt/active/same) &&
	chmod "$mode" mnt/active/same &&
	chown "$(id -u):$(stat -c %g mnt/active)" mnt/active/same &&
	test "$(stat -c %a mnt/active/same)" = "$mode" &&
	rm mnt/active/same
'

test_expect_success 'chmod of a queued job is kept, also after kill -9' '
	gate q >mnt/pending/blocker &&
	gate q >mnt/pending/blocker2 &&
	wait_job_in active blocker &&
	wait_job_in active blocker2 &&
	echo "echo moded" >mnt/pending/.moded &&
	mv mnt/pending/.moded mnt/pending/moded &&
	chmod 0600 mnt/pending/moded &&
	test "$(stat -c %a mnt/pending/moded)" = 400 &&
	filed_kill9 &&
	filed_start &&
	test "$(stat -c %a mnt/pending/moded)" = 400
'

test_expect_success SETPRIV 'chmod by another user: EPERM, not kept after a restart' '
	chmod 0755 mnt/pending &&
	test "$(setpriv --reuid=65534 --regid=65534 --clear-groups "$FILED_PYTHON" -c "
import errno, os
try:
	os.chmod(\"mnt/pending/moded\", 0o644)
	print(\"OK\")
except OSError as e:
	print(errno.errorcode[e.errno])
")" = EPERM &&
	filed_stop &&
	filed_start &&
	test "$(stat -c %a mnt/pending/moded)" = 400
'

test_expect_success SETPRIV 'chown of a job to another user by root: its owner, kept' '
	chown 65534:65534 mnt/pending/moded &&
	test "$(stat -c %u:%g mnt/pending/moded)" = 65534:65534 &&
	test "$(xattr mnt/pending/moded uid)" = 65534 &&
	filed_stop &&
	filed_start &&
	test "$(stat -c %u:%g mnt/pending/moded)" = 65534:65534 &&
	grep " attr id=[0-9]* mode=384 uid=65534 gid=65534 grp=1 " state/journal
'

test_expect_success 'utimes of a job succeeds and changes nothing' '
	before=$(stat -c %Y mnt/pending/moded) &&
	touch -d "2001-01-01" mnt/pending/moded &&
	test "$(stat -c %Y mnt/pending/moded)" = "$before" &&
	open_gate q &&
	wait_job_in complete moded
'

test_expect_success 'sed -i on a draft edits it and runs nothing' '
	ls -A mnt/complete >complete.before &&
	echo "echo old" >mnt/pending/.d &&
	sed -i s/old/new/ mnt/pending/.d &&
	echo "echo new" >expect &&
	test_cmp expect mnt/pending/.d &&
	only_drafts
'

test_expect_success 'perl -i on a draft edits it and runs nothing' '
	perl -i -pe s/new/newer/ mnt/pending/.d &&
	echo "echo newer" >expect &&
	test_cmp expect mnt/pending/.d &&
	only_drafts
'

test_expect_success VIM 'vi on a draft edits it and runs nothing' '
	"$VIM" -u NONE -i NONE -es -c "set backup writebackup" \
		-c "%s/newer/newest/" -c wq mnt/pending/.d &&
	echo "echo newest" >expect &&
	test_cmp expect mnt/pending/.d &&
	only_drafts
'

test_expect_success 'the edited draft survives a restart, and queues' '
	filed_stop &&
	filed_start &&
	test_cmp expect mnt/pending/.d &&
	rm -f mnt/pending/.d~ &&
	mv mnt/pending/.d mnt/pending/edited &&
	wait_job_in complete edited &&
	echo newest >expect &&
	test_cmp expect mnt/complete/edited
'

test_expect_success 'a file made by mktemp is a draft until renamed' '
	f=$(mktemp -p mnt/pending job.XXXXXX) &&
	echo "echo from-mktemp" >"$f" &&
	test "$(xattr "$f" state)" = draft &&
	ls -A mnt/complete >complete.before &&
	only_drafts &&
	mv "$f" mnt/pending/from-mktemp &&
	wait_job_in complete from-mktemp
'

test_expect_success 'a draft renamed over a draft replaces it; never over a job' '
	echo "echo one" >mnt/pending/.a &&
	echo "echo two" >mnt/pending/.b &&
	mv mnt/pending/.a mnt/pending/.b &&
	echo "echo one" >expect &&
	test_cmp expect mnt/pending/.b &&
	path_is_missing mnt/pending/.a &&
	test "$(errno_of rename mnt/pending/.b mnt/pending/edited)" = EEXIST &&
	echo "echo three" >mnt/pending/.c &&
	test "$(errno_of rename mnt/pending/.c mnt/pending/.b NOREPLACE)" = EEXIST &&
	filed_kill9 &&
	filed_start &&
	test_cmp expect mnt/pending/.b &&
	path_is_missing mnt/pending/.a &&
	rm mnt/pending/.b mnt/pending/.c
'

# The rename that replaces .rb forgets it: a save of .rb by a writer that
# has it open, at the same moment (a close: the kernel does not hold it
# back while the rename runs, as it does a write or an fsync), waits for
# it (and then saves nothing: the file it wrote is gone, as an unlinked
# file is), never the reverse.
test_expect_success 'a replacing rename beside a writer saving the draft it replaces' '
	cat >saver.py <<-\EOF &&
	import os, sys
	fds = [os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND) for i in range(300)]
	open(sys.argv[2], "w").close()
	for fd in fds:
	    os.write(fd, b"x")
	    os.close(fd)
	EOF
	i=0 &&
	while test $i -lt 20
	do
		i=$((i + 1)) &&
		rm -f saving &&
		echo "echo a$i" >mnt/pending/.ra &&
		echo "echo b$i" >mnt/pending/.rb &&
		{ "$FILED_PYTHON" saver.py mnt/pending/.rb saving & p=$!; } &&
		wait_for 10 "test -e saving" &&
		mv mnt/pending/.ra mnt/pending/.rb &&
		wait $p &&
		pid_alive "$filed_pid" &&
		echo "echo a$i" >expect &&
		test_cmp expect mnt/pending/.rb &&
		rm mnt/pending/.rb || return 1
	done &&
	filed_stop &&
	filed_start &&
	path_is_missing mnt/pending/.rb
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
