"""A deployment's deliveries to JIRA, Slack and other destinations, as people see them
(made by `squall.core.services.deliveries`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeliveryView:
    id: int
    destination: str
    action: str
    event: str
    status: str
    """delivered, pending, failed or given_up."""
    attempts: int
    error: str | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    ordered: bool = True
    """Goes out in order with the deployment's other ordered deliveries, and with those of
    its queue (a status card, edited in place, does not)."""
    queue: str = ""
    """What it keeps its turn with across deployments (`issue:OPS-1`); empty: none."""
    held: bool = False
    """Pending, and waiting behind a failed delivery: of this deployment, or of another
    one sharing its queue (a JIRA ticket)."""
    held_behind: int | None = None
    """The deployment whose failed delivery holds it, if the viewer may see that one."""


@dataclass(frozen=True)
class DeliveriesView:
    deployment_id: int
    deliveries: tuple[DeliveryView, ...]
    links: Mapping[str, Mapping[str, Any]]
    """Destination → what it knows the deployment by (a JIRA key, a Slack channel)."""

    def count(self, status: str) -> int:
        return sum(1 for delivery in self.deliveries if delivery.status == status)

    def held(self) -> dict[str, Held]:
        """Per destination, the pending deliveries waiting behind a failed one (they go
        out in order once it is retried or given up)."""
        found: dict[str, Held] = {}
        for delivery in self.deliveries:
            if not delivery.held:
                continue
            before = found.get(delivery.destination, Held(0, (), False))
            seen = () if delivery.held_behind is None else (delivery.held_behind,)
            found[delivery.destination] = Held(
                before.waiting + 1,
                tuple(sorted({*before.behind, *seen})),
                before.unseen or delivery.held_behind is None,
            )
        return found


@dataclass(frozen=True)
class Held:
    waiting: int
    """Deliveries held."""
    behind: tuple[int, ...]
    """The deployments whose failed deliveries hold them (those the viewer may see)."""
    unseen: bool
    """Some are held by a deployment the viewer may not see."""
