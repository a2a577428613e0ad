"""Database tables. Typed columns; nullability follows `| None`; constraints are named.

The annotations here are evaluated as Python runs the module, not kept as strings (no
`from __future__ import annotations`): SQLAlchemy reads every column's annotation, and
evaluating 194 strings costs each start of `squall` about 6 ms. Classes defined further
down are named in quotes."""

import datetime as dt
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from squall.core.status import UNSUCCESSFUL, DeploymentStatus, StageKind, StageStatus, TaskStatus


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Json(TypeDecorator[Any]):
    """JSON, stored as JSONB on PostgreSQL. Chosen when a connection is made, so that
    loading the models (every command's start) does not load the PostgreSQL dialect."""

    impl = JSON
    cache_ok = True
    should_evaluate_none = True  # as JSON: None is stored as JSON's null, given explicitly

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


JsonValue = Json()


def _enum(cls: type[Any], length: int = 24) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


Timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow)]
OptionalTimestamp = Annotated[dt.datetime | None, mapped_column(UTCDateTime())]
Name = Annotated[str, mapped_column(String(200))]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JsonValue, list[Any]: JsonValue}


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[Name] = mapped_column(unique=True)
    environment: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[Timestamp]

    nodes: Mapped[list["Node"]] = relationship(
        back_populates="cluster", cascade="all, delete-orphan", order_by="Node.id"
    )


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[Name] = mapped_column(unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(default=22)
    user: Mapped[str | None] = mapped_column(String(100))
    transport: Mapped[str] = mapped_column(String(20), default="ssh")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    vars: Mapped[dict[str, Any]] = mapped_column(default=dict)

    cluster: Mapped[Cluster] = relationship(back_populates="nodes")


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict[str, Any]]
    """The type's parameters; secret ones are stored encrypted (see core.secrets)."""
    selector: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """How it runs (parallelism, failure threshold, step timeout), as requested."""
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The clusters and environments it touches (what scoped grants are checked against)."""
    requester: Mapped[str] = mapped_column(String(200), index=True)
    ticket: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[DeploymentStatus] = mapped_column(_enum(DeploymentStatus, 32), index=True)
    attempt: Mapped[int] = mapped_column(default=1)
    retry_interrupted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[Timestamp]
    started_at: Mapped[OptionalTimestamp]
    finished_at: Mapped[OptionalTimestamp]

    stages: Mapped[list["Stage"]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan", order_by="Stage.position"
    )


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("deployment_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[Name]
    kind: Mapped[StageKind] = mapped_column(_enum(StageKind), default=StageKind.DEPLOY)
    parallelism: Mapped[int]
    max_failures: Mapped[int | None]
    max_failure_percent: Mapped[float | None]
    gate: Mapped[bool] = mapped_column(default=False)
    """A person must promote the deployment before this stage starts."""
    approvals_required: Mapped[int] = mapped_column(default=1)
    bake_seconds: Mapped[float] = mapped_column(default=0.0)
    bake_until: Mapped[OptionalTimestamp]
    undoes_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("stages.id", ondelete="SET NULL")
    )
    """For a rollback stage: the deploy stage whose nodes it restores."""
    status: Mapped[StageStatus] = mapped_column(_enum(StageStatus))
    started_at: Mapped[OptionalTimestamp]
    finished_at: Mapped[OptionalTimestamp]

    deployment: Mapped[Deployment] = relationship(back_populates="stages")
    tasks: Mapped[list["NodeTask"]] = relationship(
        back_populates="stage", cascade="all, delete-orphan", order_by="NodeTask.position"
    )


class NodeTask(Base):
    __tablename__ = "node_tasks"
    __table_args__ = (
        Index("ix_node_tasks_stage_status", "stage_id", "status"),
        # Covers the board's counts by deployment, status, stage and cluster.
        Index(
            "ix_node_tasks_deployment_status",
            "deployment_id",
            "status",
            "stage_id",
            "cluster_name",
        ),
        Index("ix_node_tasks_cluster_deployment", "cluster_name", "deployment_id"),
        Index("ix_node_tasks_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    position: Mapped[int]
    node_name: Mapped[Name] = mapped_column(index=True)
    cluster_name: Mapped[Name]
    node: Mapped[dict[str, Any]]
    """How the node was reached when planned (host, port, user, transport, vars)."""
    steps: Mapped[str] = mapped_column(Text)
    """The planned steps as JSON, encrypted when the deployment has secret parameters."""
    step_names: Mapped[list[Any]]
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus))
    attempt: Mapped[int] = mapped_column(default=1)
    resume_from: Mapped[int] = mapped_column(default=0)
    """Index of the first step to run; later than 0 when resuming an interrupted task."""
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[OptionalTimestamp]
    current_step: Mapped[int | None]
    started_at: Mapped[OptionalTimestamp]
    finished_at: Mapped[OptionalTimestamp]
    # The failure point, when the task failed.
    failed_step: Mapped[int | None]
    failed_step_name: Mapped[str | None] = mapped_column(String(200))
    exit_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    last_lines: Mapped[list[Any] | None] = mapped_column(JsonValue)

    stage: Mapped[Stage] = relationship(back_populates="tasks")


def failure_point_condition() -> ColumnElement[bool]:
    """`status.has_failure_point` as a condition on node tasks, for queries."""
    return or_(
        NodeTask.status.in_(UNSUCCESSFUL),
        and_(
            NodeTask.status == TaskStatus.EXCLUDED,
            or_(NodeTask.failed_step_name.is_not(None), NodeTask.error.is_not(None)),
        ),
    )


class TaskAttempt(Base):
    """One run of a node task, kept when it ends and never changed: a retry or a resume
    adds a row, so every failure, its exit code, output and failure point stays on record.

    The node task holds the current state; this table holds what happened."""

    __tablename__ = "task_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int] = mapped_column(ForeignKey("node_tasks.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    """The deployment's attempt this run belonged to (1, then one more per retry)."""
    node_name: Mapped[Name]
    stage_name: Mapped[Name]
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus))
    worker: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[OptionalTimestamp]
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    failed_step: Mapped[int | None]
    failed_step_name: Mapped[str | None] = mapped_column(String(200))
    exit_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    last_lines: Mapped[list[Any] | None] = mapped_column(JsonValue)


