"""Linear GraphQL: issue state (workflowStates + issueUpdate) and comments (commentCreate).

Linear lets a client choose a new comment's id, so a comment's id is derived from its op: a
retried op finds its comment by that id before creating it, and could not create a second one.
"""
from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from projections.trackers import Op

from .config import TrackerConfig
from .errors import PermanentError, TransientError
from .http import HttpClient
from .text import clean_text, uuid_for

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

ISSUE_STATE = """query LokiIssueState($id: String!) {
  issue(id: $id) { id state { id name } team { id } }
}"""
WORKFLOW_STATES = """query LokiWorkflowStates($teamId: ID!) {
  workflowStates(filter: { team: { id: { eq: $teamId } } }) { nodes { id name type } }
}"""
ISSUE_UPDATE = """mutation LokiIssueUpdate($id: String!, $stateId: String!) {
  issueUpdate(id: $id, input: { stateId: $stateId }) { success issue { id state { name } } }
}"""
FIND_COMMENT = """query LokiFindComment($id: ID!) {
  comments(filter: { id: { eq: $id } }) { nodes { id } }
}"""
COMMENT_CREATE = """mutation LokiCommentCreate($id: String!, $issueId: String!, $body: String!) {
  commentCreate(input: { id: $id, issueId: $issueId, body: $body }) { success comment { id } }
}"""


class LinearAdapter:
    def __init__(self, config: TrackerConfig, env: Mapping[str, str]) -> None:
        token = config.require("token", env)
        self.config = config
        # Personal API keys go bare in Authorization; OAuth tokens carry their own "Bearer ".
        url = urlsplit(config.base_url)
        self.path = url.path or "/graphql"
        self.http = HttpClient(f"{url.scheme}://{url.netloc}", {"Authorization": token, "Content-Type": "application/json"},
                               config.retry.timeout, config.retry.max_response_bytes, secrets=(token,))

    def close(self) -> None:
        self.http.close()

    def apply(self, op: Op) -> dict[str, Any]:
        if op.kind == "status":
            return self._state(op)
        if op.kind == "comment":
            return self._comment(op)
        raise PermanentError(f"linear cannot apply an op of kind {op.kind!r}")

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one GraphQL operation; GraphQL errors become Transient or Permanent errors."""
        _, answer, _ = self.http.request("POST", self.path, json={"query": query, "variables": variables})
        answer = answer or {}
        errors = answer.get("errors") or []
        if errors:
            codes = {str((e.get("extensions") or {}).get("code", "")).upper() for e in errors}
            message = "; ".join(str(e.get("message", "")) for e in errors)[:300]
            if "RATELIMITED" in codes:
                raise TransientError(f"linear: rate limited: {message}")
            raise PermanentError(f"linear: {message}")
        return answer.get("data") or {}

    def _state(self, op: Op) -> dict[str, Any]:
        wanted = self.config.map_status(op.value)
        if wanted is None:
            return {"skipped": "unmapped"}
        issue = self.graphql(ISSUE_STATE, {"id": op.ref}).get("issue")
        if not issue:
            raise PermanentError(f"linear: no issue {op.ref}")
        if (issue.get("state") or {}).get("name", "").casefold() == wanted.casefold():
            return {"status": wanted}
        states = self.graphql(WORKFLOW_STATES, {"teamId": issue["team"]["id"]})
        for state in (states.get("workflowStates") or {}).get("nodes", []):
            if str(state.get("name", "")).casefold() == wanted.casefold():
                done = self.graphql(ISSUE_UPDATE, {"id": issue["id"], "stateId": state["id"]})
                if not (done.get("issueUpdate") or {}).get("success"):
                    raise PermanentError(f"linear: issueUpdate of {op.ref} did not succeed")
                return {"status": wanted}
        raise PermanentError(f"linear {op.ref}: the team has no workflow state {wanted!r}")

    def _comment(self, op: Op) -> dict[str, Any]:
        comment_id = uuid_for(op.id)
        found = self.graphql(FIND_COMMENT, {"id": comment_id})
        if (found.get("comments") or {}).get("nodes"):
            return {"comment_id": comment_id, "found": True}
        issue_id = op.ref
        if not _UUID.fullmatch(issue_id):  # an identifier such as ENG-12: commentCreate wants the id
            issue = self.graphql(ISSUE_STATE, {"id": op.ref}).get("issue")
            if not issue:
                raise PermanentError(f"linear: no issue {op.ref}")
            issue_id = issue["id"]
        made = self.graphql(COMMENT_CREATE, {"id": comment_id, "issueId": issue_id, "body": clean_text(op.value)})
        if not (made.get("commentCreate") or {}).get("success"):
            raise PermanentError(f"linear: commentCreate on {op.ref} did not succeed")
        return {"comment_id": comment_id}
