#!/usr/bin/env bash
# ci/bench.sh - natsd against the reference nats-server, side by side.
#
# For every workload and round, each server is started fresh with the same
# options on a free loopback port (JetStream workloads add -js and a
# private store dir), natsbench runs against it, and the server's peak RSS
# (VmHWM) is read before it is stopped.  The two servers alternate, and
# which goes first alternates by round.  Medians over the rounds go into
# one table; every single run is kept as a JSON line in the results file.
#
# This is a benchmark, not a test: it exits non-zero only when the tool or
# a server breaks (crash, refused connection, protocol error), never
# because of a number.
#
# usage: ci/bench.sh [--short] [--rounds N] [--only REGEX] [--results DIR]
#   --short      small counts, one round, 1,000 idle connections; < 60 s
#   --rounds N   rounds of the full benchmark (3)
#   --only RE    only workloads whose id matches the extended regex RE
#   --results D  where the JSONL file goes (full: bench/results; short:
#                not kept unless given)
# environment: NATSD, NATSBENCH, NATS_SERVER (binaries; by default the
# build/ tree, built if needed, and /usr/sbin/nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

short=0
rounds=3
only=''
results_dir=''
while [ $# -gt 0 ]; do
	case "$1" in
	--short) short=1 ;;
	--rounds) rounds=${2:?}; shift ;;
	--only) only=${2:?}; shift ;;
	--results) results_dir=${2:?}; shift ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$short" = 1 ]; then
	rounds=1
else
	results_dir=${results_dir:-$root/bench/results}
fi

# --------------------------------------------------------------- binaries

build_if_needed() {
	local out
	if [ ! -f build/build.ninja ] && ! out=$(meson setup build 2>&1); then
		echo "$out" >&2
		exit 1
	fi
	if ! out=$(meson compile -C build 2>&1); then
		echo "$out" >&2
		exit 1
	fi
	# Until the root meson.build has subdir('bench'), build the tool here.
	if [ ! -x build/bench/natsbench ]; then
		mkdir -p build/bench-standalone
		cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iserver bench/natsbench.c \
			bench/bench_conn.c bench/bench_hist.c bench/bench_idle.c \
			bench/bench_js.c bench/bench_proc.c bench/bench_reqrep.c \
			bench/bench_run.c bench/bench_work.c server/proto/client_proto.c \
			server/lib/buf.c server/lib/mem.c server/lib/assert.c -lpthread \
			-o build/bench-standalone/natsbench
		echo build/bench-standalone/natsbench
	else
		echo build/bench/natsbench
	fi
}

if [ -z "${NATSD:-}" ] || [ -z "${NATSBENCH:-}" ]; then
	tool=$(build_if_needed)
	NATSD=${NATSD:-$root/build/server/natsd}
	NATSBENCH=${NATSBENCH:-$root/$tool}
fi
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}
servers=(natsd)
if [ -x "$NATS_SERVER" ]; then
	servers+=(nats-server)
else
	echo "bench: $NATS_SERVER not found; measuring natsd alone" >&2
fi

