"""The run graph's SVG: well-formed, labels escaped, each node a link with its state shown
by colour class, icon and title, and a 2,000-node graph drawn."""

from __future__ import annotations

import datetime as dt
import random
import uuid
import xml.etree.ElementTree as ET

from flowyard.schemas.graph import Edge, Graph, Node
from flowyard.schemas.states import StateType
from flowyard.ui.graph import draw_run_graph

SVG = "{http://www.w3.org/2000/svg}"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _node(i: int, label: str, parents: list[int], kind: str = "task-run",
          state: StateType = StateType.COMPLETED) -> tuple[uuid.UUID, Node]:  # fmt: skip
    ident = uuid.UUID(int=i + 1)
    return ident, Node(
        kind=kind, id=ident, label=label, state_type=state,  # type: ignore[arg-type]
        start_time=T0 + dt.timedelta(seconds=i), end_time=None,
        parents=[Edge(id=uuid.UUID(int=p + 1)) for p in parents],
        children=[], encapsulating=[], artifacts=[],
    )  # fmt: skip


def _graph(nodes: list[tuple[uuid.UUID, Node]]) -> Graph:
    return Graph(start_time=T0, end_time=None, root_node_ids=[], nodes=nodes, artifacts=[],
                 states=[])  # fmt: skip


def _href(node: Node) -> str:
    return f"/runs/{node.kind}/{node.id}?a=1&b=2"


def _links(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(f"{SVG}a")


def test_labels_are_escaped_and_the_svg_is_well_formed() -> None:
    evil = '<script>alert("x")</script>&'
    drawing = draw_run_graph(_graph([_node(0, evil, [])]), _href)
    root = ET.fromstring(str(drawing.svg))  # a stray "<" or "&" would not parse
    assert not list(root.iter(f"{SVG}script"))
    (link,) = _links(str(drawing.svg))
    assert link.findtext(f"{SVG}title") == f"{evil} — Completed (task run)"
    # The label is cut to fit the node; the cut text is still text, not markup.
    assert link.findall(f"{SVG}text")[1].text == evil[:23] + "…"
    assert "<script>" not in str(drawing.svg)


def test_each_node_links_to_its_page_and_shows_its_state_beyond_colour() -> None:
    nodes = [
        _node(0, "extract", []),
        _node(1, "load", [0], state=StateType.FAILED),
        _node(2, "child-flow", [1], kind="flow-run", state=StateType.RUNNING),
    ]
    svg = str(draw_run_graph(_graph(nodes), _href).svg)
    links = {link.get("data-node-id"): link for link in _links(svg)}
    sub = links[str(uuid.UUID(int=3))]
    assert sub.get("href") == f"/runs/flow-run/{uuid.UUID(int=3)}?a=1&b=2"
    assert "state-running" in (sub.get("class") or "")
    assert "run-graph-flow-run" in (sub.get("class") or "")
    assert sub.findtext(f"{SVG}title") == "child-flow — Running (subflow run)"
    assert sub.find(f"{SVG}rect").get("rx") == "14"  # type: ignore[union-attr]
    failed = links[str(uuid.UUID(int=2))]
    assert failed.findall(f"{SVG}text")[0].text == "✕"
    assert failed.find(f"{SVG}rect").get("rx") == "4"  # type: ignore[union-attr]


def _x(link: ET.Element) -> float:
    return float(link.find(f"{SVG}rect").get("x"))  # type: ignore[union-attr,arg-type]


def _y(link: ET.Element) -> float:
    return float(link.find(f"{SVG}rect").get("y"))  # type: ignore[union-attr,arg-type]


def test_a_downstream_node_is_drawn_right_of_its_upstreams_with_an_edge_each() -> None:
    nodes = [_node(0, "a", []), _node(1, "b", [0]), _node(2, "c", [0, 1])]
    svg = str(draw_run_graph(_graph(nodes), _href).svg)
    xs = {link.findtext(f"{SVG}text[2]"): _x(link) for link in _links(svg)}
    assert xs["a"] < xs["b"] < xs["c"]
    edges = ET.fromstring(svg).find(f"{SVG}path")
    assert edges is not None and (edges.get("d") or "").count("M") == 3


def test_a_2000_node_graph_renders() -> None:
    rng = random.Random(3)
    ups = [[rng.randrange(i) for _ in range(rng.randint(1, 3))] if i else [] for i in range(2000)]
    nodes = [_node(i, f"task-{i}", ups[i]) for i in range(2000)]
    drawing = draw_run_graph(_graph(nodes), _href)
    links = _links(str(drawing.svg))
    assert drawing.node_count == len(links) == 2000
    # Every node inside the drawing's box, no two on the same spot.
    spots = {(_x(link), _y(link)) for link in links}
    assert len(spots) == 2000
    assert all(0 <= x <= drawing.width and 0 <= y <= drawing.height for x, y in spots)


def test_an_empty_graph_is_an_empty_drawing() -> None:
    drawing = draw_run_graph(_graph([]), _href)
    assert drawing.node_count == 0
    assert _links(str(drawing.svg)) == []
