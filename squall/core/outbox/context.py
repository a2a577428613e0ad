"""One delivery attempt as a destination sees it (core.integration.DeliveryContext)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import update

from squall.core.auth import Actor
from squall.core.console_url import console_url
from squall.core.db import upsert
from squall.core.events import EventInfo, emit
from squall.core.integration import DeploymentInfo
from squall.core.models import Deployment, DestinationLink, utcnow
from squall.core.runtime import Runtime
from squall.core.services.views import DeploymentDetail, deployment_detail

OUTBOX_ACTOR = Actor("squall", frozenset({"admin"}), "system")
"""Deliveries read what they report as Squall itself, not as a person."""


class AttemptContext:
    def __init__(
        self,
        runtime: Runtime,
        destination: str,
        *,
        action: str,
        event: EventInfo,
        deployment: DeploymentInfo,
        attempts: int,
        ambiguous: bool,
        link: Mapping[str, Any],
    ) -> None:
        self._runtime = runtime
        self._destination = destination
        self.action = action
        self.event = event
        self.deployment = deployment
        self.attempts = attempts
        self.ambiguous = ambiguous
        self._link = dict(link)

    @property
    def link(self) -> Mapping[str, Any]:
        return dict(self._link)

    def remember(self, **values: Any) -> None:
        self._link.update(values)
        with self._runtime.db.write() as session:
            upsert(
                session,
                DestinationLink.__table__,
                [
                    {
                        "destination": self._destination,
                        "deployment_id": self.deployment.id,
                        "data": self._link,
                        "updated_at": utcnow(),
                    }
                ],
                ["destination", "deployment_id"],
            )

    def set_ticket(self, key: str) -> None:
        with self._runtime.db.write() as session:
            changed = session.execute(
                update(Deployment)
                .where(Deployment.id == self.deployment.id, Deployment.ticket.is_(None))
                .values(ticket=key)
            ).rowcount  # type: ignore[attr-defined]
            if changed:
                emit(session, "deployment.ticket", deployment_id=self.deployment.id, ticket=key)
        self.deployment = replace(self.deployment, ticket=self.deployment.ticket or key)

    def detail(self) -> DeploymentDetail:
        with self._runtime.db.read() as session:
            return deployment_detail(session, self._runtime, OUTBOX_ACTOR, self.deployment.id)

    def report(self) -> tuple[str, bytes]:
        return deployment_report(self._runtime, self.deployment.id)

    def page_url(self, path: str = "") -> str | None:
        base = console_url(self._runtime.settings)
        return f"{base}/deployments/{self.deployment.id}{path}" if base else None


def deployment_report(runtime: Runtime, deployment_id: int) -> tuple[str, bytes]:
    """The PDF report integrations attach and upload: its file name and bytes."""
    from squall.core.services import reports  # loaded on first use: it brings in reportlab

    name: str = reports.deployment_pdf_name(runtime, deployment_id)
    content: bytes = reports.deployment_pdf(runtime, deployment_id)
    return name, content
