"""Which rules govern which runs, in priority order.

Earlier rules win: once a rule has rejected, delayed or aborted a transition, the rules
after it that governed the original transition are skipped. Guards come first (a duplicate
or forbidden transition should not start a retry), then scheduling, then side effects.
"""

from __future__ import annotations

from flowyard.server.database import orm
from flowyard.server.orchestration import global_rules as g
from flowyard.server.orchestration.core_rules import (
    BypassCancellingFlowRunsWithNoInfra,
    EnforceCancellingToCancelledTransition,
    EnsureOnlyScheduledFlowsMarkedLate,
    HandleFlowTerminalStateTransitions,
    HandleTaskTerminalStateTransitions,
    PreventDuplicateRunning,
    PreventDuplicateTransitions,
    PreventPendingTransitions,
    PreventResultDataLoss,
)
from flowyard.server.orchestration.deployment_concurrency import (
    CopyDeploymentConcurrencyLease,
    ReleaseDeploymentConcurrencySlot,
    SecureDeploymentConcurrencySlot,
)
from flowyard.server.orchestration.instrumentation import (
    InstrumentFlowRunStateTransitions,
    InstrumentTaskRunStateTransitions,
)
from flowyard.server.orchestration.pause_rules import HandlePausingFlows, HandleResumingPausedFlows
from flowyard.server.orchestration.rules import Policy, Transform
from flowyard.server.orchestration.scheduling_rules import (
    CopyScheduledTime,
    RenameReruns,
    RetryFailedFlows,
    RetryFailedTasks,
    WaitForScheduledTime,
)
from flowyard.server.orchestration.task_rules import (
    CacheInsertion,
    CacheRetrieval,
    PreventRunningTasksFromStoppedFlows,
    UpdateFlowRunTrackerOnTasks,
)

CoreFlowPolicy = Policy[orm.FlowRun](
    "CoreFlowPolicy",
    [
        PreventDuplicateTransitions,
        HandleFlowTerminalStateTransitions,
        EnforceCancellingToCancelledTransition,
        BypassCancellingFlowRunsWithNoInfra,
        PreventPendingTransitions,
        PreventDuplicateRunning,
        CopyDeploymentConcurrencyLease,
        EnsureOnlyScheduledFlowsMarkedLate,
        HandlePausingFlows,
        HandleResumingPausedFlows,
        CopyScheduledTime,
        WaitForScheduledTime,
        # After the wait: a run told to come back later takes no slot meanwhile.
        SecureDeploymentConcurrencySlot,
        RetryFailedFlows,
        # Last: it sees the transition every rule before it settled on.
        ReleaseDeploymentConcurrencySlot,
    ],
)

CoreTaskPolicy = Policy[orm.TaskRun](
    "CoreTaskPolicy",
    [
        PreventDuplicateTransitions,
        # Before the terminal-state guard: a cache hit is not a rerun.
        CacheRetrieval,
        HandleTaskTerminalStateTransitions,
        EnforceCancellingToCancelledTransition,
        PreventPendingTransitions,
        PreventDuplicateRunning,
        PreventRunningTasksFromStoppedFlows,
        CopyScheduledTime,
        WaitForScheduledTime,
        RetryFailedTasks,
        RenameReruns,
        UpdateFlowRunTrackerOnTasks,
        CacheInsertion,
    ],
)

# force=true: the caller (an operator, the UI, a service) knows better than the guards; keep
# only what protects stored results, what needs no infrastructure to happen, and the
# bookkeeping of deployment slots (a run forced out of Running must not keep its slot).
MinimalFlowPolicy = Policy[orm.FlowRun](
    "MinimalFlowPolicy",
    [
        PreventResultDataLoss,
        BypassCancellingFlowRunsWithNoInfra,
        CopyDeploymentConcurrencyLease,
        ReleaseDeploymentConcurrencySlot,
    ],
)
MinimalTaskPolicy = Policy[orm.TaskRun]("MinimalTaskPolicy", [])

# Bookkeeping, in order: timestamps first (the others read them), counters last. After the
# state is written the transforms' ``after_transition`` run in reverse, so the instrumentation
# (first here) runs last and its event sees the run as the transition leaves it.
GlobalFlowPolicy: tuple[Transform[orm.FlowRun], ...] = (
    InstrumentFlowRunStateTransitions(),
    g.SetStateTimestamp(),
    g.SetDefaultScheduledTime(),
    g.SetStartTime(),
    g.SetEndTime(),
    g.IncrementRunTime(),
    g.SetExpectedStartTime(),
    g.SetNextScheduledStartTime(),
    g.UpdateFlowRunStateDetails(),
    g.IncrementFlowRunCount(),
    g.RemoveResumingIndicator(),
)

GlobalTaskPolicy: tuple[Transform[orm.TaskRun], ...] = (
    InstrumentTaskRunStateTransitions(),
    g.SetStateTimestamp(),
    g.SetDefaultScheduledTime(),
    g.SetStartTime(),
    g.SetEndTime(),
    g.IncrementRunTime(),
    g.SetExpectedStartTime(),
    g.SetNextScheduledStartTime(),
    g.UpdateTaskRunStateDetails(),
    g.IncrementTaskRunCount(),
)
