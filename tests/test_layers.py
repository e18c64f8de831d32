"""The layering rule of docs/ARCHITECTURE.md, checked against the code's own imports.

The table under "## Layers" places every module of ``src/hosepipe`` in a layer; a module
may import only from its own layer or the ones above it, and no import circle may exist
(function-level imports count; ``if TYPE_CHECKING:`` blocks, which never run, do not).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "hosepipe"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def layer_table(text: str) -> dict[str, int]:
    """Pattern -> layer number, from the markdown table under '## Layers'."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    table: dict[str, int] = {}
    for line in section.splitlines():
        m = re.match(r"^\|\s*(\d+)\s[^|]*\|([^|]*)\|", line)
        if m:
            for name in re.findall(r"`([^`]+)`", m.group(2)):
                assert name not in table, f"{name} is placed twice in the layer table"
                table[name] = int(m.group(1))
    return table


def modules(package: Path) -> dict[str, Path]:
    """Module name relative to the package ('hosepipe' for its __init__) -> file."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or "hosepipe"] = path
    return found


def layer_of(module: str, table: dict[str, int]) -> int | None:
    if module in table:
        return table[module]
    best = None
    for pattern, layer in table.items():
        if pattern.endswith(".*"):
            base = pattern[:-2]
            if (module == base or module.startswith(base + ".")) and (
                best is None or len(base) > len(best[0])
            ):
                best = (base, layer)
    return None if best is None else best[1]


class _Imports(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[ast.Import | ast.ImportFrom] = []

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append(node)


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that *module* imports (relative names)."""
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text()))
    is_package = path.name == "__init__.py"
    full = "hosepipe" if module == "hosepipe" else f"hosepipe.{module}"
    out = set()
    for node in visitor.found:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = full.split(".") if is_package else full.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
        for t in targets:
            if t == "hosepipe" or not t.startswith("hosepipe."):
                continue
            rel = t[len("hosepipe.") :]
            if rel in known and rel != module:
                out.add(rel)
    return out


def upward(graph: dict[str, set[str]], table: dict[str, int]) -> list[str]:
    """Every import from a lower layer (a higher number) up to a higher one."""
    bad = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            ls, ld = layer_of(src, table), layer_of(dst, table)
            if ls is not None and ld is not None and ld > ls:
                bad.append(f"{src} (layer {ls}) imports {dst} (layer {ld})")
    return bad


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


TABLE = layer_table(ARCHITECTURE.read_text())
MODULES = modules(PACKAGE)
GRAPH = {m: imports(m, p, set(MODULES)) for m, p in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if layer_of(m, TABLE) is None]
    assert unplaced == [], (
        f"modules the layer table in docs/ARCHITECTURE.md does not place: {unplaced}"
    )


def test_the_table_names_only_real_modules() -> None:
    stale = [p for p in TABLE if not p.endswith(".*") and p not in MODULES]
    assert stale == []


def test_no_import_runs_up_a_layer() -> None:
    assert upward(GRAPH, TABLE) == []


def test_no_import_circle() -> None:
    assert circles(GRAPH) == []


def test_the_checks_see_imports() -> None:
    # the graph is read from the code: the public face reaches the descriptions and the
    # drivers, and a function-level import (push mode, imported on first use) counts
    assert {"_nodes", "_terminals"} <= GRAPH["_stream"]
    assert "_push" in GRAPH["_terminals"]
    assert layer_of("_drive._sync", TABLE) == layer_of("_drive", TABLE) == 4


@pytest.mark.parametrize(
    ("graph", "want_up", "want_circles"),
    [
        ({"_nodes": {"_stream"}, "_stream": set()}, 1, []),
        ({"_stream": {"_operators"}, "_operators": {"_stream"}}, 0, [["_operators", "_stream"]]),
        ({"_stream": {"_nodes"}, "_nodes": set()}, 0, []),
    ],
)
def test_the_checks_fail_on_a_bad_graph(
    graph: dict[str, set[str]], want_up: int, want_circles: list[list[str]]
) -> None:
    assert len(upward(graph, TABLE)) == want_up
    assert circles(graph) == want_circles


def test_type_checking_imports_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "from hosepipe._typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from hosepipe import _stream\n"
        "def f():\n    from hosepipe import _nodes\n"
    )
    assert imports("m", tmp_path / "m.py", {"_stream", "_nodes", "_typing"}) == {
        "_typing",
        "_nodes",
    }
