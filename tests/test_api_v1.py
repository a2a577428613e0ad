"""The REST API for scripts: deployments, plans, actions, paged and followed logs,
inventory, types and the OpenAPI document, over HTTP with a token, on real sshd nodes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.middleware.sessions import SessionMiddleware

from squall.api.server import install, session_options
from squall.app import DEFAULT_PLUGINS
from squall.core.auth import Actor, Grant
from squall.core.models import AuditRecord, Deployment
from squall.core.services import access
from squall.core.settings import SSOSettings
from squall.testing.fleet import Fleet
from squall.testing.harness import SquallHarness

SSO = SSOSettings(issuer="http://127.0.0.1:9/never-asked", client_id="squall", client_secret="x")
ADMIN = Actor("ci", source="sso", grants=(Grant("admin"),))
VIEWER = Actor("watcher", source="sso", grants=(Grant("viewer"),))


@dataclasses.dataclass
class Api:
    squall: SquallHarness
    http: TestClient
    token: str

    def call(self, method: str, path: str, **options: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.http.request(method, f"/api/v1{path}", headers=headers, **options)

    def token_for(self, actor: Actor) -> str:
        with self.squall.runtime.db.write() as session:
            _, secret = access.create_token(session, self.squall.runtime, actor, name="tests")
        return secret

    def deployments(self) -> int:
        with self.squall.runtime.db.read() as session:
            return session.scalar(select(func.count()).select_from(Deployment)) or 0


@pytest.fixture
def api(tmp_path: Path, fleet: Fleet) -> Iterator[Api]:
    with SquallHarness(tmp_path / "squall", DEFAULT_PLUGINS, fleet=fleet) as squall:
        squall.runtime.settings = dataclasses.replace(squall.runtime.settings, sso=SSO)
        app = FastAPI()
        install(app, squall.runtime)
        app.add_middleware(SessionMiddleware, **session_options(squall.runtime))
        with TestClient(app, base_url="http://127.0.0.1") as http:
            api = Api(squall, http, "")
            api.token = api.token_for(ADMIN)
            yield api


def test_the_openapi_document_describes_every_route_and_needs_a_token(api: Api) -> None:
    assert api.http.get("/api/v1/openapi.json").status_code == 401
    document = api.call("GET", "/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/deployments",
        "/api/v1/deployments/plan",
        "/api/v1/deployments/{deployment_id}",
        "/api/v1/deployments/{deployment_id}/tasks",
        "/api/v1/deployments/{deployment_id}/logs",
        "/api/v1/deployments/{deployment_id}/follow",
        "/api/v1/deployments/{deployment_id}/{action}",
        "/api/v1/inventory",
        "/api/v1/types",
    ):
        assert path in paths, path
    shown = paths["/api/v1/deployments/{deployment_id}"]["get"]["responses"]
    assert shown["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Deployment"
    }
    assert shown["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


def test_a_deployment_runs_and_its_log_reads_page_by_page(api: Api, fleet: Fleet) -> None:
    created = api.call("POST", "/deployments", json={"type": "noop", "target": "host:node-0[1-3]"})
    assert created.status_code == 201
    deployment_id = created.json()["id"]
    api.squall.run(deployment_id)
    shown = api.call("GET", f"/deployments/{deployment_id}").json()
    assert (shown["status"], shown["requester"]) == ("succeeded", "ci")
    assert shown["stages"][0]["counts"] == {"succeeded": 3}
    assert [attempt["number"] for attempt in shown["attempts"]] == [1]
    # For a progress display: the same progress, without what is read from all the history.
    live = api.call("GET", f"/deployments/{deployment_id}?live=true").json()
    assert (live["status"], live["stages"]) == (shown["status"], shown["stages"])
    assert (live["attempts"], live["reruns"], live["waiting_for"]) == ([], [], None)
    lines: list[str] = []
    cursor, pages = 0, 0
    while True:
        page = api.call("GET", f"/deployments/{deployment_id}/logs?after={cursor}&limit=4").json()
        lines += [entry["text"] for entry in page["entries"]]
        cursor, pages = page["cursor"], pages + 1
        if not page["more"]:
            break
    assert page["finished"] and page["status"] == "succeeded"
    assert lines == api.squall.logs(deployment_id) and pages > 2
    one_node = api.call("GET", f"/deployments/{deployment_id}/logs?node=node-02").json()
    assert {entry["node"] for entry in one_node["entries"]} == {"node-02"}
    # A node it does not have: not an empty log (nor, following the status alone, a stream).
    for path in ("logs?node=node-99", "follow?node=node-99", "follow?logs=false&node=node-99"):
        missing = api.call("GET", f"/deployments/{deployment_id}/{path}")
        assert missing.status_code == 404, missing.text
        assert missing.json()["detail"] == f"deployment {deployment_id} has no node node-99"
    tasks = api.call("GET", f"/deployments/{deployment_id}/tasks").json()
    assert sorted(task["node"] for task in tasks["tasks"]) == ["node-01", "node-02", "node-03"]


def test_following_a_deployment_streams_its_lines_then_its_end(api: Api) -> None:
    deployment_id = api.squall.create("noop", target="host:node-01")
    api.squall.run(deployment_id)
    with api.http.stream(
        "GET",
        f"/api/v1/deployments/{deployment_id}/follow",
        headers={"Authorization": f"Bearer {api.token}"},
    ) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        items = [json.loads(line) for line in response.iter_lines() if line]
    logs = [item["text"] for item in items if item["kind"] == "log"]
    assert logs == api.squall.logs(deployment_id)
    assert items[-1] == {"kind": "end", "status": "succeeded"}
    with api.http.stream(  # for a script waiting for the end: the status lines alone
        "GET",
        f"/api/v1/deployments/{deployment_id}/follow?logs=false",
        headers={"Authorization": f"Bearer {api.token}"},
    ) as response:
        statuses = [json.loads(line) for line in response.iter_lines() if line]
    assert statuses == [
        {"kind": "status", "status": "succeeded"},
        {"kind": "end", "status": "succeeded"},
    ]


def test_a_plan_preview_creates_nothing(api: Api) -> None:
    before = api.deployments()
    plan = api.call("POST", "/deployments/plan", json={"type": "noop", "target": "all"}).json()
    assert plan["node_count"] == len(plan["stages"][0]["nodes"]) > 0
    assert plan["stages"][0]["nodes"][0]["steps"][0].startswith("probe: $ ")
    assert api.deployments() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "config_change", "params": {"path": 5}}, "path"),
        ({"type": "noop", "parallelism": 0}, "parallelism"),
        ({"type": "noop", "target": "cluster:"}, "selector"),
        ({"type": "noop", "max_failures": "lots"}, "threshold"),
        ({"type": "noop", "title": "a\x00b"}, "title"),
        ({"type": "no_such_type"}, "no_such_type"),
    ],
)
def test_invalid_requests_are_refused_with_the_reason_and_change_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    before = api.deployments()
    for path in ("/deployments", "/deployments/plan"):
        refused = api.call("POST", path, json=body)
        assert refused.status_code in (404, 422), refused.text
        assert field in json.dumps(refused.json()["detail"])
    assert api.deployments() == before


def test_bad_identifiers_and_filters_are_client_errors(api: Api) -> None:
    assert api.call("GET", "/deployments/99999999999").status_code == 422
    assert api.call("GET", "/deployments/0").status_code == 422
    assert api.call("GET", "/deployments/12345").status_code == 404
    assert api.call("GET", "/deployments?status=sideways").status_code == 422
    assert api.call("GET", "/deployments/12345/logs?after=-1").status_code == 422
    assert api.call("POST", "/deployments/1/explode").status_code == 422
    bogus = {"Authorization": "Bearer sq_99999999999999999999_x"}
    assert api.http.get("/api/v1/me", headers=bogus).status_code == 401


def test_actions_are_checked_and_audited_in_core(api: Api) -> None:
    deployment_id = api.squall.create("cache_rebuild", params={"rebuild_command": "sleep 30"})
    viewer = {"Authorization": f"Bearer {api.token_for(VIEWER)}"}
    refused = api.http.post(f"/api/v1/deployments/{deployment_id}/abort", headers=viewer)
    assert (refused.status_code, refused.json()["permission"]) == (403, "deployment.control")
    assert api.call("GET", "/deployments", params={"status": "running"}).json()[0]["id"] == (
        deployment_id
    )
    done = api.call("POST", f"/deployments/{deployment_id}/abort")
    assert done.json() == {"id": deployment_id, "action": "abort", "result": None}
    assert api.call("POST", f"/deployments/{deployment_id}/pause").status_code == 409
    with api.squall.runtime.db.read() as session:
        actions = session.scalars(select(AuditRecord.action).where(AuditRecord.actor == "ci"))
        assert "deployment.cancel" in list(actions)


def test_inventory_and_types_are_listed(api: Api, fleet: Fleet) -> None:
    nodes = api.call("GET", "/inventory", params={"target": "host:node-0[1-2]"}).json()
    assert [(node["name"], node["transport"]) for node in nodes] == [
        ("node-01", "ssh"),
        ("node-02", "ssh"),
    ]
    assert nodes[0]["address"] == f"{fleet.node('node-01').host}:{fleet.node('node-01').port}"
    assert "vars" not in nodes[0]
    types = {found["name"]: found for found in api.call("GET", "/types").json()}
    assert set(types) >= {"noop", "config_change", "cache_rebuild", "group"}
    secrets = next(p for p in types["config_change"]["parameters"] if p["name"] == "secrets")
    assert secrets["secret"] is True
    assert "path" in types["config_change"]["schema"]["required"]


def test_reports_download_as_pdf_csv_and_json(api: Api) -> None:
    deployment_id = api.squall.create("noop", target="host:node-0[1-2]")
    api.squall.run(deployment_id)
    pdf = api.call("GET", f"/reports/deployments/{deployment_id}")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert f"squall-deployment-{deployment_id}.pdf" in pdf.headers["content-disposition"]
    rows = api.call("GET", f"/reports/deployments/{deployment_id}?format=csv").text.splitlines()
    assert len(rows) == 4 and rows[0].startswith("#squall ") and "node-01" in "".join(rows)
    assert f'"deployment_id": {deployment_id}' in rows[0]  # the claims: verifiable
    exported = api.call("GET", f"/reports/deployments/{deployment_id}", params={"format": "json"})
    assert exported.json()["sha256"]
    cluster = api.call(
        "GET", "/reports/clusters/node-cluster-a", params={"since": "1d", "format": "csv"}
    )
    assert cluster.status_code == 200, cluster.text
    node = api.call("GET", "/reports/nodes/node-01", params={"format": "csv"})
    assert node.status_code == 200 and str(deployment_id) in node.text
    assert api.call("GET", "/reports/deployments/4242").status_code == 404
    assert api.call("GET", "/reports/clusters/x", params={"since": "99999999d"}).status_code == 422
    assert api.call("GET", "/reports/nodes/nowhere").status_code == 404
