#!/bin/sh

test_description='every other create, write, rename or link is refused

Each refusal of the spec, with its exact errno; renames between directories
are EPERM and never EXDEV, so mv never falls back to copying.'

. "${SHARNESS_TEST_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}/lib-filed.sh"

test_expect_success 'start filed with a complete, a failed and an active job' '
	filed_ini max_jobs=2 max_retries=0 backoff_base=0 &&
	filed_start &&
	echo "echo ok" >mnt/pending/done &&
	echo "echo bad; exit 1" >mnt/pending/bad &&
	echo "exec sleep 1000" >mnt/pending/run &&
	echo true >mnt/pending/.draft &&
	echo true >mnt/pending/.draft2 &&
	wait_job_in complete done &&
	wait_job_in failed bad &&
	wait_job_in active run
'

for d in active failed complete
do
	test_expect_success "creating a file in $d/: EPERM" "
		test \"\$(errno_of open mnt/$d/new 'O_WRONLY|O_CREAT')\" = EPERM &&
		path_is_missing mnt/$d/new
	"
done

test_expect_success 'creating a file in the root: EPERM' '
	test "$(errno_of open mnt/new "O_WRONLY|O_CREAT")" = EPERM &&
	path_is_missing mnt/new
'

test_expect_success 'mknod in the root and in complete/: EPERM' '
	test "$(errno_of mknod mnt/node reg)" = EPERM &&
	test "$(errno_of mknod mnt/complete/node fifo)" = EPERM
'

test_expect_success 'mkdir anywhere: EPERM' '
	test "$(errno_of mkdir mnt/dir)" = EPERM &&
	test "$(errno_of mkdir mnt/pending/dir)" = EPERM &&
	test "$(errno_of mkdir mnt/complete/dir)" = EPERM &&
	test_must_fail mkdir mnt/pending/dir2
'

test_expect_success 'rmdir of a directory: EPERM' '
	test "$(errno_of rmdir mnt/active)" = EPERM &&
	test "$(errno_of rmdir mnt/pending)" = EPERM &&
	test -d mnt/pending
'

test_expect_success 'symlink anywhere: EPERM' '
	test "$(errno_of symlink done mnt/link)" = EPERM &&
	test "$(errno_of symlink ../complete/done mnt/pending/link)" = EPERM &&
	path_is_missing mnt/pending/link
'

test_expect_success 'hard link anywhere: EPERM' '
	test "$(errno_of link mnt/complete/done mnt/complete/done2)" = EPERM &&
	test "$(errno_of link mnt/complete/done mnt/pending/done2)" = EPERM &&
	test "$(errno_of link mnt/pending/.draft mnt/pending/.draft3)" = EPERM &&
	path_is_missing mnt/pending/done2
'

test_expect_success 'renaming the directories and files of the root: EPERM' '
	for f in pending active failed complete new-id config.json wait events stats
	do
		test "$(errno_of rename mnt/$f mnt/$f.moved)" = EPERM || return 1
	done &&
	test "$(errno_of rename mnt/new-id mnt/pending/new-id)" = EPERM &&
	listing mnt >actual &&
	printf "active\ncomplete\nconfig.json\nevents\nfailed\nnew-id\npending\nstats\nwait\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'pending/ to active/, failed/ or complete/: EPERM' '
	for d in active failed complete
	do
		test "$(errno_of rename mnt/pending/.draft mnt/$d/x)" = EPERM ||
		return 1
	done &&
	test -f mnt/pending/.draft
'

test_expect_success 'complete/ to failed/ and failed/ to complete/: EPERM' '
	test "$(errno_of rename mnt/complete/done mnt/failed/done)" = EPERM &&
	test "$(errno_of rename mnt/failed/bad mnt/complete/bad)" = EPERM &&
	test "$(errno_of rename mnt/failed/bad mnt/active/bad)" = EPERM &&
	test "$(errno_of rename mnt/complete/done mnt/complete/done2)" = EPERM
'

test_expect_success 'active/ to complete/ or pending/: EPERM' '
	test "$(errno_of rename mnt/active/run mnt/complete/run)" = EPERM &&
	test "$(errno_of rename mnt/active/run mnt/pending/run)" = EPERM &&
	test -f mnt/active/run
'

test_expect_success 'a job moved into the root: EPERM' '
	test "$(errno_of rename mnt/complete/done mnt/done)" = EPERM
'

test_expect_success 'mv complete/NAME failed/ fails without copying (no EXDEV)' '
	test_must_fail mv mnt/complete/done mnt/failed/ 2>err &&
	test -f mnt/complete/done &&
	path_is_missing mnt/failed/done &&
	echo ok >expect &&
	test_cmp expect mnt/complete/done
'

test_expect_success 'RENAME_EXCHANGE: EINVAL' '
	test "$(errno_of rename mnt/pending/.draft mnt/pending/.draft2 EXCHANGE)" = EINVAL &&
	test "$(errno_of rename mnt/complete/done mnt/failed/bad EXCHANGE)" = EINVAL
'

test_expect_success 'an unknown rename flag (RENAME_WHITEOUT): EINVAL' '
	test "$(errno_of rename mnt/pending/.draft mnt/pending/.draft4 WHITEOUT)" = EINVAL &&
	test -f mnt/pending/.draft
