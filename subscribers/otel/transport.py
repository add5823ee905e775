"""POST one OTLP body, with bounded attempts, backoff and Retry-After; never longer than a deadline."""
from __future__ import annotations

import time
from typing import Callable

from eventlog.errors import EventLogError
from eventlog.retry import backoff_delay, parse_retry_after

from .settings import OtelSettings

#: Statuses retried within a batch: the OTLP/HTTP spec's retryable ones, plus 408 and 500, which
#: collectors behind proxies answer for passing trouble. Any other refusal keeps the position.
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class ExportError(EventLogError):
    """A batch was not accepted by the collector; ``dropped`` when retrying cannot help (HTTP 400)."""

    def __init__(self, message: str, *, dropped: bool = False) -> None:
        super().__init__(message)
        self.dropped = dropped


class OtlpSender:
    """Sends request bodies to a collector; one instance per exporter (it keeps a connection pool)."""

    def __init__(self, settings: OtelSettings, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import httpx

        self._httpx = httpx
        self.settings = settings
        self._sleep, self._clock = sleep, clock
        self._client = httpx.Client(
            headers={"User-Agent": "lokilog", **settings.headers, "Content-Type": settings.content_type},
            timeout=httpx.Timeout(settings.timeout), follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def send(self, url: str, body: bytes) -> None:
        """Deliver ``body``; raise ExportError once the attempts or the deadline are used up."""
        deadline = self._clock() + self.settings.deadline
        problem = "no attempt made"
        for attempt in range(self.settings.attempts):
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            retry_after = None
            try:
                response = self._client.post(url, content=body, timeout=min(self.settings.timeout, remaining))
            except self._httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code == 400:
                    raise ExportError(f"{url}: the collector refused the batch ({problem}: "
                                      f"{response.text[:200]})", dropped=True)
                if response.status_code not in RETRYABLE:
                    raise ExportError(f"{url}: {problem}")
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            if attempt + 1 < self.settings.attempts:
                delay = backoff_delay(attempt, 0.25, 5.0, retry_after)
                if self._clock() + delay >= deadline:
                    break
                self._sleep(delay)
        raise ExportError(f"{url}: not delivered ({problem})")
