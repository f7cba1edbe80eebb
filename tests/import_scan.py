"""Every import of the project's own modules, read from the source (top-level and nested, lazy ones included):
the layering and import-graph tests build on it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

__all__ = ["PACKAGES", "Import", "module_files", "imports_of", "graph"]

PACKAGES = ("edge_runtime", "server", "clients", "fleet", "models", "quantize", "bench")
_SKIP = ("gen", "node", "node_modules", "migrations", "__pycache__")  # generated code, other languages, alembic


@dataclass(frozen=True)
class Import:
    module: str  # the project module (or the third-party name) it reaches
    line: int
    top_level: bool


def module_files(packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of ``packages`` (generated code left out)."""
    out = {}
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if any(p in _SKIP for p in parts):
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _dynamic(node: ast.AST) -> str | None:
    """``importlib.import_module("a.b")`` and ``__import__("a.b")`` with a constant name."""
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    value = node.args[0].value
    return value if name in ("import_module", "__import__") and isinstance(value, str) else None


def imports_of(path: Path, module: str, known: set[str] | frozenset[str] = frozenset()) -> list[Import]:
    """What ``module`` (the file ``path``) imports, wherever the statement is. A name imported from a package
    resolves to its submodule where ``known`` has one (``from a import b`` -> ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    is_package = path.name == "__init__.py"
    out: list[Import] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        elif (dynamic := _dynamic(node)) is not None:
            names = [dynamic]
        line = getattr(node, "lineno", 0)  # every node that yields a name is a statement or a call
        out.extend(Import(_known_prefix(name, known), line, id(node) in top) for name in names)
    return out


def _known_prefix(name: str, known: set[str] | frozenset[str]) -> str:
    """The longest prefix of ``name`` that is a project module; generated code stays itself (no edge)."""
    parts = name.split(".")
    if any(p in _SKIP for p in parts):
        return name
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in known:
            return ".".join(parts[:k])
    return name


def _packages_entered(importer: str, imported: str, known: set[str]) -> list[str]:
    """The packages whose ``__init__`` Python runs to import ``imported`` from ``importer``: each enclosing package
    of ``imported`` that does not also enclose ``importer`` (those ran before ``importer`` did)."""
    parts = imported.split(".")
    entered = []
    for k in range(1, len(parts)):
        package = ".".join(parts[:k])
        if package in known and not (importer == package or importer.startswith(package + ".")):
            entered.append(package)
    return entered


def graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, dict[str, list[int]]]:
    """module -> {imported project module: lines}, every import counted (top-level, nested, TYPE_CHECKING), and
    importing ``a.b.c`` from outside package ``a.b`` counted as importing ``a.b`` too (its ``__init__`` runs)."""
    files = module_files(packages)
    known = set(files)
    out: dict[str, dict[str, list[int]]] = {}
    for module, path in files.items():
        edges: dict[str, list[int]] = {}
        for imp in imports_of(path, module, known):
            if imp.module not in known or imp.module == module:
                continue
            for target in (imp.module, *_packages_entered(module, imp.module, known)):
                lines = edges.setdefault(target, [])
                if imp.line not in lines:
                    lines.append(imp.line)
        out[module] = edges
    return out
