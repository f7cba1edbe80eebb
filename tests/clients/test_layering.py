"""Who may import whom: the client library runs without server/; models/ is the ground floor; edge_runtime/
reaches a server only through the client library, imported lazily."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO


def _loaded_after(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    code = (f"import sys; {statement}; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {prefixes!r}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout)  # noqa: S307 (our own printed list)


def test_client_library_imports_without_server_or_runtime():
    statement = ("import clients.ocr_client.cli, clients.ocr_client.client, clients.ocr_client.results, "
                 "clients.ocr_client.fleet")
    assert _loaded_after(statement, ("server", "edge_runtime", "models", "quantize")) == []


def test_models_import_nothing_above_them():
    statement = "import models, models.bundle, models.fetch, models.errors, models.__main__"
    assert _loaded_after(statement, ("server", "edge_runtime", "clients", "quantize", "grpc")) == []


def _imports(path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_edge_runtime_never_imports_server_and_clients_only_lazily():
    for path in sorted((REPO / "edge_runtime").rglob("*.py")):
        everywhere = _imports(path, top_level_only=False)
        assert "server" not in everywhere, f"{path} imports server"
        assert not {"grpc", "clients"} & _imports(path, top_level_only=True), f"{path} imports grpc or clients"
