#!/usr/bin/env python3
"""Writes seed operation sequences for the sublist target.

    sublist_seeds.py CORPUS_DIR/sublist

The encoding is fuzz_sublist.c's: a flags byte, then operations (first
byte % 8: 0 insert, 2 remove, 3 match, 5 release a held result,
6 subject functions, 7 count/visit).  Subjects are a mode byte (tokens - 1)
and one byte per token indexing the token table; queue names a byte
(0 none, 4 "q1", 5 "q2").  The seeds replay the wildcard and queue-group
sessions of the client protocol reference (sections 10 and 11).
"""
import hashlib
import os
import sys

TOKENS = ["a", "b", "c", "foo", "bar", "*", ">", "", "*x", ">>", "a b", "\t",
          "A", "\u00e9", "$SYS"]


def subject(s):
    toks = s.split(".")
    return bytes([len(toks) - 1]) + bytes(TOKENS.index(t) for t in toks)


def insert(slot, s, queue=0):
    return bytes([0, slot]) + subject(s) + bytes([queue])


def remove(slot):
    return bytes([2, slot])


def match(s, hold=False):
    return bytes([3]) + subject(s) + bytes([1 if hold else 0])


def subjects(a, b, s):
    return bytes([6]) + subject(a) + subject(b) + subject(s)


SEEDS = [
    # subs a.*(1), a.>(2), >(3), *(4); PUB a.b -> 1,2,3; a -> 3,4; a.b.c -> 2,3
    b"\x00" + insert(1, "a.*") + insert(2, "a.>") + insert(3, ">") + insert(4, "*") +
    match("a.b") + match("a") + match("a.b.c") + bytes([7]),
    # queue groups and a plain sub on one subject, a held result across removes
    b"\x00" + insert(1, "foo", 4) + insert(2, "foo", 4) + insert(3, "foo") +
    insert(4, "foo.*", 5) + match("foo", True) + remove(1) + match("foo") +
    remove(3) + bytes([5, 0]) + match("foo.bar") + bytes([7]),
    # invalid filters are refused, literal '*' tokens in a published subject
    b"\x00" + insert(1, "a.>.b") + insert(2, "a..b") + insert(3, "a.*") +
    match("a.*") + match("a..b") + remove(3) + bytes([7]),
    # subject functions: subset and overlap
    b"\x00" + subjects("a.*", "a.>", "a.b") + subjects("foo.>", "*.bar", "foo.bar") +
    subjects("*.*", ">", "a.b") + subjects("a.b", "a.b", "a.b"),
    # the same with one allocation of the cached sublist failing
    b"\x01\x00\x05" + insert(1, "a.*") + insert(2, "a.>") + match("a.b") +
    match("a.b") + insert(3, "*.b") + match("a.b") + bytes([7]),
]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for data in SEEDS:
        with open(os.path.join(out, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
