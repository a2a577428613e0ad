"""What the REST API answers: models of its own, so the public API changes only when this
file does, never because a page or a service changed shape.

Each model is built from a core value with `Model.model_validate(value)` and keeps its
field names, so the API's client (`squall.api.client`) reads an answer back into that
value and `squall --server` prints what the command prints locally. Every deployment
answer extends `DeploymentFields`, the fields of the core's one read model of a
deployment (`squall.core.readmodel.DeploymentRecord`). Field descriptions are the
attribute docstrings below, published in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
    """The node that failed."""
    cluster: str
    """Its cluster."""
    stage: str
    """The stage it failed in."""
    status: str
    """failed, interrupted, inconclusive, or excluded (failed, then set aside)."""
    attempt: int
    """The deployment's attempt the failure belongs to."""
    step: str | None
    """The step that failed; null when the node could not be reached."""
    exit_code: int | None
    """The failed step's exit code, if it exited."""
    error: str | None
    """What went wrong, in a line."""
    last_lines: list[str]
    """The last lines of the node's output."""
    finished_at: dt.datetime | None
    """When it failed."""


class Approval(Schema):
    """Someone approving a gate."""

    stage: str
    """The stage whose gate was approved."""
    actor: str
    """Who approved it."""
    at: dt.datetime
    """When."""
    comment: str | None
    """Why, if they said."""


class Run(Schema):
    """One node's run in one attempt, as it ended: kept after a retry."""

    node: str
    """The node."""
    cluster: str
    """Its cluster."""
    stage: str
    """The stage it ran in."""
    status: str
    """succeeded, failed, interrupted, inconclusive or cancelled."""
    attempt: int
    """The attempt it belongs to."""
    step: str | None
    """The step it failed at, or was running when it was interrupted."""
    failure_point: str
    """`failed at step write, exit code 1`, `interrupted during step prepare (may have
    partly run)`."""
    exit_code: int | None
    """The failed step's exit code, if it exited."""
    error: str | None
    """What went wrong, in a line."""
    last_lines: list[str]
    """The last lines of the node's output."""
    started_at: dt.datetime | None
    """When it started."""
    finished_at: dt.datetime
    """When it ended."""


class Attempt(Schema):
    """One attempt: the first is the deployment, each retry adds one. History is kept."""

    number: int
    """1 for the deployment itself, then 2, 3, … for each retry."""
    started_by: str
    """Who started it: the requester, then whoever retried."""
    started_at: dt.datetime | None
    """When it started; null before."""
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
    """The node it ran on."""
    step: str
    """The step that ran again."""
    attempt: int
    """The attempt it belongs to."""
    at: dt.datetime
    """When it was handed back to a worker to run again."""


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
    nodes_excluded: int
    """Of those, how many failed and were set aside (counted in done, never succeeded)."""
    attempts: list[Attempt]
    """Every attempt, first to last, with the failures of each."""
    reruns: list[Rerun]
    """Steps that may have run twice, oldest first."""


class Task(Schema):
    """One node task: a node in one stage, and where it is."""

    node: str
    """The node."""
    cluster: str
    """Its cluster."""
    stage: str
    """The stage it belongs to."""
    kind: str
    """deploy, check or rollback: the kind of its stage."""
    status: str
    """pending, running, succeeded, failed, inconclusive, skipped, not_started, cancelled,
    interrupted or excluded."""
    attempt: int
    """The attempt it last ran in."""
    current_step: str | None
    """The step it runs now, while it runs."""
    failed_step: str | None
    """The step it failed at, if it failed."""
    error: str | None
    """What went wrong, in a line, if anything did."""


class StepOutcomes(Schema):
    """How the nodes fared at one step: where failures cluster."""

    name: str
    """The step's name."""
    counts: dict[str, int]
    """Node tasks by their status at this step."""
    failed_by_cluster: dict[str, int]
    """Node tasks that failed (or were interrupted) at this step, per cluster."""
    by_node: list[str]
    """Each node task's status at this step, in the order of `tasks` ("" where the task
    has no such step or has not reached it)."""


