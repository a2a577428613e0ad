"""What integration plugins (JIRA, Slack, …) are given and give back.

An integration registers a `Destination`. Squall reads committed events as an outbox,
asks the destination which `Action`s each event needs, stores one delivery per action,
and calls `Destination.send` for each, in order (see `Action.queue`), from a background loop
of the process that runs the engine, never inside a database transaction. `send` says
how an attempt went by returning (done) or raising `RetryLater`, `DeliveryFailed` or
`NotYet`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from squall.core.readmodel import DeploymentRecord

if TYPE_CHECKING:
    from squall.core.events import EventInfo
    from squall.core.services.views import DeploymentDetail


@dataclass(frozen=True, kw_only=True)
class DeploymentInfo(DeploymentRecord):
    """A deployment as integrations see it: the record every view of it starts from."""

    @property
    def environment(self) -> str | None:
        """The environment its settings are taken from: the first it touches."""
        return self.environments[0] if self.environments else None


@dataclass(frozen=True)
class Action:
    """Something a destination does about an event.

    `every`: None for an action done once per event, in order with the deployment's other
    ordered actions; a number for a coalesced action (a status card): one pending
    delivery per deployment, sent at most once every `every` seconds, showing the latest
    state. `after`: seconds to wait before the first attempt (archive a channel later).
    `queue`: what else an ordered action keeps its turn with, across deployments (JIRA:
    the issue, which two deployments may share). An ordered delivery goes out after every
    earlier one of its deployment and of its queue, and waits while one of them failed.
    """

    name: str
    every: float | None = None
    after: float = 0.0
    queue: str | None = None


class DeliveryContext(Protocol):
    """One attempt at one delivery."""

    @property
    def action(self) -> str: ...
    @property
    def event(self) -> EventInfo: ...
    @property
    def deployment(self) -> DeploymentInfo:
        """Read when the attempt starts (its current status, ticket…)."""

    @property
    def attempts(self) -> int:
        """Earlier attempts of this delivery."""

    @property
    def ambiguous(self) -> bool:
        """An earlier attempt may have reached the destination (timed out, 5xx): look
        before doing it again, so it is done exactly once."""

    @property
    def link(self) -> Mapping[str, Any]:
        """What this destination recorded about the deployment (`remember`)."""

    def remember(self, **values: Any) -> None:
        """Record ids the destination gave (a ticket key, a message ts) at once, before
        anything else can fail, so a later attempt finds them instead of creating again."""

    def set_ticket(self, key: str) -> None:
        """Record the ticket a destination created as the deployment's own, if it has none."""

    def detail(self) -> DeploymentDetail:
        """The deployment's stages, nodes, failures and error signatures now."""

    def report(self) -> tuple[str, bytes]:
        """The deployment's PDF report: file name and content."""

    def page_url(self, path: str = "") -> str | None:
        """The address of the deployment's page in the console (plus `path`): under
        `sso.public_url`, else where `squall serve` serves it; None when neither is known."""


class Destination(Protocol):
    """An integration's side of the outbox. `name` keys its deliveries and links."""

    name: str
    title: str

    def actions(self, event: EventInfo, deployment: DeploymentInfo) -> Sequence[Action]:
        """The actions an event needs (none if it is of no interest); no I/O."""

    def send(self, context: DeliveryContext) -> None:
        """Do one action. Return when done; raise RetryLater, DeliveryFailed or NotYet."""


class RetryLater(Exception):
    """The destination is unavailable now (5xx, 429, a timeout): try again after `after`
    seconds (None: Squall's backoff). `ambiguous`: the request may have been carried out."""

    def __init__(self, message: str, *, after: float | None = None, ambiguous: bool = False):
        super().__init__(message)
        self.after = after
        self.ambiguous = ambiguous


class DeliveryFailed(Exception):
    """Trying again cannot help (credentials rejected, a missing permission or ticket):
    the delivery is given up and the message is shown on the deployment."""


class NotYet(Exception):
    """The delivery waits for something else first (the message it edits is not posted
    yet): try again soon, without counting an attempt."""
