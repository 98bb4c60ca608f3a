#!/bin/sh

test_description='the working directory, environment and umask of jobs

workdir, [env] and umask are settings like the others: shown and written
in config.json, kept in filed.ini, reloaded at SIGHUP, and applied to the
attempts that start afterwards; a job sees them with pwd, its environment
and umask. [env] wins over filed'"'"'s own environment and is replaced as a
whole by a config.json write; FILED_JOB, FILED_ATTEMPT and FILED_RUN stay
filed'"'"'s. Bad values (a relative workdir, one that is not a directory or
lies in the mount, a variable filed sets, a name that is not portable, a
value the INI file cannot hold, a bad umask) are refused by config.json
with EINVAL and at SIGHUP with file and line, and change nothing, not even
after a restart. With run_as = submitter, workdir defaults to the home of
the job'"'"'s creator.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test "$(id -u)" = 0 && test_set_prereq ROOT

# probe NAME: queue a job that prints its directory, umask, $GREETING and
# $FILED_JOB; wait until it is complete.
probe() {
	printf "%s\n" "pwd -P" "umask" 'echo "${GREETING-unset}"' \
		'echo "$FILED_JOB"' >"mnt/pending/$1" &&
	wait_job_in complete "$1"
}

# expect_probe NAME DIR UMASK GREETING: probe NAME saw those.
expect_probe() {
	probe "$1" &&
	printf "%s\n" "$2" "$3" "$4" "$1" >expect &&
	test_cmp expect "mnt/complete/$1"
}

# settings_kept: config.json and filed.ini are as in json.before, ini.before.
settings_kept() {
	test_cmp json.before mnt/config.json &&
	test_cmp ini.before state/filed.ini
}

# hup_refused MESSAGE: SIGHUP; the log names MESSAGE; nothing changed.
hup_refused() {
	hup__msg=$1 &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "filed_log | grep -qF \"\$hup__msg\"" &&
	filed_log | grep -F "$hup__msg" | grep "keeping the running settings" &&
	test_cmp json.before mnt/config.json
}

test_expect_success 'set up: directories and a file' '
	mkdir wd wd2 gone &&
	: >afile &&
	WD=$(cd wd && pwd -P) &&
	WD2=$(cd wd2 && pwd -P) &&
	GREETING=outer &&
	export GREETING
'

test_expect_success 'start filed, with GREETING in its environment' '
	filed_ini max_retries=0 &&
	filed_start
'

test_expect_success 'config.json shows the defaults: /, 022, no [env]' '
	test "$(jq -r .workdir mnt/config.json)" = "" &&
	test "$(jq -r .umask mnt/config.json)" = 022 &&
	test "$(jq -c .env mnt/config.json)" = "{}"
'

test_expect_success 'a job runs in /, with umask 022 and filed'"'"'s environment' '
	expect_probe p0 / 0022 outer
'

test_expect_success 'config.json sets workdir, umask and [env]' '
	cat >doc <<-EOF &&
	{"workdir": "$WD", "umask": "027",
	 "env": {"GREETING": "hello, world=1;#2", "B": "x"}}
	EOF
	cat doc >mnt/config.json &&
	test "$(jq -r .workdir mnt/config.json)" = "$WD" &&
	test "$(jq -r .umask mnt/config.json)" = 027 &&
	test "$(jq -c .env mnt/config.json)" = "{\"B\":\"x\",\"GREETING\":\"hello, world=1;#2\"}" &&
	grep -xF "workdir = $WD" state/filed.ini &&
	grep -x "umask = 027" state/filed.ini &&
	grep -x "\[env\]" state/filed.ini &&
	grep -x "GREETING = hello, world=1;#2" state/filed.ini &&
	grep -x "B = x" state/filed.ini
'

test_expect_success 'the next job sees them at once' '
	expect_probe p1 "$WD" 0027 "hello, world=1;#2"
'

test_expect_success 'a file a job makes gets the umask' '
	echo ": >made" >mnt/pending/mk &&
	wait_job_in complete mk &&
	test "$(stat -c %a wd/made)" = 640
'

test_expect_success 'they survive a restart' '
	jq -S . mnt/config.json >expect.json &&
	filed_stop &&
	filed_start &&
	jq -S . mnt/config.json >actual.json &&
	test_cmp expect.json actual.json &&
	expect_probe p2 "$WD" 0027 "hello, world=1;#2"
'

test_expect_success 'a config.json write replaces [env] as a whole' '
	echo "{\"env\": {\"GREETING\": \"bye\"}}" >mnt/config.json &&
	test "$(jq -c .env mnt/config.json)" = "{\"GREETING\":\"bye\"}" &&
	! grep -x "B = x" state/filed.ini &&
	expect_probe p3 "$WD" 0027 bye &&
	echo "{\"env\": {}}" >mnt/config.json &&
	expect_probe p4 "$WD" 0027 outer
'