# ------------------------------------------------------------- workloads
# id | jetstream | natsbench arguments (full) | arguments (--short)
# jetstream: 0 none; 1 with the reference's durability on both servers
# (natsd with `sync_interval: 2m`, nats-server 2.9.10's default: records
# reach the disk within two minutes, acks do not wait for it); 2 natsd with
# its own default (every ack waits for its record's fsync) against the
# reference's default, to show what durability by default costs.
runs=(
	"pub|0|pub -n 5000000|pub -n 200000"
	"pubsub|0|pubsub -n 2000000|pubsub -n 100000"
	"pubsub-16k|0|pubsub -z 16384 -n 100000|pubsub -z 16384 -n 5000"
	"fanout|0|fanout -c 8 -n 500000|fanout -c 8 -n 20000"
	"fanin|0|fanin -p 8 -n 300000|fanin -p 8 -n 20000"
	"queue|0|queue -c 4 -n 2000000|queue -c 4 -n 100000"
	"reqrep|0|reqrep -n 50000|reqrep -n 2000"
	"js-pub-sync|1|js-pub-sync -n 20000|js-pub-sync -n 500"
	"js-pub-async|1|js-pub-async -n 300000 --window 1000|js-pub-async -n 10000"
	"js-pub-sync-durable|2|js-pub-sync -n 5000|js-pub-sync -n 200"
	"js-pub-async-durable|2|js-pub-async -n 300000 --window 1000|js-pub-async -n 10000"
	"js-pull|1|js-pull -n 300000 --batch 500|js-pull -n 10000"
	"js-push|1|js-push -n 300000|js-push -n 10000"
	"idle|0|idle --conns 10000 --hold 1|idle --conns 1000 --hold 0.2"
)
# label | run id | JSON field | better (higher/lower) | unit
rows=(
	"pub 128B|pub|msgs_per_s|higher|msg/s"
	"pub->sub 128B|pubsub|msgs_per_s|higher|msg/s"
	"pub->sub 16KB|pubsub-16k|mb_per_s|higher|MB/s"
	"fan-out 1->8|fanout|msgs_per_s|higher|msg/s"
	"fan-in 8->1|fanin|msgs_per_s|higher|msg/s"
	"queue 1->4|queue|msgs_per_s|higher|msg/s"
	"req/reply|reqrep|msgs_per_s|higher|req/s"
	"req/reply p50|reqrep|p50_us|lower|us"
	"req/reply p99|reqrep|p99_us|lower|us"
	"req/reply p99.9|reqrep|p999_us|lower|us"
	"js pub sync|js-pub-sync|msgs_per_s|higher|msg/s"
	"js pub async w1000|js-pub-async|msgs_per_s|higher|msg/s"
	"js pull b500|js-pull|msgs_per_s|higher|msg/s"
	"js push|js-push|msgs_per_s|higher|msg/s"
	"js pub sync (fsync)|js-pub-sync-durable|msgs_per_s|higher|msg/s"
	"js pub async (fsync)|js-pub-async-durable|msgs_per_s|higher|msg/s"
	"idle conns RSS|idle|rss_after_kb|lower|kB"
)

# ------------------------------------------------------------- the world

# Ten thousand idle connections need as many descriptors in each process.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"
if [ "$hard" -lt 10200 ]; then
	conns=$((hard - 200))
	echo "bench: ulimit -n is $hard; the idle test opens $conns connections" >&2
	runs=("${runs[@]/--conns 10000/--conns $conns}")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/natsbench-XXXXXX")
server_pid=''
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# Run private copies: a rebuild in the tree during the benchmark (other
# work goes on) must not swap or hide a binary between runs.
cp "$NATSD" "$tmp/natsd"
cp "$NATSBENCH" "$tmp/natsbench"
NATSD=$tmp/natsd
NATSBENCH=$tmp/natsbench
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit-dirty"
fi
stamp=$(date -u +%Y%m%d-%H%M%S)
results=''
if [ -n "$results_dir" ]; then
	mkdir -p "$results_dir"
	results="$results_dir/$stamp-$commit.jsonl"
fi

# Waits until the server accepts connections; fails if it died.
wait_port() {
	local port=$1 pid=$2 _
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.025
	done
	return 1
}

# start_server KIND JS: sets server_pid and server_port.
start_server() {
	local kind=$1 js=$2 bin=$NATSD port _
	[ "$kind" = nats-server ] && bin=$NATS_SERVER
	for _ in 1 2 3; do
		port=$("$NATSBENCH" free-port)
		local srv_args=(-a 127.0.0.1 -p "$port")
		if [ "$js" != 0 ]; then
			rm -rf "$tmp/store"
			srv_args+=(-js -sd "$tmp/store")
			if [ "$kind" = natsd ] && [ "$js" = 1 ]; then
				printf 'jetstream { store_dir: "%s", sync_interval: 2m }\n' \
					"$tmp/store" >"$tmp/natsd-js.conf"
				srv_args+=(-c "$tmp/natsd-js.conf")
			fi
		fi
		"$bin" "${srv_args[@]}" >"$tmp/$kind.log" 2>&1 &
		server_pid=$!
		if wait_port "$port" "$server_pid"; then
			server_port=$port
			return 0
		fi
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=''
	done
	echo "bench: $kind does not start; its log:" >&2
	tail -n 20 "$tmp/$kind.log" >&2
	return 1
}

stop_server() {
	local _
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=''
	rm -rf "$tmp/store"
}

# json_field JSON KEY: a scalar field of a one-line JSON object.
json_field() {
	sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$1"
}

# ------------------------------------------------------------------ runs

broken=0
dmax=60
[ "$short" = 1 ] && dmax=20
mkdir -p "$tmp/v"

