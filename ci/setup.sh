#!/usr/bin/env bash
# Installs what the build and the tests need (Debian packages, only those
# missing) and builds natsd with meson into build/.
#   ci/setup.sh            build/ (debugoptimized)
#   ci/setup.sh --asan     also build-asan/ (AddressSanitizer + UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gcc meson ninja-build pkg-config check libsubunit-dev libcrypt-dev
          libnats-dev nats-server libsodium-dev libyaml-dev libsqlite3-dev
          graphviz clang libclang-rt-14-dev afl++)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
# The nats.js tests need node and npm; any recent install will do.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	sudo=''
	[ "$(id -u)" -eq 0 ] || sudo='sudo'
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build() {
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	meson compile -C "$dir" >/dev/null || meson compile -C "$dir"
}

build build
if [ "${1:-}" = "--asan" ]; then
	build build-asan -Dsanitize=true
fi
echo "setup: built build/server/natsd"
