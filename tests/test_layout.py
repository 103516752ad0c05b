"""The shape of the code: no import cycle inside ``iotfleet/``, no module over 600 lines that does not say why.

Imports are read from the source (not by importing it), so an import inside a function counts as much as one at
the top of a module; only imports under ``if TYPE_CHECKING:`` are exempt, since they never run. A module that must
be longer than the limit says why in its docstring, in a paragraph that starts with ``Length:``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "iotfleet"
MAX_LINES = 600
LENGTH_NOTE = "Length:"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(node: ast.Import | ast.ImportFrom, current: str, is_package: bool) -> list[str]:
    """Every dotted name an import statement may load: the module, and ``module.name`` for each name."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = current.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    return [module] + [f"{module}.{alias.name}" for alias in node.names]


class _Imports(ast.NodeVisitor):
    """Collects what one module imports from ``known``, skipping what sits under ``if TYPE_CHECKING:``."""

    def __init__(self, name: str, is_package: bool, known: dict[str, Path]) -> None:
        self.name, self.is_package, self.known = name, is_package, known
        self.targets: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self._add(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._add(node)

    def _add(self, node: ast.Import | ast.ImportFrom) -> None:
        for dotted in _imported_names(node, self.name, self.is_package):
            while dotted and dotted not in self.known:
                dotted = dotted.rpartition(".")[0]
            if dotted and dotted != self.name:
                self.targets.add(dotted)


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the ``iotfleet`` modules it imports (a ``from pkg import name`` counts as ``pkg.name`` when
    that is a module, else as ``pkg``)."""
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        visitor = _Imports(name, path.name == "__init__.py", known)
        visitor.visit(ast.parse(path.read_text(), str(path)))
        graph[name] = visitor.targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_an_import_in_a_function_counts_and_one_under_type_checking_does_not(tmp_path):
    first = tmp_path / "a.py"
    first.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from iotfleet.c import thing\n"
        "def later():\n    from iotfleet.b import other\n"
    )
    second = tmp_path / "b.py"
    second.write_text("import iotfleet.a\n")
    third = tmp_path / "c.py"
    third.write_text("from iotfleet import a\n")
    graph = import_graph({"iotfleet.a": first, "iotfleet.b": second, "iotfleet.c": third})
    assert graph == {"iotfleet.a": {"iotfleet.b"}, "iotfleet.b": {"iotfleet.a"}, "iotfleet.c": {"iotfleet.a"}}
    assert cycles(graph) == [["iotfleet.a", "iotfleet.b"]]


def test_no_import_cycle_inside_iotfleet():
    found = cycles(import_graph(modules()))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(component) for component in found)


def _explains_its_length(path: Path) -> bool:
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    return any(paragraph.strip().startswith(LENGTH_NOTE) for paragraph in docstring.split("\n\n"))


def unexplained_length(path: Path) -> int | None:
    """The module's line count when it is over the limit without a ``Length:`` paragraph, else None."""
    lines = len(path.read_text().splitlines())
    return lines if lines > MAX_LINES and not _explains_its_length(path) else None


def test_the_length_check_flags_a_long_module_only_without_its_reason(tmp_path):
    body = "x = 1\n" * MAX_LINES
    silent = tmp_path / "silent.py"
    silent.write_text('"""A module."""\n' + body)
    explained = tmp_path / "explained.py"
    explained.write_text(f'"""A module.\n\n{LENGTH_NOTE} one table that reads best whole."""\n' + body)
    short = tmp_path / "short.py"
    short.write_text('"""A module."""\n' + "x = 1\n" * (MAX_LINES - 1))
    assert unexplained_length(silent) == MAX_LINES + 1
    assert unexplained_length(explained) is None and unexplained_length(short) is None


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_over_600_lines_without_a_reason(name):
    path = modules()[name]
    lines = unexplained_length(path)
    assert lines is None, (
        f"{path.relative_to(PACKAGE_ROOT.parent)} has {lines} lines (limit {MAX_LINES}); split it along its "
        f"concepts, or say why it must be longer in a docstring paragraph starting with {LENGTH_NOTE!r}"
    )
