"""Property-based tests of the REST API from its own OpenAPI document (schemathesis): a
served Squall on PostgreSQL answers every generated request, valid or not, without a
server error and as its document says."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from served import Installation, installation
from sqlalchemy import create_engine, text

from squall.core.auth import Actor, Grant

CALLS: list[str] = []
"""Operations called, one entry a request: proof the run sent what it claims."""
EXAMPLES = 15
"""Generated requests per operation, of valid data and of invalid data each."""


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin: str
) -> Iterator[tuple[str, str]]:
    """`squall serve --no-worker` on a database of its own; its URL and an admin token."""
    name = f"squall_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    root = tmp_path_factory.mktemp("api-schema")
    try:
        with installation(root / "data", postgres_admin.rsplit("/", 1)[0] + f"/{name}") as squall:
            _prepare(squall, root)
            # Tokens the run may revoke come first; the one it uses is made last.
            for number in range(30):
                squall.token(Actor(f"someone-{number}", source="sso"))
            token = squall.token(Actor("ci", source="sso", grants=(Grant("admin"),)))
            yield squall.serve(), token
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _prepare(squall: Installation, root: Path) -> None:
    nodes = [{"name": f"web-{index}", "root": str(root / f"web-{index}")} for index in (1, 2, 3)]
    inventory = root / "inventory.yaml"
    inventory.write_text(
        yaml.safe_dump({"clusters": {"web": {"defaults": {"transport": "local"}, "nodes": nodes}}})
    )
    squall.harness.import_inventory(inventory)
    squall.harness.create("noop")
    squall.harness.create("cache_rebuild", params={"rebuild_command": "true"})


def test_the_api_answers_every_request_without_a_server_error(served: tuple[str, str]) -> None:
    url, token = served
    auth = {"Authorization": f"Bearer {token}"}
    document = httpx.get(f"{url}/api/v1/openapi.json", headers=auth).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=url)
    # Following a deployment streams until it ends, and here nothing runs it; its own
    # tests cover it.
    schema = schema.exclude(path_regex=r"/follow$")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 15
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            CALLS.append(case.operation.label)
            case.call_and_validate(
                headers=auth,
                checks=[checks.not_a_server_error, checks.response_schema_conformance],
                timeout=30,
            )

        try:
            check()
        except Exception as failure:  # noqa: BLE001 - every operation's failure is reported
            failures.append(f"{operation.label} ({mode.value} data): {failure}")
    assert len(set(CALLS)) == len(operations) and len(CALLS) > 10 * len(operations)
    assert not failures, "\n\n".join(failures)
