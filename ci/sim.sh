#!/usr/bin/env bash
# The simulation gate: every scenario in scenarios/ (not scenarios/pending/)
#   1. passes with its own seed, and replays identically (same seed twice
#      gives the same trace hash: --check-determinism);
#   2. passes over a seed sweep (SIM_SEEDS seeds, default 20), and the sweep
#      shows different interleavings (more than one distinct hash).
# A failure prints the one command that reproduces it.
#
# usage: ci/sim.sh [PATH/TO/sim]     (default: build/sim/sim, built if absent)
#   SIM_SEEDS=N  seeds per scenario in the sweep
set -euo pipefail
cd "$(dirname "$0")/.."

sim=${1:-build/sim/sim}
seeds=${SIM_SEEDS:-20}
if [ ! -x "$sim" ]; then
	echo "sim: building $sim"
	meson compile -C "$(dirname "$(dirname "$sim")")" >/dev/null
fi

failed=0
start=$(date +%s)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

hash_of() { sed -n 's/^hash  *\([0-9a-f]*\)$/\1/p' "$1" | head -n 1; }

for file in scenarios/*.yaml; do
	# Own seed, twice: pass and same hash.
	if "$sim" run "$file" --check-determinism >"$out" 2>&1; then
		status="ok"
	else
		status="FAIL"
		failed=1
		cat "$out"
	fi
	own=$(hash_of "$out")
	# Seed sweep.
	declare -A hashes=()
	sweep_fail=""
	for seed in $(seq 1 "$seeds"); do
		if ! "$sim" run "$file" --seed "$seed" >"$out" 2>&1; then
			sweep_fail="$sweep_fail $seed"
			failed=1
			echo "FAIL: $sim run $file --seed $seed"
			grep -E '^(  ✗|failure|replay)' "$out" || tail -n 5 "$out"
		fi
		h=$(hash_of "$out")
		[ -n "$h" ] && hashes[$h]=1
	done
	distinct=${#hashes[@]}
	unset hashes
	if [ "$seeds" -gt 1 ] && [ "$distinct" -lt 2 ]; then
		echo "FAIL: $file: $seeds seeds gave one interleaving"
		failed=1
	fi
	printf '%-40s %-4s hash %s, sweep %d seeds, %d distinct%s\n' "$file" \
		"$status" "$own" "$seeds" "$distinct" \
		"${sweep_fail:+, failed seeds:$sweep_fail}"
done

echo "sim: $(( $(date +%s) - start ))s"
if [ "$failed" -ne 0 ]; then
	echo "sim: FAILED"
	exit 1
fi
echo "sim: all scenarios passed"
