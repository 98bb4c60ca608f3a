#!/bin/sh

test_description='what a job inherits from filed

A job gets descriptors 0 to 3 and no others, whatever filed was started
with: filed keeps what it was given, close-on-exec. --exec-as never
searches PATH.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test "$(id -u)" = 0 && test_set_prereq ROOT

# fds_of NAME: the descriptors listed by job NAME (exec ls -l /proc/self/fd),
# one "NUMBER TARGET" a line, without the one ls opened to list them.
fds_of() {
	sed -n -e 's/^l.* \([0-9][0-9]*\) -> \(.*\)$/\1 \2/p' "mnt/complete/$1" |
	grep -v "^[0-9]* /proc/[0-9]*/fd$" |
	sort -n
}

# expect_fds NAME: job NAME had 0 to 3, and 3 was its script.
expect_fds() {
	fds_of "$1" >fds.actual &&
	cut -d" " -f1 fds.actual >actual &&
	printf "0\n1\n2\n3\n" >expect &&
	test_cmp expect actual &&
	grep "^3 /memfd:filed-job" fds.actual &&
	! grep secret fds.actual
}

# cloexec PID FD: descriptor FD of process PID is open and close-on-exec.
cloexec() {
	flags=$(awk "/^flags:/ { print \$2 }" "/proc/$1/fdinfo/$2") &&
	test $(( 0$flags & 02000000 )) != 0
}

test_expect_success 'start filed with descriptors 7 and 9 open' '
	echo secret >secret &&
	filed_ini max_retries=0 backoff_base=0 &&
	filed_start 7>>secret 9<secret
'

test_expect_success 'filed keeps them, close-on-exec' '
	test "$(readlink /proc/$filed_pid/fd/7)" = "$TRASH/secret" &&
	test "$(readlink /proc/$filed_pid/fd/9)" = "$TRASH/secret" &&
	cloexec $filed_pid 7 &&
	cloexec $filed_pid 9
'

test_expect_success 'a job gets descriptors 0 to 3 only' '
	echo "exec ls -l /proc/self/fd" >mnt/pending/fds &&
	wait_job_in complete fds &&
	expect_fds fds
'

test_expect_success 'so does a job with a #!/bin/sh line' '
	printf "#!/bin/sh\nexec ls -l /proc/self/fd\n" >mnt/pending/fds-sh &&
	wait_job_in complete fds-sh &&
	expect_fds fds-sh
'

test_expect_success ROOT 'so does a job run as its submitter (--exec-as)' '
	echo "{\"run_as\": \"submitter\", \"allow_root\": 1}" >mnt/config.json &&
	echo "exec ls -l /proc/self/fd" >mnt/pending/fds-as &&
	wait_job_in complete fds-as &&
	echo "{\"run_as\": \"filed\", \"allow_root\": 0}" >mnt/config.json &&
	expect_fds fds-as
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_expect_success ROOT 'filed --exec-as never looks PROGRAM up on PATH' '
	filed_run 127 --exec-as 0 0 sh -c true &&
	grep -x "filed: cannot run sh: No such file or directory" err &&
	filed_run 0 --exec-as 0 0 /bin/sh -c "echo ran" &&
	echo ran >expect &&
	test_cmp expect out
'

test_done
