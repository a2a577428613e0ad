"""A Slack that answers the Web API methods `slack_sdk` calls, with the same shapes (see
/work/shared/TESTING.md): channels, messages with threads and metadata, edits, uploads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fake_http import FakeServer, Reply, Request


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    files: list[dict[str, str]] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)
    """Texts of every edit, in order."""

    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.thread_ts:
            found["thread_ts"] = self.thread_ts
        if self.metadata:
            found["metadata"] = self.metadata
        if self.files:
            found["files"] = self.files
        return found


@dataclass
class Channel:
    id: str
    name: str
    members: list[str] = field(default_factory=list)
    archived: bool = False


class FakeSlack(FakeServer):
    def __init__(self, token: str = "xoxb-slack-token-secret") -> None:
        super().__init__()
        self.token = token
        self.channels: dict[str, Channel] = {"C0MAIN": Channel("C0MAIN", "deployments")}
        self.messages: list[Message] = []
        self.uploads: dict[str, tuple[str, bytes | None]] = {}
        self.clock = 1_700_000_000
        self.page_size = 1000
        """The most channels one `conversations.list` answer holds."""

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def error(self, status: int) -> Reply:
        return Reply(
            status, {"ok": False, "error": "fatal_error" if status >= 500 else "ratelimited"}
        )

    def thread(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts == ts]

    def roots(self, channel: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def handle(self, request: Request) -> Reply:
        upload = re.fullmatch(r"/upload/(F\w+)", request.path)
        if upload is not None:
            name, _ = self.uploads[upload.group(1)]
            self.uploads[upload.group(1)] = (name, request.body)
            return Reply(200, raw=b"OK - 1")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        method = request.path.removeprefix("/api/")
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return Reply(200, {"ok": False, "error": "unknown_method"})
        answer: dict[str, Any] = handler(request.form())
        return Reply(200, answer)

    def _next_ts(self) -> str:
        self.clock += 1
        return f"{self.clock}.000100"

    def _channel(self, form: dict[str, str], key: str = "channel") -> Channel | None:
        return self.channels.get(form.get(key, ""))

    def _chat_postMessage(self, form: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(form)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.archived:
            return {"ok": False, "error": "is_archived"}
        metadata = json.loads(form["metadata"]) if form.get("metadata") else None
        message = Message(
            channel.id,
            self._next_ts(),
            form.get("text", ""),
            form.get("thread_ts") or None,
            metadata,
        )
        self.messages.append(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts, "message": message.json()}

    def _chat_update(self, form: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(form)
        if channel is not None and channel.archived:
            return {"ok": False, "error": "is_archived"}
        for message in self.messages:
            if message.channel == form.get("channel") and message.ts == form.get("ts"):
                message.text = form.get("text", "")
                message.edits.append(message.text)
                return {
                    "ok": True,
                    "channel": message.channel,
                    "ts": message.ts,
                    "text": message.text,
                }
        return {"ok": False, "error": "message_not_found"}

    def _conversations_create(self, form: dict[str, str]) -> dict[str, Any]:
        name = form["name"]
        if any(channel.name == name for channel in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        channel = Channel(f"C{len(self.channels):07d}", name)
        self.channels[channel.id] = channel
        return {"ok": True, "channel": {"id": channel.id, "name": name}}

    def _conversations_invite(self, form: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(form)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = form["users"].split(",")
        if all(user in channel.members for user in users):
            return {"ok": False, "error": "already_in_channel"}
        channel.members += [user for user in users if user not in channel.members]
        return {"ok": True, "channel": {"id": channel.id}}

    def _conversations_archive(self, form: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(form)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.archived:
            return {"ok": False, "error": "already_archived"}
        channel.archived = True
        return {"ok": True}

    def _conversations_list(self, form: dict[str, str]) -> dict[str, Any]:
        """Pages of at most `limit` (and of `page_size`) channels, as Slack pages them."""
        listed = [
            {"id": c.id, "name": c.name}
            for c in self.channels.values()
            if not (c.archived and form.get("exclude_archived") in ("1", "true"))
        ]
        size = min(int(form.get("limit") or 100), self.page_size)
        start = int(form.get("cursor") or 0)
        page = listed[start : start + size]
        more = str(start + size) if start + size < len(listed) else ""
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": more}}

    def _conversations_history(self, form: dict[str, str]) -> dict[str, Any]:
        found = [m.json() for m in reversed(self.roots(form.get("channel", "")))]
        return {"ok": True, "messages": found, "has_more": False}

    def _conversations_replies(self, form: dict[str, str]) -> dict[str, Any]:
        channel, ts = form.get("channel", ""), form.get("ts", "")
        root = [m.json() for m in self.roots(channel) if m.ts == ts]
        return {
            "ok": True,
            "messages": root + [m.json() for m in self.thread(channel, ts)],
            "has_more": False,
        }

    def _files_getUploadURLExternal(self, form: dict[str, str]) -> dict[str, Any]:
        file_id = f"F{len(self.uploads) + 1:07d}"
        self.uploads[file_id] = (form["filename"], None)
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, form: dict[str, str]) -> dict[str, Any]:
        files = json.loads(form["files"])
        shared = []
        for entry in files:
            name, content = self.uploads[entry["id"]]
            if content is None:
                return {"ok": False, "error": "file_not_uploaded"}
            shared.append({"id": entry["id"], "name": name, "title": entry.get("title") or name})
        channel = self._channel(form, "channel_id")
        if channel is not None and channel.archived:
            return {"ok": False, "error": "is_archived"}
        if channel is not None:
            message = Message(
                channel.id,
                self._next_ts(),
                form.get("initial_comment", ""),
                form.get("thread_ts") or None,
                files=shared,
            )
            self.messages.append(message)
        return {"ok": True, "files": shared}

    def calls(self, method: str) -> int:
        return sum(1 for found in self.requests if found.path == f"/api/{method}")
