"""The import graph of the project's modules (every import: top-level, inside functions, under TYPE_CHECKING)
has no cycle; models/ imports nothing above it; clients/ is the ground floor (it imports only itself)."""

from __future__ import annotations

from tests.import_scan import PACKAGES, graph


def _cycles(edges: dict[str, dict[str, list[int]]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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


def _describe(component: list[str], edges: dict[str, dict[str, list[int]]]) -> str:
    inside = set(component)
    arrows = [
        f"  {a} -> {b} (line {', '.join(map(str, lines))})"
        for a in component
        for b, lines in sorted(edges[a].items())
        if b in inside
    ]
    return "cycle: " + " <-> ".join(component) + "\n" + "\n".join(arrows)


def test_the_scan_sees_lazy_and_relative_imports():
    edges = graph()
    assert "clients.ocr_client.load" in edges["clients.ocr_client.cli"]  # imported inside a function
    assert set(edges) >= {"edge_runtime", "server.app", "fleet.agent.agent", "models.bundle", "quantize"}


def test_no_import_cycles():
    edges = graph()
    cycles = _cycles(edges)
    for component in cycles:
        print(_describe(component, edges))
    assert not cycles, "\n".join(_describe(c, edges) for c in cycles)


def test_models_import_nothing_above_them():
    above = tuple(p for p in PACKAGES if p != "models")
    arrows = [
        f"{a} -> {b}"
        for a, bs in graph().items()
        if a.split(".")[0] == "models"
        for b in bs
        if b.split(".")[0] in above
    ]
    assert arrows == []


def test_clients_are_the_ground_floor():
    arrows = [
        f"{a} -> {b}"
        for a, bs in graph().items()
        if a.split(".")[0] == "clients"
        for b in bs
        if b.split(".")[0] != "clients"
    ]
    assert arrows == []
