#!/usr/bin/env python3
"""Module import cycles in a Rust library crate: which top-level modules refer to which
(every `crate::` path outside unit tests), and any cycle among them.

Usage: scripts/tools/module-cycles.py [src dir, default sync-server/src]
Prints the arrows, one module a line, and exits 1 if two or more modules form a cycle.
A module's own submodules (`room/loading.rs` using `super::`) are one module here.
"""

import re
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else "sync-server/src")
TESTS = re.compile(r"#\[cfg\(test\)\]\s*mod tests\s*\{", re.S)
PATH = re.compile(r"\bcrate::(\{[^}]*\}|\w+)")
COMMENT = re.compile(r"//.*")


def module_of(path: Path) -> str | None:
    parts = path.relative_to(src).parts
    if parts in (("lib.rs",), ("main.rs",)):
        return None  # the crate root declares the modules; the binary is another crate
    return parts[0].removesuffix(".rs")


edges: dict[str, set[str]] = {}
for file in sorted(src.rglob("*.rs")):
    module = module_of(file)
    if module is None or file.name == "tests.rs":
        continue
    text = file.read_text()
    cut = TESTS.search(text)
    if cut:
        text = text[: cut.start()]
    text = COMMENT.sub("", text)
    targets = edges.setdefault(module, set())
    for match in PATH.finditer(text):
        names = match.group(1).strip("{}").split(",")
        for name in names:
            name = name.strip().split("::")[0]
            if name and name not in ("self", module):
                targets.add(name)

# Tarjan's strongly connected components.
index: dict[str, int] = {}
low: dict[str, int] = {}
stack: list[str] = []
on_stack: set[str] = set()
cycles: list[list[str]] = []


def visit(node: str) -> None:
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for target in sorted(edges.get(node, ())):
        if target not in index:
            visit(target)
            low[node] = min(low[node], low[target])
        elif target in on_stack:
            low[node] = min(low[node], index[target])
    if low[node] == index[node]:
        component = []
        while True:
            top = stack.pop()
            on_stack.discard(top)
            component.append(top)
            if top == node:
                break
        if len(component) > 1:
            cycles.append(sorted(component))


for node in sorted(edges):
    if node not in index:
        visit(node)

for module in sorted(edges):
    print(f"{module} -> {', '.join(sorted(edges[module])) or '(nothing)'}")
if cycles:
    for cycle in cycles:
        print("cycle: " + " <-> ".join(cycle), file=sys.stderr)
    sys.exit(1)
print(f"no cycle among {len(edges)} modules")
