"""A real HTTP server on 127.0.0.1 playing Jira Cloud (REST v3), Linear (GraphQL) and GitHub (REST).

It implements the endpoints lokilog uses with their request and response shapes, checks
credentials, and can be told to fail the next requests (500, 429 with Retry-After, a timeout,
a dropped connection) or to answer slowly. Everything it was sent is recorded, so tests can
count what landed. ``stop()`` joins every thread it started.
"""
from __future__ import annotations

import base64
import http.server
import re
import socket
import threading
import time
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

JIRA_EMAIL, JIRA_TOKEN = "bot@example.com", "jira-secret-token-123"
LINEAR_KEY = "lin_api_secret_456"
GITHUB_TOKEN = "ghp_secret_789"

JIRA_WORKFLOW = ["To Do", "In Progress", "In Review", "Done"]


class Fault:
    def __init__(self, mode: str, count: int, match: str, retry_after: str | None) -> None:
        self.mode, self.count, self.match, self.retry_after = mode, count, match, retry_after


class FakeTrackers:
    """The state of the three fake trackers and the server that serves them."""

    def __init__(self, delay: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.delay = delay
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.writes = 0
        self.write_cv = threading.Condition(self.lock)
        # Jira
        self.jira: dict[str, dict[str, Any]] = {}
        self.jira_next = 100
        # Linear
        self.linear: dict[str, dict[str, Any]] = {}
        self.linear_comments: dict[str, dict[str, Any]] = {}
        self.linear_states = [{"id": f"state-{i}", "name": n, "type": t} for i, (n, t) in enumerate(
            [("Backlog", "backlog"), ("Todo", "unstarted"), ("In Progress", "started"),
             ("In Review", "started"), ("Done", "completed"), ("Canceled", "canceled")])]
        # GitHub
        self.gh_comments: dict[str, list[dict]] = defaultdict(list)
        self.gh_statuses: dict[str, list[dict]] = defaultdict(list)
        self.gh_next = 1000
        self.release = threading.Event()
        self.server = _Server(self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="fake-trackers")
        self.thread.start()

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()  # joins the request threads (block_on_close)
        self.thread.join(5)

    def fail(self, mode: str, count: int = 1, match: str = "", retry_after: str | None = None) -> None:
        """Make the next ``count`` requests whose path contains ``match`` fail with ``mode``."""
        with self.lock:
            self.faults.append(Fault(mode, count, match, retry_after))

    def wait_writes(self, n: int, timeout: float) -> bool:
        with self.write_cv:
            return self.write_cv.wait_for(lambda: self.writes >= n, timeout)

    def add_jira(self, key: str, status: str = "To Do", summary: str = "", parent: str | None = None,
                 description: Any = None, issuetype: str = "Task") -> None:
        self.jira[key] = {"status": status, "comments": [], "summary": summary, "parent": parent,
                          "labels": [], "description": description, "issuetype": issuetype}

    def add_linear(self, issue_id: str, state: str = "Todo") -> None:
        self.linear[issue_id] = {"state": state, "team": "team-1", "comments": []}

    # --------------------------------------------------------------- dispatching

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and fault.match in path:
                    fault.count -= 1
                    return fault
        return None

    def count_write(self) -> None:
        with self.write_cv:
            self.writes += 1
            self.write_cv.notify_all()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, fake: FakeTrackers) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake

    def handle_error(self, request, client_address) -> None:
        pass  # clients killed mid-request are part of the tests


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and delayed
        # ACKs add 40 ms to every keep-alive exchange.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        fake: FakeTrackers = self.server.fake
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            with fake.lock:
                fake.requests.append((method, url.path))
            if fake.delay:
                fake.release.wait(fake.delay)
            fault = fake.take_fault(url.path)
            if fault is not None and self._inject(fault):
                return
            status, answer = _route(fake, method, url.path, parse_qs(url.query), body, self.headers)
            self._send(status, answer)
        except (OSError, ValueError):
            self.close_connection = True

    def _inject(self, fault: Fault) -> bool:
        if fault.mode == "timeout":
            self.server.fake.release.wait(3.0)
            self.close_connection = True
            return True
        if fault.mode == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if fault.mode == "500":
            self._send(500, {"message": "Internal Server Error"})
            return True
        if fault.mode == "429":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._send(429, {"message": "Too Many Requests"}, headers)
            return True
        if fault.mode == "linear-ratelimited":  # Linear: a GraphQL error code, HTTP 400
            self._send(400, {"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]})
            return True
        if fault.mode == "github-403-limit":  # GitHub's primary rate limit
            self._send(403, {"message": "API rate limit exceeded"},
                       {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()))})
            return True
        if fault.mode == "huge":
            self._send(200, {"padding": "x" * 300_000})
            return True
        raise AssertionError(fault.mode)

    def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if answer is None else msgspec.json.encode(answer)
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _route(fake: FakeTrackers, method: str, path: str, query: dict, body: bytes, headers) -> tuple[int, Any]:
    if path.startswith("/rest/api/3/"):
        if headers.get("Authorization") != "Basic " + base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode():
            return 401, {"errorMessages": ["Unauthorized"]}
        return _jira(fake, method, path[len("/rest/api/3"):], query, body)
    if path == "/graphql":
        if headers.get("Authorization") != LINEAR_KEY:
            return 400, {"errors": [{"message": "Authentication required", "extensions": {"code": "AUTHENTICATION_ERROR"}}]}
        return _linear(fake, msgspec.json.decode(body))
    if path.startswith("/repos/"):
        if headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
            return 401, {"message": "Bad credentials"}
        return _github(fake, method, path, query, body)
    return 404, {"message": "Not Found"}


