#!/bin/sh

test_description='owners, modes, times, sizes and user.filed.* attributes

Job files belong to their creator with the group of their directory, show
the time of their last state change, and a size equal to what a read
returns; chmod and chown of the directories, new-id and config.json are
kept across restarts; getfattr -d shows each job'"'"'s metadata.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

rfc3339='^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$'

test_expect_success 'start filed' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	filed_start
'

test_expect_success 'default modes and owners of the tree' '
	cat >expect <<-EOF &&
	755 $(id -u):$(id -g) mnt
	750 $(id -u):$(id -g) mnt/active
	750 $(id -u):$(id -g) mnt/complete
	640 $(id -u):$(id -g) mnt/config.json
	750 $(id -u):$(id -g) mnt/failed
	440 $(id -u):$(id -g) mnt/new-id
	750 $(id -u):$(id -g) mnt/pending
	EOF
	stat -c "%a %u:%g %n" mnt mnt/active mnt/complete mnt/config.json \
		mnt/failed mnt/new-id mnt/pending >actual &&
	test_cmp expect actual
'

test_expect_success 'a blocking job holds the only slot' '
	gate block >mnt/pending/blocker &&
	wait_job_in active blocker
'

test_expect_success 'a queued job is a read-only regular file, 0440' '
	echo "echo hi" >mnt/pending/q &&
	wait_for 10 "test \"\$(xattr mnt/pending/q state)\" = pending" &&
	test "$(stat -c "%F %a" mnt/pending/q)" = "regular file 440"
'

test_expect_success 'a draft is 0640, writable by its owner' '
	echo "echo draft" >mnt/pending/.d &&
	test "$(stat -c %a mnt/pending/.d)" = 640
'

test_expect_success 'an active job is 0440' '
	test "$(stat -c %a mnt/active/blocker)" = 440
'

test_expect_success 'size is the number of bytes a read returns (pending, draft)' '
	test "$(stat -c %s mnt/pending/q)" = 8 &&
	test "$(stat -c %s mnt/pending/.d)" = "$(wc -c <mnt/pending/.d)"
'

test_expect_success 'atime and ctime equal mtime' '
	test "$(stat -c %X mnt/pending/q)" = "$(stat -c %Y mnt/pending/q)" &&
	test "$(stat -c %Z mnt/pending/q)" = "$(stat -c %Y mnt/pending/q)"
'

test_expect_success 'user.filed.changed is the mtime' '
	m=$(stat -c %Y mnt/pending/q) &&
	test "$(xattr mnt/pending/q changed)" = "$(date -u -d "@$m" +%Y-%m-%dT%H:%M:%SZ)"
'

test_expect_success 'mtime moves when the job changes state' '
	m1=$(stat -c %Y mnt/pending/q) &&
	wait_for 3 "test \$(date +%s) -gt $m1" &&
	open_gate block &&
	wait_job_in complete q &&
	m2=$(stat -c %Y mnt/complete/q) &&
	test "$m2" -gt "$m1"
'

test_expect_success 'size of a complete job is the size of its output' '
	test "$(stat -c %s mnt/complete/q)" = 3 &&
	test "$(wc -c <mnt/complete/q)" = 3
'

test_expect_success 'getfattr -d lists the user.filed. attributes' '
	getfattr -d mnt/complete/q >attrs &&
	for a in id state attempts uid created changed started ended exit
	do
		grep "^user\.filed\.$a=" attrs || return 1
	done &&
	! grep "^user\.filed\.pid=" attrs &&
	! grep "^user\.filed\.retry_at=" attrs
'

test_expect_success 'the attributes of a complete job have sensible values' '
	test "$(xattr mnt/complete/q state)" = complete &&
	test "$(xattr mnt/complete/q attempts)" = 1 &&
	test "$(xattr mnt/complete/q exit)" = 0 &&
	test "$(xattr mnt/complete/q uid)" = "$(id -u)" &&
	xattr mnt/complete/q id | grep "^[0-9][0-9]*$" &&
	xattr mnt/complete/q created | grep "$rfc3339" &&
	xattr mnt/complete/q started | grep "$rfc3339" &&
	xattr mnt/complete/q ended | grep "$rfc3339" &&
	! test "$(xattr mnt/complete/q ended)" \< "$(xattr mnt/complete/q started)"
'

test_expect_success 'job ids differ' '
	test "$(xattr mnt/complete/q id)" != "$(xattr mnt/complete/blocker id)"
'

