"""A flow run's dependency graph drawn by the server as SVG.

Input is what the application layer computes for ``/flow_runs/{id}/graph-v2``
(:func:`flowyard.server.operations.flow_run_graph.read_flow_run_graph`): task runs and
subflow runs as nodes, an edge from each upstream whose result (or ``wait_for``) a node
took. Columns come from :mod:`flowyard.ui.graph_layout`, left to right in dependency
order.

Each node is an SVG link to its task run or subflow run page, with the state in its
colour *and* as an icon and a ``<title>`` (colour is never the only cue), and subflows
drawn with round ends. All edges are one ``<path>``: at 2,000 nodes the browser has a few
thousand elements to lay out instead of twice that. The SVG has its natural pixel size,
so without JavaScript it scrolls in its frame; ``static/run_graph.js`` adds zoom and
drag-to-pan. Every label is escaped here, since this text is marked safe for the template.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from flowyard.schemas.graph import Graph, Node
from flowyard.ui.graph_layout import Layout, layered_layout
from flowyard.ui.states import state_look

NODE_WIDTH = 200
NODE_HEIGHT = 28
COLUMN_PITCH = NODE_WIDTH + 64
ROW_PITCH = NODE_HEIGHT + 12
MARGIN = 12
# What fits in a node at the label's size; the whole name is in the tooltip.
LABEL_CHARACTERS = 24

KIND_NAMES = {"task-run": "task run", "flow-run": "subflow run"}


@dataclass(frozen=True, slots=True)
class GraphDrawing:
    svg: Markup
    width: int
    height: int
    node_count: int
    column_count: int


def draw_run_graph(graph: Graph, href: Callable[[Node], str]) -> GraphDrawing:
    """The SVG of ``graph``; ``href(node)`` is the page a node opens."""
    nodes = dict(graph.nodes)
    ordered = sorted(nodes, key=lambda ident: (nodes[ident].start_time, nodes[ident].label))
    layout = layered_layout(ordered, {i: [e.id for e in nodes[i].parents] for i in ordered})
    width = 2 * MARGIN + max(len(layout.columns) * COLUMN_PITCH - (COLUMN_PITCH - NODE_WIDTH), 0)
    tallest = max((len(column) for column in layout.columns), default=0)
    height = 2 * MARGIN + max(tallest * ROW_PITCH - (ROW_PITCH - NODE_HEIGHT), 0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="run-graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="Dependency graph: {len(nodes)} runs in {len(layout.columns)} columns">',
        _edges_path(layout),
    ]
    parts.extend(_node(nodes[ident], layout.position[ident], href) for ident in ordered)
    parts.append("</svg>")
    return GraphDrawing(Markup("".join(parts)), width, height, len(nodes), len(layout.columns))


def _corner(position: tuple[int, int]) -> tuple[int, int]:
    column, row = position
    return MARGIN + column * COLUMN_PITCH, MARGIN + row * ROW_PITCH


def _edges_path(layout: Layout) -> str:
    """Every edge as one path: a curve from an upstream's right side to the left side of
    the run that took its result."""
    segments = []
    for upstream, downstream in layout.edges:
        x1, y1 = _corner(layout.position[upstream])
        x2, y2 = _corner(layout.position[downstream])
        x1 += NODE_WIDTH
        y1 += NODE_HEIGHT // 2
        y2 += NODE_HEIGHT // 2
        bend = (x2 - x1) // 2
        segments.append(f"M{x1} {y1}C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}")
    if not segments:
        return ""
    return f'<path class="run-graph-edges" d="{"".join(segments)}"/>'


def _node(node: Node, position: tuple[int, int], href: Callable[[Node], str]) -> str:
    x, y = _corner(position)
    look = state_look(node.state_type.value)
    kind = KIND_NAMES[node.kind]
    label = _shortened(node.label)
    rounding = NODE_HEIGHT // 2 if node.kind == "flow-run" else 4
    tooltip = f"{node.label} — {look.name} ({kind})"
    return (
        f'<a href="{escape(href(node))}" class="run-graph-node {look.css} run-graph-{node.kind}" '
        f'data-node-id="{_id(node.id)}">'
        f"<title>{escape(tooltip)}</title>"
        f'<rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="{rounding}"/>'
        f'<text class="run-graph-icon" x="{x + 14}" y="{y + NODE_HEIGHT // 2}" '
        f'aria-hidden="true">{escape(look.icon)}</text>'
        f'<text class="run-graph-label" x="{x + 28}" y="{y + NODE_HEIGHT // 2}">'
        f"{escape(label)}</text></a>"
    )


def _shortened(label: str) -> str:
    if len(label) <= LABEL_CHARACTERS:
        return label
    return label[: LABEL_CHARACTERS - 1] + "…"


def _id(ident: uuid.UUID) -> str:
    return escape(str(ident))
