"""Holds: outside conditions a deployment waits for before it starts, or before a gated
stage starts once approved (a JIRA ticket in an allowed status, for one).

Plugins name the conditions that apply when a deployment is created
(`squall_deployment_gates`, no I/O) and judge them later (`squall_gate_check`), from the
background loop, outside any transaction; a released hold lets the engine go on.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from squall.core.engine.progress import ACTIVE, advance
from squall.core.events import emit
from squall.core.integration import DeploymentInfo
from squall.core.models import Deployment, DeploymentHold, utcnow
from squall.core.runtime import Runtime

log = logging.getLogger(__name__)


def place_start_holds(session: Session, rt: Runtime, deployment: Deployment) -> None:
    """Ask plugins which outside conditions apply to a new deployment; hold it on each.

    A plugin may refuse the deployment here by raising `ValidationError` (a ticket its
    environment requires is missing), and the creating transaction rolls back."""
    info = DeploymentInfo.from_row(deployment)
    gates = sorted(
        {
            gate
            for found in rt.plugins.hook.squall_deployment_gates(
                deployment=info, settings=rt.settings
            )
            for gate in found or ()
        }
    )
    for gate in gates:
        reason = f"checking {gate} before it starts"
        session.add(DeploymentHold(deployment_id=deployment.id, gate=gate, stage="", reason=reason))
        emit(session, "hold.waiting", deployment_id=deployment.id, gate=gate, reason=reason)
    session.flush()


def check_holds(runtime: Runtime, *, now: dt.datetime | None = None) -> int:
    """Judge the holds due for a check; returns how many were released."""
    now = now or utcnow()
    every = dt.timedelta(seconds=runtime.settings.outbox.gate_poll_seconds)
    with runtime.db.read() as session:
        due = session.execute(
            select(DeploymentHold, Deployment)
            .join(Deployment, Deployment.id == DeploymentHold.deployment_id)
            .where(
                DeploymentHold.released_at.is_(None),
                Deployment.status.in_(ACTIVE),
                or_(DeploymentHold.checked_at.is_(None), DeploymentHold.checked_at <= now - every),
            )
            .order_by(DeploymentHold.id)
        ).all()
        work = [(hold.id, hold.gate, hold.stage, DeploymentInfo.from_row(d)) for hold, d in due]
    released = 0
    for hold_id, gate, stage, deployment in work:
        reason = _judge(runtime, deployment, gate, stage)
        released += _record(runtime, hold_id, reason)
    return released


def _judge(runtime: Runtime, deployment: DeploymentInfo, gate: str, stage: str) -> str | None:
    try:
        reasons = runtime.plugins.hook.squall_gate_check(
            deployment=deployment, gate=gate, stage=stage or None, settings=runtime.settings
        )
    except Exception as exc:  # a broken plugin keeps the hold, and says so
        log.exception("checking the %s hold of deployment %s failed", gate, deployment.id)
        return f"checking {gate} failed: {type(exc).__name__}: {exc}"
    found = [reason for reason in reasons if reason]
    return "; ".join(found) if found else None


def _record(runtime: Runtime, hold_id: int, reason: str | None) -> int:
    now = utcnow()
    with runtime.db.write() as session:
        hold = session.get(DeploymentHold, hold_id)
        if hold is None or hold.released_at is not None:
            return 0
        hold.checked_at = now
        if reason is not None:
            if reason != hold.reason:
                hold.reason = reason
                emit(
                    session,
                    "hold.waiting",
                    deployment_id=hold.deployment_id,
                    gate=hold.gate,
                    stage=hold.stage or None,
                    reason=reason,
                )
            return 0
        changed = session.execute(
            update(DeploymentHold)
            .where(DeploymentHold.id == hold_id, DeploymentHold.released_at.is_(None))
            .values(released_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if not changed:
            return 0
        emit(
            session,
            "hold.released",
            deployment_id=hold.deployment_id,
            gate=hold.gate,
            stage=hold.stage or None,
        )
        advance(session, [hold.deployment_id])
        return 1
