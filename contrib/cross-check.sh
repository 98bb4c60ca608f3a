#!/bin/sh
# cross-check.sh ARCH [TARBALL]: build filed for ARCH (arm64 or armhf) from
# the release tarball (made with make dist if not given) with warnings as
# errors, then run what qemu-user can run of it: the unit tests, and the
# mount tests named in CROSS_TESTS with the daemon itself under qemu-user.
# Needs contrib/deps-cross-debian.sh, and root (or FUSE access) for the
# mount tests. Works in .cross-ARCH at the top of the tree; ends with one
# line, "cross ARCH: ok" or "cross ARCH: FAILED (why)", and exit status 0
# or 1.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:-}
case $arch in
arm64)	host=aarch64-linux-gnu qemu=qemu-aarch64-static ;;
armhf)	host=arm-linux-gnueabihf qemu=qemu-arm-static ;;
*)	echo "usage: cross-check.sh arm64|armhf [TARBALL]" >&2; exit 1 ;;
esac
tests=${CROSS_TESTS:-t/t0000-basic.sh t/t1000-pending.sh t/t2000-runner.sh t/t6000-wait.sh}
work=$top/.cross-$arch

fail() {
	echo "cross $arch: FAILED ($1)"
	exit 1
}

tarball=${2:-}
if [ -z "$tarball" ]; then
	tarball=$(ls "$top"/filed-*.tar.gz 2>/dev/null | tail -n 1)
	if [ -z "$tarball" ]; then
		(cd "$top" && make dist >/dev/null) || fail "make dist"
		tarball=$(ls "$top"/filed-*.tar.gz | tail -n 1)
	fi
fi

rm -rf "$work" && mkdir -p "$work" || fail "mkdir $work"
cd "$work" || fail "cd $work"
tar -xzf "$tarball" || fail "unpack $tarball"
cd filed-* || fail "no source in $tarball"

# pkg-config must read ARCH's .pc files, not the build machine's.
PKG_CONFIG_LIBDIR=/usr/lib/$host/pkgconfig:/usr/share/pkgconfig
export PKG_CONFIG_LIBDIR
./configure --host="$host" --enable-werror >configure.log 2>&1 ||
	{ tail -n 20 configure.log; fail "configure --host=$host"; }
make -j2 >make.log 2>&1 || { grep -E "error|warning" make.log | head -n 40; fail "make"; }
make -j2 check TESTS= >make-check.log 2>&1 || fail "building the tests"
file filed | sed 's/^/cross: /'

# The unit tests, each under qemu-user, through the usual TAP driver.
units=$(ls t/unit-* | grep -v '\.[a-z]*$')
make check TESTS="$units" LOG_COMPILER="$qemu" >units.log 2>&1 ||
	{ cat t/test-suite.log; fail "unit tests under $qemu"; }
grep -E "^# (TOTAL|PASS|SKIP|FAIL|ERROR)" units.log | sed "s/^/cross $arch units: /"

# The daemon under qemu-user, mounted, driven by the usual tests.
printf '#!/bin/sh\nexec %s %s/filed "$@"\n' "$qemu" "$(pwd)" >qemu-filed
chmod +x qemu-filed
FILED_BIN=$(pwd)/qemu-filed make check TESTS="$tests" >mount.log 2>&1 ||
	{ cat t/test-suite.log; fail "mount tests under $qemu"; }
grep -E "^# (TOTAL|PASS|SKIP|FAIL|ERROR)" mount.log | sed "s/^/cross $arch mount: /"

echo "cross $arch: ok"
