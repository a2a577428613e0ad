"""The REST API's own response models: every answer of every route is one (never a core
value), published in its OpenAPI document with a description for every field, kept by
every answer, read back by the API's client into the value the CLI prints, and built from
the one read model of a deployment that the console, integrations, report plugins and the
CLI share."""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from starlette.middleware.sessions import SessionMiddleware
from typer.testing import CliRunner

from squall.api import schemas
from squall.api.server import install, session_options
from squall.app import DEFAULT_PLUGINS, cli
from squall.core import describe, reporting
from squall.core.auth import Actor, Grant
from squall.core.integration import DeploymentInfo
from squall.core.models import Deployment
from squall.core.readmodel import DeploymentRecord
from squall.core.reporting import DeploymentSummary
from squall.core.reports import verify
from squall.core.services import (
    access,
    board,
    catalogue,
    deployments,
    inventory,
    views,
)
from squall.core.settings import SSOSettings
from squall.core.values.access import (
    AuditCheck,
    AuditEntry,
    Binding,
    ChainBreak,
    RoleOverview,
    TokenInfo,
)
from squall.core.values.catalogue import TypeInfo
from squall.core.values.deliveries import DeliveriesView, DeliveryView
from squall.core.values.deployments import DeploymentRequest, NodePreview, PlanPreview, StagePreview
from squall.core.values.inventory import ImportSummary, NodeListing
from squall.core.values.views import DeploymentView, LogChunk, LogEntry
from squall.testing.harness import SquallHarness

SSO = SSOSettings(issuer="http://127.0.0.1:9/never-asked", client_id="squall", client_secret="x")
RECORD = [field.name for field in dataclasses.fields(DeploymentRecord)]
READ_BACK: list[tuple[type[schemas.Schema], type]] = [
    (schemas.PlanPreview, PlanPreview),
    (schemas.StagePreview, StagePreview),
    (schemas.NodePreview, NodePreview),
    (schemas.ReportSection, reporting.ReportSection),
    (schemas.LogChunk, LogChunk),
    (schemas.LogEntry, LogEntry),
    (schemas.NodeListing, NodeListing),
    (schemas.ClusterRow, inventory.ClusterRow),
    (schemas.ImportSummary, ImportSummary),
    (schemas.TypeInfo, TypeInfo),
    (schemas.ParameterInfo, describe.ParameterInfo),
    (schemas.AuditCheck, AuditCheck),
    (schemas.ChainBreak, ChainBreak),
    (schemas.AuditEntry, AuditEntry),
    (schemas.TokenInfo, TokenInfo),
    (schemas.Binding, Binding),
    (schemas.RoleOverview, RoleOverview),
    (schemas.Verification, verify.Verification),
    (schemas.Deliveries, DeliveriesView),
    (schemas.Delivery, DeliveryView),
]
"""Each answer and the core value the API's client reads it back into (`squall --server`
prints that value as the command prints it here)."""


