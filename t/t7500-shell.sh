#!/bin/sh

test_description='the shell setting: the interpreter of jobs without #!

shell names the program (and at most one argument, as on a #! line) that
runs a job whose text does not start with #!; the default is /bin/sh. A
job with #! is not affected. The runner'"'"'s own tests (t2000) pass with
shell = /bin/busybox sh (the /bin/sh of embedded systems), with bash, and
with dash.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# The test runs its own settings; an outer FILED_TEST_SHELL must not leak in.
unset FILED_TEST_SHELL

command -v busybox >/dev/null 2>&1 && test_set_prereq BUSYBOX
command -v bash >/dev/null 2>&1 && test_set_prereq BASH
BUSYBOX=$(command -v busybox)
BASH_PATH=$(command -v bash)

# setshell VALUE: a config.json write of shell; its status is the write's.
setshell() {
	jq --arg s "$1" '.shell = $s' mnt/config.json >c.json &&
	cat c.json >mnt/config.json
}

# ini_shell VALUE: filed.ini's shell (in [queue]) set to VALUE.
ini_shell() {
	sed -i -e "/^shell *=/d" -e "/^\[queue\]/a shell = $1" state/filed.ini
}

# ran_by NAME: the program that ran job NAME (it prints its /proc/$$/exe).
ran_by() {
	wait_job_in complete "$1" &&
	head -n 1 "mnt/complete/$1"
}

test_expect_success 'setup' '
	filed_ini max_jobs=1 max_retries=0 &&
	filed_start &&
	test "$(jq -r .shell mnt/config.json)" = /bin/sh
'

test_expect_success 'the default: /bin/sh runs the job, as /dev/fd/3' '
	echo "readlink /proc/\$\$/exe; echo \"\$0\"" >mnt/pending/dflt &&
	test "$(ran_by dflt)" = "$(readlink -f /bin/sh)" &&
	test "$(sed -n 2p mnt/complete/dflt)" = /dev/fd/3
'

test_expect_success BUSYBOX 'shell = busybox sh: busybox runs jobs without #!' '
	setshell "$BUSYBOX sh" &&
	test "$(jq -r .shell mnt/config.json)" = "$BUSYBOX sh" &&
	grep -x "shell = $BUSYBOX sh" state/filed.ini &&
	grep "^# Interpreter of a job without #!" state/filed.ini &&
	echo "readlink /proc/\$\$/exe" >mnt/pending/bb &&
	test "$(ran_by bb)" = "$(readlink -f "$BUSYBOX")"
'

test_expect_success BUSYBOX 'a job with #! is run by its own interpreter' '
	printf "#!/bin/sh\nreadlink /proc/\$\$/exe\n" >mnt/pending/bang &&
	test "$(ran_by bang)" = "$(readlink -f /bin/sh)"
'

test_expect_success BASH 'shell = bash, after SIGHUP, and across a restart' '
	ini_shell "$BASH_PATH" &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "test \"\$(jq -r .shell mnt/config.json)\" = \"$BASH_PATH\"" &&
	echo "echo \$BASH_VERSION" >mnt/pending/bv &&
	wait_job_in complete bv &&
	test -n "$(cat mnt/complete/bv)" &&
	filed_stop &&
	filed_start &&
	test "$(jq -r .shell mnt/config.json)" = "$BASH_PATH"
'

test_expect_success 'bad values are refused and change nothing' '
	jq -r .shell mnt/config.json >before &&
	notexec=$(mktemp /tmp/filed-notexec.XXXXXX) &&
	for bad in "sh" "" "relative/sh -e" "/no/such/shell" "$notexec" /etc
	do
		test_must_fail setshell "$bad" 2>err || return 1
		jq -r .shell mnt/config.json >after || return 1
		test_cmp before after || return 1
	done &&
	filed_log >log &&
	grep "config.json: shell: must be an absolute path" log &&
	grep "config.json: shell: /no/such/shell: No such file" log &&
	grep "config.json: shell: $notexec: not executable" log &&
	grep "config.json: shell: /etc: not a regular file" log &&
	rm -f "$notexec"
'

test_expect_success 'a shell inside filed'"'"'s own mount is refused (a link to it too)' '
	jq -r .shell mnt/config.json >before &&
	echo "echo never" >mnt/pending/.inmount &&
	chmod 0755 mnt/pending/.inmount &&
	test -x mnt/pending/.inmount &&
	link=/tmp/filed-inmount-$$ &&
	ln -sf "$(pwd)/mnt/pending/.inmount" "$link" &&
	test_must_fail setshell "$link" &&
	jq -r .shell mnt/config.json >after &&
	test_cmp before after &&
	filed_log | grep "config.json: shell: $link: inside filed.s own mount" &&
	rm "$link" mnt/pending/.inmount
'

# A job's own #! interpreter is not checked when it is written but as it
# starts: one that the exec would look up or read in filed's mount (the
# exec would wait for filed, which waits for the exec) is not run. A #!
# line ends its program at the first blank, and the trash directory has
# one in its name: the paths go through a link to it, in a directory of
# their own under /tmp.
test_expect_success 'setup: an interpreter inside the mount, links to it' '
	short=$(mktemp -d /tmp/filed-interp.XXXXXX) &&
	ln -s "$TRASH" "$short/t" &&
	printf "#!/bin/sh\nexec /bin/sh \"\$@\"\n" >mnt/pending/.interp &&
	chmod 0755 mnt/pending/.interp &&
	ln -s "$TRASH/mnt/pending/.interp" "$short/in-link" &&
	printf "#!%s\n" "$short/in-link" >"$short/nested" &&
	chmod 0755 "$short/nested" &&
	ln -s /bin/sh "$short/out-link" &&
	printf "#!/bin/sh\nexec /bin/sh \"\$@\"\n" >"$short/wrapper" &&
	chmod 0755 "$short/wrapper"
'

# refused NAME: job NAME failed with 126, said why in its log and in
# filed's, and filed still runs jobs.
refused() {
	wait_job_in failed "$1" &&
	test "$(xattr "mnt/failed/$1" exit)" = 126 &&
	grep "^filed: job .$1. names a #! interpreter inside filed.s own mount$" \
		"mnt/failed/$1" &&
	filed_log | grep "job .$1.: not run: it names a #! interpreter inside filed.s own mount" &&
	echo "echo after-$1" >"mnt/pending/after-$1" &&
	wait_job_in complete "after-$1"
}

test_expect_success 'a #! interpreter inside the mount: not run, 126, filed goes on' '
	printf "#!%s\necho never\n" "$short/t/mnt/pending/.interp" >mnt/pending/in &&
	refused in
'

test_expect_success 'a #! interpreter that is a link into the mount: the same' '
	printf "#!%s\necho never\n" "$short/in-link" >mnt/pending/via-link &&
	refused via-link
'

test_expect_success 'a #! interpreter whose own #! is inside the mount: the same' '
	printf "#!%s\necho never\n" "$short/nested" >mnt/pending/via-script &&
	refused via-script
'

test_expect_success 'a relative #! interpreter, from workdir, into the mount: the same' '
	jq --arg d "$short" ".workdir = \$d" mnt/config.json >c.json &&
	cat c.json >mnt/config.json &&
	printf "#!t/mnt/pending/.interp\necho never\n" >mnt/pending/relative &&
	refused relative &&
	jq ".workdir = \"\"" mnt/config.json >c.json &&
	cat c.json >mnt/config.json
'

test_expect_success 'two writers at once, a refused job and a good one: each ends as its own' '
	{ printf "#!%s\necho never\n" "$short/in-link" >mnt/pending/both-in & } &&
	other=$! &&
	echo "echo good" >mnt/pending/both-good &&
	wait $other &&
	refused both-in &&
	wait_job_in complete both-good &&
	test "$(cat mnt/complete/both-good)" = good
'

test_expect_success 'after a restart the refused jobs are still failed with 126, never run' '
	filed_stop &&
	filed_start &&
	for j in in via-link via-script relative both-in
	do
		test "$(xattr "mnt/failed/$j" exit)" = 126 &&
		! grep never "mnt/failed/$j" || return 1
	done
'

test_expect_success 'interpreters outside the mount run: a link, a script' '
	printf "#!%s\necho by-link\n" "$short/out-link" >mnt/pending/out1 &&
	printf "#!%s\necho by-wrapper\n" "$short/wrapper" >mnt/pending/out2 &&
	wait_job_in complete out1 &&
	wait_job_in complete out2 &&
	test "$(cat mnt/complete/out1)" = by-link &&
	test "$(cat mnt/complete/out2)" = by-wrapper &&
	rm -r "$short"
'

test_expect_success 'a bad shell in filed.ini at SIGHUP: file:line, settings kept' '
	jq -r .shell mnt/config.json >before &&
	cp state/filed.ini good.ini &&
	ini_shell /no/such/shell &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "filed_log | grep -q \"filed.ini:[0-9]*: shell: /no/such/shell\"" &&
	jq -r .shell mnt/config.json >after &&
	test_cmp before after &&
	cp good.ini state/filed.ini
'

test_expect_success 'stop filed' '
	filed_stop
'

# The runner's tests, once per shell, each in a trash directory of its own.
runner_with() {
	FILED_TEST_SHELL=$1 "$SHELL_PATH" "$SHARNESS_TEST_SRCDIR/t2000-runner.sh" \
		--root="$TRASH/runner-$2" >"runner-$2.out" 2>&1
	runner__rc=$?
	tail -n 3 "runner-$2.out"
	test "$runner__rc" = 0 &&
	grep "^# passed all" "runner-$2.out"
}

test_expect_success BUSYBOX 'the runner tests pass with shell = busybox sh' '
	runner_with "$BUSYBOX sh" busybox
'

test_expect_success BASH 'the runner tests pass with shell = bash' '
	runner_with "$BASH_PATH" bash
'

test_expect_success 'the runner tests pass with shell = dash' '
	runner_with "$(command -v dash)" dash
'

test_done