# run_one ROUND ID JS KIND ARGS: one server, one natsbench run.
run_one() {
	local round=$1 id=$2 js=$3 kind=$4 bench_args=$5 line='' rc=0 hwm=-1 alive=1
	if ! start_server "$kind" "$js"; then
		broken=1
		echo error >"$tmp/v/$id.$kind.$round.status"
		return
	fi
	# shellcheck disable=SC2086  # bench_args is a word list on purpose
	line=$("$NATSBENCH" $bench_args -s "127.0.0.1:$server_port" -d "$dmax" \
		--server-pid "$server_pid" --label "$kind" -q 2>"$tmp/tool.err") || rc=$?
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || true)
	kill -0 "$server_pid" 2>/dev/null || alive=0
	stop_server
	local status
	status=$(json_field "$line" status)
	if [ "$rc" -ne 0 ] || [ "$alive" = 0 ] || [ -z "$status" ]; then
		broken=1
		echo "bench: $id against $kind broke (exit $rc, server alive: $alive):" \
			"$(json_field "$line" error) $(tail -n 3 "$tmp/tool.err")" >&2
		[ "$alive" = 1 ] || tail -n 20 "$tmp/$kind.log" >&2
		status=error
	fi
	echo "$status" >"$tmp/v/$id.$kind.$round.status"
	echo "$line" >"$tmp/v/$id.$kind.$round.json"
	echo "${hwm:--1}" >>"$tmp/v/$id.$kind.hwm"
	printf 'bench: round %d %-13s %-11s %-7s %12s msg/s  server cpu %s s\n' \
		"$round" "$id" "$kind" "$status" "$(json_field "$line" msgs_per_s)" \
		"$(json_field "$line" server_cpu_s)" >&2
	if [ -n "$results" ] && [ -n "$line" ]; then
		printf '{"round":%d,"commit":"%s","date":"%s","mode":"%s","hwm_kb":%s,%s\n' \
			"$round" "$commit" "$stamp" "$([ "$short" = 1 ] && echo short || echo full)" \
			"${hwm:--1}" "${line#\{}" >>"$results"
	fi
}

started=$(date +%s)
for round in $(seq "$rounds"); do
	for run in "${runs[@]}"; do
		IFS='|' read -r id js full_args short_args <<<"$run"
		if [ -n "$only" ] && ! [[ "$id" =~ $only ]]; then continue; fi
		bench_args=$full_args
		[ "$short" = 1 ] && bench_args=$short_args
		# Alternate which server goes first, round by round.
		order=("${servers[@]}")
		if [ $((round % 2)) = 0 ] && [ "${#servers[@]}" = 2 ]; then
			order=("${servers[1]}" "${servers[0]}")
		fi
		for kind in "${order[@]}"; do
			run_one "$round" "$id" "$js" "$kind" "$bench_args"
		done
	done
done

# ----------------------------------------------------------------- table

# cell ID KIND FIELD: "<median> <capped 0/1>", or "n/a 0", "ERR 0", "- 0".
cell() {
	local id=$1 kind=$2 field=$3 round st v vals=() na=0 err=0 capped=0
	for round in $(seq "$rounds"); do
		[ -f "$tmp/v/$id.$kind.$round.status" ] || continue
		st=$(cat "$tmp/v/$id.$kind.$round.status")
		case "$st" in
		ok|capped)
			v=$(json_field "$(cat "$tmp/v/$id.$kind.$round.json")" "$field")
			[ -n "$v" ] && vals+=("$v")
			[ "$st" = capped ] && capped=1 ;;
		n/a) na=1 ;;
		*) err=1 ;;
		esac
	done
	if [ "${#vals[@]}" -gt 0 ]; then
		printf '%s\n' "${vals[@]}" | sort -g | awk -v c="$capped" '
			{ a[NR] = $1 }
			END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			      print m, c }'
	elif [ "$err" = 1 ]; then echo "ERR 0"
	elif [ "$na" = 1 ]; then echo "n/a 0"
	else echo "- 0"
	fi
}

# peak ID KIND: the largest VmHWM over the rounds, in MB.
peak() {
	local f="$tmp/v/$1.$2.hwm"
	[ -f "$f" ] || { echo -; return; }
	sort -g "$f" | tail -n 1 | awk '$1 < 0 { print "-"; next } { printf "%.1f", $1 / 1024 }'
}

