"""House rules for the package's own code: modules under 500 lines, functions under 80, no import cycle at module level."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mindconverter"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
#: Modules over the limit, each with the reason it is still allowed (remove an entry when the module is split).
TOO_LONG_FOR_NOW = {
}
#: Functions over the limit, likewise.
TOO_LONG_FUNCTIONS_FOR_NOW = {
}


def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _module_name(rel: str) -> str:
    parts = ["mindconverter", *Path(rel).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_is_over_500_lines():
    long = {rel: len((PACKAGE / rel).read_text().splitlines()) for rel in _modules()}
    over = {rel: n for rel, n in long.items() if n > MAX_MODULE_LINES and rel not in TOO_LONG_FOR_NOW}
    assert not over, f"split these modules (one job each): {over}"
    stale = [rel for rel in TOO_LONG_FOR_NOW if long.get(rel, 0) <= MAX_MODULE_LINES]
    assert not stale, f"these modules are within the limit now: remove them from TOO_LONG_FOR_NOW: {stale}"


def test_no_function_is_over_80_lines():
    over = []
    for rel, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and f"{rel}:{node.name}" not in TOO_LONG_FUNCTIONS_FOR_NOW:
                    over.append(f"{rel}:{node.lineno} {node.name} ({lines} lines)")
    assert not over, "split these functions: " + ", ".join(over)


def _module_level_imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Package modules imported when `name` is imported (top-level statements only, not under TYPE_CHECKING)."""
    found = set()
    package = name if (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").exists() else name.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
            if isinstance(sub, ast.Import):
                found |= {a.name for a in sub.names}
            elif isinstance(sub, ast.ImportFrom):
                base = sub.module or ""
                if sub.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - sub.level + 1] + ([base] if base else []))
                found.add(base)
                found |= {f"{base}.{a.name}" for a in sub.names}
    return {m for m in found if m in known and m != name}


def test_no_import_cycle_at_module_level():
    trees = {_module_name(rel): tree for rel, tree in _modules().items()}
    graph = {name: _module_level_imports(name, tree, set(trees)) for name, tree in trees.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))