class Signature(Schema):
    """Nodes that failed the same way: at one step, with one first error line."""

    step: str
    """The step they failed at."""
    error: str
    """The first line of their error."""
    nodes: list[str]
    """The nodes that failed so."""


class DeploymentTasks(Schema):
    """A deployment with its node tasks, step outcomes, error signatures and actions."""

    view: Deployment
    """The deployment in full."""
    tasks: list[Task]
    """Every node task, stage by stage."""
    steps: list[StepOutcomes]
    """Each step's outcomes over the nodes, in the order the steps run."""
    signatures: list[Signature]
    """Failures grouped by step and first error line, the largest group first."""
    actions: list[str]
    """pause, resume, promote, retry, exclude, rollback, cancel: those the caller may take
    now (each is checked again when taken)."""


# --- a deployment on the board ------------------------------------------------------------


class Segment(Schema):
    """One stage in a deployment's phase bar."""

    name: str
    """The stage's name."""
    kind: str
    """deploy, check or rollback."""
    status: str
    """The stage's status."""
    total: int
    """Node tasks in the stage."""
    done: int
    """Of those, how many ran and ended (whatever the outcome)."""
    failed: int
    """Of those, how many failed."""
    running: int
    """Of those, how many run now."""
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
    excluded: int
    """Of those, how many failed and were set aside (counted in done, never succeeded)."""
    failed: int
    """Node tasks that failed, in any stage (not counting those set aside)."""
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
    """The deployment."""


# --- plans, sections, logs --------------------------------------------------------------


class NodePreview(Schema):
    """A node in a planned stage, with the steps it would run."""

    name: str
    """The node's name."""
    cluster: str
    """Its cluster."""
    steps: list[str]
    """Each step as `name: what it does`, secrets masked."""


class StagePreview(Schema):
    """A stage as planned: its gate, how many nodes at once, and each node's steps."""

    name: str
    """The stage's name (`lightning`, `thunder 1`, `deploy`, …)."""
    kind: str
    """deploy, check (a health check) or rollback."""
    gate: bool
    """Whether a person must approve the stage before it starts."""
    approvals: int
    """Approvals the gate needs."""
    parallelism: int | None
    """Nodes at once; null for the deployment's own setting."""
    max_failures: str | None
    """Failures it tolerates before it stops: a count (`3`) or a share (`10%`)."""
    bake_seconds: float
    """How long it waits after its nodes are done before the next stage starts."""
    nodes: list[NodePreview]
    """Its nodes, in the order they start."""


class PlanPreview(Schema):
    """What a deployment would run (a dry run): nothing is created, nothing secret shown."""

    type: str
    """The deployment type's name."""
    target: str
    """The selector it was asked for."""
    node_count: int
    """Nodes it would deploy to."""
    stages: list[StagePreview]
    """In the order they would run."""


class ReportSection(Schema):
    """What a deployment's type adds to its status and report: text, a table, or both."""

    title: str
    """The section's heading."""
    text: str
    """Free text; may be empty."""
    headers: list[str]
    """The table's column headings; empty without a table."""
    rows: list[list[str]]
    """The table's rows, one cell a column."""
    rows_for_exports: bool
    """The rows are the whole record, for CSV and JSON exports: people are shown `text`,
    which summarises them (diffs, say)."""


class LogEntry(Schema):
    """One line a node wrote."""

    id: int
    """The line's number: increasing, so it orders lines and serves as a cursor."""
    node: str
    """The node that wrote it."""
    attempt: int
    """The deployment's attempt it belongs to."""
    step: int | None
    """The number of the step that wrote it (from 0); null for lines about the node."""
    stream: str
    """stdout, stderr, or squall for Squall's own lines about the node."""
    at: dt.datetime
    """When it was written (UTC)."""
    text: str
    """The line, without its line break."""


class LogChunk(Schema):
    """One page of a deployment's log, oldest first."""

    entries: list[LogEntry]
    """The lines of this page."""
    cursor: int
    """Pass it back as `after` for the lines that follow (the last line's id here)."""
    more: bool
    """More lines are stored already: ask again at once."""
    status: str
    """The deployment's status when the page was read."""
    finished: bool
    """The deployment is final: once `more` is false too, nothing else will come."""


