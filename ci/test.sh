#!/usr/bin/env bash
# The test command: sets everything up, then runs every test.
#   1. the normal build: unit tests, the env-seam lint, integration tests
#      against natsd, the same integration tests against the reference
#      nats-server (a test that fails there is a wrong test), the nats.js
#      tests, the fuzz regression replay, the simulator's unit tests and
#      scenarios, and a short benchmark run (it fails only when broken);
#   2. the same tests under ASan + UBSan (without the reference and the
#      benchmark);
#   3. the simulation gate: every scenario, determinism, a seed sweep;
#   4. the fuzz smoke: every fuzz target for 30 s (the canary must be found).
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh --asan

echo "== tests (build/)"
meson test -C build --print-errorlogs --num-processes 2
echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 \
	--no-suite reference --no-suite bench
echo "== simulation gate"
ci/sim.sh build/sim/sim
echo "== fuzz smoke"
ci/fuzz-smoke.sh
echo "== all tests passed"
