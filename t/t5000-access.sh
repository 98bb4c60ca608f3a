#!/bin/sh

test_description='access control with real users

Three users: alice and bob, members of group jobs, and carol, a stranger.
By default only filed'"'"'s own user can see into the queue; chgrp and chmod
(with the sticky bit on pending/) open it to a group, and the kernel enforces
the modes. With run_as = submitter (filed as root) each attempt runs as the
user who created the job, and jobs created by root run only with
allow_root = 1; with run_as = filed every job runs as filed'"'"'s user.
max_jobs_total caps the number of jobs; a create from a caller that FUSE
cannot name (another pid namespace) is refused; a filed that does not run
as root refuses run_as = submitter.'

# An unprivileged filed needs /dev/fuse readable and writable by its user,
# as Debian makes it (0666). Where it is not (0600 on some machines), run
# this file in a private mount namespace with a 0666 node of the same
# device bound over /dev/fuse there: the machine's own /dev/fuse stays as
# it is, and nothing of the namespace outlives the test. Mounts made here
# are then seen only by this test's processes, which is all it needs.
if test "$(id -u)" = 0 && test -z "$FILED_T5000_NS" && test -c /dev/fuse &&
	test "$(stat -c %a /dev/fuse)" != 666 &&
	command -v unshare >/dev/null 2>&1
then
	FILED_T5000_NS=$(mktemp -d "$(pwd)/.t5000-fuse.XXXXXX") || exit 1
	export FILED_T5000_NS
	# shellcheck disable=SC2016
	t5000_bind='mknod "$FILED_T5000_NS/fuse" c 10 229 &&
		chmod 0666 "$FILED_T5000_NS/fuse" &&
		mount --bind "$FILED_T5000_NS/fuse" /dev/fuse'
	if unshare -m --propagation private sh -c "$t5000_bind" 2>/dev/null
	then
		rm -f "$FILED_T5000_NS/fuse"
		exec unshare -m --propagation private sh -c \
			"$t5000_bind"' && rm -rf "$FILED_T5000_NS" && exec sh "$0" "$@"' \
			"$0" "$@"
	fi
	rm -rf "$FILED_T5000_NS"
fi

# The users must be able to reach the mount and the gate files in the trash
# directory. If the test directory is not reachable by other users (a build
# tree under a 0700 home), put the trash directory in a fresh 0755 directory
# under /tmp instead (unless --root was given), removed at exit.
: "${SHARNESS_TEST_DIRECTORY:=$(pwd)}"
t5000_tmproot=
if test -z "$root" && test "$(id -u)" = 0 &&
	command -v setpriv >/dev/null 2>&1 &&
	! setpriv --reuid=65534 --regid=65534 --clear-groups \
		sh -c 'cd "$1"' - "$SHARNESS_TEST_DIRECTORY" 2>/dev/null
then
	root=$(mktemp -d /tmp/filed-t5000.XXXXXX) && chmod 0755 "$root" || exit 1
	t5000_tmproot=$root
fi

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

# lib-filed.sh's EXIT trap, plus the removal of that directory (empty by
# then: sharness removes the trash directory before the trap runs).
if test -n "$t5000_tmproot"
then
	trap 'filed__rc=$?; trap - EXIT; filed__cleanup; rmdir "$t5000_tmproot" 2>/dev/null; (exit $filed__rc); die' EXIT
fi

if test "$(id -u)" != 0
then
	skip_all='needs root (creates users, runs commands as them)'
	test_done
fi
for t5000__tool in setpriv useradd groupadd usermod getent
do
	if ! command -v "$t5000__tool" >/dev/null 2>&1
	then
		skip_all="$t5000__tool is needed"
		test_done
	fi
done

# A second filed in a pid namespace of its own.
command -v unshare >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1 &&
	unshare --pid --fork --kill-child true 2>/dev/null &&
	test_set_prereq PIDNS

# as_user USER CMD...: run CMD as USER, with USER's groups and a clean
# environment (HOME, USER, LOGNAME, SHELL, PATH of USER).
as_user() {
	as__u=$1
	shift
	setpriv --reuid="$as__u" --regid="$as__u" --init-groups --reset-env "$@"
}

# errno_as USER OP ARGS...: errno_of, as USER.
errno_as() {
	ea__u=$1
	shift
	as_user "$ea__u" "$FILED_PYTHON" -c "$filed__errno_py" "$@"
}

