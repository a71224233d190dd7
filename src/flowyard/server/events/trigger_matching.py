"""Which event triggers an event concerns: compiled once per automation, looked up by name.

An automation's trigger tree is flattened into :class:`Leaf` s (its event triggers), each
with its resource filter compiled to an ``EventFilter`` that ``live_filters.event_matches``
applies (the same rules as ``/events/filter`` and ``/events/out``). The :class:`LeafIndex`
finds the leaves an event may concern by its name, so that an event costs the leaves that
name it (and those that name no event), not every automation in the workspace.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from flowyard.schemas import core
from flowyard.schemas.automations import (
    AnyTrigger,
    Automation,
    CompoundTrigger,
    EventTrigger,
    SequenceTrigger,
)
from flowyard.schemas.filters import (
    EventFilter,
    EventOccurredFilter,
    EventRelatedFilter,
    EventResourceFilter,
)
from flowyard.server.operations.live_filters import event_matches

ID = "prefect.resource.id"
ALL_TIME = EventOccurredFilter(
    since=dt.datetime.min.replace(tzinfo=dt.UTC), until=dt.datetime.max.replace(tzinfo=dt.UTC)
)
Composite = CompoundTrigger | SequenceTrigger


def name_matches(pattern: str, name: str) -> bool:
    """``prefect.flow-run.Completed``, ``prefect.flow-run.*`` or any ``fnmatch`` pattern."""
    if "*" not in pattern and "?" not in pattern and "[" not in pattern:
        return pattern == name
    return fnmatch.fnmatchcase(name, pattern)


@dataclass(eq=False)
class Leaf:
    """One event trigger of one automation, with the composite triggers above it."""

    automation: Automation
    workspace_id: uuid.UUID
    trigger: EventTrigger
    parents: list[Composite]
    resources: EventFilter

    def starts(self, event: core.Event) -> bool:
        return any(name_matches(p, event.event) for p in self.trigger.after)

    def expects(self, event: core.Event) -> bool:
        expect = self.trigger.expect
        return not expect or any(name_matches(p, event.event) for p in expect)

    def concerns(self, event: core.Event) -> bool:
        trigger = self.trigger
        if (trigger.after or trigger.expect) and not (
            self.starts(event) or (trigger.expect and self.expects(event))
        ):
            return False
        return event_matches(self.resources, event)

    def bucketing_key(self, event: core.Event | None) -> str:
        """The values of the ``for_each`` labels, found on the resource or a related one."""
        if event is None or not self.trigger.for_each:
            return ""
        values = []
        for label in self.trigger.for_each:
            value = event.resource.get(label)
            if value is None:
                value = next((r[label] for r in event.related if label in r), "")
            values.append(f"{label}={value}")
        return "\x1f".join(values)


def _resource_filter(trigger: EventTrigger) -> EventFilter:
    related = [EventRelatedFilter(labels=dict(spec)) for spec in trigger.related_specs]
    return EventFilter(
        occurred=ALL_TIME,
        resource=EventResourceFilter(labels=dict(trigger.match)) if trigger.match else None,
        related=related or None,
    )


def leaves(automation: Automation, workspace_id: uuid.UUID) -> list[Leaf]:
    found: list[Leaf] = []

    def walk(trigger: AnyTrigger, parents: list[Composite]) -> None:
        if isinstance(trigger, EventTrigger):
            found.append(
                Leaf(automation, workspace_id, trigger, parents, _resource_filter(trigger))
            )
            return
        for child in trigger.triggers:
            walk(child, [*parents, trigger])

    walk(automation.trigger, [])
    return found


def _exact_ids(spec: dict[str, str | list[str]]) -> list[str] | None:
    """The resource ids a specification names exactly, or None when it admits others."""
    value = spec.get(ID)
    values = value if isinstance(value, list) else [value] if value is not None else []
    if not values or any(any(c in v for c in "*?[") for v in values):
        return None
    return list(values)


def anchors(trigger: EventTrigger) -> list[str] | None:
    """Resource ids one of which an event must carry (as its resource or a related one)
    for ``trigger`` to concern it; None when the trigger is not tied to given ids."""
    if trigger.match:
        found = _exact_ids(trigger.match)
        if found is not None:
            return found
    for spec in trigger.related_specs:
        found = _exact_ids(spec)
        if found is not None:
            return found
    return None


@dataclass
class LeafIndex:
    """Leaves by the resource ids they are tied to (most triggers name a deployment, a
    flow or a work pool) and otherwise by the event names they name: exact names in a dict,
    patterns grouped by pattern. An event costs the leaves it may concern, not every
    automation in the workspace."""

    anchored: dict[str, list[Leaf]] = field(default_factory=dict)
    exact: dict[str, list[Leaf]] = field(default_factory=dict)
    patterns: dict[str, list[Leaf]] = field(default_factory=dict)
    any_name: list[Leaf] = field(default_factory=list)
    # Every name any leaf names (anchored or not), for the cheap check before queueing.
    all_names: set[str] = field(default_factory=set)
    all_patterns: set[str] = field(default_factory=set)
    some_leaf_names_none: bool = False
    by_trigger: dict[uuid.UUID, Leaf] = field(default_factory=dict)
    by_automation: dict[uuid.UUID, list[Leaf]] = field(default_factory=dict)

    @classmethod
    def build(cls, automations: Iterable[tuple[uuid.UUID, Automation]]) -> LeafIndex:
        index = cls()
        for workspace_id, automation in automations:
            for leaf in leaves(automation, workspace_id):
                index.add(leaf)
        return index

    def add(self, leaf: Leaf) -> None:
        self.by_trigger[leaf.trigger.id] = leaf
        self.by_automation.setdefault(leaf.automation.id, []).append(leaf)
        names = {*leaf.trigger.after, *leaf.trigger.expect}
        for name in names:
            if any(c in name for c in "*?["):
                self.all_patterns.add(name)
            else:
                self.all_names.add(name)
        if not names:
            self.some_leaf_names_none = True
        tied = anchors(leaf.trigger)
        if tied is not None:
            for resource_id in tied:
                self.anchored.setdefault(resource_id, []).append(leaf)
            return
        if not names:
            self.any_name.append(leaf)
        for name in names:
            if any(c in name for c in "*?["):
                self.patterns.setdefault(name, []).append(leaf)
            else:
                self.exact.setdefault(name, []).append(leaf)

    def candidates(self, workspace_id: uuid.UUID, event: core.Event) -> list[Leaf]:
        """The leaves of ``workspace_id`` whose trigger ``event`` concerns."""
        seen: dict[int, Leaf] = {}
        for resource in (event.resource, *event.related):
            for leaf in self.anchored.get(resource.get(ID, ""), ()):
                seen[id(leaf)] = leaf
        for leaf in self.exact.get(event.event, ()):
            seen[id(leaf)] = leaf
        for pattern, matching in self.patterns.items():
            if name_matches(pattern, event.event):
                for leaf in matching:
                    seen[id(leaf)] = leaf
        for leaf in self.any_name:
            seen[id(leaf)] = leaf
        return [
            leaf
            for leaf in seen.values()
            if leaf.workspace_id == workspace_id and leaf.concerns(event)
        ]

    def wants_prefix(self, prefix: str) -> bool:
        """Could any leaf concern an event whose name starts with ``prefix``?"""
        if self.some_leaf_names_none or any(n.startswith(prefix) for n in self.all_names):
            return True
        for pattern in self.all_patterns:
            head = pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
            if head.startswith(prefix) or prefix.startswith(head):
                return True
        return False

    def wants(self, name: str) -> bool:
        """Cheap check before queueing an event: could any leaf concern it?"""
        if self.some_leaf_names_none or name in self.all_names:
            return True
        return any(name_matches(pattern, name) for pattern in self.all_patterns)
