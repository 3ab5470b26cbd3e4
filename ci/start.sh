#!/usr/bin/env bash
# The main job: sets everything up, then starts natsd with the NATS docs'
# hub configuration (examples/leaf-domains/hub.conf) in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/setup.sh
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
