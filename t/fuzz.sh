#!/bin/sh
#
# fuzz.sh: build the libFuzzer targets (t/fuzz-*.c) with clang and run each
# for a bounded time on a copy of its seed corpus (t/fuzz-corpus/NAME),
# printing TAP for `make check`.
#
# - Skipped, as a whole, when clang cannot link -fsanitize=fuzzer.
# - Each target is built with AddressSanitizer (and LeakSanitizer) and
#   UndefinedBehaviorSanitizer, which stops at the first report, from every
#   file in src/ but main.c, like libfiled.a.
# - A target runs FUZZ_SECONDS seconds (default 20). The seeds run first,
#   so an input once found to crash and kept as a seed fails the test until
#   the bug is fixed. A failure prints libFuzzer's last lines and the
#   crashing input in hex as TAP comments; with FUZZ_KEEP=DIR, the
#   crashing inputs are copied to DIR.
#
# Environment: SHARNESS_TEST_SRCDIR (the source t/ directory), FUZZ_SECONDS,
# CLANG (default clang), FUZZ_KEEP, FUZZ_SEED (default 1; 0 = random).

srcdir=${SHARNESS_TEST_SRCDIR:-$(cd "$(dirname "$0")" && pwd)}
top=$(cd "$srcdir/.." && pwd) || exit 1
seconds=${FUZZ_SECONDS:-20}
# A fixed seed by default, so that make check explores the same way each
# time; FUZZ_SEED=0 lets libFuzzer pick one (for longer hunts by hand).
seed=${FUZZ_SEED:-1}
cc=${CLANG:-clang}
targets="journal conf name"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/filed-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' 0
trap 'exit 1' HUP INT TERM

# comment FILE: FILE's last lines as TAP comments.
comment() {
	tail -n "${2:-30}" "$1" | sed 's/^/# /'
}

printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)'\
' { return 0; }\n' >"$tmp/probe.c"
if ! command -v "$cc" >/dev/null 2>&1 ||
   ! "$cc" -fsanitize=fuzzer,address,undefined -o "$tmp/probe" \
	"$tmp/probe.c" >/dev/null 2>&1
then
	echo "1..0 # SKIP clang with libFuzzer not available"
	exit 0
fi
pkgs="fuse3 libuv inih jansson"
if ! pkg-config --exists $pkgs
then
	echo "1..0 # SKIP pkg-config cannot find $pkgs"
	exit 0
fi
incs=$(pkg-config --cflags $pkgs)
libs=$(pkg-config --libs $pkgs)

srcs=
for f in "$top"/src/*.c
do
	case $f in
	*/main.c) ;;
	*) srcs="$srcs $f" ;;
	esac
done

echo "1..6"

# The objects of src/ are built once, for all three targets.
cflags="-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
    -D_GNU_SOURCE -DFUSE_USE_VERSION=34"
objs=
for f in $srcs
do
	o=$tmp/obj-$(basename "$f" .c).o
	objs="$objs $o"
	# $cflags, $incs and $libs are word lists: left unquoted on purpose.
	"$cc" $cflags "-I$top/src" $incs -fsanitize=fuzzer-no-link -c \
	    -o "$o" "$f" >"$o.log" 2>&1 &
done
wait
for o in $objs
do
	cat "$o.log" >>"$tmp/cc.log"
	[ -f "$o" ] || objs=
done

n=0
failed=0
for t in $targets
do
	n=$((n + 1))
	bin=$tmp/fuzz-$t
	if [ -n "$objs" ] &&
	    "$cc" $cflags "-I$top/src" $incs -fsanitize=fuzzer -o "$bin" \
	    "$srcdir/fuzz-$t.c" $objs $libs -lm -lpthread >>"$tmp/cc.log" 2>&1
	then
		echo "ok $n - fuzz-$t compiles"
	else
		echo "not ok $n - fuzz-$t compiles"
		comment "$tmp/cc.log"
		failed=$((failed + 1))
		n=$((n + 1))
		echo "not ok $n - fuzz-$t not run: it did not compile"
		failed=$((failed + 1))
		continue
	fi

	n=$((n + 1))
	mkdir "$tmp/corpus-$t" "$tmp/art-$t" "$tmp/run-$t" || exit 1
	if [ -d "$srcdir/fuzz-corpus/$t" ]
	then
		cp "$srcdir/fuzz-corpus/$t"/* "$tmp/corpus-$t/" || exit 1
	fi
	if FUZZ_TMPDIR=$tmp/run-$t "$bin" -max_total_time="$seconds" \
	    -max_len=4096 -timeout=10 -print_final_stats=1 -seed="$seed" \
	    -artifact_prefix="$tmp/art-$t/" "$tmp/corpus-$t" \
	    >"$tmp/run-$t.log" 2>&1
	then
		echo "ok $n - fuzz-$t ran $seconds s without a crash"
		grep '^stat::number_of_executed_units' "$tmp/run-$t.log" |
		    sed 's/^stat::/# /'
	else
		echo "not ok $n - fuzz-$t ran $seconds s without a crash"
		comment "$tmp/run-$t.log" 40
		for a in "$tmp/art-$t"/*
		do
			[ -f "$a" ] || continue
			echo "# input ${a##*/}:"
			od -An -c "$a" | head -n 32 | sed 's/^/# /'
			if [ -n "$FUZZ_KEEP" ]
			then
				mkdir -p "$FUZZ_KEEP" &&
				cp "$a" "$FUZZ_KEEP/$t-${a##*/}" &&
				echo "# kept as $FUZZ_KEEP/$t-${a##*/}"
			fi
		done
		failed=$((failed + 1))
	fi
done

[ "$failed" -eq 0 ]
