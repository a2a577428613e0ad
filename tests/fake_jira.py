"""A JIRA that answers the REST v2 endpoints the `jira` client uses, with the same shapes
(see /work/shared/TESTING.md), keeping issues, statuses, comments and attachments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

from fake_http import FakeServer, Reply, Request

API = "/rest/api/2/"
WORKFLOW: dict[str, list[tuple[str, str]]] = {
    # status: [(transition, to status)]
    "Open": [("Submit", "In Review")],
    "In Review": [("Approve", "Approved"), ("Reject", "Open")],
    "Approved": [("Start", "Implementing")],
    "Implementing": [("Complete", "Done"), ("Fail", "Failed"), ("Roll back", "Rolled back")],
    "Done": [],
    "Failed": [("Reopen", "Open")],
    "Rolled back": [("Reopen", "Open")],
}


@dataclass
class Issue:
    id: int
    key: str
    fields: dict[str, object]
    status: str = "Open"
    comments: list[str] = field(default_factory=list)
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    transitions: list[str] = field(default_factory=list)
    """Transition names applied, in order."""


class FakeJira(FakeServer):
    def __init__(self, token: str = "jira-token-secret") -> None:
        super().__init__()
        self.token = token
        self.issues: dict[str, Issue] = {}
        self.counter = 0

    def add_issue(self, key: str, status: str = "Open") -> Issue:
        with self.lock:
            self.counter += 1
            issue = Issue(self.counter, key, {"summary": f"existing {key}", "labels": []}, status)
            self.issues[key] = issue
            return issue

    def error(self, status: int) -> Reply:
        return Reply(status, {"errorMessages": [f"HTTP {status}"], "errors": {}})

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"errorMessages": ["You are not authenticated."], "errors": {}})
        path = request.path.removeprefix(API)
        if path == "serverInfo":
            return Reply(
                200,
                {
                    "version": "9.12.0",
                    "versionNumbers": [9, 12, 0],
                    "deploymentType": "Server",
                    "baseUrl": self.url,
                    "serverTitle": "Fake JIRA",
                },
            )
        if path == "field":
            return Reply(200, [])
        if path == "search":
            return self._search(request)
        if request.method == "POST" and path == "issue":
            return self._create(request)
        match = re.fullmatch(r"issue/([A-Z0-9_]+-\d+)(?:/(\w+))?", path)
        if match is None:
            return Reply(404, {"errorMessages": [f"no such resource {path}"], "errors": {}})
        issue = self.issues.get(match.group(1))
        if issue is None:
            return Reply(404, {"errorMessages": ["Issue Does Not Exist"], "errors": {}})
        part = match.group(2)
        if part is None:
            return Reply(200, self._issue_json(issue))
        if part == "transitions":
            if request.method == "GET":
                return Reply(
                    200,
                    {
                        "expand": "transitions",
                        "transitions": [
                            {"id": str(index + 1), "name": name, "to": {"name": to}}
                            for index, (name, to) in enumerate(WORKFLOW[issue.status])
                        ],
                    },
                )
            wanted = str(request.json()["transition"]["id"])
            options = WORKFLOW[issue.status]
            if not wanted.isdigit() or not 0 < int(wanted) <= len(options):
                return Reply(
                    400, {"errorMessages": [f"transition {wanted} is not valid"], "errors": {}}
                )
            name, to = options[int(wanted) - 1]
            issue.status = to
            issue.transitions.append(name)
            return Reply(204, raw=b"")
        if part == "comment":
            if request.method == "GET":
                comments = [
                    self._comment_json(issue, index, body)
                    for index, body in enumerate(issue.comments)
                ]
                return Reply(
                    200,
                    {
                        "startAt": 0,
                        "maxResults": 1048576,
                        "total": len(comments),
                        "comments": comments,
                    },
                )
            body = request.json()["body"]
            issue.comments.append(body)
            return Reply(201, self._comment_json(issue, len(issue.comments) - 1, body))
        if part == "attachments" and request.method == "POST":
            if request.headers.get("x-atlassian-token") != "no-check":
                return Reply(403, {"errorMessages": ["XSRF check failed"], "errors": {}})
            name, content = _multipart_file(request)
            issue.attachments.append((name, content))
            return Reply(200, [self._attachment_json(issue, len(issue.attachments) - 1)])
        return Reply(405, {"errorMessages": ["method not allowed"], "errors": {}})

    def _create(self, request: Request) -> Reply:
        fields = request.json()["fields"]
        project = fields["project"]["key"]
        self.counter += 1
        key = f"{project}-{self.counter}"
        self.issues[key] = Issue(self.counter, key, dict(fields))
        return Reply(
            201,
            {"id": str(self.counter), "key": key, "self": f"{self.url}{API}issue/{self.counter}"},
        )

    def _search(self, request: Request) -> Reply:
        jql = request.query.get("jql", "")
        label = re.fullmatch(r'labels = "([^"]+)"', jql)
        found = [
            issue
            for issue in self.issues.values()
            if label and label.group(1) in (issue.fields.get("labels") or [])
        ]
        return Reply(
            200,
            {
                "startAt": 0,
                "maxResults": 50,
                "total": len(found),
                "issues": [self._issue_json(issue) for issue in found],
            },
        )

    def _issue_json(self, issue: Issue) -> dict[str, object]:
        return {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.url}{API}issue/{issue.id}",
            "fields": {
                **issue.fields,
                "status": {"name": issue.status},
                "attachment": [
                    self._attachment_json(issue, index) for index in range(len(issue.attachments))
                ],
            },
        }

    def _comment_json(self, issue: Issue, index: int, body: str) -> dict[str, object]:
        return {
            "id": str(index + 1),
            "body": body,
            "self": f"{self.url}{API}issue/{issue.id}/comment/{index + 1}",
        }

    def _attachment_json(self, issue: Issue, index: int) -> dict[str, object]:
        name, content = issue.attachments[index]
        return {
            "id": str(index + 1),
            "filename": name,
            "size": len(content),
            "self": f"{self.url}{API}attachment/{index + 1}",
            "content": f"{self.url}/attachment/{index + 1}",
        }

    def calls(self, method: str, pattern: str) -> int:
        """How many requests matched, failed ones included."""
        return sum(
            1
            for found in self.requests
            if found.method == method and re.fullmatch(API + pattern, found.path)
        )


def _multipart_file(request: Request) -> tuple[str, bytes]:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    for part in message.iter_parts():
        if part.get_filename():
            return part.get_filename() or "", part.get_payload(decode=True) or b""
    raise ValueError("no file in the multipart body")
