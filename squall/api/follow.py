"""Following a deployment over HTTP: newline-delimited JSON, written as the change feed
says the deployment moved (a worker in any process), with a slow poll as a safety net."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from squall.api.schemas import LogEntry
from squall.core.runtime import Runtime
from squall.core.values.views import LogChunk

NDJSON = "application/x-ndjson"
LOOK_EVERY = 0.05
"""How often the stream checks the in-process feed (no database work)."""
POLL_SECONDS = 2.0
"""Longest wait without a notice before reading anyway (a notice lost in a reconnect)."""


def follow_stream(
    runtime: Runtime, deployment_id: int, first: LogChunk, read: Callable[[int], LogChunk]
) -> StreamingResponse:
    return StreamingResponse(_lines(runtime, deployment_id, first, read), media_type=NDJSON)


async def _lines(
    runtime: Runtime, deployment_id: int, chunk: LogChunk, read: Callable[[int], LogChunk]
) -> AsyncIterator[bytes]:
    feed = runtime.db.changes
    status = None
    while True:
        seen = feed.version(deployment_id)
        for entry in chunk.entries:
            yield _line({"kind": "log", **LogEntry.model_validate(entry).model_dump(mode="json")})
        if chunk.status != status:
            status = chunk.status
            yield _line({"kind": "status", "status": status})
        if chunk.finished and not chunk.more:
            yield _line({"kind": "end", "status": status})
            return
        if not chunk.more:
            waited = 0.0
            while feed.version(deployment_id) == seen and waited < POLL_SECONDS:
                await asyncio.sleep(LOOK_EVERY)
                waited += LOOK_EVERY
        chunk = await run_in_threadpool(read, chunk.cursor)


def _line(value: dict[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"
