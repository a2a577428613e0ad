"""Errors whose messages are safe to show to the person who caused them."""

from __future__ import annotations


class SquallError(Exception):
    """Base of every error Squall reports to a user; the message says what to do."""


class ConfigError(SquallError):
    """The configuration or environment is unusable."""


class InventoryError(SquallError):
    """An inventory file or selector is malformed; the message names the line or field."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(f"{where}{message}")
        self.source = source
        self.line = line


class ValidationError(SquallError):
    """Parameters or options of a request are invalid; nothing was changed.

    `fields` maps each bad field (a dotted path such as `lightning.max_fail`) to what is
    wrong with it, so a form can show the message next to the field."""

    def __init__(self, message: str, *, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.fields = fields or {}


class PlanError(SquallError):
    """A deployment type refused to plan the request (for example, too many targets)."""


class NotFound(SquallError):
    """The named object does not exist."""


class InvalidTransition(SquallError):
    """The action is not allowed in the object's current state."""


class PermissionDenied(SquallError):
    """The actor lacks the permission the action needs."""

    def __init__(self, actor: str, permission: str, target: str | None = None):
        on = f" on {target}" if target else ""
        super().__init__(f"{actor} may not do this: missing permission '{permission}'{on}")
        self.actor = actor
        self.permission = permission
        self.target = target


class Unauthenticated(SquallError):
    """The credentials presented (an API token, a sign-in) are not valid now."""


class PluginError(SquallError):
    """A plugin is broken: a misspelled hook, a duplicate type name, an import failure."""
