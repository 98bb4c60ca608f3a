#!/bin/sh
# deps-debian.sh: install what filed needs to build, run and test on
# Debian 12 (bookworm). Run as root from anywhere; running it again is
# harmless (apt-get install skips what is already there).
set -e

if [ "$(id -u)" -ne 0 ]; then
	echo "deps-debian.sh: must be run as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config \
	libfuse3-dev fuse3 libuv1-dev libinih-dev libjansson-dev \
	scdoc sharness clang libclang-rt-14-dev \
	jq attr python3 procps util-linux psmisc strace rsync vim-tiny \
	nodejs php-cli runit busybox \
	>/dev/null

echo "deps-debian.sh: build, run and test dependencies installed"
