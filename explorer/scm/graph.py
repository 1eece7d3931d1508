"""A small directed acyclic graph over named variables."""

from __future__ import annotations

from dataclasses import dataclass, field


class CycleError(ValueError):
    """The edges given do not form a DAG."""


@dataclass(frozen=True)
class Dag:
    """Nodes in a fixed order and edges (parent, child); refuses cycles at construction."""

    nodes: tuple[str, ...]
    edges: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = {n for e in self.edges for n in e} - set(self.nodes)
        if unknown:
            raise ValueError(f"edges name unknown nodes: {sorted(unknown)}")
        self.topological_order()  # raises CycleError

    def parents(self, node: str) -> list[str]:
        return [p for p in self.nodes if (p, node) in self.edges]

    def children(self, node: str) -> list[str]:
        return [c for c in self.nodes if (node, c) in self.edges]

    def descendants(self, nodes: set[str] | list[str]) -> set[str]:
        """Every node reachable from `nodes` (excluding them unless reachable from another)."""
        seen: set[str] = set()
        stack = [c for n in nodes for c in self.children(n)]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self.children(n))
        return seen

    def topological_order(self) -> list[str]:
        indegree = {n: len(self.parents(n)) for n in self.nodes}
        ready = [n for n in self.nodes if indegree[n] == 0]
        order = []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for c in self.children(n):
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
        if len(order) != len(self.nodes):
            cycle = self._a_cycle(set(self.nodes) - set(order))
            raise CycleError(f"the graph has a cycle: {' → '.join(cycle + cycle[:1])}")
        return order

    def _a_cycle(self, left: set[str]) -> list[str]:
        """One cycle among the nodes a topological sort could not place, in causal order.

        Every such node keeps a parent among them, so walking up parents must come back to a node already seen;
        the nodes merely downstream of a cycle (also left over) are never on that walk's loop.
        """
        path, at = [], min(left)
        while at not in path:
            path.append(at)
            at = min(p for p in self.parents(at) if p in left)
        cycle = path[path.index(at):][::-1]
        start = cycle.index(min(cycle))  # the same words whichever node the walk began from
        return cycle[start:] + cycle[:start]
