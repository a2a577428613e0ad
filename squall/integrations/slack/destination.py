"""Slack as a destination: one root message per deployment, edited in place as a status
card; thread replies per stage and for failures; a summary and the PDF report at the
end; for group deployments, optionally a temporary channel of their own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from squall import Action, DeliveryContext, DeliveryFailed, DeploymentInfo, NotYet
from squall.integrations.common import FINAL_EVENTS, STAGE_DONE_EVENTS, settings_for, split_names
from squall.integrations.slack import messages
from squall.integrations.slack.client import ChannelArchived, call, client
from squall.integrations.slack.settings import SlackSettings

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from squall import EventInfo

NAME = "slack"
METADATA_TYPE = "squall_message"


def for_deployment(settings: SlackSettings, deployment: DeploymentInfo) -> SlackSettings:
    return settings_for(settings, "slack", deployment)


def temporary(settings: SlackSettings, deployment: DeploymentInfo) -> bool:
    return settings.temporary_channels and deployment.type == "group"


class SlackDestination:
    name = NAME
    title = "Slack"

    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings

    def actions(self, event: EventInfo, deployment: DeploymentInfo) -> Sequence[Action]:
        settings = for_deployment(self.settings, deployment)
        if not (settings.configured and settings.enabled and settings.channel):
            return ()
        kind = event.kind
        found = [Action("open")] if kind == "deployment.created" else []
        if kind in STAGE_DONE_EVENTS:
            found += [Action("stage"), Action("failures")]
        if kind == "gate.approved" and temporary(settings, deployment):
            found.append(Action("invite"))
        if kind in FINAL_EVENTS:
            found += [Action("summary"), Action("report")]
            if temporary(settings, deployment):
                found.append(Action("archive", every=0.0, after=settings.archive_after))
        found.append(Action("card", every=settings.card_seconds))
        return found

    def send(self, context: DeliveryContext) -> None:
        settings = for_deployment(self.settings, context.deployment)
        slack = client(settings)
        if context.action == "open":
            try:
                _open(slack, settings, context)
            except DeliveryFailed as exc:
                context.remember(unposted=str(exc))  # what follows it need not wait
                raise
            return
        try:
            self._send(slack, settings, context)
        except ChannelArchived:
            if not context.link.get("temporary"):
                raise
            _move_to_main(slack, settings, context)  # it runs again after its channel ended
            self._send(slack, settings, context)

    def _send(self, slack: WebClient, settings: SlackSettings, context: DeliveryContext) -> None:
        channel, root = context.link.get("channel"), context.link.get("ts")
        if not channel or not root:
            if context.action == "card" and not context.link.get("unposted"):
                raise NotYet("the deployment's Slack message is not posted yet")
            why = context.link.get("unposted") or "it failed"
            raise DeliveryFailed(f"the deployment's Slack message could not be posted: {why}")
        if context.action == "card":
            text = messages.card(context.detail(), context.page_url())
            call(lambda: slack.chat_update(channel=channel, ts=root, text=text), "editing the card")
        elif context.action == "stage":
            _post(slack, context, channel, messages.stage_result(context), thread=root)
        elif context.action == "failures":
            failures = messages.stage_failures(context, context.detail())
            if failures is not None:
                _post(slack, context, channel, failures, thread=root)
        elif context.action == "summary":
            _post(slack, context, channel, messages.summary(context, context.detail()), thread=root)
        elif context.action == "report":
            _upload_report(slack, context, channel, root)
        elif context.action == "invite" and context.link.get("temporary"):
            _invite(slack, settings, channel, [str(context.event.actor or "")])
        elif context.action == "archive" and context.link.get("temporary"):
            if context.deployment.finished_at is None:
                raise NotYet("the deployment runs again: its channel stays open")
            _archive(slack, channel)


def _open(slack: WebClient, settings: SlackSettings, context: DeliveryContext) -> None:
    """The root message (in a temporary channel, with a pointer in the main one, for a
    group deployment when so configured). Each id is recorded as soon as it exists."""
    deployment = context.deployment
    assert settings.channel is not None
    channel = context.link.get("channel") or settings.channel
    if temporary(settings, deployment) and not context.link.get("channel"):
        channel = open_channel(slack, deployment)
        context.remember(channel=channel, temporary=True)
        people = [deployment.requester, *split_names(settings.invite)]
        _invite(slack, settings, channel, people)
        pointer = (
            f"Deployment {deployment.id} ({deployment.title}) is followed in <#{channel}>. "
            f"{messages.link(context.page_url(), 'Open in Squall')}"
        ).rstrip()
        found = _post(slack, context, settings.channel, pointer, thread=None, key="pointer")
        context.remember(pointer=found)
    if context.link.get("ts"):
        return
    text = messages.card(context.detail(), context.page_url())
    ts = _post(slack, context, channel, text, thread=None)
    context.remember(channel=channel, ts=ts, unposted=None)


def _move_to_main(slack: WebClient, settings: SlackSettings, context: DeliveryContext) -> None:
    """The temporary channel is archived: the deployment's story goes on in the thread of
    its pointer in the main channel (or of a new message there)."""
    assert settings.channel is not None
    root = context.link.get("pointer")
    if not root:
        text = messages.card(context.detail(), context.page_url())
        root = _post(slack, context, settings.channel, text, thread=None, key="moved")
    context.remember(
        channel=settings.channel, ts=root, temporary=False, archived=context.link.get("channel")
    )


def _post(
    slack: WebClient,
    context: DeliveryContext,
    channel: str,
    text: str,
    *,
    thread: str | None,
    key: str | None = None,
) -> str:
    """Post once: the message carries its delivery's key, and a retry after an attempt
    that may have got through looks for it first."""
    mark = f"{context.deployment.id}/{context.event.id}/{key or context.action}"
    if context.ambiguous:
        found = _find(slack, channel, thread, mark)
        if found is not None:
            return found
    response = call(
        lambda: slack.chat_postMessage(
            channel=channel,
            text=text,
            thread_ts=thread,
            metadata={"event_type": METADATA_TYPE, "event_payload": {"key": mark}},
        ),
        "posting a message",
    )
    return str(response["ts"])


def _find(slack: WebClient, channel: str, thread: str | None, mark: str) -> str | None:
    if thread is None:
        history = call(
            lambda: slack.conversations_history(channel=channel, include_all_metadata=True),
            "reading the channel",
        )
    else:
        history = call(
            lambda: slack.conversations_replies(
                channel=channel, ts=thread, include_all_metadata=True
            ),
            "reading the thread",
        )
    for message in history.get("messages") or []:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("key") == mark:
            return str(message["ts"])
    return None


def open_channel(slack: WebClient, deployment: DeploymentInfo) -> str:
    """The deployment's temporary channel: created, or found if an earlier attempt created
    it before its answer was lost."""
    slug = re.sub(r"[^a-z0-9-]+", "-", deployment.title.lower()).strip("-")
    name = f"squall-{deployment.id}-{slug}"[:80].rstrip("-")
    try:
        created = call(lambda: slack.conversations_create(name=name), "creating a channel")
        return str(created["channel"]["id"])
    except DeliveryFailed:
        found = call(lambda: _channel_named(slack, name), "listing channels")
        if found is None:
            raise
        return found


def _channel_named(slack: WebClient, name: str) -> str | None:
    # Every page: a large workspace has more channels than one answer holds.
    for page in slack.conversations_list(limit=1000, exclude_archived=True):
        for channel in page.get("channels") or []:
            if channel.get("name") == name:
                return str(channel["id"])
    return None


def _invite(slack: WebClient, settings: SlackSettings, channel: str, people: list[str]) -> None:
    users = sorted({settings.users[name] for name in people if name in settings.users})
    if not users:
        return
    try:
        call(
            lambda: slack.conversations_invite(channel=channel, users=",".join(users)),
            "inviting people",
        )
    except DeliveryFailed as exc:
        if "already_in_channel" not in str(exc):
            raise


def _upload_report(slack: WebClient, context: DeliveryContext, channel: str, root: str) -> None:
    name, content = context.report()
    if context.ambiguous:
        replies = call(
            lambda: slack.conversations_replies(channel=channel, ts=root), "reading the thread"
        )
        files: list[dict[str, Any]] = [
            found
            for message in replies.get("messages") or []
            for found in message.get("files") or []
        ]
        if any(found.get("name") == name for found in files):
            return
    call(
        lambda: slack.files_upload_v2(
            channel=channel, thread_ts=root, content=content, filename=name, title=name
        ),
        "uploading the report",
    )


def _archive(slack: WebClient, channel: str) -> None:
    try:
        call(lambda: slack.conversations_archive(channel=channel), "archiving the channel")
    except DeliveryFailed as exc:
        if "archived" not in str(exc):
            raise
