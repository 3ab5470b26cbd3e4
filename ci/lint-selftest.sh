#!/usr/bin/env bash
# Proves the env-seam lint still catches what it must: builds a tiny archive
# with an OS call, a mutable global, a function-local static and a constant
# pointer table, and checks that the lint flags exactly the first three.
set -euo pipefail
lint=$(cd "$(dirname "$0")" && pwd)/lint.sh
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
mkdir -p server
cat > core_bad.c <<'C'
#include <time.h>
int counter;
static const char *const names[] = { "a", "b" };
long f(int i) { static int calls; calls++; return time(0) + counter + calls + names[i][0]; }
C
cc -fPIC -c core_bad.c -o core_bad.c.o
ar rcs libbad.a core_bad.c.o
if out=$("$lint" libbad.a "$dir" 2>&1); then
	echo "lint-selftest: the lint passed a library that breaks the rules"
	exit 1
fi
fail=0
for want in 'calls the OS directly: time' 'mutable global state: counter' \
	    'mutable global state: calls'; do
	grep -q "$want" <<<"$out" || { echo "lint-selftest: missing: $want"; fail=1; }
done
if grep -q 'names' <<<"$out"; then
	echo "lint-selftest: a constant pointer table was flagged"; fail=1
fi
[ "$fail" -eq 0 ] && echo "lint-selftest: ok"
exit "$fail"
