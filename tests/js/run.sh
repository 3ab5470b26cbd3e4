#!/bin/sh
# run.sh SERVER_BINARY - run the nats.js test suite against one server binary.
#
# Installs the npm dependencies from package-lock.json (npm ci) when
# node_modules is missing or incomplete, then runs `node --test` with
# NATS_TEST_SERVER set.  A failed install is a test failure with a clear
# message, never a silent skip.  The install is serialised with flock so the
# 'integration' and 'reference' runs can start at the same time.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 SERVER_BINARY" >&2
	exit 2
fi
server=$1
case $server in
/*) ;;
*) server=$PWD/$server ;;
esac
if [ ! -x "$server" ]; then
	echo "FAIL: server binary $server is not executable" >&2
	exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "FAIL: $tool not found in PATH" >&2
		exit 1
	fi
done

# Everything the tests import; a partial install (interrupted npm) is redone.
deps_present() {
	[ -f node_modules/.package-lock.json ] &&
	[ -f node_modules/nats/package.json ] &&
	[ -f node_modules/@nats-io/transport-node/package.json ] &&
	[ -f node_modules/@nats-io/jetstream/package.json ] &&
	[ -f node_modules/@nats-io/kv/package.json ] &&
	[ -f node_modules/@nats-io/obj/package.json ]
}

if ! deps_present; then
	lock="${TMPDIR:-/tmp}/natsd-js-npm-$(printf '%s' "$here" | cksum | cut -d' ' -f1).lock"
	exec 9>"$lock"
	if command -v flock >/dev/null 2>&1 && ! flock -w 600 9; then
		echo "FAIL: timed out waiting for another npm install in $here" >&2
		exit 1
	fi
	if ! deps_present; then
		echo "tests/js: installing npm dependencies (npm ci)" >&2
		if ! npm ci --no-audit --no-fund --prefer-offline --fetch-retries=1 >&2; then
			echo "FAIL: npm ci in $here failed; the npm registry may be unreachable." >&2
			echo "      The nats.js tests need the packages in package-lock.json." >&2
			exit 1
		fi
		if ! deps_present; then
			echo "FAIL: npm ci finished but node_modules is incomplete in $here" >&2
			exit 1
		fi
	fi
	exec 9>&-
fi

NATS_TEST_SERVER=$server
export NATS_TEST_SERVER
exec node --test test/*.test.mjs
