#!/bin/sh

test_description='config.json and the INI file

config.json renders the settings; a write of any subset of the keys is
validated in full, written to the INI file and applied at once; an invalid
write is EINVAL and changes nothing; SIGHUP reloads the INI file and keeps
the running settings when it has errors.

Changes from config.json and SIGHUP go through one queue, one at a time:
concurrent writers, of different keys or of the same key, and SIGHUPs in
the middle of them leave the settings in memory, the INI file and what each
close() returned in agreement. A write or truncation over 64 KiB makes the
close fail too. Under strace, a save that fails before its rename, or at the
directory fsync after it, changes nothing and gets EIO; one whose putting
back fails too makes filed exit without acknowledging the close.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# ftruncate_py PATH truncate LEN [DOC] | PATH write-at OFF DOC: open PATH for
# writing (no O_TRUNC); either ftruncate it to LEN, then (whatever that
# gave) write DOC from offset 0 if given, or pwrite DOC at OFF; then close.
# Prints the result of the ftruncate (or pwrite) and of the close: OK or
# the errno name.
ftruncate_py='
import errno, os, sys
path, op, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
doc = os.fsencode(sys.argv[4]) if len(sys.argv) > 4 else None
def name(e):
	return errno.errorcode.get(e.errno, str(e.errno))
fd = os.open(path, os.O_WRONLY)
first = "OK"
try:
	if op == "truncate":
		os.ftruncate(fd, n)
	else:
		os.pwrite(fd, doc, n)
except OSError as e:
	first = name(e)
if op == "truncate" and doc is not None:
	try:
		os.pwrite(fd, doc, 0)
	except OSError:
		pass
last = "OK"
try:
	os.close(fd)
except OSError as e:
	last = name(e)
print(first, last)
'

# writers_py N PATH HUP_PID NAME:KEY:BASE...: one thread per NAME, each
# writing N complete documents {"KEY": BASE + i}, i = 1..N, to PATH, each
# with open(O_WRONLY|O_TRUNC), write, close. With HUP_PID not 0, each
# thread sends that process SIGHUP before each document. Prints one line
# per round, "NAME KEY VALUE RESULT" (OK or the errno name of the first
# call that failed), each thread's rounds in order.
writers_py='
import errno, os, signal, sys, threading
n, path, hup = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
results = {}
def writer(name, key, base):
	out = results[name] = []
	for i in range(1, n + 1):
		v = base + i
		if hup:
			os.kill(hup, signal.SIGHUP)
		res = "OK"
		try:
			fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
		except OSError as e:
			out.append("%s %s %d %s" % (name, key, v,
			    errno.errorcode.get(e.errno, str(e.errno))))
			continue
		try:
			os.write(fd, ("{\"%s\": %d}\n" % (key, v)).encode())
		except OSError as e:
			res = errno.errorcode.get(e.errno, str(e.errno))
		try:
			os.close(fd)
		except OSError as e:
			if res == "OK":
				res = errno.errorcode.get(e.errno, str(e.errno))
		out.append("%s %s %d %s" % (name, key, v, res))
threads = []
for spec in sys.argv[4:]:
	name, key, base = spec.split(":")
	t = threading.Thread(target=writer, args=(name, key, int(base)))
	threads.append(t)
for t in threads:
	t.start()
for t in threads:
	t.join()
for spec in sys.argv[4:]:
	for line in results[spec.split(":")[0]]:
		print(line)
'

# writers N HUP_PID NAME:KEY:BASE...: run writers_py on mnt/config.json,
# the rounds to the file rounds.
writers() {
	writers__n=$1 &&
	writers__hup=$2 &&
	shift 2 &&
	"$FILED_PYTHON" -c "$writers_py" "$writers__n" mnt/config.json \
		"$writers__hup" "$@" >rounds &&
	test "$(wc -l <rounds)" = "$((writers__n * $#))"
}

# all_ok: every round in rounds closed with success.
all_ok() {
	if grep -v " OK\$" rounds
	then
		echo "the rounds above failed" >&2
		return 1
	fi
}

# restart_same: the settings after filed_stop and filed_start are the ones
# config.json showed before, and filed.ini did not change meanwhile.
restart_same() {
	jq -S . mnt/config.json >restart.expect &&
	cp state/filed.ini restart.ini &&
	filed_stop &&
	test_cmp restart.ini state/filed.ini &&
	filed_start &&
	jq -S . mnt/config.json >restart.actual &&
	test_cmp restart.expect restart.actual
}

N=150

test_expect_success 'start filed with a fresh state dir' '
	filed_start
'

