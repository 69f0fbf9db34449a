#!/usr/bin/env python3
"""Check and summarise golden fixture files (the format written by tools/capture_proxy.py).

Usage: python3 tools/fixture_summary.py zk-proto/tests/fixtures/*.txt
Verifies every non-comment line parses (direction, kind, opcode, hex whose 4-byte length prefix
matches the frame) and prints frame counts per kind and opcode. Exits 1 on a malformed line.
"""

import collections
import sys


def check(path):
    counts = collections.Counter()
    problems = []
    with open(path, encoding="ascii") as f:
        lines = f.read().splitlines()
    if not lines or not lines[0].startswith("#"):
        problems.append("file does not begin with a '#' line")
    for n, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split(" ")
        try:
            if parts[0] not in ("C->S", "S->C"):
                raise ValueError("direction")
            if parts[1] == "connect" and len(parts) == 3:
                key, hexed = (parts[0], "connect"), parts[2]
            elif len(parts) == 4 and (parts[0], parts[1]) in (("C->S", "request"), ("S->C", "reply"), ("S->C", "event")):
                op = int(parts[2])
                if parts[1] == "event" and op != 0:
                    raise ValueError("event opcode must be 0")
                key, hexed = (parts[0], parts[1], op), parts[3]
            else:
                raise ValueError("shape")
            frame = bytes.fromhex(hexed)
            if len(frame) < 4 or int.from_bytes(frame[:4], "big") != len(frame) - 4:
                raise ValueError("length prefix does not match")
            counts[key] += 1
        except (ValueError, IndexError) as e:
            problems.append(f"line {n}: {e}: {line[:80]}")
    return counts, problems


def main(paths):
    bad = False
    for path in paths:
        counts, problems = check(path)
        print(f"== {path}")
        for key in sorted(counts, key=lambda k: (len(k), k[0], k[1], k[2] if len(k) > 2 else 0)):
            print(f"  {' '.join(str(k) for k in key)}: {counts[key]}")
        for p in problems:
            bad = True
            print(f"  PROBLEM {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
