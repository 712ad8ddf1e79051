"""No module of ``app`` imports itself back: the import graph has no cycle.

A cycle makes the order of imports matter and hides which layer depends on which, so a
change that closes one fails here, naming the modules on it. Imports under
``if TYPE_CHECKING:`` count too: a cycle that only annotations close is still a cycle of
dependencies (a protocol in the lower module breaks it).
"""

from collections.abc import Iterable, Mapping

import grimp


def _import_graph() -> dict[str, set[str]]:
    # No cache: a stale cache of another checkout must never hide a cycle.
    graph = grimp.build_graph("app", exclude_type_checking_imports=False, cache_dir=None)
    return {
        module: {imported for imported in graph.find_modules_directly_imported_by(module)}
        for module in graph.modules
    }


def _cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a self-import.

    Tarjan's algorithm, iterative (a deep package must not hit the recursion limit).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(edges[child])))
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
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_and_nothing_else() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set[str]()}

    assert sorted(_cycles(edges)) == [["a", "b", "c"], ["e"]]


def test_no_module_of_the_app_imports_itself_back() -> None:
    edges = _import_graph()
    assert "app.runtime.container" in edges  # the graph is the real package

    cycles = _cycles(edges)

    described = [
        " <-> ".join(component)
        + ": "
        + "; ".join(f"{a} -> {b}" for a in component for b in sorted(edges[a]) if b in component)
        for component in cycles
    ]
    assert described == []
