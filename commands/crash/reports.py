"""Local crash reports: finding them, checking them, and sending one on request.

Nothing here runs unless a user asks (`lokilog crash ...`). Sending happens only in
:func:`submit`, only to the endpoint the user names in ``LOKI_CRASH_ENDPOINT``, only with
telemetry on, and only for a report marked scrubbed whose payload passes the second scrub
(:func:`eventlog.redaction.scrub.validate_payload`). Its outcome is recorded as a `crash.submitted` or
`crash.submit_failed` event.
"""
from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from eventlog import EventLogError, FileEventLog, InvalidEventError
from eventlog.redaction.scrub import WHITELIST, validate_payload

from ..http_client import HttpRequestError, post_json

ENDPOINT_ENV = "LOKI_CRASH_ENDPOINT"
ISSUES_URL_ENV = "LOKI_CRASH_ISSUES_URL"
DEFAULT_ISSUES_URL = "https://github.com/asklokesh/loki-mode/issues/new"
POST_TIMEOUT = 10.0
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class CrashReportError(EventLogError):
    """No such crash report, or an id that names more than one."""


class SubmitRefusedError(EventLogError):
    """A report may not leave the machine (not scrubbed, not on the whitelist, telemetry off)."""


class SubmitFailedError(EventLogError):
    """The endpoint did not accept the report."""


@dataclass(frozen=True)
class Report:
    """One file of `.loki/crash/`: its id (the file name without .json) and its content."""

    id: str
    path: Path
    body: Any

    @property
    def payload(self) -> Any:
        """The payload with its keys in whitelist order, however the stored file orders them."""
        payload = self.body.get("payload") if isinstance(self.body, dict) else None
        if not isinstance(payload, dict):
            return payload
        ordered = {key: payload[key] for key in WHITELIST if key in payload}
        ordered.update((key, value) for key, value in payload.items() if key not in ordered)
        return ordered


def refresh(loki_dir: Path) -> None:
    """Bring the crash-report view up to the log's head."""
    from projections.crash_reports import CrashReportsProjection
    from projections.engine import catch_up

    if (Path(loki_dir) / "events").is_dir():
        catch_up(Path(loki_dir), CrashReportsProjection())


def load(loki_dir: Path) -> list[Report]:
    """Every report file in `.loki/crash/` (lokilog's and any other writer's), newest first."""
    folder = Path(loki_dir) / "crash"
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            body = None
        found.append(Report(path.stem, path, body))
    return sorted(found, key=lambda r: (_field(r, "last_seq") or 0, r.id), reverse=True)


def _field(report: Report, key: str) -> Any:
    return report.body.get(key) if isinstance(report.body, dict) else None


def find(loki_dir: Path, wanted: str) -> Report:
    """The report whose id (or fingerprint) is ``wanted`` or starts with it."""
    if not wanted:
        raise InvalidEventError("a crash report id is required (see `lokilog crash`)")
    reports = load(loki_dir)
    exact = [r for r in reports if r.id == wanted]
    matches = exact or [r for r in reports if r.id.startswith(wanted)]
    if not matches:
        raise CrashReportError(f"no crash report {wanted!r} in {Path(loki_dir) / 'crash'}")
    if len(matches) > 1:
        raise CrashReportError(f"{wanted!r} names {len(matches)} crash reports; give more of the id")
    return matches[0]


def problems(report: Report) -> list[str]:
    """Why ``report`` may not be sent (empty when it may)."""
    if not isinstance(report.body, dict):
        return ["the file is not a JSON object"]
    if report.body.get("scrubbed") is not True:
        return ["the report is not marked scrubbed"]
    return validate_payload(report.payload)


def payload_text(report: Report) -> str:
    """The payload exactly as it would be sent: canonical JSON, keys in whitelist order."""
    return json.dumps(report.payload, indent=2, ensure_ascii=False)


def issue_url(report: Report, env: Mapping[str, str] | None = None) -> str:
    """A prefilled new-issue URL carrying only the payload."""
    env = os.environ if env is None else env
    payload = report.payload
    frames = payload.get("stack_signature") or []
    title = f"Crash: {payload.get('error_class')}" + (f" in {frames[0]}" if frames else "")
    body = (f"Crash report {payload.get('fingerprint', '')[:16]} (scrubbed; this is all that was collected):\n\n"
            f"```json\n{json.dumps(payload, indent=2)}\n```\n")
    base = env.get(ISSUES_URL_ENV) or DEFAULT_ISSUES_URL
    return base + "?" + urllib.parse.urlencode({"title": title, "body": body})


def endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """The user's endpoint, checked: https, or http to this machine only."""
    env = os.environ if env is None else env
    url = (env.get(ENDPOINT_ENV) or "").strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        if parts.hostname:
            return url
    raise InvalidEventError(f"{ENDPOINT_ENV} must be an https:// URL (http:// only to this machine)")


def submit(loki_dir: Path, report: Report, url: str, timeout: float = POST_TIMEOUT) -> int:
    """POST the payload to ``url``; record the outcome as an event; return the HTTP status."""
    if problems(report):
        raise SubmitRefusedError(f"refusing to send {report.id}: " + "; ".join(problems(report)))
    host = urllib.parse.urlsplit(url).hostname
    try:
        # The core's client never follows a redirect: one could carry the report to a host the
        # user never named, so a 3xx is a refusal like any other status outside 2xx.
        answer = post_json(url, report.payload, headers={"User-Agent": "lokilog-crash"}, timeout=timeout,
                           max_body=65536)
    except HttpRequestError as error:
        _record(loki_dir, "submit_failed", report, host, error=error.kind)
        raise SubmitFailedError(f"could not reach {host}: {error.reason}") from None
    if not answer.ok:
        _record(loki_dir, "submit_failed", report, host, status=answer.status)
        raise SubmitFailedError(f"{host} refused the report: HTTP {answer.status}")
    _record(loki_dir, "submitted", report, host, status=answer.status)
    return answer.status


def _record(loki_dir: Path, action: str, report: Report, host: str | None, **outcome: Any) -> None:
    # Only the host is recorded: a URL's path or query may hold a token.
    with FileEventLog(loki_dir) as log:
        log.append("crash", "cli", {"action": action, "report_id": report.id,
                                    "fingerprint": report.payload.get("fingerprint"), "endpoint_host": host,
                                    **outcome})
