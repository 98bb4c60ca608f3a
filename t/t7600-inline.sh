#!/bin/sh

test_description='how a job without #! reaches its shell

A job whose text does not start with #! is run as SHELL [ARG] -c TEXT
/dev/fd/3 when its shell is dash (also as /bin/sh) and the text fits in
an argument: the shell need not open and read its script. $0 is
/dev/fd/3 all the same, and descriptor 3 holds the text, as before. A
text with a NUL, one that starts with - (an option to the shell), one
longer than an argument may be, one that does not fit in ARG_MAX with the
environment, a job with #!, and a shell setting that names another
program (bash, busybox, awk), all run as INTERPRETER [ARG] /dev/fd/3.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

unset FILED_TEST_SHELL

command -v busybox >/dev/null 2>&1 && test_set_prereq BUSYBOX
command -v bash >/dev/null 2>&1 && test_set_prereq BASH
BUSYBOX=$(command -v busybox)
BASH_PATH=$(command -v bash)

# The first lines of a probe job: its shell's argv[1] and argv[2], $0,
# $FILED_JOB, and a copy of what $0 reads, into $TRASH/self.NAME.
probe() {
	printf '%s\n' \
	    'tr "\0" "\n" </proc/$$/cmdline | sed -n 2,3p' \
	    'echo "0=$0"' \
	    'echo "job=$FILED_JOB"' \
	    "cat \"\$0\" >\"$TRASH/self.\$FILED_JOB\"" \
	    'echo end'
}

# pad N: N bytes of comment lines, 100 bytes each.
pad() {
	awk -v n="$1" 'BEGIN { s = "#"; while (length(s) < 99) s = s "x";
	    for (i = 0; i < n / 100; i++) print s }'
}

# setshell VALUE: a config.json write of shell.
setshell() {
	jq --arg s "$1" '.shell = $s' mnt/config.json >c.json &&
	cat c.json >mnt/config.json
}

# run_probe NAME FILE: queue FILE as job NAME, wait for it in complete/,
# and check that $0 read the job's text.
run_probe() {
	cp "$2" "mnt/pending/$1" &&
	wait_job_in complete "$1" 30 &&
	cmp "$2" "self.$1" &&
	grep -x "job=$1" "mnt/complete/$1" &&
	grep -x "0=/dev/fd/3" "mnt/complete/$1" &&
	grep -x end "mnt/complete/$1"
}

test_expect_success 'setup' '
	filed_ini max_jobs=2 max_retries=0 max_job_size=1000000 &&
	filed_start
'

test_expect_success 'no #!: the text is /bin/sh -c TEXT, $0 /dev/fd/3 holds it' '
	probe >short &&
	run_probe short short &&
	sed -n 1,2p mnt/complete/short >argv &&
	printf "%s\n" -c "$(cat short)" | sed -n 1,2p >expect &&
	test_cmp expect argv
'

test_expect_success 'two such jobs at once each read their own text in $0' '
	{ gate two && probe; } >twoa &&
	{ gate two && probe && echo "# b"; } >twob &&
	cp twoa mnt/pending/twoa &&
	cp twob mnt/pending/twob &&
	wait_job_in active twoa && wait_job_in active twob &&
	open_gate two &&
	wait_job_in complete twoa && wait_job_in complete twob &&
	cmp twoa self.twoa && cmp twob self.twob &&
	test "$(sed -n 1p mnt/complete/twoa)" = -c &&
	test "$(sed -n 1p mnt/complete/twob)" = -c
'

test_expect_success 'a text over 128 KiB is read from /dev/fd/3' '
	{ probe && pad 140000; } >long &&
	test $(wc -c <long) -gt 131072 &&
	run_probe long long &&
	test "$(sed -n 1p mnt/complete/long)" = /dev/fd/3
'

test_expect_success 'a text just under 128 KiB still goes in argv' '
	{ probe && pad 130000; } >under &&
	test $(wc -c <under) -lt 131072 &&
	run_probe under under &&
	test "$(sed -n 1p mnt/complete/under)" = -c
'

test_expect_success 'a text with a NUL is read from /dev/fd/3' '
	{ probe && printf "#\0\necho after-nul\n"; } >nul &&
	cp nul mnt/pending/nul &&
	wait_job_in complete nul &&
	cmp nul self.nul &&
	test "$(sed -n 1p mnt/complete/nul)" = /dev/fd/3 &&
	grep -x after-nul mnt/complete/nul
