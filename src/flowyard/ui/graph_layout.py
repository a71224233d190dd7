"""Where each node of a run graph goes: a layered layout, every node in a column to the
right of all its upstreams, ordered within its column to keep edges short.

Layering is networkx's ``topological_generations`` (a node's column is the longest path of
dependencies that leads to it). Complete layered-drawing libraries were measured first, on
a 2,000-task graph of 10 stages with 1-3 inputs per task (about 4,000 edges), against the
300 ms server-time target for the whole page (``bench/ui_graph_libraries.py``; the page
itself in ``bench/ui_run_page.py``, figures in bench/RESULTS.md), best of 3 on a shared
2-core machine:

- grandalf 0.8 (pure-Python Sugiyama, one ``draw`` pass): 6.4 s;
- Graphviz ``dot -Tplain`` 2.43, default settings: 3.9 s; with crossing minimisation and
  network simplex cut to their least (``mclimit=0.01 nslimit=0.1 remincross=false
  splines=false``): 0.64 s, plus a process per page;
- networkx 3.6 ``topological_generations``: 7 ms.

So the layering comes from networkx and the order within a column is one barycenter pass
(each node placed by the mean row of its upstreams): the simplest ordering that keeps a
fan-out's children together, linear in the edges.

A graph with a cycle cannot come from a real run (a task's inputs ran before it), but
``task_inputs`` are client data: a cycle's nodes share one column (networkx's
``condensation``) rather than failing the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True, slots=True)
class Layout:
    """``columns[i]`` lists the nodes of layer ``i`` top to bottom; ``position[node]`` is
    its (column, row). ``edges`` are the (upstream, downstream) pairs between drawn nodes."""

    columns: list[list[uuid.UUID]]
    position: dict[uuid.UUID, tuple[int, int]]
    edges: list[tuple[uuid.UUID, uuid.UUID]]


def layered_layout(
    nodes: Sequence[uuid.UUID],
    upstreams: Mapping[uuid.UUID, Iterable[uuid.UUID]],
) -> Layout:
    """Lay out ``nodes`` (in their tie-break order: rows keep it among equals) by the
    ``upstreams`` each names; an upstream that is not one of ``nodes`` is ignored."""
    # Imported here: the server and CLI start without paying networkx's import (~0.1 s)
    # until a graph is first drawn.
    import networkx as nx  # noqa: F811

    known = set(nodes)
    edges = list(
        dict.fromkeys(
            (up, node)
            for node in nodes
            for up in upstreams.get(node, ())
            if up in known and up != node
        )
    )
    graph: nx.DiGraph[uuid.UUID] = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    try:
        generations = [list(g) for g in nx.topological_generations(graph)]
    except nx.NetworkXUnfeasible:
        generations = _generations_of_condensation(graph)
    rank = {node: i for i, node in enumerate(nodes)}
    columns = _order_columns(generations, graph, rank)
    position = {node: (c, r) for c, column in enumerate(columns) for r, node in enumerate(column)}
    return Layout(columns, position, edges)


def _generations_of_condensation(graph: nx.DiGraph[uuid.UUID]) -> list[list[uuid.UUID]]:
    """Layers of a graph with cycles: each strongly connected part is one unit."""
    import networkx as nx  # noqa: F811

    condensed = nx.condensation(graph)
    members = nx.get_node_attributes(condensed, "members")
    return [
        [node for part in generation for node in members[part]]
        for generation in nx.topological_generations(condensed)
    ]


def _order_columns(
    generations: list[list[uuid.UUID]],
    graph: nx.DiGraph[uuid.UUID],
    rank: Mapping[uuid.UUID, int],
) -> list[list[uuid.UUID]]:
    row: dict[uuid.UUID, float] = {}
    columns: list[list[uuid.UUID]] = []
    for generation in generations:
        if not columns:
            column = sorted(generation, key=rank.__getitem__)
        else:
            # Barycenter: the mean row of the upstreams already placed (all of them are,
            # being in earlier columns); ties keep the given order.
            def key(node: uuid.UUID) -> tuple[float, int]:
                placed = [row[up] for up in graph.predecessors(node) if up in row]
                return (sum(placed) / len(placed) if placed else 0.0, rank[node])

            column = sorted(generation, key=key)
        for r, node in enumerate(column):
            row[node] = r
        columns.append(column)
    return columns
