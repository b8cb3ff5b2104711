#!/usr/bin/env python3
"""Regenerates Fuzz/corpus/ (the fuzzer's seed inputs) from the spec's vectors.json.

For every payload in vectors.json it writes two files:
  <name>.bin      the payload as it is (payload_hex; compressed when the writer compressed it)
  <name>-raw.bin  the same header with expanded_size = 0, followed by body_uncompressed_hex
It also writes one seed per value_encoding vector that is a primary-key blob (pk-<n>.bin).

Payloads are skipped, largest first, until the corpus is under 200 KB.

Usage: python3 Fuzz/make-corpus.py [path/to/vectors.json]
(default: ../shared/spec/vectors.json, else Tests/CloudSyncCoreTests/Fixtures/vectors.json)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "corpus")
BUDGET = 200 * 1024


def find_vectors():
    if len(sys.argv) > 1:
        return sys.argv[1]
    for candidate in (
        os.path.join(ROOT, "..", "shared", "spec", "vectors.json"),
        os.path.join(ROOT, "Tests", "CloudSyncCoreTests", "Fixtures", "vectors.json"),
    ):
        if os.path.exists(candidate):
            return candidate
    sys.exit("make-corpus: vectors.json not found; pass its path")


def main():
    with open(find_vectors()) as f:
        vectors = json.load(f)

    seeds = {}
    for p in vectors["payloads"]:
        payload = bytes.fromhex(p["payload_hex"])
        body = bytes.fromhex(p["body_uncompressed_hex"])
        raw = bytearray(payload[:32])
        raw[8:12] = b"\0\0\0\0"  # expanded_size = 0: the body is sent raw
        seeds[p["name"] + ".bin"] = payload
        seeds[p["name"] + "-raw.bin"] = bytes(raw) + body

    # Value encodings that form a primary-key blob (count byte + values) exercise PrimaryKeyCodec.
    for i, v in enumerate(vectors.get("value_encoding", [])):
        if "hex" not in v:  # very long values are given only as a prefix
            continue
        blob = bytes.fromhex(v["hex"])
        if blob and blob[0] == len(v["values"]) > 0:
            seeds["pk-%02d.bin" % i] = blob

    # Drop the largest payload pairs until the corpus fits the budget.
    while sum(len(b) for b in seeds.values()) > BUDGET:
        name = max((n for n in seeds if n.endswith("-raw.bin")), key=lambda n: len(seeds[n]))
        base = name[: -len("-raw.bin")]
        print("make-corpus: skipping %s (%d bytes raw)" % (base, len(seeds[name])))
        del seeds[name]
        seeds.pop(base + ".bin", None)

    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".bin"):
            os.remove(os.path.join(OUT, old))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    total = sum(len(b) for b in seeds.values())
    print("make-corpus: wrote %d files, %d bytes, to %s" % (len(seeds), total, os.path.relpath(OUT)))


if __name__ == "__main__":
    main()
