#!/bin/sh

test_description='filed starts, mounts, stops, and refuses what it must

The command line, exit codes, the mount and its tree, the lock against a
second filed, a busy or missing mount point, CONFIG errors named by file and
line, and clean stops on SIGTERM, SIGINT and an external unmount.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

version=$(sed -n 's/^PACKAGE_VERSION = //p' "$SHARNESS_BUILD_DIRECTORY/Makefile" 2>/dev/null)

test_expect_success '--version prints the version and exits 0' '
	filed_run 0 --version &&
	grep -i "filed" out &&
	if test -n "$version"
	then
		grep -F "$version" out
	else
		grep "[0-9]\.[0-9]" out
	fi
'

test_expect_success '-V is --version' '
	filed_run 0 -V &&
	grep -i "filed" out
'

test_expect_success '--help prints the usage on stdout and exits 0' '
	filed_run 0 --help &&
	grep -i "usage" out &&
	grep -e "-s" out &&
	grep -i "mountpoint" out
'

test_expect_success '-h is --help' '
	filed_run 0 -h &&
	grep -i "usage" out
'

test_expect_success 'an unknown option is a usage error: exit 1' '
	filed_run 1 --no-such-option "$TRASH/mnt" &&
	test -s err &&
	path_is_missing state
'

test_expect_success 'no mount point is a usage error: exit 1' '
	filed_run 1 -s "$TRASH/state" &&
	test -s err
'

test_expect_success 'a missing mount point: exit 1 with its name' '
	filed_run 1 -s "$TRASH/state" "$TRASH/no-such-dir" &&
	grep -F "no-such-dir" err &&
	! filed_mounted
'

test_expect_success 'a state dir that is a file: exit 1' '
	: >not-a-dir &&
	mkdir -p mnt &&
	filed_run 1 -s "$TRASH/not-a-dir" "$TRASH/mnt" &&
	grep -F "not-a-dir" err &&
	! mountpoint -q mnt
'

# Once mounted, a path there would lead into filed's own mount: filed
# would wait on itself.
test_expect_success 'a state dir or -c CONFIG inside the mount point: exit 1, nothing made' '
	mkdir -p mnt &&
	filed_run 1 -s "$TRASH/mnt/state" "$TRASH/mnt" &&
	grep "the state directory .*/mnt/state is inside the mount point" err &&
	filed_run 1 -s "$TRASH/mnt" "$TRASH/mnt" &&
	grep "the state directory .*/mnt is inside the mount point" err &&
	ln -s mnt link &&
	filed_run 1 -s "$TRASH/link/state" "$TRASH/mnt" &&
	grep "is inside the mount point" err &&
	filed_run 1 -s "$TRASH/elsewhere" -c "$TRASH/mnt/filed.ini" "$TRASH/mnt" &&
	grep "the settings file .*/mnt/filed.ini is inside the mount point" err &&
	test_must_be_empty out &&
	! mountpoint -q mnt &&
	test -z "$(ls -A mnt)" &&
	path_is_missing elsewhere &&
	rm link
'

test_expect_success 'the same with a stale mount left on the mount point' '
	filed_start_raw -s "$TRASH/elsewhere" "$TRASH/mnt" &&
	kill -9 "$filed_pid" &&
	filed_wait_exit 10 &&
	filed_wait_stale &&
	filed_run 1 -s "$TRASH/mnt/state" "$TRASH/mnt" &&
	grep "the state directory .*/mnt/state is inside the mount point" err &&
	fusermount3 -u -z mnt &&
	test -z "$(ls -A mnt)" &&
	rm -r elsewhere
'

test_expect_success 'an unknown key in CONFIG: exit 1 naming file and line' '
	mkdir -p bad &&
	printf "[queue]\nmax_jobs = 2\nfoo = 1\n" >bad/filed.ini &&
	filed_run 1 -s "$TRASH/bad" "$TRASH/mnt" &&
	grep "filed.ini:3:" err &&
	grep "foo" err &&
	! mountpoint -q mnt
'

test_expect_success 'an out-of-range value in CONFIG: exit 1 naming file and line' '
	printf "[queue]\nmax_retries = 1\n\nmax_jobs = 4097\n" >bad/filed.ini &&
	filed_run 1 -s "$TRASH/bad" "$TRASH/mnt" &&
	grep "filed.ini:4:" err &&
	grep "max_jobs" err
'

test_expect_success 'a malformed value in -c CONFIG: exit 1 naming that file' '
	printf "[queue]\nbackoff_base = soon\n" >"$TRASH/other.ini" &&
	filed_run 1 -s "$TRASH/bad" -c "$TRASH/other.ini" "$TRASH/mnt" &&
	grep "other.ini:2:" err
'

test_expect_success 'filed mounts and is ready when the mount is up' '
	filed_start &&
	mountpoint -q mnt
'

