"""Layered-layout libraries on the run graph's worst case, to choose one for the UI.

Run from the repo root:  .venv/bin/python bench/ui_graph_libraries.py

The graph: 2,000 nodes in 10 stages of 200, each node taking 1-3 inputs from earlier stages
(about 4,000 edges), as in bench/ui_run_page.py. Each library that is installed is timed
(minimum of 3 runs; grandalf once: it is slow): grandalf (``pip install grandalf``),
Graphviz ``dot`` (``apt-get install graphviz``) with default settings and with its
optimisation passes cut to the least, and networkx's ``topological_generations`` (what
``flowyard.ui.graph_layout`` uses). A missing one is reported, not an error.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections.abc import Callable

NODES, STAGES = 2_000, 10
FAST_DOT = ["-Gsplines=false", "-Gmclimit=0.01", "-Gnslimit=0.1", "-Gnslimit1=0.1",
            "-Gremincross=false", "-Gsearchsize=1"]  # fmt: skip


def graph() -> tuple[list[int], list[tuple[int, int]]]:
    rng = random.Random(7)
    per = NODES // STAGES
    edges = {(rng.randrange(0, (i // per) * per), i)
             for i in range(per, NODES) for _ in range(rng.randint(1, 3))}  # fmt: skip
    return list(range(NODES)), sorted(edges)


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    nodes, edges = graph()
    print(f"{len(nodes)} nodes, {len(edges)} edges")
    try:
        import networkx as nx

        def generations() -> object:
            g: nx.DiGraph[int] = nx.DiGraph()
            g.add_nodes_from(nodes)
            g.add_edges_from(edges)
            return list(nx.topological_generations(g))

        print(f"networkx topological_generations: {best(generations) * 1e3:.0f} ms")
    except ImportError:
        print("networkx: not installed")
    if shutil.which("dot"):
        source = ("digraph G { rankdir=LR; node [shape=box,width=1.5,height=0.3];\n"
                  + "".join(f"n{i};\n" for i in nodes)
                  + "".join(f"n{a}->n{b};\n" for a, b in edges) + "}").encode()  # fmt: skip
        for label, extra in (("defaults", []), ("optimisation cut to the least", FAST_DOT)):

            def dot(extra: list[str] = extra) -> object:
                return subprocess.run(["dot", "-Tplain", *extra], input=source,
                                      capture_output=True, check=True, timeout=300)  # fmt: skip

            print(f"graphviz dot, {label}: {best(dot, 1) * 1e3:.0f} ms")
    else:
        print("graphviz dot: not installed")
    try:
        from grandalf.graphs import Edge, Graph, Vertex  # type: ignore[import-not-found]
        from grandalf.layouts import SugiyamaLayout  # type: ignore[import-not-found]

        class Box:
            w, h = 10, 10

        def sugiyama() -> object:
            vertices = [Vertex(i) for i in nodes]
            for vertex in vertices:
                vertex.view = Box()
            layout = SugiyamaLayout(Graph(vertices, [Edge(vertices[a], vertices[b])
                                                     for a, b in edges]).C[0])  # fmt: skip
            layout.init_all()
            layout.draw(1)
            return layout

        print(f"grandalf Sugiyama, one pass: {best(sugiyama, 1) * 1e3:.0f} ms")
    except ImportError:
        print("grandalf: not installed")


if __name__ == "__main__":
    main()