'

test_expect_success 'a text that starts with - is read from /dev/fd/3' '
	{ echo "-x 2>/dev/null" && probe; } >dash &&
	run_probe dash dash &&
	test "$(sed -n 1p mnt/complete/dash)" = /dev/fd/3
'

test_expect_success 'a job with #!/bin/sh is run as /bin/sh /dev/fd/3' '
	{ echo "#!/bin/sh" && probe; } >bang &&
	run_probe bang bang &&
	test "$(sed -n 1p mnt/complete/bang)" = /dev/fd/3
'

test_expect_success 'a syntax error reads as it does from /dev/fd/3 (dash)' '
	printf "echo before\nif then\n" >mnt/pending/syn &&
	printf "#!/bin/sh\nif then\n" >mnt/pending/synbang &&
	wait_job_in failed syn && wait_job_in failed synbang &&
	grep -x before mnt/failed/syn &&
	grep -x "/dev/fd/3: 2: Syntax error: \"then\" unexpected" \
	    mnt/failed/syn &&
	grep -x "/dev/fd/3: 2: Syntax error: \"then\" unexpected" \
	    mnt/failed/synbang
'

test_expect_success 'the same after a restart' '
	filed_stop &&
	filed_start &&
	probe >again &&
	run_probe again again &&
	test "$(sed -n 1p mnt/complete/again)" = -c
'

test_expect_success 'shell = dash -eu: dash -eu -c TEXT /dev/fd/3' '
	setshell "$(command -v dash) -eu" &&
	probe >dasheu &&
	run_probe dasheu dasheu &&
	sed -n 1,2p mnt/complete/dasheu >argv &&
	printf "%s\n" -eu -c >expect &&
	test_cmp expect argv &&
	printf "false\necho not reached\n" >mnt/pending/dashe &&
	wait_job_in failed dashe &&
	! grep "not reached" mnt/failed/dashe
'

test_expect_success 'an option word that reads commands: dash -s /dev/fd/3, as before' '
	setshell "$(command -v dash) -s" &&
	echo "echo never run" >mnt/pending/dashs &&
	wait_job_in complete dashs &&
	test_must_be_empty mnt/complete/dashs
'

test_expect_success BASH 'shell = bash: bash /dev/fd/3, as before (it stays the shell)' '
	setshell "$BASH_PATH" &&
	probe >bash &&
	run_probe bash bash &&
	test "$(sed -n 1p mnt/complete/bash)" = /dev/fd/3 &&
	echo "readlink -f /proc/\$\$/exe" >mnt/pending/bashexe &&
	wait_job_in complete bashexe &&
	test "$(cat mnt/complete/bashexe)" = "$(readlink -f "$BASH_PATH")" &&
	printf "echo before\nif then\n" >mnt/pending/bsyn &&
	wait_job_in failed bsyn &&
	grep -x before mnt/failed/bsyn &&
	grep "^/dev/fd/3: line 2: syntax error near unexpected token" \
	    mnt/failed/bsyn
'

test_expect_success BUSYBOX 'shell = busybox sh: /dev/fd/3, as before' '
	setshell "$BUSYBOX sh" &&
	probe >bb &&
	run_probe bb bb &&
	test "$(sed -n 1p mnt/complete/bb)" = sh &&
	test "$(sed -n 2p mnt/complete/bb)" = /dev/fd/3
'

test_expect_success 'shell = awk -f (not a shell): awk -f /dev/fd/3' '
	awk=$(readlink -f "$(command -v awk)") &&
	setshell "$awk -f" &&
	echo "BEGIN { print ARGV[1] == \"\" ? \"awk\" : ARGV[1] }" \
	    >mnt/pending/awk &&
	wait_job_in complete awk &&
	test "$(cat mnt/complete/awk)" = awk &&
	setshell /bin/sh
'

test_expect_success 'a text that does not fit in ARG_MAX with the environment' '
	filed_stop &&
	old=$(ulimit -S -s) &&
	ulimit -S -s 512 &&
	filed_start &&
	ulimit -S -s "$old" &&
	{ probe && pad 128000; } >big &&
	test $(wc -c <big) -lt 131072 &&
	run_probe big big &&
	test "$(sed -n 1p mnt/complete/big)" = /dev/fd/3 &&
	probe >small &&
	run_probe small small &&
	test "$(sed -n 1p mnt/complete/small)" = -c
'

test_expect_success 'stop filed' '
	filed_stop
'

test_done