test_expect_success 'a draft says state draft' '
	test "$(xattr mnt/pending/.d state)" = draft
'

test_expect_success 'a job still being written says state new' '
	test_when_finished "exec 7>&-" &&
	exec 7>mnt/pending/writing &&
	test "$(xattr mnt/pending/writing state 7>&-)" = new
'

test_expect_success 'a running job shows state active and its pid' '
	{
		echo "echo \$\$ >\"$TRASH/running.pid\"" &&
		gate running
	} >mnt/pending/running &&
	wait_job_in active running &&
	wait_for 10 "test -s running.pid" &&
	test "$(xattr mnt/active/running state)" = active &&
	test "$(xattr mnt/active/running pid)" = "$(cat running.pid)" &&
	xattr mnt/active/running started | grep "$rfc3339" &&
	open_gate running &&
	wait_job_in complete running
'

test_expect_success 'a failed job shows its exit status' '
	echo "exit 7" >mnt/pending/seven &&
	wait_job_in failed seven &&
	test "$(xattr mnt/failed/seven state)" = failed &&
	test "$(xattr mnt/failed/seven exit)" = 7
'

test_expect_success 'a job killed by a signal shows the signal' '
	echo "kill -KILL \$\$" >mnt/pending/sig &&
	wait_job_in failed sig &&
	test "$(xattr mnt/failed/sig signal)" = 9
'

test_expect_success 'a job waiting for a retry shows retry_at in the future' '
	echo "{\"max_retries\": 5, \"backoff_base\": 1000}" >mnt/config.json &&
	echo "exit 2" >mnt/pending/later &&
	wait_for 10 "xattr mnt/pending/later retry_at >/dev/null 2>&1" &&
	test "$(xattr mnt/pending/later state)" = pending &&
	test "$(xattr mnt/pending/later exit)" = 2 &&
	r=$(xattr mnt/pending/later retry_at) &&
	echo "$r" | grep "$rfc3339" &&
	test "$r" \> "$(date -u -d "+500 seconds" +%Y-%m-%dT%H:%M:%SZ)" &&
	rm mnt/pending/later &&
	echo "{\"max_retries\": 0, \"backoff_base\": 0}" >mnt/config.json
'

test_expect_success SETPRIV 'a job belongs to the user who created it' '
	chmod 0777 mnt/pending &&
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c "echo \"id -u\" >mnt/pending/bynobody" &&
	wait_job_in complete bynobody &&
	test "$(stat -c %u mnt/complete/bynobody)" = 65534 &&
	test "$(xattr mnt/complete/bynobody uid)" = 65534
'

test_expect_success SETPRIV 'the job of another user runs as the user filed runs as' '
	id -u >expect &&
	test_cmp expect mnt/complete/bynobody
'

test_expect_success 'a job file has the group of its directory' '
	chgrp 65534 mnt/complete &&
	echo true >mnt/pending/grouped &&
	wait_job_in complete grouped &&
	test "$(stat -c %g mnt/complete/grouped)" = 65534 &&
	test "$(stat -c %g mnt/pending/.d)" = "$(stat -c %g mnt/pending)"
'

test_expect_success 'chmod of a directory, new-id and config.json applies' '
	chmod 0700 mnt/failed &&
	chmod 0400 mnt/new-id &&
	chmod 0600 mnt/config.json &&
	chown 65534:65534 mnt/active &&
	test "$(stat -c %a mnt/failed)" = 700 &&
	test "$(stat -c %a mnt/new-id)" = 400 &&
	test "$(stat -c %a mnt/config.json)" = 600 &&
	test "$(stat -c %u:%g mnt/active)" = 65534:65534
'

test_expect_success 'setuid and setgid bits are dropped' '
	chmod 6775 mnt/pending &&
	test "$(stat -c %a mnt/pending)" = 775
'

test_expect_success 'modes and owners survive a restart' '
	stat -c "%a %u:%g %n" mnt/active mnt/complete mnt/config.json \
		mnt/failed mnt/new-id mnt/pending >expect &&
	filed_stop &&
	filed_start &&
	stat -c "%a %u:%g %n" mnt/active mnt/complete mnt/config.json \
		mnt/failed mnt/new-id mnt/pending >actual &&
	test_cmp expect actual
'

test_expect_success 'a job keeps its group across a restart' '
	test "$(stat -c %g mnt/complete/grouped)" = 65534
'

test_expect_success SETPRIV 'a job keeps its owner across a restart' '
	test "$(stat -c %u mnt/complete/bynobody)" = 65534
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
