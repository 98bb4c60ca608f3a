#!/bin/sh

test_description='a minimal system: read-only root, no /sys, no /etc/fuse.conf

In a private mount namespace (the machine is not touched): the root file
system is remounted read-only there, /sys is covered by an empty read-only
file system, /etc is a copy without fuse.conf, and the state directory and
the mount point are on a small writable file system, as on a board whose
root is read-only and whose data partition is not. No service manager is
involved. filed must start there, run jobs, keep them across a restart,
and stop cleanly.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

ABS_BIN=$(cd "$(dirname "$FILED_BIN")" && pwd -P)/$(basename "$FILED_BIN")

if test "$(id -u)" != 0 || ! command -v unshare >/dev/null 2>&1 ||
	! unshare -m --propagation private true 2>/dev/null
then
	skip_all="needs root and unshare -m"
	test_done
fi

# The whole run, inside the namespace; it prints what it saw, one fact a
# line, and the jobs' outputs.
cat >minimal.sh <<'EOF2'
set -u
bin=$1 rw=$2
mount -t tmpfs -o size=16m tmpfs "$rw" || exit 1
mkdir -p "$rw/etc" "$rw/state" "$rw/mnt" || exit 1
cp -a /etc/. "$rw/etc/" && rm -f "$rw/etc/fuse.conf" &&
	mount --bind "$rw/etc" /etc || exit 1
mount -t tmpfs -o ro,size=4k nosys /sys || exit 1
mount -o remount,bind,ro / || exit 1

touch /filed-rootfs-probe 2>/dev/null && echo "root: writable" ||
	echo "root: read-only"
test -e /etc/fuse.conf && echo "fuse.conf: present" ||
	echo "fuse.conf: missing"
test -z "$(ls -A /sys)" && echo "sys: empty" || echo "sys: populated"

run() {
	"$bin" -s "$rw/state" "$rw/mnt" 2>>"$rw/log" &
	pid=$!
	i=0
	while ! test -d "$rw/mnt/pending"
	do
		i=$((i + 1))
		if test $i -gt 200 || ! kill -0 $pid 2>/dev/null
		then
			echo "filed did not mount"; cat "$rw/log"; exit 1
		fi
		sleep 0.05
	done
}
waitfor() {
	i=0
	while ! test -e "$1"
	do
		i=$((i + 1))
		test $i -gt 400 && { echo "timeout: $1"; return 1; }
		sleep 0.05
	done
}

run
echo 'echo "ran in $(pwd) as $FILED_JOB"' >"$rw/mnt/pending/first"
waitfor "$rw/mnt/complete/first" && echo "first: $(cat "$rw/mnt/complete/first")"
echo "wait: $(cat "$rw/mnt/wait/first")"
kill -TERM $pid
wait $pid
echo "stop: $?"
mountpoint -q "$rw/mnt" && echo "mount: left behind" || echo "mount: gone"

run
echo "after restart: $(ls "$rw/mnt/complete")"
echo 'echo second' >"$rw/mnt/pending/second"
waitfor "$rw/mnt/complete/second" && echo "second: $(cat "$rw/mnt/complete/second")"
kill -TERM $pid
wait $pid
echo "stop: $?"
sed 's/^/log: /' "$rw/log"
EOF2

test_expect_success 'filed on a read-only root, without /sys and fuse.conf' '
	mkdir rw &&
	unshare -m --propagation private sh minimal.sh "$ABS_BIN" \
		"$(pwd -P)/rw" >minimal.out 2>&1;
	cat minimal.out &&
	grep -x "root: read-only" minimal.out &&
	grep -x "fuse.conf: missing" minimal.out &&
	grep -x "sys: empty" minimal.out &&
	grep -x "first: ran in / as first" minimal.out &&
	grep -x "wait: complete" minimal.out &&
	test "$(grep -c "^stop: 0$" minimal.out)" = 2 &&
	grep -x "mount: gone" minimal.out &&
	grep -x "after restart: first" minimal.out &&
	grep -x "second: second" minimal.out &&
	! grep "log: .*\(warn\|error\|cannot\)" minimal.out
'

test_expect_success 'the machine is untouched: its root is writable, /sys is there' '
	touch probe && rm probe &&
	test -n "$(ls -A /sys)" &&
	! mountpoint -q rw
'

test_done
