"""What every page shares: the runtime, the person using it, and a way to call core
services without blocking the page's event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from nicegui import context, run, ui
from sqlalchemy.orm import Session

from squall.api.auth import request_actor
from squall.core.auth import Actor
from squall.core.changes import ANY
from squall.core.runtime import Runtime
from squall.core.services.calls import read_as, write_as

T = TypeVar("T")
WAKE_SECONDS = 0.25
"""How often live pages look at the change feed (in memory: no database work)."""


@dataclass
class Console:
    runtime: Runtime
    _shared: dict[tuple[Any, ...], tuple[float, asyncio.Future[Any]]] = field(
        default_factory=dict, init=False, repr=False
    )

    def actor(self, request: Request | None = None) -> Actor:
        """The person using the page or calling the route: who the login guard let in (the
        local operator when no single sign-on is configured)."""
        return request_actor(request if request is not None else context.client.request)

    def live(
        self, refresh: Callable[[], Awaitable[Any]], *, every: float, deployment_id: int = ANY
    ) -> ui.timer:
        """Call `refresh` every `every` seconds, and sooner when the change feed says the
        deployment (default: any) moved, in this process or, on PostgreSQL, in another."""
        feed = self.runtime.db.changes
        seen, last = feed.version(deployment_id), time.monotonic()

        async def tick() -> None:
            nonlocal seen, last
            version = feed.version(deployment_id)
            if version == seen and time.monotonic() - last < every:
                return
            seen, last = version, time.monotonic()
            await refresh()

        return ui.timer(WAKE_SECONDS, tick)

    async def read(self, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a read-only core service `service(session, runtime, actor, *args)` in a thread."""
        return await self._read_as(self.actor(), service, *args, **kwargs)

    async def _read_as(
        self, actor: Actor, service: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        def call() -> T:
            return read_as(self.runtime, actor, service, *args, **kwargs)

        return await _in_thread(call)

    async def read_shared(self, service: Callable[..., T], *args: Any, ttl: float = 1.0) -> T:
        """Like `read`, but every page asking the same within `ttl` seconds gets one answer:
        ten open boards refresh with one query a second, not ten."""
        actor = self.actor()  # here: the shared task below runs outside the page's context
        key = (service, args, actor)
        now = time.monotonic()
        cached = self._shared.get(key)
        if (
            cached is None
            or now - cached[0] > ttl
            or (cached[1].done() and cached[1].exception() is not None)
        ):
            future: asyncio.Future[Any] = asyncio.ensure_future(
                self._read_as(actor, service, *args)
            )
            self._shared[key] = (now, future)
            for stale in [k for k, (at, _) in self._shared.items() if now - at > 10 * ttl]:
                del self._shared[stale]
            cached = self._shared[key]
        result: T = await asyncio.shield(cached[1])
        return result

    async def write(self, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a core service that changes state, in one transaction, in a thread."""
        actor = self.actor()

        def call() -> T:
            return write_as(self.runtime, actor, service, *args, **kwargs)

        return await _in_thread(call)

    async def check(self, check: Callable[..., None], *args: Any) -> None:
        """A check outside any transaction (it may ask JIRA), in a thread."""
        actor = self.actor()
        await _in_thread(lambda: check(self.runtime, actor, *args))

    async def query(self, query: Callable[[Session], T]) -> T:
        """A read that needs no actor (inventory listings, catalogue), in a thread."""

        def call() -> T:
            with self.runtime.db.read() as session:
                return query(session)

        return await _in_thread(call)


async def _in_thread(call: Callable[[], T]) -> T:
    # run.io_bound answers None when the app is shutting down; a box tells that apart
    # from a service that returns None.
    boxed = await run.io_bound(lambda: (call(),))
    if boxed is None:
        raise RuntimeError("the console is shutting down")
    return boxed[0]