test_expect_success 'config.json is a JSON object with the defaults' '
	jq -e "type == \"object\"" mnt/config.json &&
	jq -e ".max_retries == 3 and .backoff_base == 1 and .backoff_mult == 2
		and .timeout == 0 and .kill_grace == 5 and .max_job_size == 65536" \
		mnt/config.json &&
	test "$(jq .max_jobs mnt/config.json)" = "$(nproc)"
'

test_expect_success 'config.json ends with a newline' '
	test "$(tail -c 1 mnt/config.json | od -An -c | tr -d " ")" = "\\n"
'

test_expect_success 'the size of config.json is what a read returns' '
	test "$(stat -c %s mnt/config.json)" = "$(wc -c <mnt/config.json)"
'

test_expect_success 'a write of some keys changes them and keeps the rest' '
	jq -S . mnt/config.json >before &&
	echo "{\"max_retries\": 7, \"backoff_base\": 0.5}" >mnt/config.json &&
	jq -S ".max_retries = 7 | .backoff_base = 0.5" before >expect &&
	jq -S . mnt/config.json >actual &&
	test_cmp expect actual
'

test_expect_success 'the write is in the INI file when close returns' '
	grep -E "^max_retries *= *7\$" state/filed.ini &&
	grep -E "^backoff_base *= *0?\.5\$" state/filed.ini &&
	grep "^\[queue\]" state/filed.ini
'

test_expect_success 'a written setting applies at once (max_job_size)' '
	echo "{\"max_job_size\": 20}" >mnt/config.json &&
	test "$(errno_of write mnt/pending/toolong "echo this is more than twenty bytes")" = EFBIG &&
	path_is_missing mnt/pending/toolong &&
	echo "{\"max_job_size\": 65536}" >mnt/config.json
'

for bad in \
	'{"no_such_key": 1}' \
	'{"max_jobs": 2, "no_such_key": 1}' \
	'{"max_jobs": "2"}' \
	'{"max_jobs": 1.5}' \
	'{"max_retries": true}' \
	'{"backoff_base": "1"}' \
	'{"max_jobs": -1}' \
	'{"max_jobs": 4097}' \
	'{"max_retries": -1}' \
	'{"backoff_mult": 0.5}' \
	'{"timeout": -1}' \
	'{"kill_grace": -0.1}' \
	'{"max_job_size": 0}' \
	'{"max_job_size": 16777217}' \
	'[1, 2]' \
	'"max_jobs"' \
	'{"max_jobs": 2} x' \
	'{"max_jobs": 2' \
	'not json at all'
do
	test_expect_success "an invalid write is EINVAL and changes nothing: $bad" "
		cp mnt/config.json json.before &&
		cp state/filed.ini ini.before &&
		test \"\$(errno_of write mnt/config.json '$bad')\" = EINVAL &&
		test_cmp json.before mnt/config.json &&
		test_cmp ini.before state/filed.ini
	"
done

test_expect_success 'a write over 64 KiB is EINVAL at write and at close' '
	cp mnt/config.json json.before &&
	cp state/filed.ini ini.before &&
	{ printf "{\"max_jobs\": 3" && printf "%70000s" "" && echo "}"; } >big.json &&
	test "$(errno_of writeclose mnt/config.json - <big.json O_WRONLY)" = "EINVAL EINVAL" &&
	test "$(errno_of writeclose mnt/config.json - <big.json)" = "EINVAL EINVAL" &&
	test_cmp json.before mnt/config.json &&
	test_cmp ini.before state/filed.ini
'

test_expect_success 'a write that ends past 64 KiB is EINVAL at close too' '
	test "$("$FILED_PYTHON" -c "$ftruncate_py" mnt/config.json write-at 65530 \
		"{\"max_jobs\": 3}")" = "EINVAL EINVAL" &&
	test_cmp json.before mnt/config.json &&
	test_cmp ini.before state/filed.ini
'

test_expect_success 'a truncation past 64 KiB is EINVAL at ftruncate and at close' '
	test "$("$FILED_PYTHON" -c "$ftruncate_py" mnt/config.json truncate 65537)" = "EINVAL EINVAL" &&
	test "$("$FILED_PYTHON" -c "$ftruncate_py" mnt/config.json truncate 70000 \
		"{\"max_jobs\": 3}")" = "EINVAL EINVAL" &&
	test_cmp json.before mnt/config.json &&
	test_cmp ini.before state/filed.ini
'

test_expect_success 'after a restart the refused writes are still not there' '
	filed_stop &&
	filed_start &&
	test_cmp json.before mnt/config.json &&
	test_cmp ini.before state/filed.ini
'

test_expect_success 'an empty object changes nothing and succeeds' '
	cp mnt/config.json json.before &&
	echo "{}" >mnt/config.json &&
	test_cmp json.before mnt/config.json
