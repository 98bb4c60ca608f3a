#!/bin/sh

test_description='a full disk refuses new jobs, never the accepted ones

The state directory is a small tmpfs. Jobs are written until the disk says
no: the refusal comes from write() (which shells report), and close()
fails too; nothing of a refused job is kept. The jobs accepted before
still run and finish, and their ends are journaled (filed holds disk space
back for them). Removing jobs makes room again without a restart.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

if test "$(id -u)" != 0
then
	skip_all='mounting a tmpfs needs root'
	test_done
fi

# Whatever happens, the tmpfs goes away with the trash directory.
cleanup 'umount -l "$TRASH/state" 2>/dev/null || :'

test_expect_success 'a 3 MB tmpfs holds the state directory' '
	mkdir state &&
	mount -t tmpfs -o size=3m filed-test "$TRASH/state" &&
	filed_ini max_jobs=1 backoff_base=0 &&
	filed_start &&
	test -f state/reserve &&
	# a job of 20 KB that prints nothing
	awk "BEGIN { printf \"true\"; for (i = 0; i < 20000; i++) printf \" \"; printf \"\\n\" }" >job.txt
'

test_expect_success 'jobs are accepted until write() says the disk is full' '
	i=0 &&
	while test $i -lt 400
	do
		i=$((i + 1)) &&
		if ! dd if=job.txt of=mnt/pending/j$i bs=4096 status=none 2>dd.err
		then
			echo $i >refused &&
			break
		fi
	done &&
	test -s refused &&
	grep "writ.*No space left on device" dd.err &&
	grep "closing output file .*No space left on device" dd.err
'

test_expect_success 'nothing of the refused job is kept' '
	n=$(cat refused) &&
	path_is_missing mnt/pending/j$n &&
	! grep -q "name=j$n " state/journal
'

test_expect_success 'every accepted job runs and lands in complete/' '
	n=$(($(cat refused) - 1)) &&
	wait_for 60 "test \$(ls mnt/complete | wc -l) -ge $n" &&
	test -z "$(ls mnt/pending mnt/active mnt/failed | grep -v -e ^mnt/ -e ^\$)"
'

test_expect_success 'and their ends are in the journal' '
	n=$(($(cat refused) - 1)) &&
	test $(grep -c " end .*next=complete" state/journal) -ge $n ||
	test $(grep -c " job .*state=complete" state/journal) -ge $n
'

test_expect_success 'removing jobs makes room: admission resumes without a restart' '
	n=$(($(cat refused) - 1)) &&
	i=1 &&
	while test $i -le $((n / 2))
	do
		rm mnt/complete/j$i || return 1
		i=$((i + 1))
	done &&
	wait_for 20 "dd if=job.txt of=mnt/pending/again bs=4096 status=none 2>/dev/null" &&
	wait_job_in complete again 20
'

test_expect_success 'after a restart every accepted job is still there' '
	ls mnt/complete | sort >before &&
	filed_stop &&
	filed_start &&
	ls mnt/complete | sort >after &&
	test_cmp before after
'

test_expect_success 'filed stops cleanly' '
	filed_stop &&
	umount "$TRASH/state"
'

test_done
