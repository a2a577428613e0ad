"""What the REST API answers about deployments: models of its own, so the public API
changes only when this file does, never because a page or a service changed shape.

Every deployment answer extends `DeploymentFields`, which has the fields of the core's one
read model of a deployment (`squall.core.readmodel.DeploymentRecord`), and each model is
built from the core's value with `Model.model_validate(value)`. Field descriptions are
the attribute docstrings below, published in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True, use_attribute_docstrings=True)


class DeploymentFields(Schema):
    """What every answer about a deployment starts with."""

    id: int
    """The deployment's number."""
    type: str
    """The deployment type's name (`noop`, `config_change`, `group`, …)."""
    title: str
    """What it does, in a line."""
    status: str
    """pending, awaiting_approval, running, paused, succeeded, succeeded_with_exclusions
    (failed nodes were set aside), failed, cancelled or rolled_back."""
    requester: str
    """Who asked for it."""
    ticket: str | None
    """Its JIRA ticket key, if any."""
    target: str
    """The selector it was created with (`cluster:web*`, `tag:db`, …)."""
    attempt: int
    """1, then one more for every retry of its failed nodes."""
    environments: list[str]
    """The environments of the nodes it targets, sorted."""
    clusters: list[str]
    """The clusters of the nodes it targets, sorted."""
    created_at: dt.datetime
    """When it was asked for (UTC)."""
    started_at: dt.datetime | None
    """When its first stage started; null before."""
    finished_at: dt.datetime | None
    """When it reached a final status; null before."""


# --- a deployment in detail -------------------------------------------------------------


class Stage(Schema):
    """One stage (a phase, a wave, a health check, a rollback) and how far it got."""

    name: str
    """The stage's name (`lightning`, `thunder 1`, `deploy`, …)."""
    kind: str
    """deploy, check (a health check) or rollback."""
    status: str
    """pending, waiting (for approval), running, halting, baking, succeeded, failed,
    skipped or cancelled."""
    total: int
    """Node tasks in the stage."""
    counts: dict[str, int]
    """Node tasks by status; `queued` counts pending ones whose node another deployment
    holds."""
    clusters: dict[str, dict[str, int]]
    """The same counts per cluster."""
    gate: bool
    """Whether a person must approve the stage before it starts."""
    approvals: int
    """Approvals given to the gate."""
    approvals_required: int
    """Approvals the gate needs."""
    bake_seconds: float
    """How long the stage waits after its nodes are done before the next one starts."""
    bake_until: dt.datetime | None
    """When its bake time ends, while it bakes."""
    started_at: dt.datetime | None
    """When its first node task started."""
    finished_at: dt.datetime | None
    """When its last node task finished."""


class Failure(Schema):
    """Where a node failed: the stage, the step, the exit code or error, the last lines."""

    node: str
    cluster: str
    stage: str
    status: str
    """failed, interrupted, inconclusive, or excluded (failed, then set aside)."""
    attempt: int
    """The deployment's attempt the failure belongs to."""
    step: str | None
    """The step that failed; null when the node could not be reached."""
    exit_code: int | None
    error: str | None
    last_lines: list[str]
    """The last lines of the node's output."""
    finished_at: dt.datetime | None


class Approval(Schema):
    """Someone approving a gate."""

    stage: str
    """The stage whose gate was approved."""
    actor: str
    """Who approved it."""
    at: dt.datetime
    comment: str | None


class Run(Schema):
    """One node's run in one attempt, as it ended: kept after a retry."""

    node: str
    cluster: str
    stage: str
    status: str
    """succeeded, failed, interrupted, inconclusive or cancelled."""
    attempt: int
    step: str | None
    """The step it failed at, or was running when it was interrupted."""
    failure_point: str
    """`failed at step write, exit code 1`, `interrupted during step prepare (may have
    partly run)`."""
    exit_code: int | None
    error: str | None
    last_lines: list[str]
    started_at: dt.datetime | None
    finished_at: dt.datetime


class Attempt(Schema):
    """One attempt: the first is the deployment, each retry adds one. History is kept."""

    number: int
    started_by: str
    """Who started it: the requester, then whoever retried."""
    started_at: dt.datetime | None
    nodes: list[str]
    """The nodes it ran."""
    counts: dict[str, int]
    """How its node runs ended."""
    runs: list[Run]
    """Every run of its nodes, as it ended."""
    failures: list[Run]
    """Of those, the runs that failed, with their failure points."""


class Rerun(Schema):
    """A step that ran again after its worker stopped mid-step: it may have run twice."""

    node: str
    step: str
    attempt: int
    at: dt.datetime