# fmt VALUE UNIT: a short human form.
fmt() {
	awk -v v="$1" -v u="$2" 'BEGIN {
		if (v !~ /^[0-9.eE+-]+$/) { print v; exit }
		if (u == "kB") { printf "%.1f MB", v / 1024; exit }
		if (u == "us") { printf "%.1f us", v; exit }
		if (u == "MB/s") { printf "%.0f MB/s", v; exit }
		if (v >= 1e6) printf "%.2fM %s", v / 1e6, u
		else if (v >= 1e4) printf "%.0fk %s", v / 1e3, u
		else printf "%.0f %s", v, u
	}'
}

# ratio NATSD REF BETTER: > 1 means natsd is better.
ratio() {
	awk -v a="$1" -v b="$2" -v better="$3" 'BEGIN {
		if (a !~ /^[0-9.eE+-]+$/ || b !~ /^[0-9.eE+-]+$/ || a <= 0 || b <= 0) {
			print "-"; exit }
		printf "%.2fx", better == "higher" ? a / b : b / a
	}'
}

ref=${servers[1]:-nats-server}
echo
echo "natsbench: natsd vs $ref, $rounds round(s), medians; ratio > 1 means natsd is better"
echo "commit $commit, $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')$([ "$short" = 1 ] && echo ', --short')," \
	"load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "cpu ratio: server CPU seconds of $ref / natsd for the same work (> 1: natsd cheaper)"
echo
fmt_row='| %-20s | %15s | %15s | %7s | %9s | %10s | %10s |\n'
# shellcheck disable=SC2059
printf "$fmt_row" workload natsd "$ref" ratio "cpu ratio" "RSS natsd" "RSS ref"
# shellcheck disable=SC2059
printf "$fmt_row" '---' '---:' '---:' '---:' '---:' '---:' '---:'
footnote=''
for row in "${rows[@]}"; do
	IFS='|' read -r label id field better unit <<<"$row"
	if [ -n "$only" ] && ! [[ "$id" =~ $only ]]; then continue; fi
	read -r a acap <<<"$(cell "$id" natsd "$field")"
	read -r b bcap <<<"$(cell "$id" "$ref" "$field")"
	if [ "$id" = idle ]; then
		label="idle $(json_field "$(cat "$tmp/v/idle.natsd.1.json" 2>/dev/null)" conns) conns RSS"
	fi
	av=$(fmt "$a" "$unit"); bv=$(fmt "$b" "$unit")
	[ "$acap" = 1 ] && av="$av*" && footnote='* capped by --duration-max in some round'
	[ "$bcap" = 1 ] && bv="$bv*" && footnote='* capped by --duration-max in some round'
	read -r ac _ <<<"$(cell "$id" natsd server_cpu_s)"
	read -r bc _ <<<"$(cell "$id" "$ref" server_cpu_s)"
	# shellcheck disable=SC2059
	printf "$fmt_row" "$label" "$av" "$bv" "$(ratio "$a" "$b" "$better")" \
		"$(ratio "$ac" "$bc" lower)" "$(peak "$id" natsd) MB" "$(peak "$id" "$ref") MB"
	if [ -n "$results" ]; then
		printf '{"summary":true,"commit":"%s","date":"%s","row":"%s","field":"%s","natsd":"%s","ref":"%s","ratio":"%s","cpu_ratio":"%s","hwm_natsd_mb":"%s","hwm_ref_mb":"%s"}\n' \
			"$commit" "$stamp" "$label" "$field" "$a" "$b" "$(ratio "$a" "$b" "$better")" \
			"$(ratio "$ac" "$bc" lower)" \
			"$(peak "$id" natsd)" "$(peak "$id" "$ref")" >>"$results"
	fi
done
[ -n "$footnote" ] && echo "$footnote"
# Memory per idle connection, from the server's RSS before and after.
for kind in "${servers[@]}"; do
	f="$tmp/v/idle.$kind.1.json"
	[ -f "$f" ] || continue
	awk -v k="$kind" -v j="$(cat "$f")" 'BEGIN {
		n = j; sub(/.*"conns":/, "", n); sub(/[,}].*/, "", n)
		a = j; sub(/.*"rss_before_kb":/, "", a); sub(/[,}].*/, "", a)
		b = j; sub(/.*"rss_after_kb":/, "", b); sub(/[,}].*/, "", b)
		if (n > 0 && a > 0 && b > 0)
			printf "idle: %s grows by %.0f bytes per connection (round 1)\n", k, (b - a) * 1024 / n
	}'
done
echo
echo "took $(( $(date +%s) - started )) s${results:+; results in ${results#"$root"/}}"
if [ "$broken" = 1 ]; then
	echo "bench: a server or the tool broke (see above)" >&2
	exit 1
fi