# ----------------------------------------------------------------------------- Jira


def _jira_issue(key: str, issue: dict) -> dict:
    fields = {"status": {"name": issue["status"]}, "summary": issue["summary"],
              "issuetype": {"name": issue["issuetype"]}, "description": issue["description"],
              "labels": issue["labels"]}
    if issue["parent"]:
        fields["parent"] = {"key": issue["parent"]}
    return {"id": str(abs(hash(key)) % 100000), "key": key, "self": f"/rest/api/3/issue/{key}", "fields": fields}


def _jira(fake: FakeTrackers, method: str, path: str, query: dict, body: bytes) -> tuple[int, Any]:
    missing = 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}
    m = re.fullmatch(r"/issue/([A-Z0-9_]+-\d+)(/transitions|/comment)?", path)
    with fake.lock:
        if m:
            key, sub = m.groups()
            issue = fake.jira.get(key)
            if issue is None:
                return missing
            if sub is None and method == "GET":
                return 200, _jira_issue(key, issue)
            if sub == "/transitions" and method == "GET":
                return 200, {"expand": "transitions", "transitions": [
                    {"id": str(11 + 10 * i), "name": name, "to": {"id": str(10000 + i), "name": name}}
                    for i, name in enumerate(JIRA_WORKFLOW) if name != issue["status"]]}
            if sub == "/transitions" and method == "POST":
                wanted = msgspec.json.decode(body)["transition"]["id"]
                issue["status"] = JIRA_WORKFLOW[(int(wanted) - 11) // 10]
                issue.setdefault("transitions", []).append(issue["status"])
                fake.writes += 1
                fake.write_cv.notify_all()
                return 204, None
            if sub == "/comment" and method == "GET":
                start = int(query.get("startAt", ["0"])[0])
                size = int(query.get("maxResults", ["50"])[0])
                expand = "properties" in query.get("expand", [""])[0]
                page = [
                    {k: v for k, v in c.items() if expand or k != "properties"}
                    for c in issue["comments"][start:start + size]
                ]
                return 200, {"startAt": start, "maxResults": size, "total": len(issue["comments"]), "comments": page}
            if sub == "/comment" and method == "POST":
                data = msgspec.json.decode(body)
                doc = data["body"]
                assert doc["type"] == "doc" and doc["version"] == 1 and doc["content"], doc
                fake.jira_next += 1
                comment = {"id": str(fake.jira_next), "body": doc, "properties": data.get("properties", []),
                           "created": "2026-02-21T10:00:00.000+0000"}
                issue["comments"].append(comment)
                fake.writes += 1
                fake.write_cv.notify_all()
                return 201, {k: v for k, v in comment.items() if k != "properties"}
        if path == "/issue" and method == "POST":
            fields = msgspec.json.decode(body)["fields"]
            parent = fields["parent"]["key"]
            if parent not in fake.jira or fields["issuetype"]["name"] != "Sub-task":
                return 400, {"errorMessages": [], "errors": {"parent": "invalid"}}
            project = fields["project"]["key"]
            number = 1 + max(int(k.rsplit("-", 1)[1]) for k in fake.jira if k.startswith(project + "-"))
            key = f"{project}-{number}"
            fake.jira[key] = {"status": "To Do", "comments": [], "summary": fields["summary"], "parent": parent,
                              "labels": fields.get("labels", []), "description": None, "issuetype": "Sub-task"}
            fake.writes += 1
            fake.write_cv.notify_all()
            return 201, {"id": str(10000 + number), "key": key, "self": f"/rest/api/3/issue/{key}"}
        if path == "/search/jql" and method == "GET":
            jql = query["jql"][0]
            parent = re.search(r"parent = ([A-Z0-9_]+-\d+)", jql).group(1)
            label = re.search(r'labels = "([^"]+)"', jql)
            found = [
                _jira_issue(k, i) for k, i in sorted(fake.jira.items())
                if i["parent"] == parent and (label is None or label.group(1) in i["labels"])
            ]
            return 200, {"issues": found, "isLast": True}
    return 404, {"errorMessages": ["no such endpoint"]}


# --------------------------------------------------------------------------- Linear


def _linear(fake: FakeTrackers, request: dict) -> tuple[int, Any]:
    query, v = request["query"], request.get("variables") or {}
    with fake.lock:
        if "LokiIssueState" in query:
            issue = fake.linear.get(v["id"])
            if issue is None:
                return 200, {"data": {"issue": None}, "errors": [{"message": "Entity not found: Issue",
                                                                  "extensions": {"code": "INVALID_INPUT"}}]}
            state = next(s for s in fake.linear_states if s["name"] == issue["state"])
            return 200, {"data": {"issue": {"id": v["id"], "state": {"id": state["id"], "name": state["name"]},
                                            "team": {"id": issue["team"]}}}}
        if "LokiWorkflowStates" in query:
            return 200, {"data": {"workflowStates": {"nodes": fake.linear_states}}}
        if "LokiIssueUpdate" in query:
            issue = fake.linear[v["id"]]
            state = next(s for s in fake.linear_states if s["id"] == v["stateId"])
            issue["state"] = state["name"]
            issue.setdefault("history", []).append(state["name"])
            fake.writes += 1
            fake.write_cv.notify_all()
            return 200, {"data": {"issueUpdate": {"success": True, "issue": {"id": v["id"], "state": {"name": state["name"]}}}}}
        if "LokiFindComment" in query:
            found = [{"id": v["id"]}] if v["id"] in fake.linear_comments else []
            return 200, {"data": {"comments": {"nodes": found}}}
        if "LokiCommentCreate" in query:
            if v["id"] in fake.linear_comments:
                return 200, {"data": None, "errors": [{"message": "Duplicate id", "extensions": {"code": "INVALID_INPUT"}}]}
            if v["issueId"] not in fake.linear:
                return 200, {"data": None, "errors": [{"message": "Entity not found: Issue", "extensions": {"code": "INVALID_INPUT"}}]}
            fake.linear_comments[v["id"]] = {"issueId": v["issueId"], "body": v["body"]}
            fake.linear[v["issueId"]]["comments"].append(v["id"])
            fake.writes += 1
            fake.write_cv.notify_all()
            return 200, {"data": {"commentCreate": {"success": True, "comment": {"id": v["id"]}}}}
    return 400, {"errors": [{"message": "Cannot query field", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}


# --------------------------------------------------------------------------- GitHub

_GH_STATES = {"pending", "success", "failure", "error"}


def _github(fake: FakeTrackers, method: str, path: str, query: dict, body: bytes) -> tuple[int, Any]:
    with fake.lock:
        m = re.fullmatch(r"/repos/([\w.-]+/[\w.-]+)/commits/([0-9a-f]+)/status", path)
        if m and method == "GET":
            statuses = list(reversed(fake.gh_statuses[f"{m[1]}@{m[2]}"]))
            latest: dict[str, dict] = {}
            for status in statuses:
                latest.setdefault(status["context"], status)
            return 200, {"state": "pending", "sha": m[2], "total_count": len(latest), "statuses": list(latest.values())}
        m = re.fullmatch(r"/repos/([\w.-]+/[\w.-]+)/statuses/([0-9a-f]+)", path)
        if m and method == "POST":
            data = msgspec.json.decode(body)
            if data.get("state") not in _GH_STATES or len(data.get("description", "")) > 140:
                return 422, {"message": "Validation Failed"}
            fake.gh_next += 1
            status = {"id": fake.gh_next, "state": data["state"], "context": data.get("context", "default"),
                      "description": data.get("description"), "target_url": data.get("target_url"),
                      "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
            fake.gh_statuses[f"{m[1]}@{m[2]}"].append(status)
            fake.writes += 1
            fake.write_cv.notify_all()
            return 201, status
        m = re.fullmatch(r"/repos/([\w.-]+/[\w.-]+)/issues/(\d+)/comments", path)
        if m and method == "GET":
            per_page = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            comments = fake.gh_comments[f"{m[1]}#{m[2]}"]
            return 200, comments[(page - 1) * per_page: page * per_page]
        if m and method == "POST":
            fake.gh_next += 1
            comment = {"id": fake.gh_next, "body": msgspec.json.decode(body)["body"],
                       "html_url": f"https://github.invalid/{m[1]}/issues/{m[2]}#issuecomment-{fake.gh_next}"}
            fake.gh_comments[f"{m[1]}#{m[2]}"].append(comment)
            fake.writes += 1
            fake.write_cv.notify_all()
            return 201, comment
    return 404, {"message": "Not Found"}
