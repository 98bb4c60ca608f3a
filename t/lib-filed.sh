# lib-filed.sh: what every filed test script shares.
#
# A script sets test_description, sources this file, and then drives a real
# mounted filed with ordinary tools:
#
#	test_description='...'
#	. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"
#
# This file sets the sharness defaults, sources sharness, skips the whole
# script when this machine cannot mount FUSE, and provides:
#
#	filed_ini KEY=VALUE...	write state/filed.ini ([queue]) before a start
#	filed_start [ARGS]	start filed -s state ARGS mnt, wait for the mount
#	filed_start_raw ARGS	the same with the whole command line given
#	filed_stop		SIGTERM; wait; exit status 0 and no mount left
#	traced_filed [-pool1] ARGS
#				write traced-filed: filed under strace ARGS
#	traced_filed_start [ARGS]
#				filed_start with traced-filed for filed
#	traced_stop		filed_stop for a filed run under strace
#	filed_kill9		kill -9 and lazily unmount (filed cannot)
#	filed_log		the log of the latest start
#	filed_run CODE ARGS	run filed in the foreground, expect exit CODE
#	wait_for SECS COND	poll COND every 0.05 s, fail after SECS
#	wait_job_in DIR NAME [SECS]
#	gate NAME		shell text for a job: wait until gate.NAME exists
#	errno_of OP ARGS...	one syscall; prints OK or the errno name
#	pid_alive PID		the process exists and is not a zombie
#
# Nothing sleeps a fixed time; everything polls with a timeout. Whatever
# happens, no mount and no job process outlives the script: filed is started
# with FILED_TEST_TAG in its environment (its jobs inherit it), and the
# cleanup kills the tagged processes by pid and lazily unmounts every FUSE
# mount under the trash directory.

: "${SHARNESS_TEST_EXTENSION:=sh}"
export SHARNESS_TEST_EXTENSION
: "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}"
export SHARNESS_TEST_SRCDIR
: "${SHARNESS_TEST_DIRECTORY:=$(pwd)}"
export SHARNESS_TEST_DIRECTORY

