#!/usr/bin/env bash
# The test command: sets everything up, then runs every test.
#   1. the normal build: unit tests, the env-seam lint, integration tests
#      against natsd, and the same integration tests against the reference
#      nats-server (a test that fails there is a wrong test);
#   2. the same unit and integration tests under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh --asan

echo "== tests (build/)"
meson test -C build --print-errorlogs --num-processes 2
echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite reference --no-suite bench
echo "== all tests passed"