# submit_as USER FILE NAME: USER creates pending/NAME with the text of FILE.
submit_as() {
	as_user "$1" sh -c 'cat "$1" >"$2"' - "$TRASH/$2" "$TRASH/mnt/pending/$3"
}

# ids_of USER GID: what the job script ids prints when it runs as USER with
# group GID and USER's groups from the group database.
ids_of() {
	id -u "$1" &&
	echo "$2" &&
	id -G "$1" | tr " " "\n" | sort -nu | tr "\n" " " && echo &&
	getent passwd "$1" | cut -d: -f6 &&
	echo "$1" &&
	echo "$1"
}

# is_mounted DIR: TRASH/DIR is in the mount table (root may not be able to
# stat a mount of another user's filed).
is_mounted() {
	test -n "$(filed__mounts_under "$TRASH" | grep -xF "$TRASH/$1")"
}

# The processes of the test users that carry this script's tag (jobs of
# theirs, a filed of alice's).
user_pids() {
	for up__p in $(filed__tagged_pids)
	do
		up__u=$(stat -c %U "/proc/$up__p" 2>/dev/null) || continue
		case "$up__u" in
		alice|bob|carol) echo "$up__p" ;;
		esac
	done
}

test_expect_success 'setup: users alice, bob (group jobs) and carol' '
	{ getent group jobs >/dev/null || groupadd jobs; } &&
	for u in alice bob carol
	do
		{ id "$u" >/dev/null 2>&1 || useradd -m "$u"; } || return 1
	done &&
	usermod -a -G jobs alice &&
	usermod -a -G jobs bob &&
	id -Gn alice | grep -w jobs &&
	id -Gn bob | grep -w jobs &&
	! id -Gn carol | grep -w jobs &&
	chmod 0755 "$TRASH" &&
	as_user carol test -x "$TRASH"
'

# A filed of alice can mount only if she may open /dev/fuse (libfuse falls
# back to the set-user-ID fusermount3 only when the mount(2) itself fails).
test_expect_success 'setup: can a user mount FUSE?' '
	if test -u "$(command -v fusermount3)" &&
		as_user alice test -r /dev/fuse -a -w /dev/fuse
	then
		test_set_prereq USER_FUSE
	else
		echo "alice cannot mount FUSE (/dev/fuse: $(stat -c %a /dev/fuse))"
	fi
'

test_expect_success 'setup: the job scripts' '
	cat >ids <<-\EOF &&
	id -u
	id -g
	id -G | tr " " "\n" | sort -nu | tr "\n" " "; echo
	echo "$HOME"
	echo "$USER"
	echo "$LOGNAME"
	EOF
	echo "id -u" >uid &&
	echo "echo secret of alice" >secret &&
	echo "echo from bob" >frombob &&
	chmod 0644 ids uid secret frombob
'

test_expect_success 'start filed as root' '
	filed_ini max_jobs=1 max_retries=0 backoff_base=0 &&
	chmod 0700 state &&
	filed_start
'

test_expect_success 'the state directory is for filed alone' '
	test "$(stat -c %a state)" = 700 &&
	test -z "$(find state -type f ! -perm 0600 ! -name filed.ini)" &&
	test -z "$(find state -type d -perm /077)" &&
	test "$(errno_as carol read "$TRASH/state/journal")" = EACCES &&
	test "$(errno_as alice read "$TRASH/state/filed.ini")" = EACCES
'

test_expect_success 'the new settings show in config.json with their defaults' '
	test "$(jq -r .run_as mnt/config.json)" = filed &&
	test "$(jq .allow_root mnt/config.json)" = 0 &&
	test "$(jq .max_jobs_total mnt/config.json)" = 100000
'

test_expect_success 'a stranger can neither list nor create in pending/' '
	test "$(errno_as carol open "$TRASH/mnt/pending" "O_RDONLY|O_DIRECTORY")" = EACCES &&
	test_must_fail as_user carol ls "$TRASH/mnt/pending" &&
	test "$(errno_as carol open "$TRASH/mnt/pending/c" "O_WRONLY|O_CREAT")" = EACCES &&
	test_must_fail submit_as carol uid c &&
	path_is_missing mnt/pending/c
'

