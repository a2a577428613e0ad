"""The `jira:` section of Squall's settings (`SQUALL_JIRA__…`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr


class JiraSettings(BaseModel):
    """The JIRA integration; off while `url` is empty. Every key but `url`, `token`,
    `environments` and `types` may be overridden per environment and per deployment type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    """The JIRA server, e.g. https://jira.example.com."""
    token: SecretStr | None = None
    """A personal access token (sent as a Bearer token); never logged or stored."""
    timeout: float = 10.0
    """Seconds to wait for an answer."""
    enabled: bool = True
    """False in an environment's overrides keeps its deployments out of JIRA."""
    require_ticket: bool = False
    """Refuse a deployment without a ticket key unless `create_ticket` makes one."""
    create_ticket: bool = False
    """Create a ticket for a deployment that names none."""
    project: str | None = None
    """The project created tickets go to."""
    issue_type: str = "Task"
    """The issue type of created tickets."""
    summary: str = "Deployment {id}: {title}"
    """Summary of a created ticket; fields: id, title, type, target, requester, environment."""
    labels: str = "squall"
    """Comma-separated labels of created tickets."""
    gate: str = ""
    """Comma-separated statuses the ticket must be in for the deployment to start and its
    gates to be promoted (e.g. "Approved, Implementing"); empty: no gate."""
    transitions: dict[str, str] = {}
    """Lifecycle moment → transition name: started, phase_done, succeeded, failed,
    cancelled, rolled_back. Moments not named are not transitioned."""
    comments: bool = True
    """A comment per finished stage (phase or wave) and at the end."""
    attach_report: bool = True
    """Attach the PDF report to the ticket when the deployment ends."""
    environments: dict[str, dict[str, Any]] = {}
    """Environment name → the keys it sets differently."""
    types: dict[str, dict[str, Any]] = {}
    """Deployment type → the keys it sets differently (after its environment's)."""

    @property
    def configured(self) -> bool:
        return bool(self.url)