'

test_expect_success 'raising max_jobs starts waiting jobs at once' '
	echo "{\"max_jobs\": 1, \"max_retries\": 0}" >mnt/config.json &&
	gate hold >mnt/pending/first &&
	wait_job_in active first &&
	echo true >mnt/pending/second &&
	test -f mnt/pending/second &&
	echo "{\"max_jobs\": 2}" >mnt/config.json &&
	wait_job_in complete second &&
	test -f mnt/active/first &&
	open_gate hold &&
	wait_job_in complete first
'

test_expect_success 'settings written through config.json survive a restart' '
	jq -S . mnt/config.json >expect &&
	filed_stop &&
	filed_start &&
	jq -S . mnt/config.json >actual &&
	test_cmp expect actual
'

test_expect_success 'SIGHUP reloads a hand-edited INI file' '
	filed_ini max_retries=5 timeout=30 &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "test \"\$(jq .max_retries mnt/config.json)\" = 5" &&
	test "$(jq .timeout mnt/config.json)" = 30
'

test_expect_success 'keys left out of the INI file fall back to their defaults' '
	test "$(jq .backoff_base mnt/config.json)" = 1 &&
	test "$(jq .max_jobs mnt/config.json)" = "$(nproc)"
'

test_expect_success 'a bad INI file at SIGHUP is logged and the settings kept' '
	jq -S . mnt/config.json >expect &&
	printf "[queue]\nmax_retries = 1\nbogus = 2\n" >state/filed.ini &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "filed_log | grep -q \"filed.ini:3:\"" &&
	filed_log | grep "filed.ini:3:.*bogus" &&
	jq -S . mnt/config.json >actual &&
	test_cmp expect actual &&
	mountpoint -q mnt &&
	pid_alive "$filed_pid"
'

test_expect_success 'an out-of-range value at SIGHUP is refused the same way' '
	printf "[queue]\nmax_jobs = 4097\n" >state/filed.ini &&
	kill -HUP "$filed_pid" &&
	wait_for 10 "filed_log | grep -q \"filed.ini:2:\"" &&
	test "$(jq .max_retries mnt/config.json)" = 5
'

test_expect_success 'a write to config.json replaces the bad INI file' '
	echo "{\"max_retries\": 4}" >mnt/config.json &&
	! grep bogus state/filed.ini &&
	grep -E "^max_retries *= *4\$" state/filed.ini &&
	filed_stop &&
	filed_start &&
	test "$(jq .max_retries mnt/config.json)" = 4 &&
	test "$(jq .timeout mnt/config.json)" = 30
'

test_expect_success 'two writers of different keys at once: both take effect' '
	writers $N 0 A:max_retries:0 B:timeout:0 &&
	all_ok &&
	test "$(jq .max_retries mnt/config.json)" = $N &&
	test "$(jq .timeout mnt/config.json)" = $N &&
	grep -E "^max_retries *= *$N\$" state/filed.ini &&
	grep -E "^timeout *= *$N\$" state/filed.ini &&
	path_is_missing state/filed.ini.tmp
'

test_expect_success 'after a restart the settings are the same' '
	restart_same &&
	test "$(jq .max_retries mnt/config.json)" = $N &&
	test "$(jq .timeout mnt/config.json)" = $N
'

test_expect_success 'two writers of the same key at once: an acknowledged value wins' '
	writers $N 0 A:max_retries:1000 B:max_retries:2000 &&
	all_ok &&
	v=$(jq .max_retries mnt/config.json) &&
	echo "max_retries is $v" &&
	grep -x "[AB] max_retries $v OK" rounds &&
	{ test "$v" = $((1000 + N)) || test "$v" = $((2000 + N)); } &&
	grep -E "^max_retries *= *$v\$" state/filed.ini &&
	path_is_missing state/filed.ini.tmp &&
	restart_same &&
	test "$(jq .max_retries mnt/config.json)" = "$v"
'

test_expect_success 'SIGHUP in the middle of two writers: nothing lost, all agree' '
	writers 100 "$filed_pid" A:max_retries:3000 B:kill_grace:0 &&
	all_ok &&
	test "$(jq .max_retries mnt/config.json)" = 3100 &&
	test "$(jq .kill_grace mnt/config.json)" = 100 &&
	filed_log | grep -q "settings reloaded" &&
	path_is_missing state/filed.ini.tmp &&
	restart_same &&
	test "$(jq .max_retries mnt/config.json)" = 3100 &&
	test "$(jq .kill_grace mnt/config.json)" = 100
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

