"""What every page shares: the runtime, the person using it, and a way to call core
services without blocking the page's event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nicegui import run
from sqlalchemy.orm import Session

from core.auth import Actor, local_operator
from core.runtime import Runtime

T = TypeVar("T")


@dataclass
class Console:
    runtime: Runtime
    _shared: dict[tuple[Any, ...], tuple[float, asyncio.Future[Any]]] = field(
        default_factory=dict, init=False, repr=False
    )

    def actor(self) -> Actor:
        """The person using the page (the local operator until single sign-on is set up)."""
        return local_operator()

    async def read(self, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a read-only core service `service(session, runtime, actor, *args)` in a thread."""
        actor = self.actor()

        def call() -> T:
            with self.runtime.db.read() as session:
                return service(session, self.runtime, actor, *args, **kwargs)

        return await _in_thread(call)

    async def read_shared(self, service: Callable[..., T], *args: Any, ttl: float = 1.0) -> T:
        """Like `read`, but every page asking the same within `ttl` seconds gets one answer:
        ten open boards refresh with one query a second, not ten."""
        key = (service, args, self.actor().name)
        now = time.monotonic()
        cached = self._shared.get(key)
        if (
            cached is None
            or now - cached[0] > ttl
            or (cached[1].done() and cached[1].exception() is not None)
        ):
            future: asyncio.Future[Any] = asyncio.ensure_future(self.read(service, *args))
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
            with self.runtime.db.write() as session:
                return service(session, self.runtime, actor, *args, **kwargs)

        return await _in_thread(call)

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
