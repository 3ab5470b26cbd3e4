#!/usr/bin/env bash
# The fuzz campaign: builds the fuzz targets, runs each for a given time,
# in parallel on the cores present, merges what they found into the
# corpora, and prints one table.  See docs/fuzzing.md.
#
#   ci/fuzz.sh [--seconds N] [--targets a,b] [--afl] [--jobs N] [--no-merge]
#
#   --seconds N   time per target (default 600)
#   --targets     comma-separated subset (default: every target, canary too)
#   --afl         fuzz with AFL++ (afl-clang-fast build in build-afl/) instead
#                 of libFuzzer; the libFuzzer build still does the merging
#   --jobs N      targets run at once (default: nproc)
#   --no-merge    merge into a temporary copy of the corpora, not the repo's
#
# Builds: build-fuzz/ (CC=clang, -Dfuzz=true) and, with --afl, build-afl/
# (CC=afl-clang-fast).  Logs, crash inputs and work corpora of the last run
# stay in build-fuzz/runs/last/.
#
# Exit status: 0 when no real target crashed, hung, leaked or ran out of
# memory and the canary (a planted bug) was found; 1 otherwise; 2 when the
# build or the command line failed.  A finding of a real target is copied
# into fuzz/regress/<target>/ (named by its sha1), where the regression
# suite (meson suite fuzz-regress) replays it until it is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

all_targets=(canary client_proto peer_proto http conf sublist json store js_api scenario)
seconds=600
targets=("${all_targets[@]}")
engine=libfuzzer
jobs=$(nproc)
merge_into_repo=1

usage() {
	sed -n '6,13p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=${2:?}; shift 2 ;;
	--targets) IFS=, read -r -a targets <<<"${2:?}"; shift 2 ;;
	--afl) engine=afl; shift ;;
	--jobs) jobs=${2:?}; shift 2 ;;
	--no-merge) merge_into_repo=0; shift ;;
	-h|--help) usage ;;
	*) echo "fuzz: unknown argument $1" >&2; usage ;;
	esac
done
for t in "${targets[@]}"; do
	[[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: no target '$t'" >&2; exit 2; }
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "fuzz: bad --seconds" >&2; exit 2; }

dict_of() {
	case "$1" in
	client_proto) echo fuzz/dict/nats.dict ;;
	peer_proto) echo fuzz/dict/peer.dict ;;
	conf) echo fuzz/dict/conf.dict ;;
	json) echo fuzz/dict/json.dict ;;
	scenario) echo fuzz/dict/scenario.dict ;;
	js_api) echo fuzz/dict/js_api.dict ;;
	esac
}

# ---- build ---------------------------------------------------------------

build() { # dir compiler
	local dir=$1 compiler=$2
	command -v "$compiler" >/dev/null ||
		{ echo "fuzz: $compiler not found (Debian: clang libclang-rt-14-dev afl++)" >&2; exit 2; }
	if [ ! -f "$dir/build.ninja" ]; then
		CC=$compiler meson setup "$dir" -Dfuzz=true >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log" >&2; exit 2; }
	fi
	# Regenerate first when a meson.build changed, so new targets are known.
	ninja -C "$dir" build.ninja >/dev/null 2>&1 || true
	local names=()
	for t in "${targets[@]}"; do names+=("fuzz_$t"); done
	meson compile -C "$dir" "${names[@]}" >/dev/null 2>&1 ||
		meson compile -C "$dir" "${names[@]}" || exit 2
}

echo "fuzz: building (${engine})"
build build-fuzz clang
if [ "$engine" = afl ]; then
	# The AFL++ compiler wrapper turns -fsanitize=fuzzer into its own driver.
	AFL_QUIET=1 build build-afl afl-clang-fast
fi

# ---- run -----------------------------------------------------------------

runs=build-fuzz/runs/last
rm -rf "$runs"
mkdir -p "$runs"
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:symbolize=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_libfuzzer() { # target dir
	local t=$1 d=$2 dict
	dict=$(dict_of "$t")
	build-fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -print_final_stats=1 \
		-max_len=8192 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$d/findings/" ${dict:+-dict=$dict} \
		"$d/corpus" >"$d/log" 2>&1 || true
}

