"""Ansible host patterns: `web[01:03].example.com:2222`, `db-[a:c]`, `[2001:db8::1]:22`."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from squall.core.errors import InventoryError
from squall.core.inventory.model import name_problem, port_problem

_RANGE = re.compile(r"^(?P<start>[0-9]*|[a-zA-Z]):(?P<end>[0-9]+|[a-zA-Z])(?::(?P<step>[0-9]+))?$")
_BRACKETED_IPV6 = re.compile(r"^\[(?P<address>[0-9a-fA-F:.]+)\](?::(?P<port>[^:]*))?$")


@dataclass(frozen=True)
class HostPattern:
    names: tuple[str, ...]
    port: int | None


def expand_host_pattern(pattern: str, *, source: str, line: int) -> HostPattern:
    """The host names a pattern stands for, and the port it names, if any."""
    address, port_text = _split_port(pattern)
    names = _expand_ranges(address, source=source, line=line)
    for name in names:
        problem = name_problem(name)
        if problem is not None:
            raise InventoryError(f"host name {problem}", source=source, line=line)
    return HostPattern(names=tuple(names), port=_port(port_text, source=source, line=line))


def _split_port(pattern: str) -> tuple[str, str | None]:
    ipv6 = _BRACKETED_IPV6.match(pattern)
    # A bracketed address with two colons could also be a stepped range ("[1:9:2]").
    if ipv6 and ("::" in ipv6["address"] or ipv6["address"].count(":") > 2):
        return ipv6["address"], ipv6["port"]
    outside_brackets = re.sub(r"\[[^\]]*(\]|$)", "", pattern)
    if outside_brackets.count(":") != 1:
        # No port, or a bare IPv6 address, which cannot carry one.
        return pattern, None
    address, _, port_text = pattern.rpartition(":")
    return address, port_text


def _port(text: str | None, *, source: str, line: int) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise InventoryError(f"invalid port {text!r} in host pattern", source=source, line=line)
    problem = port_problem(int(text))
    if problem is not None:
        raise InventoryError(problem, source=source, line=line)
    return int(text)


def _expand_ranges(pattern: str, *, source: str, line: int) -> list[str]:
    start = pattern.find("[")
    if start == -1:
        if "]" in pattern:
            raise InventoryError(
                f"malformed host range in {pattern!r}: ']' without '['", source=source, line=line
            )
        return [pattern]
    end = pattern.find("]", start)
    if end == -1:
        raise InventoryError(
            f"malformed host range in {pattern!r}: '[' without ']'", source=source, line=line
        )
    head, bounds, tail = pattern[:start], pattern[start + 1 : end], pattern[end + 1 :]
    tails = _expand_ranges(tail, source=source, line=line)
    return [
        f"{head}{item}{rest}"
        for item in _range_items(bounds, pattern, source=source, line=line)
        for rest in tails
    ]


def _range_items(bounds: str, pattern: str, *, source: str, line: int) -> list[str]:
    def malformed(reason: str) -> InventoryError:
        return InventoryError(
            f"malformed host range [{bounds}] in {pattern!r}: {reason}", source=source, line=line
        )

    match = _RANGE.match(bounds)
    if match is None:
        raise malformed("expected [start:end] or [start:end:step] with numbers or letters")
    first, last = match["start"] or "0", match["end"]
    step = int(match["step"] or "1")
    if step == 0:
        raise malformed("the step must be at least 1")
    if first.isdigit() != last.isdigit():
        raise malformed("start and end must both be numbers or both be letters")
    if first.isdigit():
        # Like Ansible, a leading zero asks for zero-padding to the width of the start.
        width = len(first) if first.startswith("0") and len(first) > 1 else 0
        if width and len(last) != width:
            raise malformed("zero-padded start and end must have the same width")
        if int(first) > int(last):
            raise malformed("the start comes after the end")
        return [str(number).zfill(width) for number in range(int(first), int(last) + 1, step)]
    letters = string.ascii_letters
    if letters.index(first) > letters.index(last):
        raise malformed("the start comes after the end")
    return list(letters[letters.index(first) : letters.index(last) + 1 : step])
