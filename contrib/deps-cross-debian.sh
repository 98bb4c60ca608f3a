#!/bin/sh
# deps-cross-debian.sh: what contrib/cross-check.sh needs on Debian 12: the
# arm64 and armhf architectures (multiarch), their cross compilers, the
# -dev packages of filed's libraries for each, and qemu-user to run what
# was built. Run as root, after contrib/deps-debian.sh; running it again is
# harmless.
set -e

if [ "$(id -u)" -ne 0 ]; then
	echo "deps-cross-debian.sh: must be run as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

dpkg --add-architecture arm64
dpkg --add-architecture armhf
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user-static \
	libc6-dev:arm64 libfuse3-dev:arm64 libuv1-dev:arm64 \
	libinih-dev:arm64 libjansson-dev:arm64 \
	libc6-dev:armhf libfuse3-dev:armhf libuv1-dev:armhf \
	libinih-dev:armhf libjansson-dev:armhf \
	>/dev/null

echo "deps-cross-debian.sh: arm64 and armhf cross toolchains installed"
