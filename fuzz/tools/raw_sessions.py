#!/usr/bin/env python3
"""Plays scripted raw-socket sessions against a NATS server.

    raw_sessions.py PORT

Each session is one connection: the client's pieces are sent one at a
time, reading what the server says in between, so the captured
server-to-client stream holds the server's real answers (+OK, -ERR, MSG,
HMSG, PONG, INFO).  The sessions follow the parser rules of the client
protocol reference (section 1.1): case, tabs, bare LF, CONNECT{} without a
blank, wildcards, queue groups, headers, auto-unsubscribe, and each kind of
error.  Used by fuzz/tools/make_corpus.sh.
"""
import socket
import sys
import time

CONNECT_QUIET = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,' \
                b'"no_responders":true,"protocol":1,"lang":"c","version":"3.4.1"}\r\n'

SESSIONS = {
    "telnet": [b"SUB x 1\r\n", b"PUB x 5\r\nhello\r\n", b"PING\r\n",
               b"UNSUB 1\r\n", b"PING\r\n"],
    "quiet-connect": [CONNECT_QUIET, b"SUB foo.* 7\r\nSUB foo.> 8\r\n",
                      b"PUB foo.bar reply.to 3\r\nabc\r\nPING\r\n"],
    "case-and-tabs": [b"sub\tfoo  workers  2\r\n",
                      b"pub   foo\t bar  5\r\nworld\r\n", b"PiNg\r\n"],
    "bare-lf": [b"SUB x 1\nPUB x 2\nhi\r\nPING\n"],
    "unsub-max": [CONNECT_QUIET, b"SUB a 1\r\nUNSUB 1 2\r\n",
                  b"PUB a 1\r\nx\r\nPUB a 1\r\ny\r\nPUB a 1\r\nz\r\nPING\r\n"],
    "wildcards": [CONNECT_QUIET,
                  b"SUB a.* 1\r\nSUB a.> 2\r\nSUB > 3\r\nSUB * 4\r\nSUB a.b* 5\r\n",
                  b"PUB a.b 2\r\nab\r\nPUB a 1\r\na\r\nPUB a.b.c 3\r\nabc\r\n",
                  b"PUB a.b* 0\r\n\r\nPING\r\n"],
    "queues": [CONNECT_QUIET, b"SUB work q1 1\r\nSUB work q1 2\r\nSUB work 3\r\n",
               b"PUB work 4\r\njob1\r\nPUB work 4\r\njob2\r\nPING\r\n"],
    "headers": [CONNECT_QUIET, b"SUB h 9\r\n",
                b"HPUB h 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n",
                b"HPUB h reply 12 12\r\nNATS/1.0\r\n\r\n\r\n",
                b"PUB nobody _INBOX.x 0\r\n\r\n", b"SUB _INBOX.y 10\r\n",
                b"PUB nobody _INBOX.y 0\r\n\r\nPING\r\n"],
    "binary-payload": [CONNECT_QUIET, b"SUB bin 1\r\n",
                       b"PUB bin 17\r\n\r\nMSG x 1 2\r\n\x00\xff\r\n\r\nPING\r\n"],
    "ping-args": [b"PING foo bar\r\n", b"PONG\r\n", b"PINGX\r\n"],
    "connect-no-blank": [b'CONNECT{"verbose":true}\r\n', b"PING\r\n"],
    "info-from-client": [b'INFO {"server_id":"x"}\r\n', b"PING\r\n"],
    "err-from-client": [b"-ERR 'oops'\r\n"],
    "unknown-op": [b"FOO bar\r\n"],
    "bad-terminator": [b"PUB x 2\r\nhiX\r\n"],
    "max-payload": [b"PUB x 2000000\r\n"],
    "max-control-line": [b"SUB " + b"a" * 5000 + b" 1\r\n"],
    "invalid-subject": [b"SUB a.>.b 1\r\n", b"SUB a..b 2\r\n", b"PING\r\n"],
    "pedantic": [b'CONNECT {"verbose":true,"pedantic":true}\r\n',
                 b"PUB a.* 1\r\nx\r\n", b"PUB a..b 1\r\nx\r\n", b"PING\r\n"],
    "bad-args": [b"PUB foo bar baz 5\r\n"],
    "bad-size": [b"PUB foo -1\r\n"],
    "hpub-no-headers": [b'CONNECT {"verbose":false}\r\n', b"HPUB x 2 4\r\n"],
    "bad-json": [b"CONNECT {bad\r\n"],
    "split-line": [b"PU", b"B fo", b"o 3\r", b"\nab", b"c\r\nPI", b"NG\r\n"],
}


def read_some(sock, wait):
    """Reads whatever the server sends within wait seconds."""
    sock.settimeout(wait)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def play(port, pieces):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        read_some(sock, 0.3)                     # INFO
        for piece in pieces:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            read_some(sock, 0.2)


def main():
    port = int(sys.argv[1])
    for name, pieces in SESSIONS.items():
        play(port, pieces)
        time.sleep(0.05)
        print(name)


if __name__ == "__main__":
    main()
