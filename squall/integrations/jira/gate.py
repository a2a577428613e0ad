"""The JIRA gate: a deployment starts, and its gates are promoted, only while its ticket
is in one of the allowed statuses."""

from __future__ import annotations

import re

from squall import DeliveryFailed, DeploymentInfo, RetryLater, ValidationError
from squall.integrations.common import split_names
from squall.integrations.jira.client import call, client
from squall.integrations.jira.destination import NAME, applies, for_deployment
from squall.integrations.jira.settings import JiraSettings

TICKET_KEY = r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$"


def gates_of(settings: JiraSettings, deployment: DeploymentInfo) -> list[str]:
    """At creation (no I/O): refuse a deployment without the ticket its environment
    requires, or with a malformed key; hold it when the environment has a gate."""
    if not settings.configured:
        return []
    effective = for_deployment(settings, deployment)
    if not effective.enabled:
        return []
    where = deployment.environment or "this environment"
    if deployment.ticket and not re.match(TICKET_KEY, deployment.ticket):
        raise ValidationError(
            f"{deployment.ticket!r} is not a JIRA ticket key (like OPS-12)",
            fields={"ticket": "not a ticket key, e.g. OPS-12"},
        )
    if effective.require_ticket and not deployment.ticket and not effective.create_ticket:
        raise ValidationError(
            f"deployments to {where} need a JIRA ticket: give its key (--ticket OPS-12)",
            fields={"ticket": f"required in {where}"},
        )
    return [NAME] if split_names(effective.gate) and applies(effective, deployment) else []


def check_ticket(settings: JiraSettings, deployment: DeploymentInfo) -> None:
    """Before creation: the ticket a deployment names exists in JIRA. A JIRA that cannot
    say (unreachable, refusing the token) refuses the deployment too: nothing is created
    on a key no one could check."""
    effective = for_deployment(settings, deployment)
    key = deployment.ticket
    if not (settings.configured and effective.enabled and key):
        return
    if not re.match(TICKET_KEY, key):
        return  # refused as malformed by `gates_of`, without asking JIRA
    try:
        jira = client(effective)
        call(lambda: jira.issue(key, fields="status"), f"looking up {key}")
    except DeliveryFailed as exc:
        if "(404)" in str(exc):
            raise ValidationError(
                f"JIRA ticket {key} does not exist (or its project is hidden from Squall's "
                "JIRA user); give an existing key",
                fields={"ticket": "no such ticket in JIRA"},
            ) from None
        raise ValidationError(f"ticket {key} cannot be checked: {exc}") from None
    except RetryLater as exc:
        raise ValidationError(
            f"ticket {key} cannot be checked: {exc}; try again once JIRA answers",
            fields={"ticket": "JIRA did not answer"},
        ) from None


def waiting_reason(settings: JiraSettings, deployment: DeploymentInfo) -> str | None:
    """What the deployment waits for, or None when its ticket is in an allowed status."""
    effective = for_deployment(settings, deployment)
    allowed = split_names(effective.gate)
    if not allowed:
        return None
    wanted = "/".join(allowed)
    key = deployment.ticket
    if not key:
        return f"a JIRA ticket to be created, then to be in {wanted}"
    try:
        jira = client(effective)
        issue = call(lambda: jira.issue(key, fields="status"), f"checking {key}")
    except (RetryLater, DeliveryFailed) as exc:
        return f"JIRA {key} to be in {wanted} (cannot check now: {exc})"
    status = str(issue.fields.status.name)
    if status.lower() in {name.lower() for name in allowed}:
        return None
    return f"JIRA {key} to be in {wanted} (now: {status})"