class ReportCopy(Base):
    """A copy of a report Squall issued (PDF, CSV or JSON): what `report verify` checks a
    file against, so a copy made before a retry still verifies after it. Never changed."""

    __tablename__ = "report_copies"

    id: Mapped[int] = mapped_column(primary_key=True)
    form: Mapped[str] = mapped_column(String(10))
    """pdf, csv or json."""
    request: Mapped[dict[str, Any]]
    """What was asked for: `{"kind": "deployment", "deployment_id": 7}` and the like."""
    data_sha256: Mapped[str] = mapped_column(String(64), index=True)
    """The fingerprint of the report's data, printed on the copy."""
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    """The SHA-256 of the file as issued, byte for byte."""
    as_of_event: Mapped[int]
    """The last event the report covered: the record as of that moment."""
    generated_by: Mapped[str] = mapped_column(String(200))
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class StepResult(Base):
    __tablename__ = "step_results"
    __table_args__ = (UniqueConstraint("task_id", "attempt", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("node_tasks.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    position: Mapped[int]
    name: Mapped[Name]
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus))
    exit_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonValue)
    started_at: Mapped[Timestamp]
    finished_at: Mapped[OptionalTimestamp]


class LogLine(Base):
    __tablename__ = "log_lines"
    __table_args__ = (
        Index("ix_log_lines_deployment", "deployment_id", "id"),
        Index("ix_log_lines_task", "task_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("node_tasks.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    step: Mapped[int | None]
    stream: Mapped[str] = mapped_column(String(10))
    at: Mapped[Timestamp]
    text: Mapped[str] = mapped_column(Text)


class Event(Base):
    """Every state change, written in the transaction that makes it.

    Integrations read it as an outbox.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_deployment", "deployment_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE")
    )
    task_id: Mapped[int | None] = mapped_column(ForeignKey("node_tasks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(60))
    actor: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[Timestamp]


class AuditRecord(Base):
    """Every human action, append-only, each record hashing the one before it."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[Timestamp]
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(300))
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Approval(Base):
    """A person's approval of a stage's gate (four-eyes: never the requester's own)."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("stage_id", "actor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]


class NodeLease(Base):
    """A node is worked on by at most one deployment at a time: the primary key says so."""

    __tablename__ = "node_leases"

    node_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("node_tasks.id", ondelete="CASCADE"))
    acquired_at: Mapped[Timestamp]


class EngineLease(Base):
    """A process running an engine (`squall deploy`, `serve`, `worker`), alive while it
    renews its lease: while one is, running deployments are moved forward (see
    core.engine.orphans)."""

    __tablename__ = "engine_leases"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[Timestamp]
    expires_at: Mapped[Timestamp]


class EventCursor(Base):
    """How far a consumer of the event table has read, and who is delivering the next batch."""

    __tablename__ = "event_cursors"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    holder: Mapped[str | None] = mapped_column(String(200))
    held_until: Mapped[OptionalTimestamp]


class RoleBinding(Base):
    """A grant given in Squall (besides those the identity provider's groups bring)."""

    __tablename__ = "role_bindings"
    __table_args__ = (UniqueConstraint("subject", "grant"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    """`user:alice` or `group:ops`."""
    grant: Mapped[str] = mapped_column(String(300))
    """A role, maybe scoped: `deployer@env:staging`."""
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[Timestamp]


class ApiToken(Base):
    """A token for scripts and the CLI: shown once, stored hashed, expiring, revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any] | None] = mapped_column(JsonValue)
    """The permissions it may use; None: all its owner had."""
    grants: Mapped[list[Any]]
    """What its owner holds outside Squall's role bindings, as text: the grants their
    provider groups gave at their latest sign-in (or the local operator's). Role bindings
    are read at each use, so revoking one takes effect at once."""
    groups: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    """Its owner's provider groups at their latest sign-in (group role bindings apply)."""
    created_at: Mapped[Timestamp]
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[OptionalTimestamp]
    last_used_at: Mapped[OptionalTimestamp]


class SignIn(Base):
    """A browser session, kept server-side: its cookie is honoured only while this row
    says it has not ended (signing out ends it, whoever holds a copy of the cookie)."""

    __tablename__ = "sign_ins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the random key in the session cookie."""
    user: Mapped[Name] = mapped_column(index=True)
    created_at: Mapped[Timestamp]
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[OptionalTimestamp]


class DeploymentHold(Base):
    """An outside condition a deployment waits for (a ticket's status, for one): it does
    not start, or a gated stage does not start after its approval, until released."""

    __tablename__ = "deployment_holds"
    __table_args__ = (UniqueConstraint("deployment_id", "gate", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    gate: Mapped[str] = mapped_column(String(60))
    """The plugin's name for the condition, e.g. `jira`."""
    stage: Mapped[str] = mapped_column(String(200), default="")
    """The stage whose start it holds; empty for the start of the deployment."""
    reason: Mapped[str] = mapped_column(Text)
    """What it waits for, as the plugin last said it."""
    created_at: Mapped[Timestamp]
    checked_at: Mapped[OptionalTimestamp]
    released_at: Mapped[OptionalTimestamp]


class Delivery(Base):
    """One thing an integration must do about an event (post, comment, transition…): the
    outbox's durable state, kept per destination so one outage never holds up another."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("destination", "event_id", "action"),
        Index("ix_deliveries_due", "destination", "status", "deployment_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    destination: Mapped[str] = mapped_column(String(60))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    event_id: Mapped[int]
    """The event that asked for it (for a coalesced action: the latest such event)."""
    action: Mapped[str] = mapped_column(String(60))
    ordered: Mapped[bool] = mapped_column(default=True)
    """In order with the deployment's other ordered deliveries to this destination, and
    with those of its queue; a coalesced action (a status card) is not."""
    queue: Mapped[str] = mapped_column(String(200), default="", server_default="")
    """What else it keeps its turn with, across deployments (a JIRA issue's key); empty
    when only its deployment's order matters."""
    status: Mapped[str] = mapped_column(String(20), default="pending")
    """pending, delivered or failed (given up: the error says why)."""
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[Timestamp]
    last_error: Mapped[str | None] = mapped_column(Text)
    ambiguous: Mapped[bool] = mapped_column(default=False)
    """The last attempt may have reached the destination (a timeout, a 5xx): the next one
    looks before doing it again."""
    created_at: Mapped[Timestamp]
    delivered_at: Mapped[OptionalTimestamp]


class DestinationLink(Base):
    """What a destination knows a deployment by (a JIRA key, a Slack channel and message)."""

    __tablename__ = "destination_links"

    destination: Mapped[str] = mapped_column(String(60), primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[Timestamp]
