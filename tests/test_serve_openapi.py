"""docs/openapi.json is the app's generated document; schemathesis fuzzes a real server against it."""
from __future__ import annotations

import json

import pytest

from commands.serve.openapi import DOC, render
from tests.serve_helpers import bearer, create_token, make_demo, running_server

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402


def test_the_committed_document_is_the_generated_one():
    assert DOC.read_text(encoding="utf-8") == render(), \
        "docs/openapi.json is stale: run `python -m commands.serve.openapi`"
    paths = json.loads(DOC.read_text())["paths"]
    assert {"/api/events", "/api/events/stream", "/api/checkpoints/{checkpoint_id}/rollback", "/api/v2/runs"} <= set(paths)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    loki = make_demo(tmp_path_factory.mktemp("fuzz-demo"))
    token = create_token(loki, "control", "audit", name="fuzzer")
    # The fuzzer is one client sending fast: lift the rate limits, keep everything else.
    with running_server(loki, LOKILOG_SERVE_RATE_TOKEN="100000/100000",
                       LOKILOG_SERVE_RATE_CLIENT="100000/100000") as server:
        yield server, token


@schemathesis.check
def no_server_error(ctx, response, case):
    """Like not_a_server_error, except 501: the documented answer of routes the log cannot back."""
    if response.status_code >= 500 and response.status_code != 501:
        raise AssertionError(f"{case.method} {case.path}: {response.status_code} {response.text[:300]}")


schema = schemathesis.openapi.from_path(str(DOC)).exclude(path="/api/events/stream")


@schema.parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_route_fails_or_answers_off_schema(case, live):
    server, token = live
    case.call_and_validate(base_url=server.url, headers=bearer(token), timeout=30,
                           checks=[no_server_error, response_schema_conformance])
