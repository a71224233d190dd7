"""The dashboard's server-drawn SVG chart."""

from __future__ import annotations

import datetime as dt
import re

from flowyard.schemas.core import HistoryInterval, HistoryStateCount
from flowyard.schemas.states import StateType
from flowyard.ui.charts import AXIS_BOTTOM, HEIGHT, bars_of, stacked_history_svg, state_totals

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _interval(minute: int, **counts: int) -> HistoryInterval:
    states = [
        HistoryStateCount(
            state_type=StateType(key.upper() if key != "late" else "SCHEDULED"),
            state_name="Late" if key == "late" else key.title(),
            count_runs=count, sum_estimated_run_time=0.0, sum_estimated_lateness=0.0,
        )
        for key, count in counts.items()
    ]  # fmt: skip
    start = T0 + dt.timedelta(minutes=minute)
    return HistoryInterval(
        interval_start=start, interval_end=start + dt.timedelta(minutes=1), states=states
    )


def _rects(svg: str) -> list[dict[str, str]]:
    found = re.findall(r"<rect ([^>]*)/>", svg)
    return [dict(re.findall(r'(\w[\w-]*)="([^"]*)"', attributes)) for attributes in found]


def test_bars_stack_each_state_in_proportion_to_the_busiest_interval() -> None:
    history = [_interval(0, completed=3, failed=1), _interval(1, completed=2), _interval(2)]
    svg = str(stacked_history_svg(history))
    rects = _rects(svg)
    # Empty intervals draw nothing; the others one rect per state present.
    assert [r["class"] for r in rects] == [
        "bar fill-failed", "bar fill-completed", "bar fill-completed",
    ]  # fmt: skip
    plot = HEIGHT - AXIS_BOTTOM - 4
    heights = [float(r["height"]) for r in rects]
    assert heights[0] + heights[1] == plot  # the peak fills the plot
    assert heights[0] == plot / 4 and heights[2] == plot / 2
    # Stacked: failures at the bottom on the axis, the completed part on top of them.
    assert float(rects[0]["y"]) + heights[0] == HEIGHT - AXIS_BOTTOM
    assert float(rects[1]["y"]) + heights[1] == float(rects[0]["y"])
    assert float(rects[0]["x"]) == float(rects[1]["x"]) < float(rects[2]["x"])


def test_every_bar_names_its_counts_and_links_to_its_runs() -> None:
    history = [_interval(0, completed=3, failed=1)]
    svg = str(stacked_history_svg(history, lambda s, e: f"/runs?start={s:%H:%M}&end={e:%H:%M}"))
    assert "<title>2026-01-01 00:00:00 to 2026-01-01 00:01:00: 1 Failed, 3 Completed</title>" in svg
    assert '<a href="/runs?start=00:00&amp;end=00:01"' in svg


def test_no_inline_style_and_text_is_escaped() -> None:
    svg = str(stacked_history_svg([_interval(0, completed=1)], label='<script>x</script>"'))
    assert "style=" not in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_an_empty_history_draws_an_empty_chart() -> None:
    svg = str(stacked_history_svg([]))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "<rect" not in svg
    assert bars_of([]) == []


def test_state_totals_keep_late_apart_from_scheduled() -> None:
    history = [_interval(0, completed=2, late=1), _interval(1, completed=1, scheduled=4)]
    assert state_totals(history) == {"COMPLETED": 3, "LATE": 1, "SCHEDULED": 4}