test_expect_success 'a stranger cannot read config.json or new-id' '
	test "$(errno_as carol read "$TRASH/mnt/config.json")" = EACCES &&
	test "$(errno_as carol read "$TRASH/mnt/new-id")" = EACCES &&
	test "$(errno_as carol write "$TRASH/mnt/config.json" "{}" O_WRONLY)" = EACCES
'

test_expect_success 'a member of jobs cannot either before the chgrp' '
	test "$(errno_as alice open "$TRASH/mnt/pending/a" "O_WRONLY|O_CREAT")" = EACCES &&
	test "$(errno_as alice open "$TRASH/mnt/complete" "O_RDONLY|O_DIRECTORY")" = EACCES &&
	test "$(errno_as bob read "$TRASH/mnt/new-id")" = EACCES &&
	path_is_missing mnt/pending/a
'

test_expect_success 'open the queue to group jobs' '
	chgrp jobs mnt/pending mnt/active mnt/failed mnt/complete mnt/new-id &&
	chmod 1770 mnt/pending &&
	chmod g+rx mnt/active mnt/failed mnt/complete &&
	cat >expect <<-\EOF &&
	1770 root:jobs mnt/pending
	750 root:jobs mnt/active
	750 root:jobs mnt/failed
	750 root:jobs mnt/complete
	440 root:jobs mnt/new-id
	640 root:root mnt/config.json
	EOF
	stat -c "%a %U:%G %n" mnt/pending mnt/active mnt/failed mnt/complete \
		mnt/new-id mnt/config.json >actual &&
	test_cmp expect actual
'

test_expect_success 'alice and bob can enqueue; the jobs are theirs' '
	submit_as alice secret a-secret &&
	submit_as bob frombob b-job &&
	wait_job_in complete a-secret &&
	wait_job_in complete b-job &&
	test "$(stat -c "%U:%G %a" mnt/complete/a-secret)" = alice:jobs\ 440 &&
	test "$(stat -c "%U:%G %a" mnt/complete/b-job)" = bob:jobs\ 440 &&
	test "$(xattr mnt/complete/a-secret uid)" = "$(id -u alice)"
'

test_expect_success 'members can read new-id and list the directories' '
	as_user alice cat "$TRASH/mnt/new-id" | grep "^[0-9][0-9]*$" &&
	as_user bob ls "$TRASH/mnt/complete" >actual &&
	grep -x a-secret actual &&
	as_user alice ls "$TRASH/mnt/pending" "$TRASH/mnt/active" "$TRASH/mnt/failed"
'

test_expect_success 'bob can read the output of alice'"'"'s job; carol cannot' '
	echo "secret of alice" >expect &&
	as_user bob cat "$TRASH/mnt/complete/a-secret" >actual &&
	test_cmp expect actual &&
	test "$(errno_as carol read "$TRASH/mnt/complete/a-secret")" = EACCES
'

test_expect_success 'a blocker holds the only slot; alice queues a job behind it' '
	gate block >mnt/pending/blocker &&
	wait_job_in active blocker &&
	submit_as alice uid a-waits &&
	as_user alice sh -c "echo draft >\"\$1\"" - "$TRASH/mnt/pending/.a-draft" &&
	test "$(xattr mnt/pending/a-waits state)" = pending &&
	test "$(stat -c "%U %a" mnt/pending/.a-draft)" = "alice 640"
'

test_expect_success 'bob cannot rm alice'"'"'s pending job or draft (sticky: EPERM)' '
	test "$(errno_as bob unlink "$TRASH/mnt/pending/a-waits")" = EPERM &&
	test "$(errno_as bob unlink "$TRASH/mnt/pending/.a-draft")" = EPERM &&
	test_must_fail as_user bob rm -f "$TRASH/mnt/pending/a-waits" &&
	test -f mnt/pending/a-waits &&
	test -f mnt/pending/.a-draft
'

test_expect_success 'bob cannot mv alice'"'"'s pending job or queue her draft (EPERM)' '
	test "$(errno_as bob rename "$TRASH/mnt/pending/a-waits" "$TRASH/mnt/pending/b-stolen")" = EPERM &&
	test "$(errno_as bob rename "$TRASH/mnt/pending/.a-draft" "$TRASH/mnt/pending/b-draft")" = EPERM &&
	path_is_missing mnt/pending/b-stolen &&
	path_is_missing mnt/pending/b-draft &&
	test "$(xattr mnt/pending/a-waits state)" = pending
