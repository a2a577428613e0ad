"""webhook: tell an HTTP endpoint about every deployment that ends (an integration)."""

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from squall import (
    Action,
    DeliveryContext,
    DeliveryFailed,
    DeploymentInfo,
    Destination,
    EventInfo,
    RetryLater,
    Settings,
    hookimpl,
)

ENDINGS = ("deployment.succeeded", "deployment.failed", "deployment.cancelled")


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="Where to POST; the webhook is off while empty.")
    token: SecretStr | None = Field(None, description="Sent as a Bearer token; never shown.")
    timeout: float = Field(5.0, gt=0, description="Seconds to wait for an answer.")


class Webhook:
    name = "webhook"
    title = "Webhook"

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings

    def actions(self, event: EventInfo, deployment: DeploymentInfo) -> Sequence[Action]:
        return [Action("notify")] if event.kind in ENDINGS else []  # no I/O here

    def send(self, context: DeliveryContext) -> None:
        deployment = context.deployment
        body = {"id": deployment.id, "type": deployment.type, "status": deployment.status}
        request = urllib.request.Request(
            str(self.settings.url),
            data=json.dumps({**body, "page": context.page_url()}).encode(),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": f"squall-{context.event.id}",  # a retry is not a new message
            },
        )
        if self.settings.token is not None:
            request.add_header("Authorization", f"Bearer {self.settings.token.get_secret_value()}")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout):
                return
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise RetryLater(f"the webhook answered {exc.code}", ambiguous=True) from None
            raise DeliveryFailed(f"the webhook refused the message ({exc.code})") from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise RetryLater(f"the webhook is unreachable ({exc})", ambiguous=True) from None


@hookimpl
def squall_settings_model() -> tuple[str, type[BaseModel]]:
    return "webhook", WebhookSettings


@hookimpl
def squall_register_destinations(
    register: Callable[[Destination], None], settings: Settings
) -> None:
    webhook = settings.section("webhook", WebhookSettings)
    if webhook.url:
        register(Webhook(webhook))
