"""Draw the import graph of a package and fail if it has a cycle.

Reads every module of the package with :mod:`ast` (nothing is imported or run) and records
each import of another module of the same package, of one of three kinds:

* ``module``: runs when the module is imported (top level, class bodies, ``try``/``if``
  blocks at top level);
* ``function``: inside a function or method body (runs on the first call);
* ``type-checking``: under ``if TYPE_CHECKING:`` (never runs; type checkers follow it).

Prints the graph as text (one line per module: what it imports, kind in brackets for the
last two), optionally writes it as a Graphviz DOT file (``--dot``), then lists the cycles,
separately for those made of module-level imports only, those that need a function-level
import, and those that need a ``TYPE_CHECKING`` import. Exits 1 if there is any cycle (of
any kind), 0 otherwise.

Usage: ``python tools/import_graph.py [PACKAGE_DIR] [--dot FILE] [--quiet]`` (the default
package is ``aiohcs`` next to this folder).
"""

from __future__ import annotations

import argparse
import ast
import itertools
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MODULE: Final = "module"
FUNCTION: Final = "function"
TYPE_CHECKING: Final = "type-checking"
#: The kinds from the strongest (runs at import) to the weakest (never runs).
KINDS: Final = (MODULE, FUNCTION, TYPE_CHECKING)
_LABELS: Final = {
    MODULE: "module-level imports only",
    FUNCTION: "through a function-level import",
    TYPE_CHECKING: "through a TYPE_CHECKING import",
}
_DOT_STYLE: Final = {MODULE: "solid", FUNCTION: "dashed", TYPE_CHECKING: "dotted"}

#: module -> imported module -> the strongest kind of import between them.
Graph = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Found:
    """One import statement's target, as written, and where it stands."""

    target: str
    names: tuple[str, ...]
    kind: str


# ---------------------------------------------------------------- reading the package


def module_names(package_dir: Path) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (``pkg/__init__.py`` is ``pkg``)."""
    root = package_dir.parent
    found: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(body: Iterable[ast.stmt], kind: str, module: str, is_package: bool) -> Iterator[Found]:
    """The imports in ``body`` (recursively), each with the kind of the block it is in."""
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Found(alias.name, (), kind)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            yield Found(base, tuple(alias.name for alias in node.names), kind)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = kind if kind == TYPE_CHECKING else FUNCTION
            yield from _imports(node.body, inner, module, is_package)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.body, TYPE_CHECKING, module, is_package)
            yield from _imports(node.orelse, kind, module, is_package)
        else:
            for child in _blocks(node):
                yield from _imports(child, kind, module, is_package)


def _blocks(node: ast.stmt) -> Iterator[list[ast.stmt]]:
    """The statement lists nested in ``node`` (if/try/with/for/class/match bodies...)."""
    for name in ("body", "orelse", "finalbody"):
        value = getattr(node, name, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            yield value
    for handler in getattr(node, "handlers", ()):
        yield handler.body
    for case in getattr(node, "cases", ()):
        yield case.body


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` reads from (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (node.level - 1)]
    if node.module:
        parts.append(node.module)
    return ".".join(parts)


def _bound_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level (assignments, defs, classes, imports)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    return bound


def _is_extension(package_file: Path, name: str) -> bool:
    """True if ``name`` is a compiled module next to ``package_file`` (``_hcs.abi3.so``)."""
    return package_file.name == "__init__.py" and any(
        path.suffix in (".so", ".pyd") for path in package_file.parent.glob(f"{name}.*")
    )


def _provides(file: Path, names: set[str], name: str) -> bool:
    """True if ``from <the module in file> import name`` depends on that module's code.

    For a package, a name its ``__init__.py`` does not bind is served by its module
    ``__getattr__`` (lazy attributes) unless it is a compiled module: one whose file is
    there (``_hcs.abi3.so``), or, in a tree not built yet, any private (``_name``) one.
    """
    if file.name != "__init__.py" or name in names or name == "*":
        return True
    if name.startswith("_"):
        return False
    return "__getattr__" in names and not _is_extension(file, name)


def _targets(found: Found, modules: Mapping[str, Path], bound: Mapping[str, set[str]]) -> set[str]:
    """The package's modules an import names (``from pkg import sub`` names ``pkg.sub``).

    ``from pkg import name`` (``pkg`` a package) names ``pkg`` itself when its
    ``__init__.py`` binds ``name`` or may provide it (a module ``__getattr__``), unless
    ``name`` is a compiled extension module of the package (outside the graph).
    """
    targets: set[str] = set()
    for name in found.names:
        if f"{found.target}.{name}" in modules:
            targets.add(f"{found.target}.{name}")
        elif found.target in modules and _provides(
            modules[found.target], bound[found.target], name
        ):
            targets.add(found.target)
    if not found.names and found.target in modules:
        targets.add(found.target)
    return targets


def build_graph(package_dir: Path) -> Graph:
    """The import graph of the package in ``package_dir`` (only imports within it)."""
    modules = module_names(package_dir)
    trees = {
        name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, path in modules.items()
    }
    bound = {name: _bound_names(tree) for name, tree in trees.items()}
    graph: Graph = {name: {} for name in modules}
    for name, tree in trees.items():
        is_package = modules[name].name == "__init__.py"
        for found in _imports(tree.body, MODULE, name, is_package):
            for target in _targets(found, modules, bound) - {name}:
                known = graph[name].get(target)
                if known is None or KINDS.index(found.kind) < KINDS.index(known):
                    graph[name][target] = found.kind
    return graph


# ---------------------------------------------------------------- cycles


def _restricted(graph: Graph, kinds: Sequence[str]) -> dict[str, list[str]]:
    return {
        name: sorted(t for t, kind in targets.items() if kind in kinds)
        for name, targets in graph.items()
    }


def _components(edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(edges[succ])))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _shortest_cycle(edges: Mapping[str, list[str]], start: str, members: set[str]) -> list[str]:
    """The shortest cycle through ``start`` inside one component: [start, ..., start]."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in edges[node]:
            if succ not in members:
                continue
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if succ not in parent:
                parent[succ] = node
                queue.append(succ)
    return []


