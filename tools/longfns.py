#!/usr/bin/env python3
"""The longest functions under src/ (non-test code), by lines from `fn` to its closing brace.

usage: python3 tools/longfns.py [N] [SRC_DIR]   (default: the 10 longest under src)

rustfmt puts a function's closing brace alone on a line at the `fn`'s indentation, which is
how the end is found.
"""
import os
import re
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
src = sys.argv[2] if len(sys.argv) > 2 else "src"
found = []
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(root, f)
        lines = open(path, encoding="utf-8").read().split("\n")
        for i, line in enumerate(lines):
            if re.match(r"\s*#\[cfg\(test\)\]", line):
                break
            m = re.match(r"(\s*)(?:pub(?:\([a-z]+\))? )?(?:const )?(?:async )?fn ([a-z_0-9]+)", line)
            if not m:
                continue
            indent = m.group(1)
            for j in range(i, len(lines)):
                if lines[j] == indent + "}" or (j > i and lines[j].startswith(indent + "}")
                                                 and lines[j].strip() in ("}", "};")):
                    found.append((j - i + 1, f"{path}:{i + 1}", m.group(2)))
                    break
                if j == i and lines[j].rstrip().endswith(";"):
                    break
for length, where, name in sorted(found, reverse=True)[:n]:
    print(f"{length:5}  {name:<32} {where}")
