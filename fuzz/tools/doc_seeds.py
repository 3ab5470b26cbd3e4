#!/usr/bin/env python3
"""Writes seed inputs for the conf and json targets from the documents.

    doc_seeds.py REFERENCE_DIR EXAMPLES_DIR CORPUS_DIR

conf: every fenced block of REFERENCE_DIR/config-format.md, every
EXAMPLES_DIR/*.conf, and each example that includes another file bundled
with it in the harness's multi-file form (a line "@@@ NAME" starts a file).
json: every JSON object or array found in the fenced blocks of
client-protocol.md (INFO, CONNECT) and jetstream-api.md (requests,
responses), including the JSON after an op name on a protocol line.

Files are named by content (sha1), like libFuzzer's merged entries, so
running this again adds nothing twice.
"""
import glob
import hashlib
import json
import os
import re
import sys


def blocks(path):
    """The fenced code blocks of a markdown file."""
    text = open(path, encoding="utf-8").read()
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


def write(corpus, data):
    os.makedirs(corpus, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(corpus, name), "wb") as f:
        f.write(data)


def json_values(text):
    """Top-level JSON objects/arrays embedded anywhere in text."""
    dec = json.JSONDecoder()
    i, found = 0, []
    while i < len(text):
        if text[i] in "{[":
            try:
                _, end = dec.raw_decode(text, i)
                if end - i > 2:
                    found.append(text[i:end])
                    i = end
                    continue
            except ValueError:
                pass
        i += 1
    return found


def conf_seeds(ref, examples, corpus):
    for b in blocks(os.path.join(ref, "config-format.md")):
        write(corpus, b.encode())
    confs = {os.path.basename(p): open(p, "rb").read()
             for p in sorted(glob.glob(os.path.join(examples, "*.conf")))}
    for name, data in confs.items():
        write(corpus, data)
        bundle = data
        for inc in re.findall(rb"^\s*include\s+\"?'?([^\s\"']+)", data, flags=re.M):
            base = os.path.basename(inc.decode())
            if base in confs:
                bundle += b"\n@@@ " + inc + b"\n" + confs[base]
        if bundle != data:
            write(corpus, bundle)


def json_seeds(ref, corpus):
    for doc in ("client-protocol.md", "jetstream-api.md"):
        for b in blocks(os.path.join(ref, doc)):
            for v in json_values(b):
                write(corpus, v.encode())


def main():
    ref, examples, corpus = sys.argv[1], sys.argv[2], sys.argv[3]
    conf_seeds(ref, examples, os.path.join(corpus, "conf"))
    json_seeds(ref, os.path.join(corpus, "json"))


if __name__ == "__main__":
    main()