run_afl() { # target dir
	local t=$1 d=$2 dict
	dict=$(dict_of "$t")
	AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 \
	AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
	ASAN_OPTIONS="$ASAN_OPTIONS:symbolize=0" \
		afl-fuzz -i "$d/corpus" -o "$d/afl" -V "$seconds" -m none -t 10000 \
		${dict:+-x $dict} -- build-afl/fuzz/fuzz_"$t" >"$d/log" 2>&1 || true
	mkdir -p "$d/findings"
	local f
	for f in "$d"/afl/default/crashes/id:* "$d"/afl/default/hangs/id:*; do
		[ -f "$f" ] || continue
		case "$f" in */hangs/*) cp "$f" "$d/findings/timeout-$(sha1sum <"$f" | cut -c1-40)" ;;
		*) cp "$f" "$d/findings/crash-$(sha1sum <"$f" | cut -c1-40)" ;; esac
	done
}

run_target() { # target
	local t=$1 d=$runs/$1
	mkdir -p "$d/corpus" "$d/findings"
	# Seeds: the corpus and every past finding (a finding that still
	# crashes is reported at once).
	cp fuzz/corpus/"$t"/* "$d/corpus/" 2>/dev/null || true
	[ "$t" = canary ] || cp fuzz/regress/"$t"/* "$d/corpus/" 2>/dev/null || true
	if [ "$engine" = afl ]; then run_afl "$t" "$d"; else run_libfuzzer "$t" "$d"; fi
}

echo "fuzz: ${#targets[@]} targets x ${seconds}s, $jobs at a time"
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	# A crashing target dies of a signal; its shell's notice goes to a log.
	run_target "$t" 2>"$runs/$t.stderr" &
	running=$((running + 1))
done
wait

# ---- merge, collect, report -------------------------------------------------

merge_corpus() { # target dir -> prints how many entries were added
	local t=$1 d=$2 dest before after from
	if [ "$merge_into_repo" = 1 ]; then
		dest=fuzz/corpus/$t
	else
		dest=$d/merged
		cp -r fuzz/corpus/"$t" "$dest"
	fi
	mkdir -p "$dest"
	from=$d/corpus
	[ "$engine" = afl ] && from=$d/afl/default/queue
	before=$(find "$dest" -type f | wc -l)
	build-fuzz/fuzz/fuzz_"$t" -merge=1 -max_len=8192 -timeout=10 "$dest" "$from" \
		>"$d/merge.log" 2>&1 || echo "fuzz: merge of $t failed (see $d/merge.log)" >&2
	after=$(find "$dest" -type f | wc -l)
	echo $((after - before))
}

stat_libfuzzer() { # dir -> "execs execs_per_s coverage"
	local log=$1/log execs rate cov
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 | awk '{print $2 "/" $4}')
	echo "${execs:--} ${rate:--} ${cov:--}"
}

stat_afl() { # dir -> "execs execs_per_s coverage"
	local s=$1/afl/default/fuzzer_stats
	[ -f "$s" ] || { echo "- - -"; return; }
	awk -F' *: *' '$1=="execs_done"{e=$2} $1=="execs_per_sec"{r=$2}
		$1=="bitmap_cvg"{c=$2} END{printf "%s %d %s\n", e, r, c}' "$s"
}

status=0
printf '\n%-13s %12s %9s %15s %5s %8s  %s\n' target executions exec/s \
	"coverage" new crashes result
for t in "${targets[@]}"; do
	d=$runs/$t
	read -r execs rate cov < <(if [ "$engine" = afl ]; then stat_afl "$d"; else stat_libfuzzer "$d"; fi)
	found=$(find "$d/findings" -type f | wc -l)
	new=-
	[ "$t" = canary ] || new=$(merge_corpus "$t" "$d")
	if [ "$t" = canary ]; then
		if [ "$found" -gt 0 ]; then result="ok (planted bug found)"
		else result="FAILED: planted bug not found"; status=1; fi
	elif [ "$found" -gt 0 ]; then
		result="FAILED: see fuzz/regress/$t/"
		status=1
		mkdir -p fuzz/regress/"$t"
		for f in "$d"/findings/*; do
			cp "$f" fuzz/regress/"$t"/"$(basename "$f")"
		done
	else
		result=ok
	fi
	printf '%-13s %12s %9s %15s %5s %8s  %s\n' "$t" "$execs" "$rate" "$cov" "$new" \
		"$found" "$result"
done
echo
echo "coverage: libFuzzer cov/ft (edges/features) or AFL++ bitmap share;" \
	"new: entries merged into $([ "$merge_into_repo" = 1 ] && echo fuzz/corpus/ ||
	echo a temporary copy of the corpora); logs in $runs/<target>/log"
if [ "$status" -ne 0 ]; then
	for t in "${targets[@]}"; do
		[ "$t" != canary ] || continue
		for f in "$runs/$t"/findings/*; do
			[ -f "$f" ] || continue
			echo "== $t: $(basename "$f") (replay: build-fuzz/fuzz/fuzz_$t $f)"
			grep -m1 -E 'ERROR:|runtime error|FUZZ CHECK FAILED|ALARM|leak' \
				"$runs/$t/log" || true
		done
	done
fi
exit "$status"
