"""How a run state looks: a CSS class for its colour and an icon beside its name, so that
two states never differ by colour alone (colour-blind readers tell them by icon and name)."""

from __future__ import annotations

from dataclasses import dataclass

from flowyard.schemas.states import StateType

# Icons are plain characters (no icon font to fetch): one distinct shape per state type.
ICONS: dict[str, str] = {
    StateType.SCHEDULED.value: "◷",
    StateType.PENDING.value: "◔",
    StateType.RUNNING.value: "▶",
    StateType.COMPLETED.value: "✓",
    StateType.FAILED.value: "✕",
    StateType.CANCELLED.value: "⊘",
    StateType.CANCELLING.value: "⊘",
    StateType.CRASHED.value: "⚠",
    StateType.PAUSED.value: "‖",
}
LATE_ICON = "⏰"
# The order of the stacked chart and of the count tables: finished bad, finished good,
# in flight, waiting.
CHART_ORDER: list[str] = [
    StateType.FAILED.value,
    StateType.CRASHED.value,
    StateType.CANCELLED.value,
    StateType.CANCELLING.value,
    StateType.COMPLETED.value,
    StateType.RUNNING.value,
    StateType.PAUSED.value,
    StateType.PENDING.value,
    StateType.SCHEDULED.value,
]


@dataclass(frozen=True, slots=True)
class StateLook:
    name: str
    css: str
    icon: str


def state_look(state_type: str | None, state_name: str | None = None) -> StateLook:
    """The badge of a state: ``Late`` is a Scheduled state with a name (and look) of its own."""
    if state_type is None:
        return StateLook(state_name or "No state", "state-none", "·")
    if state_name == "Late" and state_type == StateType.SCHEDULED.value:
        return StateLook("Late", "state-late", LATE_ICON)
    label = state_name or state_type.title()
    return StateLook(label, f"state-{state_type.lower()}", ICONS.get(state_type, "·"))