class Deployment(DeploymentFields):
    """A deployment in full: parameters, stages, failure points, approvals, attempts."""

    params: dict[str, Any]
    """Its parameters, as validated by its type; secrets appear as `***`."""
    stages: list[Stage]
    """In the order they run."""
    failures: list[Failure]
    """Every node that failed, in the order they failed."""
    approvals: list[Approval]
    """Approvals of its gates, oldest first."""
    waiting_for: str | None
    """What a person must do for it to go on (promote a gate, resume), if anything."""
    counts: dict[str, int]
    """Node tasks by status, over every stage."""
    node_count: int
    """Nodes it deploys to (health checks and rollbacks come back to the same nodes)."""
    nodes_done: int
    """Of those, how many ran and ended (whatever the outcome)."""
    nodes_never_ran: int
    """Of those, how many never ran: skipped, or not started before a cancel."""
    attempts: list[Attempt]
    """Every attempt, first to last, with the failures of each."""
    reruns: list[Rerun]
    """Steps that may have run twice, oldest first."""


class Task(Schema):
    """One node task: a node in one stage, and where it is."""

    node: str
    cluster: str
    stage: str
    kind: str
    """deploy, check or rollback: the kind of its stage."""
    status: str
    """pending, running, succeeded, failed, inconclusive, skipped, not_started, cancelled,
    interrupted or excluded."""
    attempt: int
    current_step: str | None
    """The step it runs now, while it runs."""
    failed_step: str | None
    error: str | None


class StepOutcomes(Schema):
    """How the nodes fared at one step: where failures cluster."""

    name: str
    counts: dict[str, int]
    """Node tasks by their status at this step."""
    failed_by_cluster: dict[str, int]
    by_node: list[str]
    """Each node task's status at this step, in the order of `tasks` ("" where the task
    has no such step or has not reached it)."""


class Signature(Schema):
    """Nodes that failed the same way: at one step, with one first error line."""

    step: str
    error: str
    nodes: list[str]


class DeploymentTasks(Schema):
    """A deployment with its node tasks, step outcomes, error signatures and actions."""

    view: Deployment
    tasks: list[Task]
    steps: list[StepOutcomes]
    signatures: list[Signature]
    actions: list[str]
    """pause, resume, promote, retry, exclude, rollback, cancel: those the caller may take
    now (each is checked again when taken)."""


# --- a deployment on the board ------------------------------------------------------------


class Segment(Schema):
    """One stage in a deployment's phase bar."""

    name: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    running: int
    succeeded: int
    """The part of the bar that got the change."""


class DeploymentRow(DeploymentFields):
    """A deployment as the board lists it: progress, latest failure, time left."""

    segments: list[Segment]
    """Its stages, in order, for a phase bar."""
    total: int
    """Node tasks of its deploy stages."""
    done: int
    """Of those, how many ran and ended (whatever the outcome)."""
    never_ran: int
    """Of those, how many never ran: skipped, or not started before a cancel."""
    failed: int
    """Node tasks that failed, in any stage."""
    running: int
    """Node tasks running now."""
    failure: str | None
    """The latest failure point, in a line."""
    eta_seconds: float | None
    """Estimated seconds left (gates excluded), from earlier durations of the same steps;
    null when final or unknown."""
    held_by: str | None
    """The outside condition it waits for (a JIRA ticket's status, say), if any."""


# --- integrations -----------------------------------------------------------------------


class Drift(Schema):
    """A deployment JIRA should know about but does not, or whose ticket tells a story
    that did not happen."""

    problem: str
    """`no ticket`, `deployment failed` or `never ran`."""
    deployment: DeploymentFields


class Delivery(Schema):
    """One thing an integration does about an event: a comment, a transition, a post."""

    id: int
    """The delivery's number."""
    destination: str
    """The integration (`jira`, `slack`, …)."""
    action: str
    """What it does (`comment`, `transition:started`, `card`, …)."""
    event: str
    """The event that asked for it (`stage.succeeded`, …)."""
    status: str
    """delivered, pending, failed or given_up."""
    attempts: int
    """Attempts made so far."""
    error: str | None
    """The last attempt's error (secrets masked), if any."""
    next_attempt_at: dt.datetime | None
    """When a pending delivery is tried next (UTC)."""
    delivered_at: dt.datetime | None
    """When it arrived (UTC)."""
    ordered: bool
    """Goes out in turn with its deployment's other ordered deliveries and those of its
    queue; false for a status card edited in place."""
    queue: str
    """What it keeps its turn with across deployments (`issue:OPS-1`); empty: none."""
    held_behind: int | None
    """Pending and waiting behind a failed delivery of this deployment or of another one
    sharing its queue: that deployment's number. Retrying or giving up that deployment's
    failed deliveries lets it go."""


class Deliveries(Schema):
    """What the integrations did about a deployment, and what they know it by."""

    deployment_id: int
    """The deployment's number."""
    deliveries: list[Delivery]
    """Every delivery, by integration, in the order they were made."""
    links: dict[str, dict[str, Any]]
    """Per integration, what it knows the deployment by (a JIRA key, a Slack channel)."""
