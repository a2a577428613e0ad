"""What Squall writes in Slack: the status card, thread replies, the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from squall.integrations.common import FINAL_EVENTS, counts_text

if TYPE_CHECKING:
    from squall import DeliveryContext, DeploymentDetail

ICONS = {
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "running": ":arrows_counterclockwise:",
    "pending": ":hourglass_flowing_sand:",
    "awaiting_approval": ":raised_hand:",
    "paused": ":double_vertical_bar:",
    "cancelled": ":no_entry_sign:",
    "succeeded_with_exclusions": ":warning:",
    "rolled_back": ":leftwards_arrow_with_hook:",
}


ENDED_OTHERWISE = ("excluded", "cancelled", "inconclusive")
"""Nodes done without having succeeded or failed."""


def link(url: str | None, label: str) -> str:
    """A Slack link, or nothing when Squall does not know where its console is."""
    return f"<{url}|{label}>" if url else ""


def card(detail: DeploymentDetail, url: str | None) -> str:
    """The root message, edited in place as the deployment moves."""
    view = detail.view
    icon = ICONS.get(view.status, ":grey_question:")
    ticket = f" · ticket {view.ticket}" if view.ticket else ""
    lines = [
        f"{icon} *Deployment {view.id}: {view.title}* — {view.status.replace('_', ' ')}",
        f"type {view.type} · target `{view.target}` · by {view.requester}{ticket}",
    ]
    for stage in view.stages:
        # A stage that went on without a node says so, as the deployment's status does.
        otherwise = "".join(
            f", {stage.counts[name]} {name}" for name in ENDED_OTHERWISE if stage.counts.get(name)
        )
        outcome = stage.outcome.replace("_", " ")
        lines.append(f"• {stage.name}: {outcome} ({stage.done}/{stage.total}{otherwise})")
    if view.waiting_for:
        lines.append(f"waiting for {view.waiting_for}")
    lines.append(link(url, "Open in Squall"))
    return "\n".join(line for line in lines if line)


def stage_result(context: DeliveryContext) -> str:
    data = dict(context.event.data)
    outcome = context.event.kind.removeprefix("stage.")
    icon = ICONS.get(outcome, "")
    return f"{icon} Stage *{data.get('stage')}* {outcome}: {counts_text(data)}"


def stage_failures(context: DeliveryContext, detail: DeploymentDetail) -> str | None:
    """Failing nodes of the stage, grouped by error signature, with a link to the log."""
    stage = context.event.data.get("stage")
    failed = {
        task.node
        for task in detail.tasks
        if task.stage == stage and task.status in ("failed", "interrupted", "inconclusive")
    }
    if not failed:
        return None
    lines = [
        f":rotating_light: {len(failed)} node(s) failed in *{stage}*: {', '.join(sorted(failed))}"
    ]
    for signature in detail.signatures:
        nodes = [node for node in signature.nodes if node in failed]
        if nodes:
            lines.append(f"• {signature.step}: `{signature.error}` — {', '.join(nodes)}")
    lines.append(link(context.page_url(), "Log page"))
    return "\n".join(line for line in lines if line)


def summary(context: DeliveryContext, detail: DeploymentDetail) -> str:
    view = detail.view
    outcome = FINAL_EVENTS[context.event.kind].replace("_", " ")
    icon = ICONS.get(FINAL_EVENTS[context.event.kind], "")
    nodes = detail.nodes
    took = ""
    if view.started_at and view.finished_at:
        took = f" in {int((view.finished_at - view.started_at).total_seconds())} s"
    return (
        f"{icon} Deployment {view.id} {outcome}{took}: {nodes.total()} node(s), "
        f"{counts_text(nodes)}. {link(context.page_url(), 'Open in Squall')}"
    ).rstrip()