'

test_expect_success 'bob cannot write alice'"'"'s draft' '
	test "$(errno_as bob write "$TRASH/mnt/pending/.a-draft" x O_WRONLY)" = EACCES &&
	echo draft >expect &&
	test_cmp expect mnt/pending/.a-draft
'

test_expect_success 'bob cannot rm alice'"'"'s finished job (complete/ is 0750)' '
	test "$(errno_as bob unlink "$TRASH/mnt/complete/a-secret")" = EACCES &&
	test -f mnt/complete/a-secret
'

test_expect_success 'alice can rm her own pending job and draft' '
	as_user alice rm "$TRASH/mnt/pending/a-waits" "$TRASH/mnt/pending/.a-draft" &&
	path_is_missing mnt/pending/a-waits &&
	path_is_missing mnt/pending/.a-draft
'

test_expect_success 'a member cannot read or write config.json (still root:root 0640)' '
	test "$(errno_as alice read "$TRASH/mnt/config.json")" = EACCES &&
	test "$(errno_as bob write "$TRASH/mnt/config.json" "{\"max_jobs\": 9}" O_WRONLY)" = EACCES &&
	test "$(jq .max_jobs mnt/config.json)" = 1
'

test_expect_success 'run_as = filed: alice'"'"'s job runs as root, its file is hers' '
	open_gate block &&
	wait_job_in complete blocker &&
	submit_as alice uid a-uid &&
	wait_job_in complete a-uid &&
	echo 0 >expect &&
	test_cmp expect mnt/complete/a-uid &&
	test "$(stat -c %U mnt/complete/a-uid)" = alice
'

test_expect_success 'a draft and a pending job for the restart' '
	as_user bob sh -c "echo draft >\"\$1\"" - "$TRASH/mnt/pending/.b-draft" &&
	test "$(stat -c %U mnt/pending/.b-draft)" = bob
'

test_expect_success 'modes, owners and job owners survive a restart' '
	stat -c "%a %U:%G %n" mnt mnt/pending mnt/active mnt/failed mnt/complete \
		mnt/new-id mnt/config.json mnt/complete/a-secret \
		mnt/complete/b-job mnt/complete/a-uid mnt/pending/.b-draft >expect &&
	filed_stop &&
	filed_start &&
	stat -c "%a %U:%G %n" mnt mnt/pending mnt/active mnt/failed mnt/complete \
		mnt/new-id mnt/config.json mnt/complete/a-secret \
		mnt/complete/b-job mnt/complete/a-uid mnt/pending/.b-draft >actual &&
	test_cmp expect actual
'

test_expect_success 'after the restart the kernel still enforces them' '
	test "$(errno_as carol open "$TRASH/mnt/pending/c" "O_WRONLY|O_CREAT")" = EACCES &&
	test "$(errno_as alice unlink "$TRASH/mnt/pending/.b-draft")" = EPERM &&
	as_user bob cat "$TRASH/mnt/complete/a-secret" &&
	as_user bob rm "$TRASH/mnt/pending/.b-draft"
'

# config.json and the INI file validate the new keys.

test_expect_success 'config.json: run_as must be "filed" or "submitter"' '
	cat mnt/config.json >before &&
	test "$(errno_of write mnt/config.json "{\"run_as\": \"nobody\"}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"run_as\": \"root\"}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"run_as\": 1}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"run_as\": \"\"}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"run_as\": null}")" = EINVAL &&
	test_cmp before mnt/config.json
'

test_expect_success 'config.json: allow_root must be the integer 0 or 1' '
	cat mnt/config.json >before &&
	test "$(errno_of write mnt/config.json "{\"allow_root\": 2}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"allow_root\": -1}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"allow_root\": true}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"allow_root\": \"1\"}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"allow_root\": 1.0}")" = EINVAL &&
	test_cmp before mnt/config.json
'

test_expect_success 'config.json: max_jobs_total must be an integer 1..10000000' '
	cat mnt/config.json >before &&
	test "$(errno_of write mnt/config.json "{\"max_jobs_total\": 0}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"max_jobs_total\": 10000001}")" = EINVAL &&
	test "$(errno_of write mnt/config.json "{\"max_jobs_total\": 2.5}")" = EINVAL &&
	test_cmp before mnt/config.json
