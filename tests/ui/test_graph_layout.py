"""The run graph's layered layout: every edge points to a later column, rows follow the
upstreams, and client-made cycles still lay out."""

from __future__ import annotations

import random
import uuid

from flowyard.ui.graph_layout import layered_layout


def _ids(n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=i + 1) for i in range(n)]


def _random_dag(n: int, seed: int) -> tuple[list[uuid.UUID], dict[uuid.UUID, list[uuid.UUID]]]:
    rng = random.Random(seed)
    ids = _ids(n)
    # Upstreams drawn from any earlier node, so edges skip columns too.
    ups = {ids[i]: [ids[rng.randrange(i)] for _ in range(rng.randint(0, 3))] if i else []
           for i in range(n)}  # fmt: skip
    shuffled = ids[:]
    rng.shuffle(shuffled)
    return shuffled, ups


def test_every_edge_goes_from_an_earlier_column_to_a_later_one() -> None:
    for seed in range(5):
        nodes, ups = _random_dag(300, seed)
        layout = layered_layout(nodes, ups)
        assert sorted(layout.position) == sorted(nodes)
        expected = {(u, n) for n in nodes for u in ups[n]}
        assert set(layout.edges) == expected
        for upstream, downstream in layout.edges:
            assert layout.position[upstream][0] < layout.position[downstream][0]


def test_a_node_sits_one_column_after_its_latest_upstream() -> None:
    a, b, c, d = _ids(4)
    # d waits for a (column 0) and c (column 2): it goes to column 3, not 1.
    layout = layered_layout([a, b, c, d], {b: [a], c: [b], d: [a, c]})
    assert [layout.position[n][0] for n in (a, b, c, d)] == [0, 1, 2, 3]
    assert layout.columns == [[a], [b], [c], [d]]


def test_rows_follow_the_upstreams_and_keep_the_given_order_among_equals() -> None:
    top, bottom, x, y, z = _ids(5)
    # z's upstream is the second root, so z goes below x and y, whatever the input order.
    layout = layered_layout([top, bottom, z, x, y], {x: [top], y: [top], z: [bottom]})
    assert layout.columns == [[top, bottom], [x, y, z]]


def test_upstreams_outside_the_graph_and_self_loops_are_ignored() -> None:
    a, b, outside = _ids(3)
    layout = layered_layout([a, b], {a: [outside, a], b: [a, a]})
    assert layout.edges == [(a, b)]
    assert layout.columns == [[a], [b]]


def test_a_cycle_shares_one_column_instead_of_failing() -> None:
    root, p, q, after = _ids(4)
    layout = layered_layout([root, p, q, after], {p: [root, q], q: [p], after: [q]})
    assert layout.position[p][0] == layout.position[q][0] == 1
    assert layout.position[root][0] == 0
    assert layout.position[after][0] == 2


def test_a_graph_of_2000_nodes_lays_out() -> None:
    nodes, ups = _random_dag(2000, 11)
    layout = layered_layout(nodes, ups)
    assert sum(len(column) for column in layout.columns) == 2000
    assert len({position for position in layout.position.values()}) == 2000
