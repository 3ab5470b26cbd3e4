#!/usr/bin/env python3
"""Turns captured sessions into seeds for the client_proto and json targets.

    trace_seeds.py CAPTURE_DIR CORPUS_DIR

CAPTURE_DIR holds NAME.c2s / NAME.s2c files from capture_proxy.py.
client_proto seeds are the harness's 3 header bytes (fuzz_client_proto.c)
followed by the stream: what clients sent is parsed in the server role
(byte 0 = 0; a copy with tiny limits, byte 0 = 4; a copy that refuses HPUB
until CONNECT says headers, byte 0 = 2, stopping after every 2nd op),
what the server sent in the client role (byte 0 = 1).  The JSON of every
INFO and CONNECT line becomes a json seed.
"""
import glob
import hashlib
import os
import sys

from doc_seeds import json_values


def write(corpus, data):
    os.makedirs(corpus, exist_ok=True)
    with open(os.path.join(corpus, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    cap, corpus = sys.argv[1], sys.argv[2]
    proto, js = os.path.join(corpus, "client_proto"), os.path.join(corpus, "json")
    for path in sorted(glob.glob(os.path.join(cap, "*.c2s")) +
                       glob.glob(os.path.join(cap, "*.s2c"))):
        data = open(path, "rb").read()
        if not data:
            continue
        if path.endswith(".c2s"):
            write(proto, b"\x00\x00\x00" + data)
            write(proto, b"\x04\x07\x00" + data)
            if b"CONNECT" in data:
                write(proto, b"\x02\x2a\x01" + data)
        else:
            write(proto, b"\x01\x00\x00" + data)
        for line in data.split(b"\n"):
            if line.startswith((b"INFO", b"CONNECT")):
                for v in json_values(line.decode("utf-8", "replace")):
                    write(js, v.encode())


if __name__ == "__main__":
    main()