test_expect_success 'the mount shows the four directories, new-id, config.json, wait/, events and stats' '
	cat >expect <<-\EOF &&
	active
	complete
	config.json
	events
	failed
	new-id
	pending
	stats
	wait
	EOF
	listing mnt >actual &&
	test_cmp expect actual &&
	test -d mnt/pending && test -d mnt/active &&
	test -d mnt/failed && test -d mnt/complete && test -d mnt/wait &&
	test -f mnt/new-id && test -f mnt/config.json &&
	test -f mnt/events && test -f mnt/stats
'

test_expect_success 'the mount is type fuse.filed with fsname filed' '
	m=$(printf "%s" "$TRASH/mnt" | sed "s/ /\\\\040/g") &&
	m="$m" awk "\$2 == ENVIRON[\"m\"] { print \$1, \$3 }" /proc/self/mounts >actual &&
	echo "filed fuse.filed" >expect &&
	test_cmp expect actual
'

test_expect_success 'the four directories start empty' '
	for d in pending active failed complete
	do
		test -z "$(ls -A mnt/$d)" || return 1
	done
'

test_expect_success 'a missing state dir is created with mode 0700' '
	test "$(stat -c %a state)" = 700
'

test_expect_success 'a missing CONFIG is created with the defaults' '
	test -s state/filed.ini &&
	grep "queue" state/filed.ini &&
	grep "max_retries" state/filed.ini
'

test_expect_success 'the lock file in the state dir holds the pid' '
	test -f state/lock &&
	grep -x "$filed_pid" state/lock
'

test_expect_success 'the journal starts with its format header' '
	head -n 1 state/journal >actual &&
	echo "filed-journal 3" >expect &&
	test_cmp expect actual
'

test_expect_success 'a second filed on the same state dir: exit 1, names the pid' '
	mkdir -p mnt2 &&
	filed_run 1 -s "$TRASH/state" "$TRASH/mnt2" &&
	grep "in use by another filed (pid $filed_pid)" err &&
	! mountpoint -q mnt2 &&
	mountpoint -q mnt &&
	test "$(cat mnt/config.json | jq .max_retries)" = 3
'

test_expect_success 'a mount point that is already a mount: exit 111' '
	filed_run 111 -s "$TRASH/state2" "$TRASH/mnt" &&
	grep "already a mount point" err &&
	mountpoint -q mnt &&
	ls mnt/pending
'

test_expect_success 'without -d there are no debug lines' '
	ls mnt/pending mnt/complete &&
	! grep "filed: debug:" filed.log
'

test_expect_success 'SIGTERM unmounts and exits 0' '
	filed_stop &&
	! mountpoint -q mnt &&
	path_is_missing mnt/pending
'

test_expect_success 'the lock is released at exit: a new filed starts' '
	filed_start &&
	ls mnt/pending
'

test_expect_success 'SIGINT unmounts and exits 0' '
	kill -INT "$filed_pid" &&
	filed_wait_exit 20 &&
	test "$filed_status" = 0 &&
	! filed_mounted
'

test_expect_success 'an external unmount ends filed with exit 0' '
	filed_start &&
	fusermount3 -u "$TRASH/mnt" &&
	filed_wait_exit 10 &&
	test "$filed_status" = 0
'

test_expect_success 'a stale mount left by a killed filed is taken over' '
	filed_start &&
	kill -9 "$filed_pid" &&
	filed_wait_exit 10 &&
	filed_wait_stale &&
	filed_mounted &&
	filed_start &&
	mountpoint -q mnt &&
	ls mnt/pending &&
	filed_stop
'

test_expect_success '-d adds debug lines' '
	filed_start -d &&
	ls mnt/pending &&
	filed_log | grep "^filed: debug:" &&
	filed_stop
'

test_expect_success '-f is accepted' '
	filed_start -f &&
	ls mnt/pending &&
	filed_stop
'

test_expect_success '-o passes mount options to FUSE' '
	filed_start -o noatime &&
	m=$(printf "%s" "$TRASH/mnt" | sed "s/ /\\\\040/g") &&
	m="$m" awk "\$2 == ENVIRON[\"m\"] { print \$4 }" /proc/self/mounts >opts &&
	grep "noatime" opts &&
	filed_stop
'

test_expect_success '-c CONFIG is read and becomes the backing file' '
	printf "[queue]\nmax_retries = 9\n" >"$TRASH/other.ini" &&
	filed_start -c "$TRASH/other.ini" &&
	test "$(jq .max_retries mnt/config.json)" = 9 &&
	echo "{\"max_retries\": 8}" >mnt/config.json &&
	grep -E "^max_retries *= *8" other.ini &&
	! grep -E "^max_retries *= *8" state/filed.ini &&
	filed_stop
'

test_expect_success 'FILED_STATE_DIR is the default state dir' '
	FILED_STATE_DIR="$TRASH/envstate" &&
	export FILED_STATE_DIR &&
	test_when_finished "unset FILED_STATE_DIR" &&
	filed_start_raw "$TRASH/mnt" &&
	test -f envstate/journal &&
	test -f envstate/filed.ini &&
	filed_stop
'

test_expect_success 'stop leaves no filed process and no mount behind' '
	! pid_alive "$filed_pid" &&
	! filed_mounted
'

test_done