'

test_expect_success 'a bad key with a good one changes nothing' '
	cat mnt/config.json >before &&
	test "$(errno_of write mnt/config.json "{\"allow_root\": 1, \"run_as\": \"nobody\"}")" = EINVAL &&
	test_cmp before mnt/config.json
'

test_expect_success 'the INI file: a bad run_as or allow_root stops the start' '
	mkdir -p bad-state bad-mnt &&
	printf "[queue]\nrun_as = nobody\n" >bad.ini &&
	filed_run 1 -s "$TRASH/bad-state" -c "$TRASH/bad.ini" "$TRASH/bad-mnt" &&
	grep "bad.ini:2" err &&
	printf "[queue]\nmax_jobs = 1\nallow_root = 2\n" >bad.ini &&
	filed_run 1 -s "$TRASH/bad-state" -c "$TRASH/bad.ini" "$TRASH/bad-mnt" &&
	grep "bad.ini:3" err &&
	printf "[queue]\nmax_jobs_total = 0\n" >bad.ini &&
	filed_run 1 -s "$TRASH/bad-state" -c "$TRASH/bad.ini" "$TRASH/bad-mnt" &&
	grep "bad.ini:2" err &&
	! is_mounted bad-mnt
'

# run_as = submitter

test_expect_success 'switch to run_as = submitter' '
	echo "{\"run_as\": \"submitter\"}" >mnt/config.json &&
	test "$(jq -r .run_as mnt/config.json)" = submitter &&
	grep "^run_as *= *submitter" state/filed.ini
'

test_expect_success 'a job of alice runs with her uid, gid, groups and HOME' '
	submit_as alice ids a-ids &&
	wait_job_in complete a-ids &&
	ids_of alice "$(id -g alice)" >expect &&
	test_cmp expect mnt/complete/a-ids &&
	grep -w "$(getent group jobs | cut -d: -f3)" mnt/complete/a-ids
'

test_expect_success 'a job of bob runs as bob' '
	submit_as bob ids b-ids &&
	wait_job_in complete b-ids &&
	ids_of bob "$(id -g bob)" >expect &&
	test_cmp expect mnt/complete/b-ids
'

test_expect_success 'the gid is that of the creating process' '
	setpriv --reuid=alice --regid=jobs --init-groups --reset-env \
		sh -c "cat \"\$1\" >\"\$2\"" - "$TRASH/ids" "$TRASH/mnt/pending/a-gid" &&
	wait_job_in complete a-gid &&
	sed -n 1,2p mnt/complete/a-gid >actual &&
	printf "%s\n%s\n" "$(id -u alice)" "$(getent group jobs | cut -d: -f3)" >expect &&
	test_cmp expect actual
'

test_expect_success 'the groups come from the group database, not the creator' '
	test_when_finished "chmod 1770 mnt/pending" &&
	chmod 1777 mnt/pending &&
	setpriv --reuid=alice --regid=alice --clear-groups --reset-env \
		sh -c "cat \"\$1\" >\"\$2\"" - "$TRASH/ids" "$TRASH/mnt/pending/a-nogroups" &&
	wait_job_in complete a-nogroups &&
	ids_of alice "$(id -g alice)" >expect &&
	test_cmp expect mnt/complete/a-nogroups
'

test_expect_success 'a job of alice cannot read the state directory' '
	echo "cat \"$TRASH/state/journal\" >/dev/null" >peek &&
	chmod 0644 peek &&
	submit_as alice peek a-peek &&
	wait_job_in failed a-peek &&
	test "$(xattr mnt/failed/a-peek exit)" = 1
'

test_expect_success 'a job root creates fails with 126 while allow_root is 0' '
	echo "{\"max_retries\": 1, \"backoff_base\": 0}" >mnt/config.json &&
	echo "echo ran; id -u" >mnt/pending/r-job &&
	wait_job_in failed r-job &&
	test "$(xattr mnt/failed/r-job exit)" = 126 &&
	test "$(xattr mnt/failed/r-job attempts)" = 2 &&
	test "$(grep -cxF "filed: job '"'"'r-job'"'"' was created by root and allow_root is 0" \
		mnt/failed/r-job)" = 2 &&
	test "$(grep -c "^=== filed: attempt [12]: exited with status 126 ===$" \
		mnt/failed/r-job)" = 2 &&
	! grep -x ran mnt/failed/r-job