'

test_expect_success 'RENAME_NOREPLACE onto an existing name: EEXIST' '
	test "$(errno_of rename mnt/pending/.draft mnt/pending/.draft2 NOREPLACE)" = EEXIST
'

test_expect_success 'a rename onto a job: EEXIST; onto a draft with RENAME_NOREPLACE: EEXIST' '
	test "$(errno_of rename mnt/pending/.draft mnt/pending/done)" = EEXIST &&
	test "$(errno_of rename mnt/pending/.draft mnt/pending/.draft2 NOREPLACE)" = EEXIST &&
	test -f mnt/pending/.draft && test -f mnt/pending/.draft2 &&
	test -f mnt/complete/done && test -f mnt/failed/bad
'

test_expect_success 'RENAME_NOREPLACE onto a free name works' '
	test "$(errno_of rename mnt/pending/.draft2 mnt/pending/.draft5 NOREPLACE)" = OK &&
	test -f mnt/pending/.draft5
'

test_expect_success 'renaming a name onto itself succeeds and changes nothing' '
	test "$(errno_of rename mnt/pending/.draft mnt/pending/.draft)" = OK &&
	test -f mnt/pending/.draft
'

test_expect_success 'unlink of new-id and config.json: EPERM' '
	test "$(errno_of unlink mnt/new-id)" = EPERM &&
	test "$(errno_of unlink mnt/config.json)" = EPERM &&
	test -f mnt/new-id && test -f mnt/config.json
'

test_expect_success 'setxattr and removexattr on a job: EPERM' '
	test "$(errno_of setxattr mnt/complete/done user.filed.state failed)" = EPERM &&
	test "$(errno_of setxattr mnt/complete/done user.note hello)" = ENOTSUP &&
	test "$(errno_of removexattr mnt/complete/done user.filed.state)" = EPERM &&
	test "$(xattr mnt/complete/done state)" = complete
'

test_expect_success 'getxattr of an unknown name: ENODATA' '
	test "$(errno_of getxattr mnt/complete/done user.filed.nosuch)" = ENODATA &&
	test "$(errno_of getxattr mnt/complete/done user.other)" = ENODATA
'

test_expect_success 'chmod and chown of the root: EPERM' '
	test "$(errno_of chmod mnt 0777)" = EPERM &&
	test "$(errno_of chown mnt 1 1)" = EPERM &&
	test "$(stat -c %a mnt)" = 755
'

test_expect_success 'writing to new-id is refused' '
	test "$(errno_of write mnt/new-id 123 O_WRONLY)" != OK
'

# state FILE: everything a user can see of the mount, and how many records
# the journal holds.
state() {
	{
		for d in pending active failed complete
		do
			ls -la --time-style=+%s.%N mnt/$d | sed 1d &&
			for f in $(ls -A mnt/$d)
			do
				echo "== $d/$f" &&
				cat mnt/$d/$f || return 1
			done
		done &&
		stat -c "%n %a %u:%g" mnt mnt/pending mnt/active mnt/failed \
			mnt/complete mnt/new-id mnt/config.json &&
		cat mnt/config.json &&
		wc -l <state/journal
	} >"$1"
}

test_expect_success 'a battery of refused requests leaves the state as it was' '
	wait_for 10 "grep -q . mnt/active/run || true" &&
	state before &&
	for req in \
		"open mnt/active/x \"O_WRONLY|O_CREAT\"" \
		"open mnt/complete/done O_WRONLY" \
		"open mnt/failed/bad \"O_WRONLY|O_TRUNC\"" \
		"open mnt/x \"O_WRONLY|O_CREAT\"" \
		"mkdir mnt/pending/d" \
		"symlink mnt/complete/done mnt/pending/s" \
		"link mnt/complete/done mnt/pending/l" \
		"rename mnt/pending mnt/queue" \
		"rename mnt/complete/done mnt/failed/done" \
		"rename mnt/failed/bad mnt/complete/bad" \
		"rename mnt/active/run mnt/pending/run" \
		"rename mnt/failed/bad mnt/pending/.bad" \
		"rename mnt/pending/.draft mnt/pending/.draft5 EXCHANGE" \
		"rename mnt/pending/.draft mnt/pending/.draft5 NOREPLACE" \
		"unlink mnt/new-id" \
		"unlink mnt/config.json" \
		"setxattr mnt/complete/done user.filed.state failed" \
		"removexattr mnt/complete/done user.filed.state" \
		"chmod mnt 0700" \
		"open mnt/new-id O_WRONLY"
	do
		r=$(eval errno_of $req) &&
		echo "$req: $r" &&
		test "$r" != OK || return 1
	done &&
	printf "{\\"max_jobs\\": -1}" >bad.json &&
	test_must_fail sh -c "cat bad.json >mnt/config.json" &&
	test_must_fail sh -c "printf \"\\001\" >\"mnt/pending/a\$(printf \"\\001\")b\"" &&
	state after &&
	test_cmp before after
'

test_expect_success 'filed stops cleanly' '
	rm mnt/active/run &&
	filed_stop
'

test_done
