"""Charts drawn on the server as SVG: no chart library in the browser, nothing to fetch,
and the picture is in the HTML (visible without JavaScript, testable as text).

Colours come from CSS classes (``fill-<state>``, ``static/flowyard.css``), never from inline
styles, which the CSP forbids; every bar carries a ``<title>`` naming its states and counts,
and links to the runs it counts, so the chart is readable without telling colours apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from flowyard.schemas.core import HistoryInterval
from flowyard.ui.formatting import timestamp
from flowyard.ui.states import CHART_ORDER

WIDTH = 720
HEIGHT = 180
AXIS_LEFT = 34
AXIS_BOTTOM = 20
BAR_GAP = 2


@dataclass(frozen=True, slots=True)
class Bar:
    start: dt.datetime
    end: dt.datetime
    counts: dict[str, int]  # state type -> runs

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def bars_of(history: Sequence[HistoryInterval]) -> list[Bar]:
    """One bar per interval, counts by state type (Late is a kind of Scheduled here)."""
    bars = []
    for interval in history:
        counts: dict[str, int] = {}
        for state in interval.states:
            key = state.state_type.value
            counts[key] = counts.get(key, 0) + state.count_runs
        bars.append(Bar(interval.interval_start, interval.interval_end, counts))
    return bars


def stacked_history_svg(
    history: Sequence[HistoryInterval],
    link: Callable[[dt.datetime, dt.datetime], str] | None = None,
    label: str = "Flow runs by state over time",
) -> Markup:
    """A stacked bar chart of runs per interval and state; ``link(start, end)`` makes each
    bar a link (to the runs of its interval)."""
    bars = bars_of(history)
    peak = max((bar.total for bar in bars), default=0)
    plot_width = WIDTH - AXIS_LEFT
    plot_height = HEIGHT - AXIS_BOTTOM
    slot = plot_width / max(len(bars), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{AXIS_LEFT}" y1="{plot_height}" x2="{WIDTH}" y2="{plot_height}"/>',
        _axis_label(AXIS_LEFT - 4, 10, str(peak)),
        _axis_label(AXIS_LEFT - 4, plot_height, "0"),
    ]
    for index, bar in enumerate(bars):
        if bar.total == 0 or peak == 0:
            continue
        x = AXIS_LEFT + index * slot + BAR_GAP / 2
        width = max(slot - BAR_GAP, 1)
        title = escape(_describe(bar))
        rects = []
        y = float(plot_height)
        for state in [s for s in CHART_ORDER if bar.counts.get(s)] + sorted(
            s for s in bar.counts if s not in CHART_ORDER and bar.counts[s]
        ):
            height = bar.counts[state] / peak * (plot_height - 4)
            y -= height
            rects.append(
                f'<rect class="bar fill-{escape(state.lower())}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{width:.1f}" height="{height:.1f}"/>'
            )
        group = f"<title>{title}</title>{''.join(rects)}"
        if link is not None:
            href = escape(link(bar.start, bar.end))
            parts.append(f'<a href="{href}" aria-label="{title}">{group}</a>')
        else:
            parts.append(f"<g>{group}</g>")
    if bars:
        first, last = timestamp(bars[0].start), timestamp(bars[-1].end)
        parts.append(
            f'<text class="axis-label" x="{AXIS_LEFT}" y="{HEIGHT - 4}">{first}</text>'
            f'<text class="axis-label" x="{WIDTH}" y="{HEIGHT - 4}" text-anchor="end">{last}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis_label(x: float, y: float, text: str) -> str:
    return f'<text class="axis-label" x="{x}" y="{y}" text-anchor="end">{escape(text)}</text>'


def _describe(bar: Bar) -> str:
    states = ", ".join(
        f"{bar.counts[s]} {s.title()}" for s in CHART_ORDER if bar.counts.get(s)
    )
    return f"{timestamp(bar.start)} to {timestamp(bar.end)}: {states}"


def state_totals(history: Sequence[HistoryInterval]) -> dict[str, int]:
    """Runs per state name over the whole window (``Late`` apart from ``Scheduled``)."""
    totals: dict[str, int] = {}
    for interval in history:
        for state in interval.states:
            key = "LATE" if state.state_name == "Late" else state.state_type.value
            totals[key] = totals.get(key, 0) + state.count_runs
    return totals
