"""What every page shares: the runtime, the person using it, and a way to call core
services without blocking the page's event loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from nicegui import run
from sqlalchemy.orm import Session

from core.auth import Actor, local_operator
from core.runtime import Runtime

T = TypeVar("T")


@dataclass
class Console:
    runtime: Runtime

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
