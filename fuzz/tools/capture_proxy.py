#!/usr/bin/env python3
"""Records the raw bytes of client sessions with a NATS server.

    capture_proxy.py LISTEN_PORT SERVER_PORT OUT_DIR PREFIX

Listens on 127.0.0.1:LISTEN_PORT and relays every connection to
127.0.0.1:SERVER_PORT.  For connection number N it writes
OUT_DIR/PREFIX-N.c2s (what the client sent) and OUT_DIR/PREFIX-N.s2c (what
the server sent), byte for byte.  Runs until killed (SIGTERM).

Used by fuzz/tools/make_corpus.sh to seed the client_proto corpus from real
clients talking to the reference nats-server.
"""
import os
import select
import socket
import sys
import threading


def relay(client, server, out_base):
    """Copies both directions until either side closes; logs each."""
    files = {client: open(out_base + ".c2s", "wb"),
             server: open(out_base + ".s2c", "wb")}
    peer = {client: server, server: client}
    socks = [client, server]
    try:
        while socks:
            readable, _, _ = select.select(socks, [], [], 30)
            if not readable:
                break
            for s in readable:
                data = s.recv(65536)
                if not data:
                    socks = []
                    break
                files[s].write(data)
                files[s].flush()
                peer[s].sendall(data)
    except OSError:
        pass
    finally:
        for f in files.values():
            f.close()
        client.close()
        server.close()


def main():
    listen_port, server_port = int(sys.argv[1]), int(sys.argv[2])
    out_dir, prefix = sys.argv[3], sys.argv[4]
    os.makedirs(out_dir, exist_ok=True)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", listen_port))
    lsock.listen(16)
    n = 0
    while True:
        client, _ = lsock.accept()
        server = socket.create_connection(("127.0.0.1", server_port))
        n += 1
        base = os.path.join(out_dir, "%s-%d" % (prefix, n))
        threading.Thread(target=relay, args=(client, server, base),
                         daemon=True).start()


if __name__ == "__main__":
    main()