@dataclasses.dataclass
class Api:
    squall: SquallHarness
    http: TestClient
    headers: dict[str, str]
    document: dict[str, Any]
    ids: tuple[int, ...]

    def get(self, path: str) -> Any:
        response = self.http.get(f"/api/v1{path}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("schemas")
    clusters = {
        "web": {
            "environment": "production",
            "defaults": {"transport": "local"},
            "nodes": [{"name": f"web-{i}", "root": str(root / f"web-{i}")} for i in (1, 2)],
        }
    }
    (root / "inventory.yaml").write_text(yaml.safe_dump({"clusters": clusters}))
    with SquallHarness(root / "squall", DEFAULT_PLUGINS) as squall:
        squall.import_inventory(root / "inventory.yaml")
        done = squall.deploy("noop").id
        failed = squall.deploy("cache_rebuild", params={"rebuild_command": "false"}).id
        waiting = squall.create("noop", target="host:web-1")
        squall.runtime.settings = dataclasses.replace(squall.runtime.settings, sso=SSO)
        with squall.runtime.db.write() as session:
            admin = Actor("ci", source="sso", grants=(Grant("admin"),))
            _, token = access.create_token(session, squall.runtime, admin, name="tests")
        app = FastAPI()
        install(app, squall.runtime)
        app.add_middleware(SessionMiddleware, **session_options(squall.runtime))
        with TestClient(app, base_url="http://127.0.0.1") as http:
            headers = {"Authorization": f"Bearer {token}"}
            document = http.get("/api/v1/openapi.json", headers=headers).json()
            yield Api(squall, http, headers, document, (done, failed, waiting))


def _schema_of(api: Api, path: str) -> dict[str, Any]:
    answer = api.document["paths"][f"/api/v1{path}"]["get"]["responses"]["200"]
    return dict(answer["content"]["application/json"]["schema"])


def test_the_document_lists_the_response_schemas_of_deployment_list_and_detail(
    api: Api,
) -> None:
    assert _schema_of(api, "/deployments")["items"] == {
        "$ref": "#/components/schemas/DeploymentRow"
    }
    assert _schema_of(api, "/deployments/{deployment_id}") == {
        "$ref": "#/components/schemas/Deployment"
    }
    assert _schema_of(api, "/deployments/recent")["items"] == {
        "$ref": "#/components/schemas/Deployment"
    }
    assert _schema_of(api, "/deployments/{deployment_id}/tasks") == {
        "$ref": "#/components/schemas/DeploymentTasks"
    }
    components = api.document["components"]["schemas"]
    # No view the console draws from is published as a schema of its own.
    assert not {"DeploymentView", "DeploymentDetail", "TaskCell", "StageProgress"} & set(components)
    for name in (
        "Deployment",
        "DeploymentRow",
        "Stage",
        "Failure",
        "Approval",
        "Segment",
        "Attempt",
        "Run",
        "DeploymentTasks",
        "Task",
    ):
        model = getattr(schemas, name)
        assert components[name]["description"] == model.__doc__.strip()
    for name in ("Deployment", "DeploymentRow"):
        properties = components[name]["properties"]
        assert list(properties)[: len(RECORD)] == RECORD  # the read model's fields first
        undescribed = [field for field, spec in properties.items() if not spec.get("description")]
        assert undescribed == [], name


def test_every_deployment_answer_conforms_to_its_schema(api: Api) -> None:
    document = schemathesis.openapi.from_dict(api.document)
    detail = document["/api/v1/deployments/{deployment_id}"]["GET"]
    for path in ("/deployments", "/deployments/recent"):
        document[f"/api/v1{path}"]["GET"].validate_response(api.get(path))  # raises if not
    for deployment_id in api.ids:
        detail.validate_response(api.get(f"/deployments/{deployment_id}"))
    # The validation is real: an answer missing a field of the read model is refused.
    broken = api.get(f"/deployments/{api.ids[0]}")
    body = broken.json()
    del body["requester"]
    broken._content = json.dumps(body).encode()
    with pytest.raises(Exception, match="requester"):
        detail.validate_response(broken)


def test_the_api_schemas_and_every_view_of_a_deployment_share_one_read_model() -> None:
    fields = list(schemas.DeploymentFields.model_fields)
    assert fields == RECORD
    for model in (schemas.Deployment, schemas.DeploymentRow):
        assert issubclass(model, schemas.DeploymentFields)
    for view in (DeploymentView, board.BoardRow, DeploymentInfo, DeploymentSummary):
        assert issubclass(view, DeploymentRecord), view


def test_cli_api_console_and_integrations_agree_on_a_deployment(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    squall = api.squall
    runtime, actor = squall.runtime, squall.actor
    for deployment_id in api.ids:
        detail = api.get(f"/deployments/{deployment_id}").json()
        (row,) = [row for row in api.get("/deployments").json() if row["id"] == deployment_id]
        with runtime.db.read() as session:
            page = views.deployment_detail(session, runtime, actor, deployment_id).view
            (card,) = [r for r in board.board(session, runtime, actor) if r.id == deployment_id]
            info = DeploymentInfo.from_row(session.get(Deployment, deployment_id))
            summary = views.deployment_summary(session, runtime, actor, deployment_id)
        monkeypatch.setenv("SQUALL_DATA_DIR", str(squall.runtime.settings.data_dir))
        monkeypatch.setenv("SQUALL_DEMO_INVENTORY", "false")
        shown = CliRunner().invoke(cli, ["status", str(deployment_id), "--json"])
        assert shown.exit_code == 0, shown.output
        from_cli = json.loads(shown.stdout)
        console = [_record(value) for value in (page, card, info, summary)]
        assert console[0]["clusters"] == ["web"] and console[0]["environments"] == ["production"]
        for found in (_picked(detail), _picked(row), _picked(from_cli), *console[1:]):
            assert found == console[0]
        assert from_cli == detail  # the CLI prints what the API answers


def _record(value: DeploymentRecord) -> dict[str, Any]:
    return _picked(json.loads(schemas.DeploymentFields.model_validate(value).model_dump_json()))


def _picked(answer: dict[str, Any]) -> dict[str, Any]:
    return {name: answer[name] for name in RECORD}


def test_no_answer_publishes_a_core_value(api: Api) -> None:
    components = api.document["components"]["schemas"]
    answered = _answer_schemas(api.document)
    assert {"TypeInfo", "ParameterInfo", "LogEntry", "Deliveries", "Problem"} <= set(answered)
    for name, routes in sorted(answered.items()):
        model = getattr(schemas, name, None)
        assert isinstance(model, type) and issubclass(model, schemas.Schema), (name, routes)
        # Described as the API's model describes itself: a core value of the same name is not.
        spec = components[name]
        own = spec.get("description") == inspect.cleandoc(model.__doc__ or "")
        assert own, f"{name}, answered by {sorted(routes)}, is not the API's own model"
        fields = {field.alias or key: field for key, field in model.model_fields.items()}
        assert list(spec["properties"]) == list(fields), name
        for key, described in spec["properties"].items():
            assert described.get("description"), f"{name}.{key} is not described"
            assert described["description"] == fields[key].description, f"{name}.{key}"


def test_each_answer_keeps_the_field_names_of_the_value_the_client_reads_it_into() -> None:
    for model, value in READ_BACK:
        published = [field.alias or key for key, field in model.model_fields.items()]
        assert published == [field.name for field in dataclasses.fields(value)], model


def test_answers_read_back_into_the_values_the_command_prints_here(api: Api) -> None:
    squall, done = api.squall, api.ids[0]
    runtime, actor = squall.runtime, squall.actor
    with runtime.db.read() as session:

        def local(service: Any, *args: Any, **kwargs: Any) -> Any:
            return service(session, runtime, actor, *args, **kwargs)

        expected: dict[str, tuple[Any, Any]] = {
            f"/deployments/{done}/sections": (
                list[reporting.ReportSection],
                local(views.report_sections, done),
            ),
            f"/deployments/{done}/logs": (LogChunk, local(views.log_chunk, done)),
            "/inventory": (list[NodeListing], local(inventory.list_nodes)),
            "/inventory/clusters": (list[inventory.ClusterRow], local(inventory.overview)[0]),
            "/types": (list[TypeInfo], catalogue.types(runtime, actor)),
            "/audit": (list[AuditEntry], local(access.audit_entries)),
            "/audit/verify": (AuditCheck, local(access.verify_audit)),
            "/tokens?all=true": (list[TokenInfo], local(access.tokens, everyone=True)),
            "/roles": (RoleOverview, local(access.role_overview)),
        }
    assert expected[f"/deployments/{done}/sections"][1][0].rows  # a table, not only a title
    assert expected[f"/deployments/{done}/logs"][1].entries
    assert expected["/audit"][1] and expected["/tokens?all=true"][1]
    for path, (kind, value) in expected.items():
        assert TypeAdapter(kind).validate_json(api.get(path).content) == value, path

    body = {"type": "noop", "target": "cluster:web"}
    answer = api.http.post("/api/v1/deployments/plan", json=body, headers=api.headers)
    with runtime.db.read() as session:
        planned = deployments.plan_preview(
            session,
            runtime,
            actor,
            DeploymentRequest(type="noop", params={}, target="cluster:web"),
        )
    assert answer.status_code == 200, answer.text
    assert TypeAdapter(PlanPreview).validate_json(answer.content) == planned


def _answer_schemas(document: dict[str, Any]) -> dict[str, set[str]]:
    """Each component schema an answer refers to, nested ones too: the routes that do."""
    components = document["components"]["schemas"]
    found: dict[str, set[str]] = {}

    def walk(value: Any, route: str) -> None:
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if route not in found.setdefault(name, set()):
                    found[name].add(route)
                    walk(components[name], route)
            for item in value.values():
                walk(item, route)
        elif isinstance(value, list):
            for item in value:
                walk(item, route)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            walk(operation["responses"], f"{method.upper()} {path}")
    return found
