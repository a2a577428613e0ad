"""Secret parameters: encrypted at rest, redacted wherever text is shown or stored.

A parameter is secret when its model declares it as pydantic `SecretStr` (alone or inside
lists and dicts). Stored parameters hold such values as `{"$secret": <Fernet token>}`;
logs, events, plans and reports see `***` instead of the value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic_core import to_jsonable_python

from squall.core.errors import ConfigError, ValidationError

MASK = "***"
_MIN_LINE = 3
"""Lines of a multi-line secret shorter than this are left alone: masking `==` everywhere
would wreck every log without protecting anything."""
_MARKER = "$secret"


class SecretBox:
    """Encrypts and decrypts with the installation's key (kept out of the database)."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise ConfigError(
                "the secret key is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from exc

    @classmethod
    def from_settings(cls, secret_key: str | None, data_dir: Path) -> SecretBox:
        if secret_key:
            return cls(secret_key.encode())
        path = data_dir / "secret.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            key = Fernet.generate_key()
            # Create with owner-only permissions from the start; never widen them.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key)
        return cls(path.read_bytes().strip())

    def derive(self, purpose: str) -> bytes:
        """A key for one purpose (signing audit records, session cookies), from this one."""
        return hmac.new(self.key, f"squall {purpose}".encode(), hashlib.sha256).digest()

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigError(
                "a stored secret cannot be decrypted: "
                "is SQUALL_SECRET_KEY the key it was stored with?"
            ) from exc


def seal_params(model: BaseModel, box: SecretBox) -> dict[str, Any]:
    """The model as JSON for storage, secrets encrypted."""
    sealed: dict[str, Any] = _walk(
        model.model_dump(), lambda value: {_MARKER: box.encrypt(_plain(value))}
    )
    return sealed


def unseal_params(stored: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    """Stored parameters with secrets decrypted, ready for `Model.model_validate`."""
    unsealed: dict[str, Any] = _unwalk(stored, box.decrypt)
    return unsealed


def has_secrets(stored: dict[str, Any]) -> bool:
    """Whether stored parameters hold a secret (somewhere, encrypted)."""
    found: list[bool] = []
    _unwalk(stored, lambda _token: found.append(True))
    return bool(found)


def redacted_params(stored_or_model: dict[str, Any] | BaseModel) -> dict[str, Any]:
    """Parameters fit to show anyone: every secret is `***`."""
    shown: dict[str, Any]
    if isinstance(stored_or_model, BaseModel):
        shown = _walk(stored_or_model.model_dump(), lambda _value: MASK)
    else:
        shown = _unwalk(stored_or_model, lambda _token: MASK)
    return shown


def secret_values(model: BaseModel) -> list[str]:
    """The clear values of every secret in the model (to redact them from output)."""
    found: list[str] = []
    _walk(model.model_dump(), lambda value: found.append(_plain(value)))
    return [value for value in found if value]


def _plain(value: SecretStr | SecretBytes) -> str:
    secret = value.get_secret_value()
    return secret.decode() if isinstance(secret, bytes) else secret


def _walk(value: Any, on_secret: Any) -> Any:
    if isinstance(value, (SecretStr, SecretBytes)):
        return on_secret(value)
    if isinstance(value, dict):
        return {str(key): _walk(item, on_secret) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_walk(item, on_secret) for item in value]
    return to_jsonable_python(value)


def _unwalk(value: Any, on_token: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_MARKER}:
            return on_token(value[_MARKER])
        return {key: _unwalk(item, on_token) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwalk(item, on_token) for item in value]
    return value


class Redactor:
    """Replaces known secret values in text, also in the quoted form a shell command shows.

    Output is logged line by line, so each line of a multi-line secret (a private key) is
    masked on its own as well.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) < 3:
                raise ValidationError("secret values must be at least 3 characters long")
            forms.update({secret, shlex.quote(secret)})
            forms.update(
                line.strip() for line in secret.splitlines() if len(line.strip()) >= _MIN_LINE
            )
        # Longest first, so a quoted form is replaced whole before its inner value.
        self._forms = sorted(forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def redact_json(self, value: Any) -> Any:
        if not self._forms:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {key: self.redact_json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact_json(item) for item in value]
        return value