# --- inventory, types -------------------------------------------------------------------


class NodeListing(Schema):
    """A node as listings show it: where it is reached, never its variables."""

    cluster: str
    """Its cluster."""
    name: str
    """Its name, unique in the inventory."""
    address: str
    """`host:port`; the folder it stands for, for a node on this machine (`local`)."""
    user: str | None
    """Who Squall connects as; null for the transport's default."""
    transport: str
    """How Squall reaches it: ssh or local."""
    tags: list[str]
    """Its tags, for selectors (`tag:db`)."""
    environment: str | None
    """Its cluster's environment (`production`, …), if set."""


class ClusterRow(Schema):
    """A cluster with its node count."""

    name: str
    """The cluster's name."""
    environment: str | None
    """Its environment (`production`, …), if set."""
    source: str
    """The inventory it was last imported from, as named then (a file's name or path)."""
    nodes: int
    """How many nodes it has."""


class ImportSummary(Schema):
    """What an inventory import changed."""

    source: str
    """The file it was read from, as named."""
    clusters: list[str]
    """The clusters it holds: each replaced the one of that name."""
    added: int
    """Nodes added."""
    updated: int
    """Nodes whose settings changed."""
    removed: int
    """Nodes taken out: in their cluster before, not in the file."""


class ParameterInfo(Schema):
    """One parameter of a deployment type."""

    name: str
    """Dotted for a field of a nested section: `thunder.bake_seconds`."""
    kind: str
    """What the value is, for people: `string`, `list of commands`, `integer > 0`."""
    required: bool
    """Whether a deployment must give it."""
    default: str | None
    """The default for people (`auto`, `60`, `none`, `empty`); null when required."""
    description: str
    """What it does."""
    secret: bool
    """Whether its value is masked in plans, pages, logs and reports."""


class TypeInfo(Schema):
    """A deployment type, with its parameters."""

    name: str
    """The name deployments give (`noop`, `config_change`, …)."""
    title: str
    """Its name for people."""
    description: str
    """What it does."""
    retry_interrupted: bool
    """Whether a step interrupted by a stopped worker runs again (it is safe to repeat)."""
    parameters: list[ParameterInfo]
    """Its parameters, nested sections flattened, in declaration order."""
    parameters_schema: dict[str, Any] = Field(alias="schema")
    """`schema`: the parameters' JSON schema, as forms and API clients validate against."""


# --- access -----------------------------------------------------------------------------


class ChainBreak(Schema):
    """A place where the audit log's hash chain does not hold."""

    record_id: int
    """The record where it breaks (0 when the head noted earlier is gone)."""
    reason: str
    """What is wrong: edited, deleted, reordered, …"""


class AuditCheck(Schema):
    """The audit log's hash chain, checked from its first record to its last."""

    records: int
    """How many records it holds."""
    head: str
    """The newest record's hash: note it somewhere else to detect a cut-off tail later."""
    breaks: list[ChainBreak]
    """Every place the chain does not hold; empty when it verifies."""


class AuditEntry(Schema):
    """One audit record: who did what to what, when."""

    id: int
    """The record's number, in the order they were written."""
    at: dt.datetime
    """When (UTC)."""
    actor: str
    """Who did it."""
    action: str
    """What they did (`deployment.create`, `role.grant`, …)."""
    target: str
    """What they did it to."""
    details: dict[str, Any]
    """What else the action records (secrets never)."""
    hash: str
    """The record's link in the hash chain (`GET /audit/verify` checks them)."""


class TokenInfo(Schema):
    """An API token, never its secret."""

    id: int
    """The token's number (`DELETE /tokens/{id}` revokes it)."""
    owner: str
    """Who it acts as."""
    name: str
    """What its owner called it."""
    scopes: list[str] | None
    """The permissions it is limited to; null for all of its owner's."""
    created_at: dt.datetime
    """When it was made (UTC)."""
    expires_at: dt.datetime
    """When it stops working (UTC)."""
    revoked_at: dt.datetime | None
    """When it was revoked; null while it was not."""
    last_used_at: dt.datetime | None
    """When it was last used; null if never."""


