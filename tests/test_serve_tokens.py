"""Tokens (hashing, scopes, rotation, the config.yaml section) and rate limits: pure, plus the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from commands.serve.ratelimit import Limiter, Rate
from commands.serve.token_store import TokenStore, replace_section
from commands.serve.tokens import TokenError, grant, match, mint, records_from_env, rotate
from tests.conftest import REPO, run_lokilog, subprocess_env


def test_a_token_matches_only_its_own_record_and_is_stored_as_a_digest():
    a, b = mint("a", ["read"]), mint("b", ["control"])
    assert match(a.token, [a.record, b.record]) == a.record
    assert match(b.token, [a.record, b.record]) == b.record
    assert match(a.token[:-1] + "x", [a.record, b.record]) is None
    assert a.token not in json.dumps(a.record.to_dict()) and a.record.hash.startswith("sha256:")


def test_control_implies_read_but_not_audit():
    assert grant(["control"]) == {"control", "read"}
    assert grant(["audit"]) == {"audit"}
    with pytest.raises(TokenError, match="unknown scope"):
        mint("x", ["root"])


def test_expired_tokens_and_rotation_grace():
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    old = mint("ci", ["read"], expires_at="2026-02-01T00:00:00Z")
    assert match(old.token, [old.record], now=now) is None
    live = mint("ci", ["read"], now=now)
    new = rotate(live.record, 3600, now=now)
    assert match(new.token, [new.record], now=now) == new.record
    assert match(live.token, [new.record], now=now + timedelta(minutes=59)) == new.record
    assert match(live.token, [new.record], now=now + timedelta(minutes=61)) is None
    assert match(live.token, [rotate(live.record, 0, now=now).record], now=now) is None


def test_environment_tokens_are_hashed_on_reading():
    (record,) = records_from_env("control+audit:0123456789abcdefXYZ")
    assert record.granted == {"control", "read", "audit"} and "0123456789" not in record.hash
    assert match("0123456789abcdefXYZ", [record]) == record
    with pytest.raises(TokenError, match="at least 16"):
        records_from_env("read:short")


def test_the_serve_section_is_replaced_and_every_other_line_kept():
    text = "# prices\ncost:\n  prices: {}  # keep me\nserve:\n  tokens: []\n# trackers next\ntrackers:\n  a: 1\n"
    out = replace_section(text, "serve", {"tokens": [{"id": "x"}]})
    assert out.startswith("# prices\ncost:\n  prices: {}  # keep me\nserve:\n  tokens:\n  - id: x\n")
    assert out.endswith("# trackers next\ntrackers:\n  a: 1\n")
    assert replace_section("cost: 1", "serve", {}) == "cost: 1\nserve: {}\n"


def test_store_create_rotate_revoke_keeps_other_sections(loki):
    loki.mkdir(parents=True)
    (loki / "config.yaml").write_text("cost:\n  prices: {}   # my prices\n")
    store = TokenStore(loki, env={})
    minted = store.create("ci", ["control"])
    text = (loki / "config.yaml").read_text()
    assert "# my prices" in text and minted.token not in text and minted.record.hash in text
    assert match(minted.token, store.all()) is not None
    rotated = store.rotate("ci", 0)
    assert match(minted.token, store.all()) is None and match(rotated.token, store.all()) is not None
    store.revoke("ci")
    assert store.configured() == []
    actions = [json.loads(l)["payload"]["action"] for l in (loki / "events" / "log").glob("*.jsonl").__next__().read_text().splitlines()]
    assert actions == ["created", "rotated", "revoked"]


def test_token_cli_prints_the_token_once_and_lists_without_secrets(loki):
    created = run_lokilog("token", "create", "--scope", "read", "--scope", "audit", "--name", "auditor", loki=loki)
    assert created.returncode == 0 and created.stdout.startswith("lkl_")
    listed = run_lokilog("token", "list", "--json", loki=loki)
    (row,) = json.loads(listed.stdout)
    assert row["scopes"] == ["read", "audit"] and created.stdout.strip() not in listed.stdout
    bad = run_lokilog("token", "create", "--scope", "root", loki=loki)
    assert bad.returncode == 2 and "unknown scope" in bad.stderr


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=80),
       st.floats(min_value=0.5, max_value=50), st.integers(min_value=1, max_value=20))
def test_a_bucket_never_admits_more_than_burst_plus_rate_times_elapsed(gaps, rate, burst):
    limiter = Limiter(Rate(rate, burst))
    now, admitted = 0.0, 0
    for gap in gaps:
        now += gap
        admitted += limiter.allow("k", now) == 0
    assert admitted <= burst + rate * now + 1e-6
    assert Limiter(Rate(rate, burst)).allow("fresh", 0.0) == 0


def test_the_limiter_table_is_bounded():
    limiter = Limiter(Rate(1, 1), max_keys=50)
    for n in range(500):
        limiter.allow(f"client-{n}", 0.0)
    assert len(limiter._buckets) <= 50


def test_other_commands_never_import_the_serve_extra():
    code = ("import sys, commands.cli; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('fastapi', 'uvicorn', 'sse_starlette', 'starlette', 'pydantic')]; print(bad); assert not bad")
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_serve_without_the_extra_names_the_extra(loki):
    code = ("import sys; sys.modules['fastapi'] = None; sys.argv = ['lokilog', 'serve']; "
            "from commands.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(LOKI_DIR=str(loki)), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "pip install 'lokilog[serve]'" in done.stderr
