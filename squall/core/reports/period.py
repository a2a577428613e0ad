"""Reading the start or end of a report period as people type it."""

from __future__ import annotations

import datetime as dt
import re

from squall.core.errors import ValidationError

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, now: dt.datetime) -> dt.datetime:
    """`7d`, `24h`, `30m`, `2w` (that long before `now`), or an ISO date or time
    (`2026-01-31`, `2026-01-31T08:00`, UTC unless a zone is given)."""
    cleaned = text.strip()
    relative = _RELATIVE.match(cleaned)
    if relative:
        amount, unit = relative.groups()
        try:
            return now - dt.timedelta(**{_UNITS[unit]: int(amount)})
        except OverflowError:  # further back than datetime reaches
            raise ValidationError(f"invalid time {text!r}: that is too long ago") from None
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValidationError(
            f"invalid time {text!r}: use 7d, 24h, 30m, 2w, or a date like 2026-01-31"
            " (with a time: 2026-01-31T08:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
