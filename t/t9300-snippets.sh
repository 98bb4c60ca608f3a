#!/bin/sh

test_description='the programs of the README, run against a real mount

README.md marks each program of "Using filed from your application" with
a line <!-- snippet: LANG --> over its code block. Each is extracted and
run as it stands: it must queue its job, wait for it through wait/NAME,
print complete and the job'"'"'s output, and exit 0; and when filed refuses
the job (a text longer than max_job_size) it must exit non-zero, leaving
no job and no draft behind.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

README="$SHARNESS_TEST_SRCDIR/../README.md"
FILED_MOUNT="$TRASH/mnt"
export FILED_MOUNT

# snippet LANG: the code block under <!-- snippet: LANG --> in README.md.
snippet() {
	awk -v want="<!-- snippet: $1 -->" '
		$0 == want { mark = 1; next }
		mark && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }
	' "$README"
}

command -v node >/dev/null 2>&1 && test_set_prereq NODE
command -v php >/dev/null 2>&1 && test_set_prereq PHP
test -n "$FILED_PYTHON" && test_set_prereq PYTHON

test_expect_success 'setup: the four programs, a filed' '
	snippet sh >run.sh &&
	snippet python >run.py &&
	snippet node >run.js &&
	snippet php >run.php &&
	for f in run.sh run.py run.js run.php
	do
		test -s $f || { echo "no snippet for $f in README.md"; return 1; }
		test "$(grep -c "FILED_MOUNT" $f)" -ge 1 || return 1
	done &&
	filed_ini max_jobs=2 max_retries=0 &&
	filed_start
'

# runs NAME CMD...: CMD prints complete, then the output of job NAME-ID,
# exits 0, and the job is in complete/.
runs() {
	"$@" >out 2>err &&
	cat out err &&
	grep -x complete out ||
	grep -x "hello-[0-9]*: complete" out || return 1
	job=$(sed -n "s/^hello from \\(hello-[0-9]*\\)\$/\\1/p" out) &&
	test -n "$job" &&
	test -f "mnt/complete/$job" &&
	test "$(cat "mnt/complete/$job")" = "hello from $job"
}

test_expect_success 'sh: queues, waits, prints the output' '
	runs sh run.sh
'

test_expect_success PYTHON 'Python: queues, waits, prints the output' '
	runs "$FILED_PYTHON" run.py
'

test_expect_success NODE 'Node.js: queues, waits, prints the output' '
	runs node run.js
'

test_expect_success PHP 'PHP: queues, waits, prints the output' '
	runs php run.php
'

test_expect_success 'a job that fails: the programs say failed and exit 1' '
	for f in run.sh run.py run.js run.php
	do
		sed "s/echo \\\\*\"hello from/exit 3; &/" $f >fail.$f || return 1
		grep "exit 3; echo" fail.$f || return 1
	done &&
	test_expect_code 1 sh fail.run.sh >out &&
	grep ": failed$" out &&
	if test_have_prereq PYTHON
	then
		test_expect_code 1 "$FILED_PYTHON" fail.run.py >out &&
		grep -x failed out
	fi &&
	if test_have_prereq NODE
	then
		test_expect_code 1 node fail.run.js >out &&
		grep -x failed out
	fi &&
	if test_have_prereq PHP
	then
		test_expect_code 1 php fail.run.php >out &&
		grep -x failed out
	fi
'

test_expect_success 'setup: max_job_size below the programs'"'"' job' '
	jq ".max_job_size = 10" mnt/config.json >c.json &&
	cat c.json >mnt/config.json &&
	ls -A mnt/pending >before
'

# refused CMD...: CMD exits non-zero and says so on stderr; no job, no draft.
refused() {
	test_must_fail "$@" >out 2>err &&
	cat out err &&
	test -s err &&
	! grep -x complete out &&
	ls -A mnt/pending >after &&
	test_cmp before after
}

test_expect_success 'sh: refused, exit 1, nothing left' '
	refused sh run.sh
'

test_expect_success PYTHON 'Python: refused, exit 1, nothing left' '
	refused "$FILED_PYTHON" run.py
'

test_expect_success NODE 'Node.js: refused, exit 1, nothing left' '
	refused node run.js
'

test_expect_success PHP 'PHP: refused, exit 1, nothing left' '
	refused php run.php
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
