"""Jira Cloud REST v3: transitions, comments (ADF bodies), sub-tasks, and epic import.

Every write is preceded by a read that finds an earlier landing of the same op: the issue's
current status, a comment carrying our ``lokilog`` comment property, a sub-task carrying our
label. So an op retried after a crash (request sent, outcome not yet recorded) lands once.
"""
from __future__ import annotations

from typing import Any, Mapping

from projections.trackers import Op

from .config import TrackerConfig
from .errors import PermanentError
from .http import HttpClient
from .text import adf, clean_text

API = "/rest/api/3"
PROPERTY = "lokilog"
_PAGE = 100
_MAX_PAGES = 50


class JiraAdapter:
    def __init__(self, config: TrackerConfig, env: Mapping[str, str]) -> None:
        email, token = config.require("email", env), config.require("token", env)
        self.config = config
        self.http = HttpClient(
            config.base_url, {"Accept": "application/json"}, config.retry.timeout,
            config.retry.max_response_bytes, secrets=(token,), auth=(email, token),
        )

    def close(self) -> None:
        self.http.close()

    def apply(self, op: Op) -> dict[str, Any]:
        if op.kind == "status":
            return self._transition(op)
        if op.kind == "comment":
            return self._comment(op)
        if op.kind == "subtask":
            return self._subtask(op)
        raise PermanentError(f"jira cannot apply an op of kind {op.kind!r}")

    def _transition(self, op: Op) -> dict[str, Any]:
        wanted = self.config.map_status(op.value)
        if wanted is None:
            return {"skipped": "unmapped"}
        _, issue, _ = self.http.request("GET", f"{API}/issue/{op.ref}", params={"fields": "status"})
        current = (((issue or {}).get("fields") or {}).get("status") or {}).get("name")
        if _same(current, wanted):
            return {"status": current}
        _, found, _ = self.http.request("GET", f"{API}/issue/{op.ref}/transitions")
        for transition in (found or {}).get("transitions", []):
            if _same((transition.get("to") or {}).get("name"), wanted) or _same(transition.get("name"), wanted):
                self.http.request("POST", f"{API}/issue/{op.ref}/transitions",
                                  json={"transition": {"id": transition["id"]}})
                return {"status": wanted, "transition": transition["id"]}
        raise PermanentError(f"jira {op.ref}: no transition from {current!r} to {wanted!r}")

    def _comment(self, op: Op) -> dict[str, Any]:
        existing = self._find_comment(op)
        if existing is not None:
            return {"comment_id": existing, "found": True}
        body = {"body": adf(clean_text(op.value)), "properties": [{"key": PROPERTY, "value": {"op": op.id}}]}
        _, created, _ = self.http.request("POST", f"{API}/issue/{op.ref}/comment", json=body)
        return {"comment_id": str((created or {}).get("id"))}

    def _find_comment(self, op: Op) -> str | None:
        for page in range(_MAX_PAGES):
            _, found, _ = self.http.request(
                "GET", f"{API}/issue/{op.ref}/comment",
                params={"startAt": page * _PAGE, "maxResults": _PAGE, "expand": "properties"},
            )
            comments = (found or {}).get("comments", [])
            for comment in comments:
                for prop in comment.get("properties") or ():
                    if prop.get("key") == PROPERTY and (prop.get("value") or {}).get("op") == op.id:
                        return str(comment.get("id"))
            total = (found or {}).get("total")
            if len(comments) < _PAGE or (isinstance(total, int) and (page + 1) * _PAGE >= total):
                return None
        return None

    def _subtask(self, op: Op) -> dict[str, Any]:
        label = f"lokilog-{op.id[:16]}"
        _, found, _ = self.http.request(
            "GET", f"{API}/search/jql",
            params={"jql": f'parent = {op.ref} AND labels = "{label}"', "fields": "summary", "maxResults": 1},
        )
        issues = (found or {}).get("issues") or []
        if issues:
            return {"key": issues[0]["key"], "found": True}
        fields = {
            "project": {"key": op.ref.rsplit("-", 1)[0]}, "parent": {"key": op.ref},
            "summary": clean_text(op.value, 255).replace("\n", " "),
            "issuetype": {"name": self.config.options.get("subtask_type", "Sub-task")},
            "labels": [label],
        }
        _, created, _ = self.http.request("POST", f"{API}/issue", json={"fields": fields})
        return {"key": (created or {}).get("key")}

    def epic(self, key: str) -> tuple[dict, list[dict]]:
        """Fetch an epic and its child issues (summary, description, status)."""
        fields = "summary,description,status,issuetype"
        _, epic, _ = self.http.request("GET", f"{API}/issue/{key}", params={"fields": fields})
        children: list[dict] = []
        token = None
        for _ in range(_MAX_PAGES):
            params = {"jql": f"parent = {key} ORDER BY key", "fields": fields, "maxResults": _PAGE}
            if token:
                params["nextPageToken"] = token
            _, page, _ = self.http.request("GET", f"{API}/search/jql", params=params)
            children += (page or {}).get("issues", [])
            token = (page or {}).get("nextPageToken")
            if not token or (page or {}).get("isLast", True):
                break
        return epic or {}, children


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.casefold() == b.casefold()


def adf_to_text(node: Any) -> str:
    """Flatten an ADF document (a Jira description) to plain text, one paragraph per line."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    inner = "".join(adf_to_text(child) for child in node.get("content") or ())
    return inner + "\n" if node.get("type") in ("paragraph", "heading", "listItem") else inner


def epic_to_prd(epic: dict, children: list[dict]) -> str:
    """Render an epic and its children as a PRD-style Markdown document. Pure."""
    fields = epic.get("fields") or {}
    lines = [f"# {clean_text(str(fields.get('summary', epic.get('key', ''))), 300)}", "",
             f"Imported from Jira epic {epic.get('key', '')}.", ""]
    description = adf_to_text(fields.get("description")).strip()
    if description:
        lines += ["## Overview", "", clean_text(description), ""]
    lines += ["## Requirements", ""]
    for child in children:
        child_fields = child.get("fields") or {}
        status = (child_fields.get("status") or {}).get("name", "")
        summary = clean_text(str(child_fields.get("summary", "")), 300).replace("\n", " ")
        lines.append(f"- [{'x' if _same(status, 'Done') else ' '}] {child.get('key')}: {summary}")
        text = adf_to_text(child_fields.get("description")).strip()
        if text:
            lines += [f"  {line}" for line in clean_text(text, 2000).splitlines()]
    return "\n".join(lines).rstrip() + "\n"
