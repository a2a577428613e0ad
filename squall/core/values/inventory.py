"""An inventory import's outcome and nodes as listings show them (made by
`squall.core.services.inventory`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImportSummary:
    source: str
    clusters: tuple[str, ...]
    added: int
    updated: int
    removed: int


@dataclass(frozen=True)
class NodeListing:
    """A node as listings show it: where it is reached, never its variables."""

    cluster: str
    name: str
    address: str
    user: str | None
    transport: str
    tags: tuple[str, ...]
    environment: str | None