test_expect_success 'SIGHUP applies a hand-edited workdir, umask and [env]' '
	cat >state/filed.ini <<-EOF &&
	[queue]
	max_retries = 0
	workdir = $WD2
	umask = 077

	[env]
	GREETING = from the INI file
	EOF
	kill -HUP "$filed_pid" &&
	wait_for 10 "test \"\$(jq -r .umask mnt/config.json)\" = 077" &&
	test "$(jq -r .workdir mnt/config.json)" = "$WD2" &&
	test "$(jq -r .env.GREETING mnt/config.json)" = "from the INI file" &&
	expect_probe p5 "$WD2" 0077 "from the INI file"
'

test_expect_success 'a workdir removed after it was set: the attempt fails with 127' '
	test_when_finished "echo \"{\\\"workdir\\\": \\\"\$WD2\\\"}\" >mnt/config.json" &&
	echo "{\"workdir\": \"$TRASH/gone\"}" >mnt/config.json &&
	rmdir gone &&
	echo "echo ran" >mnt/pending/nodir &&
	wait_job_in failed nodir &&
	test "$(xattr mnt/failed/nodir exit)" = 127 &&
	grep "filed: cannot .*$TRASH/gone" mnt/failed/nodir &&
	! grep -x ran mnt/failed/nodir &&
	filed_log | grep "job .nodir.: attempt 1 failed (status 127)"
'

test_expect_success 'set up the refusals: the settings now' '
	cp mnt/config.json json.before &&
	cp state/filed.ini ini.before
'

for bad in \
	'{"workdir": "relative/dir"}' \
	'{"workdir": "'"$TRASH"'/afile"}' \
	'{"workdir": "'"$TRASH"'/missing"}' \
	'{"workdir": "'"$TRASH"'/mnt"}' \
	'{"workdir": "'"$TRASH"'/mnt/pending"}' \
	'{"workdir": " /"}' \
	'{"workdir": 5}' \
	'{"env": {"FILED_JOB": "x"}}' \
	'{"env": {"FILED_ATTEMPT": "9"}}' \
	'{"env": {"FILED_RUN": "x"}}' \
	'{"env": {"1X": "x"}}' \
	'{"env": {"A-B": "x"}}' \
	'{"env": {"": "x"}}' \
	'{"env": {"A": 1}}' \
	'{"env": "A=1"}' \
	'{"env": {"A": "x\ny"}}' \
	'{"env": {"A": "x\u0000y"}}' \
	'{"env": {"A": "x ;y"}}' \
	'{"env": {"A": "trailing "}}' \
	'{"umask": "8"}' \
	'{"umask": 18}' \
	'{"umask": "0777"}' \
	'{"umask": "100"}' \
	'{"umask": ""}' \
	'{"umask": "00022"}'
do
	test_expect_success "config.json refuses $bad: EINVAL, nothing changed" "
		test \"\$(errno_of write mnt/config.json '$bad')\" = EINVAL &&
		settings_kept
	"
done

test_expect_success 'the causes are logged' '
	filed_log | grep "config.json: workdir: must be an absolute path" &&
	filed_log | grep "config.json: workdir: .*/afile: not a directory" &&
	filed_log | grep "config.json: workdir: .*/missing: No such file or directory" &&
	filed_log | grep "config.json: workdir: .*/mnt: inside filed.s own mount" &&
	filed_log | grep "config.json: env: .FILED_JOB.: filed sets it" &&
	filed_log | grep "config.json: env: .1X.: not a portable name" &&
	filed_log | grep "config.json: env: A: the value is refused: it holds a control character" &&
	filed_log | grep "config.json: umask: must be octal digits from 000 to 077"
'

test_expect_success 'an [env] of 65 variables, or a value too long, is refused' '
	i=0 &&
	printf "{\"env\": {\"V0\": \"x\"" >many.json &&
	while test $i -lt 64
	do
		i=$((i + 1)) &&
		printf ", \"V%d\": \"x\"" $i >>many.json || return 1
	done &&
	echo "}}" >>many.json &&
	test "$(errno_of write mnt/config.json - <many.json)" = EINVAL &&
	printf "{\"env\": {\"LONG\": \"%0188d\"}}" 0 >long.json &&
	test "$(errno_of write mnt/config.json - <long.json)" = EINVAL &&
	settings_kept &&
	filed_log | grep "config.json: env: more than 64 entries" &&
	filed_log | grep "config.json: env: LONG: the value is longer than 187 bytes"
'

test_expect_success 'after a restart the refused writes are still not there' '
	filed_stop &&
	filed_start &&
	settings_kept &&
	expect_probe p6 "$WD2" 0077 "from the INI file"
'

test_expect_success 'SIGHUP: a relative workdir is refused with file and line' '
	printf "[queue]\nworkdir = relative\n" >state/filed.ini &&
	hup_refused "filed.ini:2: workdir: must be an absolute path"
'

