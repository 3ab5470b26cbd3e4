#!/usr/bin/env bash
# The main job: sets everything up, then replays the NATS docs' "JetStream
# on Leaf Nodes" walkthrough in the simulator:
#
#     sim run scenarios/leaf-domains.yaml
#
# (hub and leaf servers from the docs' own config files, domains hub and
# leaf, mirror, source, the reload to accounts-with-imports.conf, the
# cross-account mirror and the pull consumer read from the leaf), prints the
# report with every expectation, and draws the topology to
# leaf-domains.svg.  Extra arguments go to `sim run` (e.g. --seed 7,
# --trace run.db).
#
#     ci/start.sh --real [natsd args]
#
# instead starts the real natsd with the walkthrough's hub configuration in
# the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh

if [ "${1:-}" = "--real" ]; then
	shift
	cat <<'TXT'

natsd is starting with examples/leaf-domains/hub.conf (the hub of the NATS docs'
"JetStream on Leaf Nodes" walkthrough).  Clients connect to nats://127.0.0.1:4222
as user acc (password acc), or admin/admin for the system account, e.g.:

    printf 'CONNECT {"user":"acc","pass":"acc"}\r\nSUB greet 1\r\nPUB greet 5\r\nhello\r\nPING\r\n' \
      | nc -q 1 127.0.0.1 4222

or with any NATS client: nats://acc:acc@127.0.0.1:4222.  JetStream runs with
domain "hub"; leaf nodes connect on port 7422: in another terminal,

    cd examples/leaf-domains && ../../build/server/natsd -c leaf.conf

starts the walkthrough's leaf server (domain "leaf", clients on port 4111).
Press Ctrl-C to stop.

TXT
	cd examples/leaf-domains
	exec ../../build/server/natsd -c hub.conf "$@"
fi

echo
echo "== sim run scenarios/leaf-domains.yaml"
build/sim/sim run scenarios/leaf-domains.yaml --draw leaf-domains.svg "$@"
cat <<'TXT'

The topology (servers, leaf links, clients) is drawn in leaf-domains.svg.
Variants with faults: scenarios/leaf-domains-link-cut.yaml,
leaf-domains-leaf-crash.yaml, leaf-domains-hub-restart.yaml
(build/sim/sim run FILE).  ci/start.sh --real runs the real natsd instead.
TXT