'

test_expect_success 'with allow_root = 1 a job of root runs as uid 0' '
	echo "{\"allow_root\": 1, \"max_retries\": 0}" >mnt/config.json &&
	echo "id -u; id -g" >mnt/pending/r-ok &&
	wait_job_in complete r-ok &&
	printf "0\n0\n" >expect &&
	test_cmp expect mnt/complete/r-ok
'

test_expect_success 'a rerun of the refused job runs now' '
	mv mnt/failed/r-job mnt/pending/ &&
	wait_job_in complete r-job &&
	printf "ran\n0\n" >expect &&
	test_cmp expect mnt/complete/r-job
'

test_expect_success 'back to run_as = filed: alice'"'"'s job runs as root again' '
	echo "{\"run_as\": \"filed\", \"allow_root\": 0}" >mnt/config.json &&
	submit_as alice uid a-uid2 &&
	wait_job_in complete a-uid2 &&
	echo 0 >expect &&
	test_cmp expect mnt/complete/a-uid2 &&
	echo "id -u" >mnt/pending/r-filed &&
	wait_job_in complete r-filed &&
	test_cmp expect mnt/complete/r-filed
'

# max_jobs_total

test_expect_success 'max_jobs_total = 3 with three jobs (a draft counts)' '
	rm -f mnt/complete/* mnt/failed/* &&
	test -z "$(find mnt/pending mnt/active mnt/failed mnt/complete -mindepth 1)" &&
	echo "{\"max_jobs_total\": 3}" >mnt/config.json &&
	echo true >mnt/pending/t1 &&
	echo true >mnt/pending/t2 &&
	echo true >mnt/pending/.t3 &&
	wait_job_in complete t1 &&
	wait_job_in complete t2
'

test_expect_success 'the fourth create fails with ENOSPC and is logged' '
	test "$(errno_of write mnt/pending/t4 true)" = ENOSPC &&
	test "$(errno_of write mnt/pending/.t4 true)" = ENOSPC &&
	test "$(errno_as alice write "$TRASH/mnt/pending/t4" true)" = ENOSPC &&
	path_is_missing mnt/pending/t4 &&
	path_is_missing mnt/pending/.t4 &&
	filed_log | grep max_jobs_total
'

test_expect_success 'moves still work at the limit' '
	mv mnt/complete/t1 mnt/pending/ &&
	wait_job_in complete t1 &&
	mv mnt/pending/.t3 mnt/pending/t3 &&
	wait_job_in complete t3
'

test_expect_success 'removing a job makes room' '
	rm mnt/complete/t2 &&
	echo true >mnt/pending/t4 &&
	wait_job_in complete t4 &&
	test "$(errno_of write mnt/pending/t5 true)" = ENOSPC
'

test_expect_success 'filed stops cleanly' '
	filed_stop
'

# A create from a caller FUSE cannot name: filed runs in a pid namespace of
# its own, so callers outside it reach filed with pid 0.

test_expect_success PIDNS 'start a second filed in a pid namespace of its own' '
	mkdir -p ns-state ns-mnt &&
	chmod 0700 ns-state &&
	{
		FILED_TEST_TAG="$filed_tag" unshare --pid --fork --kill-child \
			"$FILED_BIN" -s "$TRASH/ns-state" "$TRASH/ns-mnt" \
			</dev/null >ns.log 2>&1 3>&- 4>&- 5>&- 6>&- &
		ns_unshare=$!
	} &&
	wait_for 10 "mountpoint -q ns-mnt && stat ns-mnt/. >/dev/null 2>&1" &&
	ns_filed=$(pgrep -P "$ns_unshare") &&
	pid_alive "$ns_filed"
'

test_expect_success PIDNS 'a create from outside its pid namespace: EPERM' '
	test "$(errno_of open ns-mnt/pending/outside "O_WRONLY|O_CREAT")" = EPERM &&
	test "$(errno_of write ns-mnt/pending/.outside x)" = EPERM &&
	path_is_missing ns-mnt/pending/outside &&
	path_is_missing ns-mnt/pending/.outside
'

test_expect_success PIDNS 'a create from inside it works' '
	nsenter --target "$ns_filed" --pid \
		sh -c "echo echo inside >\"\$1\"" - "$TRASH/ns-mnt/pending/inside" &&
	wait_for 10 "test -e ns-mnt/complete/inside" &&
	echo inside >expect &&
	test_cmp expect ns-mnt/complete/inside
'

test_expect_success PIDNS 'the second filed stops cleanly' '
	kill -TERM "$ns_filed" &&
	wait_for 20 "! pid_alive \"$ns_unshare\"" &&
	wait "$ns_unshare" &&
	! is_mounted ns-mnt
'

# A filed that does not run as root.

test_expect_success 'setup: a state dir and a mount point of alice' '
	mkdir -p alice-state alice-mnt &&
	chown alice:alice alice-state alice-mnt &&
	chmod 0700 alice-state &&
	touch alice.log
'

test_expect_success 'a filed of alice refuses run_as = submitter at start' '
	printf "[queue]\nrun_as = submitter\n" >alice-state/filed.ini &&
	chown alice:alice alice-state/filed.ini &&
	test_expect_code 1 timeout -k 1 10 \
		setpriv --reuid=alice --regid=alice --init-groups --reset-env \
		env FILED_TEST_TAG="$filed_tag" \
		"$FILED_BIN" -s "$TRASH/alice-state" "$TRASH/alice-mnt" \
		</dev/null >out 2>err &&
	cat err &&
	grep "filed.ini:2:.*run_as" err &&
	grep "root" err &&
	! is_mounted alice-mnt
'

test_expect_success USER_FUSE 'a filed of alice starts with run_as = filed' '
	printf "[queue]\nrun_as = filed\nmax_retries = 0\n" >alice-state/filed.ini &&
	{
		setpriv --reuid=alice --regid=alice --init-groups --reset-env \
			env FILED_TEST_TAG="$filed_tag" \
			"$FILED_BIN" -s "$TRASH/alice-state" "$TRASH/alice-mnt" \
			</dev/null >>alice.log 2>&1 3>&- 4>&- 5>&- 6>&- &
		alice_filed=$!
	} &&
	wait_for 10 "as_user alice test -f \"$TRASH/alice-mnt/config.json\" ||
		! pid_alive $alice_filed" &&
	if ! pid_alive "$alice_filed"
	then
		cat alice.log >&2
		false
	fi &&
	as_user alice cat "$TRASH/alice-mnt/config.json" | jq -r .run_as >actual &&
	echo filed >expect &&
	test_cmp expect actual
'

test_expect_success USER_FUSE 'config.json of alice'"'"'s filed: run_as = submitter is EINVAL' '
	as_user alice cat "$TRASH/alice-mnt/config.json" >before &&
	test "$(errno_as alice write "$TRASH/alice-mnt/config.json" "{\"run_as\": \"submitter\"}")" = EINVAL &&
	as_user alice cat "$TRASH/alice-mnt/config.json" >after &&
	test_cmp before after
'

test_expect_success USER_FUSE 'SIGHUP with run_as = submitter: logged, settings kept' '
	printf "[queue]\nrun_as = submitter\nmax_retries = 5\n" >alice-state/filed.ini &&
	kill -HUP "$alice_filed" &&
	wait_for 10 "grep \"filed.ini:2:.*run_as\" alice.log" &&
	pid_alive "$alice_filed" &&
	as_user alice cat "$TRASH/alice-mnt/config.json" >after &&
	test_cmp before after
'

test_expect_success USER_FUSE 'the jobs of alice'"'"'s filed run as alice' '
	as_user alice sh -c "echo id -u >\"\$1\"" - "$TRASH/alice-mnt/pending/j" &&
	wait_for 10 "as_user alice test -e \"$TRASH/alice-mnt/complete/j\"" &&
	as_user alice cat "$TRASH/alice-mnt/complete/j" >actual &&
	id -u alice >expect &&
	test_cmp expect actual
'

test_expect_success USER_FUSE 'the filed of alice stops cleanly' '
	kill -TERM "$alice_filed" &&
	wait_for 20 "! pid_alive \"$alice_filed\"" &&
	wait "$alice_filed" &&
	! is_mounted alice-mnt
'

test_expect_success 'no process of alice, bob or carol is left' '
	test -z "$(user_pids)"
'

test_done