test_expect_success 'SIGHUP: a workdir that is a file is refused' '
	printf "[queue]\n\nworkdir = %s\n" "$TRASH/afile" >state/filed.ini &&
	hup_refused "filed.ini:3: workdir: $TRASH/afile: not a directory"
'

test_expect_success 'SIGHUP: FILED_JOB in [env] is refused' '
	printf "[queue]\n[env]\nA = 1\nFILED_JOB = x\n" >state/filed.ini &&
	hup_refused "filed.ini:4: env: '"'"'FILED_JOB'"'"': filed sets it"
'

test_expect_success 'SIGHUP: a name that is not portable is refused' '
	printf "[env]\nA.B = 1\n" >state/filed.ini &&
	hup_refused "filed.ini:2: env: '"'"'A.B'"'"': not a portable name"
'

test_expect_success 'SIGHUP: a name set twice is refused' '
	printf "[env]\nA = 1\n\nA = 2\n" >state/filed.ini &&
	hup_refused "filed.ini:4: env: A: set twice"
'

test_expect_success 'SIGHUP: a bad umask is refused' '
	printf "[queue]\numask = 0778\n" >state/filed.ini &&
	hup_refused "filed.ini:2: umask: must be octal digits"
'

test_expect_success 'SIGHUP: env as a key of [queue] is refused' '
	printf "[queue]\nenv = A=1\n" >state/filed.ini &&
	hup_refused "filed.ini:2: unknown key '"'"'env'"'"' in [queue]; it is a section of its own"
'

test_expect_success 'the running settings stayed, for jobs too, and across a restart' '
	expect_probe p7 "$WD2" 0077 "from the INI file" &&
	cp ini.before state/filed.ini &&
	filed_stop &&
	filed_start &&
	settings_kept &&
	expect_probe p8 "$WD2" 0077 "from the INI file"
'

test_expect_success 'a bad workdir in CONFIG stops filed at start, naming file and line' '
	filed_stop &&
	printf "[queue]\nworkdir = %s\n" "$TRASH/afile" >state/filed.ini &&
	filed_run 1 -s "$TRASH/state" "$TRASH/mnt" &&
	grep "filed.ini:2: workdir: .*afile: not a directory" err &&
	cp ini.before state/filed.ini &&
	filed_start
'

# writers_py N PATH: two threads, each writing N documents to PATH (open,
# write, close), one {"env": {"V": "a<i>"}}, the other {"umask": "0<i % 8>0"};
# prints the rounds that failed.
writers_py='
import os, sys, threading
n, path = int(sys.argv[1]), sys.argv[2]
def writer(doc):
	for i in range(1, n + 1):
		try:
			fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
			os.write(fd, doc(i).encode())
			os.close(fd)
		except OSError as e:
			print("round %d of %s: %s" % (i, doc(i), e))
threads = [threading.Thread(target=writer, args=(d,)) for d in (
	lambda i: "{\"env\": {\"V\": \"a%d\"}}" % i,
	lambda i: "{\"umask\": \"0%d0\"}" % (i % 8))]
for t in threads:
	t.start()
for t in threads:
	t.join()
'

test_expect_success 'two writers at once, of [env] and umask: both take effect' '
	"$FILED_PYTHON" -c "$writers_py" 50 mnt/config.json >failures &&
	test_must_be_empty failures &&
	test "$(jq -c .env mnt/config.json)" = "{\"V\":\"a50\"}" &&
	test "$(jq -r .umask mnt/config.json)" = 020 &&
	grep -x "V = a50" state/filed.ini &&
	grep -x "umask = 020" state/filed.ini &&
	printf "%s\n" "echo \$V" umask >mnt/pending/both &&
	wait_job_in complete both &&
	printf "a50\n0020\n" >expect &&
	test_cmp expect mnt/complete/both &&
	jq -S . mnt/config.json >expect.json &&
	filed_stop &&
	filed_start &&
	jq -S . mnt/config.json >actual.json &&
	test_cmp expect.json actual.json
'

test_expect_success ROOT 'run_as = submitter: a job runs in its creator'"'"'s home' '
	echo "{\"run_as\": \"submitter\", \"allow_root\": 1, \"workdir\": \"\", \"env\": {}}" \
		>mnt/config.json &&
	home=$(getent passwd 0 | cut -d: -f6) &&
	expect_probe s1 "$(cd "$home" && pwd -P)" 0020 unset
'

test_expect_success ROOT 'run_as = submitter: a workdir set wins, and [env] over passwd' '
	echo "{\"workdir\": \"$WD\", \"env\": {\"HOME\": \"/nowhere\"}}" \
		>mnt/config.json &&
	expect_probe s2 "$WD" 0020 unset &&
	echo "echo \$HOME" >mnt/pending/s3 &&
	wait_job_in complete s3 &&
	test "$(cat mnt/complete/s3)" = /nowhere &&
	echo "{\"run_as\": \"filed\"}" >mnt/config.json
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

test_done
