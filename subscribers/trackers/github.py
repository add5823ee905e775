"""GitHub REST: commit statuses for a task's commit, comments on its issue or pull request.

Statuses converge (the latest status of our context is compared before posting); comments
carry a hidden marker with their op id, looked for before posting.
"""
from __future__ import annotations

from typing import Any, Mapping

from projections.trackers import Op

from .config import TrackerConfig
from .errors import PermanentError
from .http import HttpClient
from .text import clean_context, clean_text, marker

_PAGE = 100
_MAX_PAGES = 50


class GitHubAdapter:
    def __init__(self, config: TrackerConfig, env: Mapping[str, str]) -> None:
        token = config.require("token", env)
        self.config = config
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28"}
        self.http = HttpClient(config.base_url, headers, config.retry.timeout,
                               config.retry.max_response_bytes, secrets=(token,))

    def close(self) -> None:
        self.http.close()

    def apply(self, op: Op) -> dict[str, Any]:
        if op.kind == "status" and "@" in op.ref:
            return self._status(op)
        if op.kind == "comment" and "#" in op.ref:
            return self._comment(op)
        raise PermanentError(f"github cannot apply an op of kind {op.kind!r} to {op.ref}")

    def _status(self, op: Op) -> dict[str, Any]:
        state = self.config.map_status(op.value)
        if state is None:
            return {"skipped": "unmapped"}
        repo, sha = op.ref.split("@", 1)
        context = clean_context(f"{self.config.options.get('status_context', 'lokilog')}/{op.task_id}")
        description = clean_text(f"{op.task_id}: {op.value.replace(':', ' ')}", 140)
        _, combined, _ = self.http.request("GET", f"/repos/{repo}/commits/{sha}/status")
        for status in (combined or {}).get("statuses", []):
            if status.get("context") == context:
                if status.get("state") == state and status.get("description") == description:
                    return {"state": state, "context": context}
                break  # statuses are newest first: only the latest of our context counts
        body = {"state": state, "context": context, "description": description}
        if self.config.options.get("target_url"):
            body["target_url"] = str(self.config.options["target_url"])
        self.http.request("POST", f"/repos/{repo}/statuses/{sha}", json=body)
        return {"state": state, "context": context}

    def _comment(self, op: Op) -> dict[str, Any]:
        repo, number = op.ref.split("#", 1)
        tag = marker(op.id)
        for page in range(1, _MAX_PAGES + 1):
            _, comments, _ = self.http.request(
                "GET", f"/repos/{repo}/issues/{number}/comments", params={"per_page": _PAGE, "page": page})
            for comment in comments or ():
                if tag in str(comment.get("body", "")):
                    return {"comment_id": str(comment.get("id")), "found": True}
            if len(comments or ()) < _PAGE:
                break
        body = f"{clean_text(op.value)}\n\n{tag}"
        _, created, _ = self.http.request("POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body})
        return {"comment_id": str((created or {}).get("id"))}
