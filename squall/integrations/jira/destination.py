"""JIRA as a destination: the ticket (linked or created), transitions along the
lifecycle, a comment per finished stage and at the end, the PDF report attached."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from squall import Action, DeliveryContext, DeliveryFailed, DeploymentInfo
from squall.integrations.common import (
    FINAL_EVENTS,
    STAGE_DONE_EVENTS,
    counts_text,
    settings_for,
    split_names,
)
from squall.integrations.jira.client import call, client
from squall.integrations.jira.settings import JiraSettings

if TYPE_CHECKING:
    from jira import JIRA

    from squall import EventInfo

NAME = "jira"


def for_deployment(settings: JiraSettings, deployment: DeploymentInfo) -> JiraSettings:
    return settings_for(settings, "jira", deployment, by_type=True)


def applies(settings: JiraSettings, deployment: DeploymentInfo) -> bool:
    """JIRA follows a deployment that has a ticket or gets one made."""
    return (
        settings.configured
        and settings.enabled
        and bool(deployment.ticket or settings.create_ticket)
    )


def marker(context: DeliveryContext) -> str:
    """Ends every comment: lets a retry see that an earlier attempt got through."""
    return f"[squall {context.deployment.id}/{context.event.id}/{context.action}]"


class JiraDestination:
    name = NAME
    title = "JIRA"

    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings

    def actions(self, event: EventInfo, deployment: DeploymentInfo) -> Sequence[Action]:
        settings = for_deployment(self.settings, deployment)
        if not applies(settings, deployment):
            return ()
        kind = event.kind
        found: list[str] = []
        if kind == "deployment.created":
            found.append("ticket")
        elif kind == "deployment.started" and "started" in settings.transitions:
            found.append("transition:started")
        elif kind in STAGE_DONE_EVENTS:
            found += ["comment"] if settings.comments else []
            if kind == "stage.succeeded" and "phase_done" in settings.transitions:
                found.append("transition:phase_done")
        elif kind in FINAL_EVENTS:
            moment = FINAL_EVENTS[kind]
            found += [f"transition:{moment}"] if moment in settings.transitions else []
            found += ["comment"] if settings.comments else []
            found += ["attach"] if settings.attach_report else []
        # Deliveries to one issue keep their turn across the deployments that share it.
        queue = f"issue:{deployment.ticket}" if deployment.ticket else None
        return [Action(name, queue=queue) for name in found]

    def send(self, context: DeliveryContext) -> None:
        settings = for_deployment(self.settings, context.deployment)
        jira = client(settings)
        if context.action == "ticket":
            self._ticket(jira, settings, context)
            return
        key = context.link.get("key") or context.deployment.ticket
        if not key:
            raise DeliveryFailed("no JIRA ticket is linked: the ticket delivery failed")
        if context.action.startswith("transition:"):
            moment = context.action.removeprefix("transition:")
            _transition(jira, key, settings.transitions[moment], context, moment)
        elif context.action == "comment":
            _comment(jira, key, comment_text(context), context)
        elif context.action == "attach":
            _attach(jira, key, context)

    def _ticket(self, jira: JIRA, settings: JiraSettings, context: DeliveryContext) -> None:
        deployment = context.deployment
        if context.link.get("key"):
            return
        if deployment.ticket:
            ticket = deployment.ticket
            issue = call(lambda: jira.issue(ticket, fields="status"), f"looking up {ticket}")
            context.remember(key=issue.key, created=False)
            return
        label = f"squall-deployment-{deployment.id}"
        if context.ambiguous:  # an earlier attempt may have created it
            found = call(
                lambda: jira.search_issues(f'labels = "{label}"', maxResults=1),
                "looking for a ticket created earlier",
            )
            if found:
                context.remember(key=found[0].key, created=True)
                context.set_ticket(found[0].key)
                return
        if not settings.project:
            raise DeliveryFailed("jira.project is not set: no ticket can be created")
        url = context.page_url()
        fields = {
            "project": {"key": settings.project},
            "issuetype": {"name": settings.issue_type},
            "summary": summary(settings, deployment),
            "description": (
                f"Deployment {deployment.id} requested by {deployment.requester} in Squall"
                + (f": {url}" if url else ".")
            ),
            "labels": [*split_names(settings.labels), label],
        }
        issue = call(lambda: jira.create_issue(fields=fields), "creating a ticket")
        context.remember(key=issue.key, created=True)
        context.set_ticket(issue.key)


def summary(settings: JiraSettings, deployment: DeploymentInfo) -> str:
    values = {
        "id": deployment.id,
        "title": deployment.title,
        "type": deployment.type,
        "target": deployment.target,
        "requester": deployment.requester,
        "environment": deployment.environment or "",
    }
    try:
        return settings.summary.format(**values)[:255]
    except (KeyError, IndexError, ValueError) as exc:
        raise DeliveryFailed(f"jira.summary is not a valid template: {exc}") from None


def comment_text(context: DeliveryContext) -> str:
    event, deployment = context.event, context.deployment
    data = dict(event.data)
    if event.kind in STAGE_DONE_EVENTS:
        outcome = event.kind.removeprefix("stage.")
        head = f"Stage {data.get('stage')} {outcome}: {counts_text(data)}."
    else:
        nodes = context.detail().nodes
        head = (
            f"Deployment {deployment.id} {FINAL_EVENTS[event.kind].replace('_', ' ')}: "
            f"{nodes.total()} node(s), {counts_text(nodes)}."
        )
    url = context.page_url()
    where = f"Squall: {url}" if url else f"Squall deployment {deployment.id}"
    return f"{head}\n{where}\n{marker(context)}"


def _comment(jira: JIRA, key: str, text: str, context: DeliveryContext) -> None:
    if context.ambiguous:
        existing = call(lambda: jira.comments(key), f"reading the comments of {key}")
        if any(marker(context) in (comment.body or "") for comment in existing):
            return
    call(lambda: jira.add_comment(key, text), f"commenting on {key}")


def _transition(jira: JIRA, key: str, name: str, context: DeliveryContext, moment: str) -> None:
    available = call(lambda: jira.transitions(key), f"reading the transitions of {key}")
    chosen = [str(found["id"]) for found in available if found["name"].lower() == name.lower()]
    if chosen:
        call(lambda: jira.transition_issue(key, chosen[0]), f"transitioning {key} to {name!r}")
        return
    if context.ambiguous or moment == "phase_done":
        return  # an earlier attempt (or phase) applied it already
    status = call(lambda: jira.issue(key, fields="status"), f"looking up {key}").fields.status.name
    offered = ", ".join(transition["name"] for transition in available) or "none"
    raise DeliveryFailed(
        f"JIRA {key}: transition {name!r} ({moment}) is not available from status "
        f"{status!r} (available: {offered})"
    )


def _attach(jira: JIRA, key: str, context: DeliveryContext) -> None:
    name, content = context.report()
    if context.ambiguous:
        issue = call(lambda: jira.issue(key, fields="attachment"), f"looking up {key}")
        if any(found.filename == name for found in issue.fields.attachment or ()):
            return
    call(
        lambda: jira.add_attachment(issue=key, attachment=io.BytesIO(content), filename=name),
        f"attaching the report to {key}",
    )