# --- Saves that fail, under strace -------------------------------------
#
# filed runs under strace with UV_THREADPOOL_SIZE=1, so that every save of
# the settings comes from the one thread of the pool, and -P limits tracing
# and the counting of when= (per thread) to the temporary settings file
# (strace matches a rename by its first path) and the state directory. The
# state directory and its journal exist before the first traced start, so
# nothing on the main thread touches them. A save on the pool's thread is
# then: fsync #1 (the temporary file), rename, fsync #2 (the directory);
# putting the old settings back after a failed #2 is #3, rename, #4.

if command -v strace >/dev/null 2>&1 &&
	strace -f -qq -o /dev/null -e trace=rename,fsync \
		-e inject=rename:error=EIO:when=1 true 2>/dev/null
then
	test_set_prereq STRACE
fi

# traced_start FAULT: filed -s state mnt under strace with that injection.
# A filed left running by a failed test is killed first, so that one
# failure does not fail every later test.
traced_start() {
	if pid_alive "$filed_pid"
	then
		kill -9 "$(cat "$TRASH/state/lock")" "$filed_pid" 2>/dev/null
		filed_wait_exit 10
		fusermount3 -u -z "$TRASH/mnt" 2>/dev/null
	fi
	FILED_FAULT=$1 &&
	traced_filed_start
}

# settings_kept: config.json, and filed.ini byte for byte, are what they
# were before (json.before, ini.before), and no temporary file is left.
settings_kept() {
	jq -S . mnt/config.json >json.now &&
	test_cmp json.before json.now &&
	test_cmp ini.before state/filed.ini &&
	path_is_missing state/filed.ini.tmp
}

# restart_kept: after a restart without strace the settings are the same.
restart_kept() {
	filed_start &&
	settings_kept &&
	filed_stop
}

test_expect_success STRACE 'set up: a state dir, filed under strace' '
	traced_filed -pool1 -s 256 -P "$TRASH_REAL/state/filed.ini.tmp" \
		-P "$TRASH_REAL/state" -e trace=rename,fsync &&
	rm -rf state &&
	filed_start &&
	echo "{\"max_retries\": 3, \"timeout\": 30}" >mnt/config.json &&
	jq -S . mnt/config.json >json.before &&
	cp state/filed.ini ini.before &&
	filed_stop
'

test_expect_success STRACE 'EIO from the rename of filed.ini: close gets EIO, nothing changed' '
	traced_start "-e inject=rename:error=EIO:when=1" &&
	test "$(errno_of writeclose mnt/config.json "{\"max_retries\": 9}")" = "OK EIO" &&
	grep "rename(.*filed.ini.tmp.*= -1 EIO .*INJECTED" strace.out &&
	filed_log | grep "config.json: not applied: .*filed.ini: rename: Input/output error" &&
	settings_kept &&
	traced_stop &&
	restart_kept
'

test_expect_success STRACE 'EIO from the directory fsync after the rename: old settings put back, EIO' '
	traced_start "-e inject=fsync:error=EIO:when=2" &&
	test "$(errno_of writeclose mnt/config.json "{\"max_retries\": 9}")" = "OK EIO" &&
	test "$(grep -c "fsync(.*= -1 EIO .*INJECTED" strace.out)" = 1 &&
	test "$(grep -c "fsync(" strace.out)" = 4 &&
	test "$(grep -c "rename(.*filed.ini.tmp.*= 0" strace.out)" = 2 &&
	filed_log | grep "config.json: not applied: .*: fsync: Input/output error; .*filed.ini holds the settings in force again" &&
	settings_kept &&
	echo "{\"timeout\": 31}" >mnt/config.json &&
	test "$(jq .timeout mnt/config.json)" = 31 &&
	test "$(jq .max_retries mnt/config.json)" = 3 &&
	traced_stop &&
	filed_start &&
	test "$(jq .timeout mnt/config.json)" = 31 &&
	test "$(jq .max_retries mnt/config.json)" = 3 &&
	echo "{\"timeout\": 30}" >mnt/config.json &&
	settings_kept &&
	filed_stop
'

test_expect_success STRACE 'the putting back fails too: filed exits, the close is not acknowledged' '
	traced_start "-e inject=fsync:error=EIO:when=2+2" &&
	r=$(errno_of writeclose mnt/config.json "{\"max_retries\": 9}") &&
	echo "write, close: $r" &&
	test "${r#OK }" != OK &&
	filed_wait_exit 20 &&
	test "$filed_status" = 1 &&
	test "$(grep -c "fsync(.*= -1 EIO .*INJECTED" strace.out)" = 2 &&
	filed_log | grep "putting back the settings in force failed too" &&
	filed_wait_stale &&
	fusermount3 -u -z mnt &&
	test_cmp ini.before state/filed.ini &&
	restart_kept
'

test_done
