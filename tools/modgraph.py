#!/usr/bin/env python3
"""Who imports whom among evalgate's top-level modules (non-test code under src/).

usage: python3 tools/modgraph.py [--why A B] [SRC_DIR]

Prints each module's layer and the modules it imports, then any import that points to a
higher layer (against the one-way flow in README's Development section) and any cycle.
Exit status 1 when there is an upward import or a cycle, so CI can keep the flow one way.
With --why A B: the lines in A that import B.
"""
import os
import re
import sys

# Lowest first. A module may import modules of its own layer or lower ones, never higher.
LAYERS = [
    ("base", ["diag", "env", "hash", "text", "files", "vector", "vcs", "secrets", "output",
              "stats", "status", "metric", "id", "intern"]),
    ("inputs", ["prompt", "golden", "contract", "judge"]),
    ("config", ["config", "import"]),
    ("plan", ["plan"]),
    ("provider/store", ["provider", "store", "runlog"]),
    ("errors", ["error"]),
    ("score", ["score"]),
    ("runner", ["runner"]),
    ("analyses", ["analysis", "compare", "gate", "history", "pairwise", "review", "feedback",
                  "features", "cascade", "merge", "runfile"]),
    ("workflows", ["workflow"]),
    ("report model", ["report"]),
    ("renderers", ["render"]),
    ("serve", ["serve"]),
    ("cli", ["cli", "crate"]),
]


def modname(src, path):
    rel = os.path.relpath(path, src)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts[0] if parts else "crate"


def imports(src):
    """{(a, b): [(file, line), ...]} for every crate::b path in module a."""
    found = {}
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            p = os.path.join(root, f)
            text = open(p, encoding="utf-8").read()
            text = re.split(r"#\[cfg\(test\)\]\s*mod\s+tests", text)[0]
            a = modname(src, p)
            def add(b, pos):
                if b != a and b != "self":
                    line = text.count("\n", 0, pos) + 1
                    found.setdefault((a, b), []).append((p, line))
            for m in re.finditer(r"crate::([a-z_]+)", text):
                add(m.group(1), m.start())
            for m in re.finditer(r"use crate::\{([^;]*)\}", text, re.S):
                for b in re.findall(r"(?:^|[,{\s])([a-z_]+)(?=::|\s*[,}]|$)", m.group(1)):
                    add(b, m.start())
    return found


def main():
    args = sys.argv[1:]
    why = None
    if args[:1] == ["--why"]:
        why, args = (args[1], args[2]), args[3:]
    src = args[0] if args else "src"
    found = imports(src)
    if why:
        for p, line in found.get(why, []):
            print(f"{p}:{line}")
        return 0
    layer = {m: i for i, (_, ms) in enumerate(LAYERS) for m in ms}
    edges = {}
    for a, b in found:
        edges.setdefault(a, set()).add(b)
    nodes = sorted(set(edges) | {b for v in edges.values() for b in v})
    unknown = [m for m in nodes if m not in layer]
    for name_i, (name, ms) in enumerate(LAYERS):
        for m in ms:
            if m in nodes:
                print(f"{name:>14}  {m:<10} -> {' '.join(sorted(edges.get(m, ()))) or '-'}")
    up = [(a, b) for (a, b) in sorted(found) if a in layer and b in layer and layer[b] > layer[a]]
    for a, b in up:
        p, line = found[(a, b)][0]
        print(f"upward: {a} ({LAYERS[layer[a]][0]}) imports {b} ({LAYERS[layer[b]][0]}) at {p}:{line}")
    # Renderers read the report model and base helpers only, never an analysis or the store.
    base = set(LAYERS[0][1])
    for b in sorted(edges.get("render", ())):
        if b != "report" and b not in base:
            p, line = found[("render", b)][0]
            up.append(("render", b))
            print(f"renderer reads more than the report model: render imports {b} at {p}:{line}")
    for m in unknown:
        print(f"unknown module (give it a layer in tools/modgraph.py): {m}")
    # Cycles (Tarjan).
    idx, low, on, st, sccs, n = {}, {}, set(), [], [], [0]
    sys.setrecursionlimit(10000)
    def sc(v):
        idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in idx:
                sc(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))
    for v in nodes:
        if v not in idx:
            sc(v)
    for c in sccs:
        print("cycle:", " ".join(c))
    print(f"{len(nodes)} modules, {len(up)} upward imports, {len(sccs)} cycles")
    return 1 if up or sccs or unknown else 0


sys.exit(main())
