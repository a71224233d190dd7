"""Automations in the Prefect 3 wire shapes: a trigger (event, compound or sequence) and the
actions to take when it fires (and, for a proactive trigger, when it resolves).

Send-notification and call-webhook actions are in the contract but not accepted yet: they
need notification blocks and outbound-request pinning, which Flowyard does not have yet, and
an automation that would silently never notify is worse than a clear refusal (422).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from flowyard.schemas.base import ActionModel, FlowyardModel, ObjectModel
from flowyard.schemas.filters import Operator
from flowyard.schemas.request_bounds import bound_nested_read_model
from flowyard.schemas.states import StateType

# A resource specification: label -> value, "*", "prefix*", or a list of those.
ResourceSpecification = dict[str, str | list[str]]
Source = Literal["selected", "inferred"]
MIN_PROACTIVE_WITHIN = 10.0
MAX_WITHIN_SECONDS = 366 * 24 * 3600.0
NOT_AVAILABLE_YET = (
    "The action type {kind!r} is not available yet: Flowyard has no notification blocks. "
    "Use run-deployment, pause/resume actions or do-nothing for now."
)


class TriggerModel(FlowyardModel):
    # Triggers are sent by the official client with every field (including our own read
    # shapes echoed back), so unknown keys are ignored, as the contract's server does.
    id: uuid.UUID = Field(default_factory=uuid.uuid4)


class EventTrigger(TriggerModel):
    type: Literal["event"] = "event"
    match: ResourceSpecification = Field(default_factory=dict)
    match_related: ResourceSpecification | list[ResourceSpecification] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list, max_length=100)
    expect: list[str] = Field(default_factory=list, max_length=100)
    for_each: list[str] = Field(default_factory=list, max_length=20)
    posture: Literal["Reactive", "Proactive"]
    threshold: int = Field(default=1, ge=1, le=1_000_000)
    within: float = Field(default=0.0, ge=0, le=MAX_WITHIN_SECONDS)

    @field_validator("after", "expect", "for_each", mode="after")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _proactive_needs_a_window(self) -> EventTrigger:
        # As the contract's server does: a proactive window is at least 10 seconds (the
        # periodic check could not honour a shorter one).
        if self.posture == "Proactive" and self.within < MIN_PROACTIVE_WITHIN:
            self.within = MIN_PROACTIVE_WITHIN
        return self

    @property
    def related_specs(self) -> list[ResourceSpecification]:
        if isinstance(self.match_related, dict):
            return [self.match_related] if self.match_related else []
        return [spec for spec in self.match_related if spec]


class CompoundTrigger(TriggerModel):
    type: Literal["compound"] = "compound"
    triggers: list[AnyTrigger] = Field(min_length=1, max_length=50)
    within: float | None = Field(default=None, ge=0, le=MAX_WITHIN_SECONDS)
    require: int | Literal["any", "all"]

    @model_validator(mode="after")
    def _require_fits(self) -> CompoundTrigger:
        if isinstance(self.require, int) and not 1 <= self.require <= len(self.triggers):
            raise ValueError(
                f"require must be between 1 and the number of triggers ({len(self.triggers)})"
            )
        return self

    @property
    def required(self) -> int:
        if self.require == "all":
            return len(self.triggers)
        if self.require == "any":
            return 1
        return self.require


class SequenceTrigger(TriggerModel):
    type: Literal["sequence"] = "sequence"
    triggers: list[AnyTrigger] = Field(min_length=1, max_length=50)
    within: float | None = Field(default=None, ge=0, le=MAX_WITHIN_SECONDS)


AnyTrigger = Annotated[
    EventTrigger | CompoundTrigger | SequenceTrigger, Field(discriminator="type")
]
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()


# --- actions -------------------------------------------------------------------------------


class ActionBase(FlowyardModel):
    pass


class DoNothing(ActionBase):
    type: Literal["do-nothing"] = "do-nothing"


class RunDeployment(ActionBase):
    type: Literal["run-deployment"] = "run-deployment"
    source: Source = "selected"
    deployment_id: uuid.UUID | None = None
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: float = Field(default=0.0, ge=0, le=MAX_WITHIN_SECONDS)


class DeploymentAction(ActionBase):
    source: Source = "selected"
    deployment_id: uuid.UUID | None = None


class PauseDeployment(DeploymentAction):
    type: Literal["pause-deployment"] = "pause-deployment"


class ResumeDeployment(DeploymentAction):
    type: Literal["resume-deployment"] = "resume-deployment"


class CancelFlowRun(ActionBase):
    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class SuspendFlowRun(ActionBase):
    type: Literal["suspend-flow-run"] = "suspend-flow-run"


class ResumeFlowRun(ActionBase):
    type: Literal["resume-flow-run"] = "resume-flow-run"


class DeleteFlowRun(ActionBase):
    type: Literal["delete-flow-run"] = "delete-flow-run"


class ChangeFlowRunState(ActionBase):
    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    name: str | None = Field(default=None, max_length=255)
    state: StateType
    message: str | None = Field(default=None, max_length=10_000)
    force: bool = False


class WorkQueueAction(ActionBase):
    source: Source = "selected"
    work_queue_id: uuid.UUID | None = None


class PauseWorkQueue(WorkQueueAction):
    type: Literal["pause-work-queue"] = "pause-work-queue"


class ResumeWorkQueue(WorkQueueAction):
    type: Literal["resume-work-queue"] = "resume-work-queue"


class WorkPoolAction(ActionBase):
    source: Source = "selected"
    work_pool_id: uuid.UUID | None = None


class PauseWorkPool(WorkPoolAction):
    type: Literal["pause-work-pool"] = "pause-work-pool"


class ResumeWorkPool(WorkPoolAction):
    type: Literal["resume-work-pool"] = "resume-work-pool"


class AutomationAction(ActionBase):
    source: Source = "selected"
    automation_id: uuid.UUID | None = None


class PauseAutomation(AutomationAction):
    type: Literal["pause-automation"] = "pause-automation"


class ResumeAutomation(AutomationAction):
    type: Literal["resume-automation"] = "resume-automation"


Action = Annotated[
    DoNothing
    | RunDeployment
    | PauseDeployment
    | ResumeDeployment
    | CancelFlowRun
    | SuspendFlowRun
    | ResumeFlowRun
    | DeleteFlowRun
    | ChangeFlowRunState
    | PauseWorkQueue
    | ResumeWorkQueue
    | PauseWorkPool
    | ResumeWorkPool
    | PauseAutomation
    | ResumeAutomation,
    Field(discriminator="type"),
]
SELECTABLE = {
    "run-deployment": "deployment_id",
    "pause-deployment": "deployment_id",
    "resume-deployment": "deployment_id",
    "pause-work-queue": "work_queue_id",
    "resume-work-queue": "work_queue_id",
    "pause-work-pool": "work_pool_id",
    "resume-work-pool": "work_pool_id",
    "pause-automation": "automation_id",
    "resume-automation": "automation_id",
}


def with_trigger_types(trigger: Any) -> Any:
    """``trigger`` with its ``type`` (and its nested triggers' types) filled in where it is
    missing. The official client leaves ``type`` out of a trigger it built itself (it
    sends only the fields set), and the shape says which it is: triggers with ``require``
    are compound, other triggers with ``triggers`` a sequence, the rest event triggers."""
    if not isinstance(trigger, dict):
        return trigger
    nested = trigger.get("triggers")
    if "type" not in trigger:
        if isinstance(nested, list):
            kind = "compound" if "require" in trigger else "sequence"
        else:
            kind = "event"
        trigger = {**trigger, "type": kind}
    if isinstance(nested, list):
        trigger = {**trigger, "triggers": [with_trigger_types(t) for t in nested]}
    return trigger


def _refuse_unavailable(actions: Any) -> Any:
    # Before the discriminated union sees them: its own message ("does not match any of
    # the expected tags") would not say why.
    for item in actions if isinstance(actions, list) else ():
        if isinstance(item, dict) and "type" not in item:
            # Unlike a trigger's, an action's kind cannot be told from its fields (a pause
            # and a resume of a deployment look alike): refuse rather than guess.
            raise ValueError(
                "Each action needs its 'type'. The official client leaves it out of an "
                "action model it built itself: update an automation read from the server."
            )
        kind = item.get("type") if isinstance(item, dict) else None
        if kind in ("send-notification", "call-webhook"):
            raise ValueError(NOT_AVAILABLE_YET.format(kind=kind))
    return actions


def _check_selected(actions: list[Any]) -> list[Any]:
    for action in actions:
        field = SELECTABLE.get(action.type)
        if field and action.source == "selected" and getattr(action, field) is None:
            raise ValueError(f"{action.type} with source 'selected' needs {field}")
    return actions


class AutomationCore(ActionModel):
    name: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=10_000)
    enabled: bool = True
    tags: list[str] = Field(default_factory=list, max_length=100)
    trigger: AnyTrigger
    actions: list[Action] = Field(max_length=50)
    actions_on_trigger: list[Action] = Field(default_factory=list, max_length=50)
    actions_on_resolve: list[Action] = Field(default_factory=list, max_length=50)

    # Triggers and actions are models shared with the answers: the request bounds (no NUL,
    # finite numbers) are checked on them once validated.
    _bounded_nested = field_validator(
        "trigger", "actions", "actions_on_trigger", "actions_on_resolve"
    )(bound_nested_read_model)

    @field_validator("trigger", mode="before")
    @classmethod
    def _trigger_types(cls, value: Any) -> Any:
        return with_trigger_types(value)

    @field_validator("actions", "actions_on_trigger", "actions_on_resolve", mode="before")
    @classmethod
    def _available(cls, value: Any) -> Any:
        return _refuse_unavailable(value)

    @field_validator("actions", "actions_on_trigger", "actions_on_resolve", mode="after")
    @classmethod
    def _selected(cls, value: list[Any]) -> list[Any]:
        return _check_selected(value)


class AutomationCreate(AutomationCore):
    owner_resource: str | None = Field(default=None, max_length=500)


class AutomationUpdate(AutomationCore):
    # Not in the contract's update, but the official client sends back the owner of an
    # automation it read: accepted, and left as it is (an automation's owner is set when it
    # is created; ``owned-by`` deletes by it).
    owner_resource: str | None = Field(default=None, max_length=500)


class AutomationPartialUpdate(ActionModel):
    enabled: bool = True


class Automation(ObjectModel):
    name: str
    description: str = ""
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    trigger: AnyTrigger
    actions: list[Action] = Field(default_factory=list)
    actions_on_trigger: list[Action] = Field(default_factory=list)
    actions_on_resolve: list[Action] = Field(default_factory=list)
    owner_resource: str | None = None


class AutomationFilterId(ActionModel):
    # Not in the server's published contract, but the official client sends it.
    any_: list[uuid.UUID] | None = None


class AutomationFilterName(ActionModel):
    any_: list[str] | None = None


class AutomationFilterCreated(ActionModel):
    before_: dt.datetime | None = None


class AutomationFilterTags(ActionModel):
    operator: Operator = Operator.and_
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class AutomationFilter(ActionModel):
    operator: Operator = Operator.and_
    id: AutomationFilterId | None = None
    name: AutomationFilterName | None = None
    created: AutomationFilterCreated | None = None
    tags: AutomationFilterTags | None = None


AutomationSort = Literal["CREATED_DESC", "UPDATED_DESC", "NAME_ASC", "NAME_DESC"]


class AutomationFilterBody(ActionModel):
    sort: AutomationSort = "NAME_ASC"
    offset: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=0)
    automations: AutomationFilter | None = None


class AutomationCountBody(ActionModel):
    automations: AutomationFilter | None = None
