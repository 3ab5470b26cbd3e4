#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/corpus/ from real traffic and the
# documents (entries are named by content, so nothing is added twice).
#
#   fuzz/tools/make_corpus.sh [DOCS_DIR]      (default /work/shared)
#
# client_proto, json: a nats.c 3.x session (natsc_session.c) and scripted
#   raw-socket sessions (raw_sessions.py) against the reference
#   /usr/sbin/nats-server, recorded byte for byte by capture_proxy.py;
# conf: the configuration reference's examples and the docs' example files;
# json: also the INFO/CONNECT and JetStream API examples of the reference;
# sublist: hand-written operation sequences (sublist_seeds.py).
# Needs: nats-server, libnats-dev, python3, a C compiler.
set -euo pipefail
cd "$(dirname "$0")/../.."
docs=${1:-/work/shared}
tools=fuzz/tools
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
	for _ in $(seq 100); do
		if python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null
		then return 0; fi
		sleep 0.05
	done
	echo "make_corpus: nothing listens on port $1" >&2
	return 1
}

srv_port=$(free_port)
proxy_port=$(free_port)
nats-server -a 127.0.0.1 -p "$srv_port" >"$work/server.log" 2>&1 &
pids+=($!)
wait_port "$srv_port"
python3 "$tools/capture_proxy.py" "$proxy_port" "$srv_port" "$work/cap" s &
pids+=($!)
wait_port "$proxy_port"
# wait_port's own probe connection is recorded too (empty, skipped later).

cc -o "$work/natsc_session" "$tools/natsc_session.c" -lnats
"$work/natsc_session" "nats://127.0.0.1:$proxy_port"
python3 "$tools/raw_sessions.py" "$proxy_port" >/dev/null
sleep 0.5

python3 "$tools/trace_seeds.py" "$work/cap" fuzz/corpus
python3 "$tools/doc_seeds.py" "$docs/reference" "$docs/examples/leaf-domains" fuzz/corpus
python3 "$tools/sublist_seeds.py" fuzz/corpus/sublist
for t in client_proto conf sublist json canary; do
	printf '%-14s %5d inputs\n' "$t" "$(find "fuzz/corpus/$t" -type f 2>/dev/null | wc -l)"
done