def _normalised(cycle: list[str]) -> tuple[str, ...]:
    """A cycle written from its smallest module, so that rotations compare equal."""
    ring = cycle[:-1]
    first = ring.index(min(ring))
    turned = ring[first:] + ring[:first]
    return (*turned, turned[0])


def find_cycles(graph: Graph, per_component: int = 3) -> dict[str, list[tuple[str, ...]]]:
    """The cycles by kind: for each kind, those that need an import of that kind.

    ``MODULE``: cycles of module-level imports only; ``FUNCTION``: cycles that appear once
    function-level imports count; ``TYPE_CHECKING``: once ``TYPE_CHECKING`` imports count.
    Of each group of modules that import each other (a strongly connected component), the
    ``per_component`` shortest cycles not found at an earlier kind are given.
    """
    seen: set[tuple[str, ...]] = set()
    by_kind: dict[str, list[tuple[str, ...]]] = {}
    for depth, kind in enumerate(KINDS):
        edges = _restricted(graph, KINDS[: depth + 1])
        cycles: list[tuple[str, ...]] = []
        for component in _components(edges):
            members = set(component)
            found = {_normalised(_shortest_cycle(edges, start, members)) for start in component}
            new = sorted(found - seen, key=lambda c: (len(c), c))[:per_component]
            seen.update(found)
            cycles += new
        by_kind[kind] = sorted(cycles, key=lambda c: (len(c), c))
    return by_kind


# ---------------------------------------------------------------- output


def format_graph(graph: Graph) -> str:
    """One line per module: ``name -> a, b [function], c [type-checking]``."""
    lines = []
    for name in sorted(graph):
        targets = graph[name]
        listed = ", ".join(
            t if kind == MODULE else f"{t} [{kind}]" for t, kind in sorted(targets.items())
        )
        lines.append(f"{name} -> {listed}" if listed else name)
    return "\n".join(lines)


def format_cycle(graph: Graph, cycle: Sequence[str]) -> str:
    """``a -> b -[function]-> c -> a``: each step with its kind unless module-level."""
    text = cycle[0]
    for source, target in itertools.pairwise(cycle):
        kind = graph[source][target]
        text += " -> " if kind == MODULE else f" -[{kind}]-> "
        text += target
    return text


def to_dot(graph: Graph, cycles: Mapping[str, list[tuple[str, ...]]]) -> str:
    """The graph in Graphviz DOT: solid, dashed and dotted edges by kind; cycles in red."""
    on_cycle = {
        (a, b) for found in cycles.values() for cycle in found for a, b in itertools.pairwise(cycle)
    }
    lines = ["digraph imports {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    lines += [f'  "{name}";' for name in sorted(graph)]
    for name in sorted(graph):
        for target, kind in sorted(graph[name].items()):
            attributes = f"style={_DOT_STYLE[kind]}"
            if (name, target) in on_cycle:
                attributes += ", color=red"
            lines.append(f'  "{name}" -> "{target}" [{attributes}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the graph and its cycles; 1 if there is a cycle."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(__file__).resolve().parent.parent / "aiohcs"
    parser.add_argument("package", nargs="?", type=Path, default=default)
    parser.add_argument("--dot", type=Path, help="also write the graph to this DOT file")
    parser.add_argument("--quiet", action="store_true", help="print only the cycles")
    args = parser.parse_args(argv)
    package: Path = args.package.resolve()
    if not (package / "__init__.py").is_file():
        parser.error(f"{package} is not a package (no __init__.py)")
    graph = build_graph(package)
    cycles = find_cycles(graph)
    if not args.quiet:
        print(format_graph(graph))
        print()
    if args.dot is not None:
        args.dot.write_text(to_dot(graph, cycles), encoding="utf-8")
    edges = sum(len(t) for t in graph.values())
    total = sum(len(found) for found in cycles.values())
    print(f"{len(graph)} modules, {edges} imports within {package.name}: {total} cycle(s)")
    for kind in KINDS:
        if cycles[kind]:
            print(f"cycles, {_LABELS[kind]}:")
            for cycle in cycles[kind]:
                print(f"  {format_cycle(graph, cycle)}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
