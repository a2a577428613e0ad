"""Target selectors: the text that says which nodes a deployment runs on.

A selector is a comma-separated list of terms, in the spirit of Ansible host patterns:

    all              every node
    cluster:GLOB     nodes of a cluster whose name matches GLOB
    tag:GLOB         nodes with at least one tag that matches GLOB
    host:GLOB        nodes whose name or host address matches GLOB

A term may carry one prefix: `&TERM` keeps only the nodes it matches (intersection),
`!TERM` removes the nodes it matches (exclusion). The selection is the union of the plain
terms (every node when there are none), narrowed by every `&` term, minus every node a `!`
term matches. The order of the terms does not matter.

GLOB is a shell-style wildcard, matched case-sensitively: `*` matches any run of
characters, `?` one character, `[abc]` one of the listed characters and `[!abc]` one that
is not listed. Whitespace around terms is ignored; a GLOB cannot contain whitespace or
commas.

Examples:

    cluster:web-eu                   every node of the web-eu cluster
    cluster:web-*,&tag:canary        the canaries of every web cluster
    tag:db,!host:db-eu-3             database nodes except db-eu-3
    !tag:maintenance                 every node not tagged maintenance
    host:10.0.1.*                    nodes by address
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal, Protocol, TypeVar

from squall.core.errors import InventoryError

TermKind = Literal["all", "cluster", "tag", "host"]
TermOperator = Literal["union", "intersect", "exclude"]

_KINDS_WITH_GLOB: dict[str, TermKind] = {"cluster": "cluster", "tag": "tag", "host": "host"}
_OPERATORS: dict[str, TermOperator] = {"&": "intersect", "!": "exclude"}
_VALID_TERMS = "all, cluster:GLOB, tag:GLOB or host:GLOB"


class Selectable(Protocol):
    """What a selector needs to know about a node."""

    @property
    def name(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def cluster(self) -> str: ...

    @property
    def tags(self) -> Sequence[str]: ...


T = TypeVar("T", bound=Selectable)


@dataclass(frozen=True)
class SelectorTerm:
    """One term of a selector: which nodes it matches and how it combines with the others."""

    operator: TermOperator
    kind: TermKind
    glob: str = "*"

    def matches(self, node: Selectable) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "cluster":
            return fnmatchcase(node.cluster, self.glob)
        if self.kind == "tag":
            return any(fnmatchcase(tag, self.glob) for tag in node.tags)
        return fnmatchcase(node.name, self.glob) or fnmatchcase(node.host, self.glob)


@dataclass(frozen=True)
class Selector:
    """A parsed selector; constructing one from malformed text raises `InventoryError`."""

    text: str
    terms: tuple[SelectorTerm, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", _parse_terms(self.text))

    def __str__(self) -> str:
        return self.text

    def matches(self, node: Selectable) -> bool:
        united = [term for term in self.terms if term.operator == "union"]
        return (
            (not united or any(term.matches(node) for term in united))
            and all(term.matches(node) for term in self.terms if term.operator == "intersect")
            and not any(term.matches(node) for term in self.terms if term.operator == "exclude")
        )

    def select(self, nodes: Iterable[T]) -> list[T]:
        """The matching nodes, in the order given."""
        return [node for node in nodes if self.matches(node)]


def parse_selector(text: str) -> Selector:
    """Parse selector text (grammar in this module's docstring); raises `InventoryError`."""
    return Selector(text)


def _parse_terms(text: str) -> tuple[SelectorTerm, ...]:
    if not text.strip():
        raise InventoryError(f"the selector is empty; give at least one of {_VALID_TERMS}")
    return tuple(
        _parse_term(part.strip(), position, text)
        for position, part in enumerate(text.split(","), start=1)
    )


def _parse_term(term: str, position: int, text: str) -> SelectorTerm:
    def invalid(reason: str) -> InventoryError:
        return InventoryError(f"selector {text!r}, term {position}: {reason}")

    if not term:
        raise invalid("the term is empty (two commas in a row, or a comma at an end)")
    operator: TermOperator = "union"
    body = term
    if term[0] in _OPERATORS:
        operator, body = _OPERATORS[term[0]], term[1:].strip()
    if not body:
        raise invalid(f"{term!r} has nothing after the prefix")
    if body[0] in _OPERATORS:
        raise invalid(f"{term!r} has more than one prefix; use either & or !")
    if body == "all":
        return SelectorTerm(operator, "all")
    kind, colon, glob = body.partition(":")
    if kind == "all":
        raise invalid("'all' takes no value")
    if not colon or kind not in _KINDS_WITH_GLOB:
        shown = kind if colon else body
        raise invalid(f"unknown term kind {shown!r}; expected {_VALID_TERMS}")
    if not glob:
        raise invalid(f"{term!r} has no value; for example {kind}:web-*")
    if re.search(r"\s", glob):
        raise invalid(f"{term!r} contains whitespace, which no name can match")
    return SelectorTerm(operator, _KINDS_WITH_GLOB[kind], glob)