class CreatedToken(Schema):
    """A new API token: its secret, shown this once, and what it is."""

    token: str
    """The secret; shown this once."""
    info: TokenInfo
    """The token as listings show it."""


class Binding(Schema):
    """A role given in Squall to a user or a group."""

    id: int
    """The binding's number (`DELETE /roles/{id}` revokes it)."""
    subject: str
    """`user:NAME` or `group:NAME`."""
    grant: str
    """The role, maybe scoped: `deployer`, `deployer@cluster:web*`."""
    created_by: str
    """Who gave it."""
    created_at: dt.datetime
    """When (UTC)."""


class RoleOverview(Schema):
    """Who holds which role: bindings given in Squall, and the identity provider's groups."""

    bindings: list[Binding]
    """Role bindings given in Squall."""
    provider_groups: dict[str, str]
    """`sso.roles`: the grants each group of the identity provider maps to."""


class Me(Schema):
    """Who a request acts as."""

    name: str
    """The user's name."""
    source: str
    """How they proved who they are: `local` (the person at the machine), `sso` or
    `token`."""
    grants: list[str]
    """Every role they hold, maybe scoped (`deployer@cluster:web*`)."""
    scopes: list[str] | None
    """The permissions a token limits them to; null when not limited."""


# --- reports ----------------------------------------------------------------------------


class Verification(Schema):
    """A report copy checked against Squall: it verifies when `problems` is empty."""

    sha256: str
    """The fingerprint the copy claims."""
    request: dict[str, Any]
    """Which report the copy claims to be: its kind and subject (and period)."""
    generated: dict[str, Any]
    """When, by whom and by which Squall version the copy claims it was made."""
    form: str
    """pdf, csv or json."""
    subject: str
    """The deployment, cluster or node it reports on."""
    as_of: dt.datetime | None
    """When the last event the copy covers happened; null when not known."""
    newer: list[str]
    """What happened since the copy was made: it verifies as of then, and these came after."""
    checks: list[str]
    """What was checked and held."""
    problems: list[str]
    """What does not match; empty when the copy verifies."""


# --- small answers ----------------------------------------------------------------------


class Created(Schema):
    """A deployment was created; a worker starts it at once."""

    id: int
    """The new deployment's number."""


class ActionResult(Schema):
    """An operator action was taken."""

    id: int
    """The deployment's number."""
    action: str
    """The action taken."""
    result: Any
    """retry: the new attempt; exclude: the nodes set aside; rollback: nodes to undo;
    promote: the stage approved; otherwise null."""


class RetriedDeliveries(Schema):
    """Failed deliveries handed back to the outbox."""

    retried: int
    """How many failed deliveries go out again."""


class GivenUpDeliveries(Schema):
    """Failed deliveries given up."""

    given_up: int
    """How many failed deliveries were given up."""


class Problem(Schema):
    """Every refusal: why, and (when it applies) the missing permission or wrong fields."""

    detail: Any
    """Why, in a line; for a request of the wrong shape, FastAPI's list of field errors."""
    permission: str | None = None
    """The permission that is missing (403)."""
    fields: dict[str, str] | None = None
    """Each wrong field, and what is wrong with it (422)."""


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
    held: bool
    """Pending and waiting behind a failed delivery of this deployment or of another one
    sharing its queue; retrying or giving up that failed delivery lets it go."""
    held_behind: int | None
    """The number of the deployment whose failed delivery holds it, when you may see that
    deployment; null otherwise."""


class Deliveries(Schema):
    """What the integrations did about a deployment, and what they know it by."""

    deployment_id: int
    """The deployment's number."""
    deliveries: list[Delivery]
    """Every delivery, by integration, in the order they were made."""
    links: dict[str, dict[str, Any]]
    """Per integration, what it knows the deployment by (a JIRA key, a Slack channel)."""