# The mounts under DIR, one a line, decoded from /proc/self/mounts.
filed__mounts_under() {
	awk '$3 ~ /^fuse/ { print $2 }' /proc/self/mounts |
	sed -e 's/\\040/ /g' -e 's/\\011/	/g' |
	while IFS= read -r filed__m
	do
		case "$filed__m" in
		"$1"/*) printf '%s\n' "$filed__m" ;;
		esac
	done
}

# A crashed earlier run may have left a mount in the trash directory that
# sharness is about to rm -rf: take it away first.
filed__old_trash="$SHARNESS_TEST_DIRECTORY/trash directory.$(basename "$0" ".$SHARNESS_TEST_EXTENSION")"
filed__mounts_under "$filed__old_trash" | while IFS= read -r filed__m
do
	fusermount3 -u -z "$filed__m" 2>/dev/null ||
	umount -l "$filed__m" 2>/dev/null
done

. /usr/share/sharness/sharness.sh

: "${FILED_BIN:=$SHARNESS_BUILD_DIRECTORY/filed}"
case "$FILED_BIN" in
/*) ;;
*) FILED_BIN="$SHARNESS_TEST_DIRECTORY/$FILED_BIN" ;;
esac
export FILED_BIN

TRASH="$SHARNESS_TRASH_DIRECTORY"
filed_tag="$$:$TRASH"
filed_pid=
filed_status=
filed_log_off=0

# The real interpreter, not a shim: errno_of runs often.
FILED_PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	test -n "$1" && test -r "/proc/$1/stat" || return 1
	filed__st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	case "$filed__st" in
	Z*|X*|x*|"") return 1 ;;
	esac
	return 0
}

# The pids of the processes started by filed of this script (and filed).
filed__tagged_pids() {
	for filed__p in /proc/[0-9]*
	do
		filed__p=${filed__p#/proc/}
		test "$filed__p" = "$$" && continue
		tr '\0' '\n' 2>/dev/null <"/proc/$filed__p/environ" |
		grep -qxF "FILED_TEST_TAG=$filed_tag" &&
		echo "$filed__p"
	done
	:
}

# Kill everything this script started, lazily unmount what it mounted.
filed__cleanup() {
	if pid_alive "$filed_pid"
	then
		kill -9 "$filed_pid" 2>/dev/null
	fi
	for filed__p in $(filed__tagged_pids)
	do
		kill -9 "$filed__p" 2>/dev/null
	done
	filed__mounts_under "$TRASH" | while IFS= read -r filed__m
	do
		fusermount3 -u -z "$filed__m" 2>/dev/null ||
		umount -l "$filed__m" 2>/dev/null
	done
	:
}

# Sharness removes the trash directory before its EXIT trap runs, so clean up
# both in its final cleanup (success) and in the EXIT trap (anything else),
# keeping the exit code sharness' die() looks at.
cleanup filed__cleanup
trap 'filed__rc=$?; trap - EXIT; filed__cleanup; (exit $filed__rc); die' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS CONDITION: poll CONDITION (a shell command, eval'd) every
# 0.05 s; fail with a message after SECONDS.
wait_for() {
	wf__end=$(( $(date +%s) + $1 + 1 ))
	wf__secs=$1
	shift
	while ! eval "$*"
	do
		if test "$(date +%s)" -ge "$wf__end"
		then
			echo "wait_for: still false after ${wf__secs}s: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# wait_job_in DIR NAME [SECONDS]: wait until mnt/DIR/NAME exists.
wait_job_in() {
	wait_for "${3:-10}" "test -e \"\$TRASH/mnt/$1/$2\"" || {
		echo "job '$2' did not show up in $1/; the mount has:" >&2
		ls -la "$TRASH"/mnt/* >&2
		return 1
	}
}

# gate NAME: shell text for a job script that waits until gate.NAME exists
# in the trash directory (open_gate NAME opens it).
gate() {
	printf 'while ! test -e "%s/gate.%s"; do sleep 0.02; done\n' "$TRASH" "$1"
}

open_gate() {
	: >"$TRASH/gate.$1"
}

# filed_ini KEY=VALUE...: write state/filed.ini with these [queue] settings
# (and shell = $FILED_TEST_SHELL when that is set: the runner's tests are
# run again with other shells that way).
filed_ini() {
	mkdir -p "$TRASH/state" &&
	{
		echo "[queue]" &&
		if test -n "${FILED_TEST_SHELL:-}"
		then
			echo "shell = $FILED_TEST_SHELL"
		fi &&
		for filed__kv
		do
			echo "${filed__kv%%=*} = ${filed__kv#*=}"
		done
	} >"$TRASH/state/filed.ini"
}

# filed_log: what filed logged since its latest start.
filed_log() {
	tail -c "+$((filed_log_off + 1))" "$TRASH/filed.log"
}

# filed_start_raw ARGS...: start "$FILED_BIN" ARGS in the background (stderr
# and stdout to filed.log) and wait until mnt is a live mount point.
filed_start_raw() {
	{ filed_mounted || mkdir -p "$TRASH/mnt"; } &&
	touch "$TRASH/filed.log" &&
	filed_log_off=$(wc -c <"$TRASH/filed.log") &&
	{
		FILED_TEST_TAG="$filed_tag" "$FILED_BIN" "$@" \
			</dev/null >>"$TRASH/filed.log" 2>&1 3>&- 4>&- 5>&- 6>&- &
		filed_pid=$!
	} &&
	echo "$filed_pid" >"$TRASH/filed.pid" &&
	filed__end=$(( $(date +%s) + 11 )) &&
	while ! { mountpoint -q "$TRASH/mnt" &&
		stat "$TRASH/mnt/." >/dev/null 2>&1; }
	do
		if ! pid_alive "$filed_pid"
		then
			echo "filed exited before it mounted; its log:" >&2
			filed_log >&2
			return 1
		fi
		if test "$(date +%s)" -ge "$filed__end"
		then
			echo "filed did not mount within 10 s; its log:" >&2
			filed_log >&2
			return 1
		fi
		sleep 0.05
	done
}

# filed_start [ARGS...]: start filed on state/ and mnt/.
filed_start() {
	filed_start_raw -s "$TRASH/state" "$@" "$TRASH/mnt"
}

# filed_wait_exit SECONDS: wait for filed to exit; its status in filed_status.
filed_wait_exit() {
	wait_for "$1" '! pid_alive "$filed_pid"' || return 1
	wait "$filed_pid"
	filed_status=$?
}

# filed_mounted: mnt is (still) in the mount table, live or stale.
filed_mounted() {
	test -n "$(filed__mounts_under "$TRASH" | grep -xF "$TRASH/mnt")"
}

# filed_stop: SIGTERM, wait up to 20 s; succeed only if filed exited 0 and
# took its mount away.
filed_stop() {
	kill -TERM "$filed_pid" || return 1
	if ! filed_wait_exit 20
	then
		echo "filed did not exit within 20 s after SIGTERM" >&2
		return 1
	fi
	if filed_mounted
	then
		echo "filed exited but left its mount behind" >&2
		fusermount3 -u -z "$TRASH/mnt"
		return 1
	fi
	if test "$filed_status" != 0
	then
		echo "filed exited with status $filed_status; its log:" >&2
		filed_log >&2
		return 1
	fi
}

# traced_stop: stop a filed that runs under strace (its pid is in
# state/lock; filed_pid is strace's): SIGTERM to filed itself, then as
# filed_stop: exit status 0 (strace passes it on) and no mount left.
traced_stop() {
	kill -TERM "$(cat "$TRASH/state/lock")" &&
	filed_wait_exit 20 &&
	! filed_mounted &&
	test "$filed_status" = 0
}

# traced_filed [-pool1] ARG...: write $TRASH/traced-filed, which runs filed
# ($FILED_BIN as it is now) under "strace -f -qq -o $TRASH_REAL/strace.out
# ARG...", then $FILED_FAULT: the -e inject options of one run, split on
# blanks, empty for none. With -pool1 filed's thread pool has one thread
# (strace counts when= per thread). Paths in ARGs that strace matches with
# -P are best given under $TRASH_REAL, the trash directory with its links
# resolved, as the kernel names open files. LeakSanitizer is turned off
# under it: it cannot work under ptrace, and a sanitizer build would fail
# at exit for that alone.
TRASH_REAL=$(cd "$TRASH" && pwd -P)
traced_filed() {
	traced__pool=
	if test "$1" = -pool1
	then
		traced__pool="UV_THREADPOOL_SIZE=1; export UV_THREADPOOL_SIZE"
		shift
	fi
	{
		echo "#!/bin/sh"
		echo "$traced__pool"
		echo 'ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0'
		echo "export ASAN_OPTIONS"
		printf "exec strace -f -qq -o %s" \
			"$(filed__quote "$TRASH_REAL/strace.out")"
		for traced__a
		do
			printf " %s" "$(filed__quote "$traced__a")"
		done
		printf ' $FILED_FAULT %s "$@"\n' "$(filed__quote "$FILED_BIN")"
	} >"$TRASH/traced-filed" &&
	chmod +x "$TRASH/traced-filed"
}

# filed__quote WORD: WORD in single quotes, for a shell to read back.
filed__quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# traced_filed_start [ARGS...]: filed_start, with $TRASH/traced-filed (see
# traced_filed) for filed and FILED_FAULT exported to it.
traced_filed_start() {
	traced__bin=$FILED_BIN
	export FILED_FAULT
	FILED_BIN="$TRASH/traced-filed"
	filed_start "$@"
	traced__rc=$?
	FILED_BIN=$traced__bin
	return $traced__rc
}

# filed_wait_stale: wait until the mount of a dead filed answers ENOTCONN.
# The kernel drops a dead process'"'"'s /dev/fuse file a moment after the
# process is reaped, and only then does the connection abort.
filed_wait_stale() {
	wait_for 10 '! stat "$TRASH/mnt/." >/dev/null 2>&1'
}

# filed_kill9: kill -9 filed and take its mount away as an admin would.
filed_kill9() {
	kill -9 "$filed_pid" &&
	filed_wait_exit 10 &&
	filed_wait_stale &&
	{ fusermount3 -u -z "$TRASH/mnt" 2>/dev/null || :; }
}

# filed_run CODE ARGS...: run filed in the foreground (10 s at most), stdout
# to out, stderr to err, and expect exit status CODE.
filed_run() {
	filed__want=$1
	shift
	FILED_TEST_TAG="$filed_tag" timeout -k 1 10 "$FILED_BIN" "$@" \
		</dev/null >"$TRASH/out" 2>"$TRASH/err"
	filed__got=$?
	if test "$filed__got" != "$filed__want"
	then
		echo "filed $*: exit $filed__got, want $filed__want" >&2
		cat "$TRASH/out" "$TRASH/err" >&2
		return 1
	fi
}

# xattr FILE NAME: the value of user.filed.NAME.
xattr() {
	getfattr --only-values -n "user.filed.$2" "$1"
}

# log_of DIR/NAME: the path of the job's output file in the state directory
# (STATEDIR/output/ID, ID being its user.filed.id).
log_of() {
	echo "state/output/$(getfattr --only-values -n user.filed.id "mnt/$1")"
}

# path_is_missing PATH: PATH does not exist (not even as a dangling link).
path_is_missing() {
	if test -e "$1" || test -L "$1"
	then
		echo "path exists but should not: $1" >&2
		return 1
	fi
}

# listing DIR: the names in DIR, one a line, sorted.
listing() {
	ls -A "$1" | LC_ALL=C sort
}

filed__errno_py='
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def flags(s, table):
	v = 0
	for f in s.split("|"):
		if f in ("", "0"):
			continue
		v |= table[f] if f in table else int(f, 0)
	return v
OFLAGS = {k: getattr(os, k) for k in dir(os) if k.startswith("O_")}
RFLAGS = {"NOREPLACE": 1, "EXCHANGE": 2, "WHITEOUT": 4}
def data(s):
	if s == "-":
		return sys.stdin.buffer.read()
	return os.fsencode(s)
def fail(e):
	print(errno.errorcode.get(e, str(e)))
	sys.exit(0)
def c(ret):
	if ret < 0:
		fail(ctypes.get_errno())
	return ret
op, a = sys.argv[1], [os.fsencode(x) for x in sys.argv[2:]]
try:
	if op == "open":
		fd = os.open(a[0], flags(sys.argv[3], OFLAGS), 0o644)
		os.close(fd)
	elif op in ("write", "writeclose"):
		fl = sys.argv[4] if len(sys.argv) > 4 else "O_WRONLY|O_CREAT|O_TRUNC"
		fd = os.open(a[0], flags(fl, OFLAGS), 0o644)
		buf, werr, cerr = data(sys.argv[3]), "OK", "OK"
		try:
			while buf:
				buf = buf[os.write(fd, buf):]
		except OSError as e:
			werr = errno.errorcode.get(e.errno, str(e.errno))
		try:
			os.close(fd)
		except OSError as e:
			cerr = errno.errorcode.get(e.errno, str(e.errno))
		if op == "writeclose":
			print(werr, cerr)
		else:
			print(werr if werr != "OK" else cerr)
		sys.exit(0)
	elif op == "rename":
		fl = flags(sys.argv[4], RFLAGS) if len(sys.argv) > 4 else 0
		libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p,
		    ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
		c(libc.renameat2(-100, a[0], -100, a[1], fl))
	elif op == "unlink":
		os.unlink(a[0])
	elif op == "rmdir":
		os.rmdir(a[0])
	elif op == "mkdir":
		os.mkdir(a[0], 0o755)
	elif op == "symlink":
		os.symlink(a[0], a[1])
	elif op == "link":
		os.link(a[0], a[1])
	elif op == "mknod":
		import stat
		kind = sys.argv[3] if len(sys.argv) > 3 else "reg"
		os.mknod(a[0], (stat.S_IFIFO if kind == "fifo" else stat.S_IFREG) | 0o644)
	elif op == "setxattr":
		os.setxattr(a[0], a[1], a[2])
	elif op == "removexattr":
		os.removexattr(a[0], a[1])
	elif op == "getxattr":
		os.getxattr(a[0], a[1])
	elif op == "chmod":
		os.chmod(a[0], int(sys.argv[3], 8))
	elif op == "chown":
		os.chown(a[0], int(sys.argv[3]), int(sys.argv[4]))
	elif op == "truncate":
		os.truncate(a[0], int(sys.argv[3]))
	elif op == "read":
		fd = os.open(a[0], os.O_RDONLY)
		os.read(fd, 65536)
		os.close(fd)
	else:
		print("errno_of: unknown op " + op, file=sys.stderr)
		sys.exit(2)
except OSError as e:
	fail(e.errno)
print("OK")
'

# errno_of OP ARGS...: perform one system call and print the errno name it
# failed with, or OK. OPs:
#	open PATH FLAGS			FLAGS like O_WRONLY|O_CREAT|O_EXCL
#	write PATH DATA [FLAGS]		open (default O_WRONLY|O_CREAT|O_TRUNC),
#					write DATA ("-": stdin), close; first error
#	writeclose PATH DATA [FLAGS]	the same, prints "WRITE CLOSE" results
#	rename SRC DST [FLAGS]		renameat2; FLAGS NOREPLACE|EXCHANGE|WHITEOUT
#	unlink, rmdir, mkdir, read PATH; symlink TARGET PATH; link OLD NEW
#	mknod PATH [reg|fifo]; truncate PATH LEN; chmod PATH OCTAL
#	chown PATH UID GID; setxattr PATH NAME VALUE; removexattr, getxattr PATH NAME
errno_of() {
	"${FILED_PYTHON:-python3}" -c "$filed__errno_py" "$@"
}

# The FUSE prerequisite: /dev/fuse, fusermount3, and the right to mount.
filed__why_no_fuse=
if ! test -c /dev/fuse
then
	filed__why_no_fuse="no /dev/fuse"
elif ! command -v fusermount3 >/dev/null 2>&1
then
	filed__why_no_fuse="no fusermount3 (package fuse3)"
elif test "$(id -u)" != 0 && ! test -u "$(command -v fusermount3)"
then
	filed__why_no_fuse="not root and fusermount3 is not setuid: cannot mount"
elif test "$(id -u)" != 0 && ! test -r /dev/fuse -a -w /dev/fuse
then
	filed__why_no_fuse="not root and /dev/fuse is not read-writable: cannot mount"
fi
if test -n "$filed__why_no_fuse"
then
	skip_all="FUSE unusable: $filed__why_no_fuse"
	test_done
fi
test_set_prereq FUSE

if ! test -x "$FILED_BIN"
then
	skip_all="no filed binary at $FILED_BIN (build it, or set FILED_BIN)"
	test_done
fi
if test -z "$FILED_PYTHON"
then
	skip_all="python3 is needed to check errnos"
	test_done
fi
for filed__tool in jq getfattr mountpoint timeout
do
	if ! command -v "$filed__tool" >/dev/null 2>&1
	then
		skip_all="$filed__tool is needed"
		test_done
	fi
done
command -v setpriv >/dev/null 2>&1 && test "$(id -u)" = 0 &&
	test_set_prereq SETPRIV
