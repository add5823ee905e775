"""The cost ledger: exact money, unknown never $0, cache tokens counted, each usage counted once."""
from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import Event, FileEventLog, InvalidEventError
from projections.base import project
from projections.cost import CostProjection, CostState
from projections.cost.config import load_prices
from projections.cost.report import breakdown, total
from projections.engine import catch_up
from projections.cost.pricing import DEFAULT_PRICES, PriceTable, format_usd

from conftest import run_lokilog

SONNET = DEFAULT_PRICES["claude-sonnet-4"]


def usage(seq: int, event_id: str | None = None, ts: str = "2026-02-21T10:00:00.000Z", **payload) -> Event:
    body = {"action": "token_usage", "model": "claude-sonnet-4", "provider": "anthropic",
            "input_tokens": 1000, "output_tokens": 100, "agent_type": "engineer",
            "task_id": "t1", "session_id": "s1", **payload}
    body = {k: v for k, v in body.items() if v is not None}
    return Event(seq=seq, id=event_id or f"u{seq}", type="metric", source="runner", timestamp=ts,
                 version="1.0", payload=body)


def fold(*events: Event) -> CostState:
    return project(CostProjection(), events)


def test_money_is_exact_decimal_and_counts_cache_tokens():
    state = fold(usage(1, input_tokens=12000, output_tokens=3400, cache_read_tokens=8000, cache_write_tokens=1500))
    tally = total(state, PriceTable())
    assert isinstance(tally.usd, Decimal)
    # 12000*3 + 3400*15 + 8000*0.30 + 1500*3.75 per million: the cache is 8 025 of 95 025 micro-dollars
    assert tally.usd == Decimal("0.095025")
    assert tally.cache_read == 8000 and tally.cache_write == 1500 and tally.tokens == 24900


def test_unknown_price_is_unknown_not_zero():
    state = fold(usage(1, model="mystery-model-9"))
    tally = total(state, PriceTable())
    assert tally.unknown_events == 1 and not tally.usd_known
    assert tally.to_dict(())["usd"] is None
    assert format_usd(tally.usd, tally.unknown_events, tally.events) == "unknown"


def test_missing_token_count_makes_cost_unknown_but_keeps_known_tokens():
    state = fold(usage(1, output_tokens=None), usage(2))
    tally = total(state, PriceTable())
    assert tally.incomplete == 1 and tally.unknown_events == 1 and tally.events == 2
    assert tally.input == 2000 and tally.output == 100
    assert format_usd(tally.usd, tally.unknown_events, tally.events).startswith("≥$")


@pytest.mark.parametrize("bad", [-5, "lots", True, 1.5, {"n": 1}])
def test_malformed_token_counts_are_incomplete(bad):
    tally = total(fold(usage(1, input_tokens=bad)), PriceTable())
    assert tally.incomplete == 1 and tally.input == 0


def test_integral_floats_and_digit_strings_count_like_integers():
    # TypeScript writers send 10.0 where Python sends 10: the same count either way.
    a = total(fold(usage(1, input_tokens=10.0, output_tokens="20")), PriceTable())
    b = total(fold(usage(1, input_tokens=10, output_tokens=20)), PriceTable())
    assert (a.input, a.output, a.usd, a.incomplete) == (b.input, b.output, b.usd, 0)


def test_api_spellings_of_cache_fields_are_counted():
    state = fold(usage(1, cache_read_input_tokens=700, cache_creation_input_tokens=300))
    tally = total(state, PriceTable())
    assert (tally.cache_read, tally.cache_write) == (700, 300)


def test_a_usage_event_is_counted_once_per_id():
    once = fold(usage(1, "same"))
    replayed = fold(usage(1, "same"), usage(2, "same"), usage(3, "other"))
    assert total(once, PriceTable()).events == 1
    assert total(replayed, PriceTable()).events == 2


def test_vendor_spellings_of_a_model_find_its_price():
    table = PriceTable()
    for name in ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4", "claude-sonnet-4@20250514",
                 "anthropic.claude-sonnet-4-20250514-v1:0", "CLAUDE-SONNET-4"):
        assert table.lookup(name) == SONNET, name
    assert table.lookup("gpt-4o-mini") == DEFAULT_PRICES["gpt-4o-mini"]
    assert table.lookup("claude-sonnet-9") is None


def test_config_overrides_prices_exactly(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "cost:\n  prices:\n    house-model: {input: 0.1, output: 0.3}\n  aliases:\n    sonnet: claude-sonnet-4\n")
    table = load_prices(tmp_path)
    assert table.lookup("house-model").input == Decimal("0.1")  # not 0.1000000000000000055...
    assert table.lookup("sonnet") == SONNET
    state = fold(usage(1, model="house-model", input_tokens=3, output_tokens=7),
                 usage(2, model="house-model", cache_read_tokens=5))
    tally = total(state, table)
    # The second event has cache reads but no cache price: its cost is unknown, not free.
    assert tally.unknown_events == 1
    # Priced tokens still count, as a lower bound: 1003 * 0.1 + 107 * 0.3 per million.
    assert tally.usd == Decimal("0.0001324")


@pytest.mark.parametrize("text, message", [
    ("cost:\n  prices:\n    m: {input: -1}\n", "non-negative"),
    ("cost:\n  prices:\n    m: {inptu: 1}\n", "unknown keys"),
    ("cost:\n  prices:\n    m: 3\n", "must be a mapping"),
    ("cost: [1, 2]\n", "`cost` must be a mapping"),
])
def test_bad_price_config_is_rejected_with_the_field_named(tmp_path, text, message):
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(InvalidEventError, match=message):
        load_prices(tmp_path)


def test_breakdown_by_dimensions_and_since():
    state = fold(
        usage(1, ts="2026-02-21T09:59:59.000Z", agent_type="reviewer"),
        usage(2, ts="2026-02-21T10:00:01.000Z", model="gpt-4o", provider="openai"),
        usage(3, ts="2026-02-22T01:00:00+02:00"),  # 2026-02-21T23 UTC
    )
    table = PriceTable()
    by_agent = {t.key: t.events for t in breakdown(state, table, ("agent",))}
    assert by_agent == {("engineer",): 2, ("reviewer",): 1}
    hours = [t.key for t in breakdown(state, table, ("hour",))]
    assert hours == [("2026-02-21T09",), ("2026-02-21T10",), ("2026-02-21T23",)]
    assert [t.key for t in breakdown(state, table, ("provider",), since_hour="2026-02-21T10")] == [("anthropic",), ("openai",)]
    assert total(state, table, since_hour="2026-02-21T10").events == 2


_counts = st.one_of(st.none(), st.integers(0, 10**9), st.just(-1), st.just("x"))
_usage = st.builds(
    lambda i, model, a, b, c, d, dup: usage(i, f"id{dup if dup is not None else i}", model=model,
                                            input_tokens=a, output_tokens=b, cache_read_tokens=c, cache_write_tokens=d),
    st.integers(1, 10**6), st.sampled_from(["claude-sonnet-4", "gpt-4o", "claude-opus-4-5", "nobody-knows"]),
    _counts, _counts, _counts, _counts, st.one_of(st.none(), st.integers(0, 3)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_usage, max_size=30), st.integers(0, 30))
def test_resuming_equals_a_full_fold_and_money_matches_an_exact_oracle(events, cut):
    projection = CostProjection()
    full = project(projection, events)
    head = msgspec.json.decode(msgspec.json.encode(project(projection, events[:cut])), type=CostState)
    resumed = project(projection, events[cut:], head)
    canonical = msgspec.json.Encoder(order="deterministic").encode  # sets and dicts sorted
    assert canonical(resumed) == canonical(full)
    # Oracle: price each distinct id once with Fractions; unknown when anything is missing.
    table, known, unknown, seen = PriceTable(), Fraction(0), 0, set()
    for event in events:
        if event.id in seen:
            continue
        seen.add(event.id)
        price, p = table.lookup(event.payload["model"]), event.payload
        counts = [p.get(k) for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")]
        valid = [c for c in counts if c is None or (isinstance(c, int) and c >= 0)]
        if price is None or len(valid) < 4 or counts[0] is None or counts[1] is None:
            unknown += 1
        if price is None:
            continue
        units = [price.input, price.output, price.cache_read, price.cache_write]
        priced = [Fraction(c) * Fraction(u) for c, u in zip(counts, units) if isinstance(c, int) and c >= 0]
        known += sum(priced, Fraction(0)) / 1_000_000
    tally = total(full, table)
    assert tally.unknown_events == unknown
    assert Fraction(tally.usd) == known


def test_replay_and_rebuild_never_double_count(loki):
    with FileEventLog(loki) as log:
        log.append("metric", "runner", usage(0).payload, id="usage-1")
        log.append("metric", "runner", usage(0).payload, id="usage-1")  # a retried emit: one event
        log.append("metric", "runner", usage(0).payload, id="usage-2")
    first = catch_up(loki, CostProjection())
    view = (loki / "cost" / "summary.json").read_bytes()
    again = catch_up(loki, CostProjection())
    assert total(first.state, PriceTable()).events == total(again.state, PriceTable()).events == 2
    assert (loki / "cost" / "summary.json").read_bytes() == view
    assert json.loads(view)["total"]["usd"] == str(total(first.state, PriceTable()).usd)


def test_cost_cli_table_and_json(loki):
    from commands.demo import simulated_run

    with FileEventLog(loki) as log:
        log.append_many(simulated_run())
        log.append("metric", "runner", usage(0, model="mystery").payload)
    text = run_lokilog("cost", "--by", "model", loki=loki)
    assert text.returncode == 0, text.stderr
    assert "claude-sonnet-4" in text.stdout and "$0.29" in text.stdout
    assert "mystery" in text.stdout and "unknown" in text.stdout and "Spend per hour" in text.stdout
    out = run_lokilog("cost", "--by", "task", "--json", loki=loki)
    doc = json.loads(out.stdout)
    rows = {r["task"]: r for r in doc["rows"]}
    assert rows["task-001"]["usd"] == "0.095025"
    assert doc["total"]["unknown_cost_events"] == 1 and doc["total"]["usd_complete"] is False
    bad = run_lokilog("cost", "--by", "colour", loki=loki)
    assert bad.returncode == 2 and "choose from" in bad.stderr
    bad = run_lokilog("cost", "--since", "yesterday-ish", loki=loki)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_cost_since_relative_and_absolute(loki):
    from commands.cost_cli import _since_hour
    from datetime import datetime, timezone

    now = datetime(2026, 2, 21, 10, 30, tzinfo=timezone.utc)
    assert _since_hour("90m", now) == "2026-02-21T09"
    assert _since_hour("1d", now) == "2026-02-20T10"
    assert _since_hour("2026-02-21T08:15:00+01:00") == "2026-02-21T07"


def test_odd_labels_keep_their_cell_shape():
    events = (usage(1, task_id=7, agent_type="a\x1fb", session_id=""), usage(2, ts="2026-02-21 10:30:00Z"),
              usage(3, task_id="x\x1fy"))
    detailed = project(CostProjection(detailed=True), events)
    rows = {t.key: t.events for t in breakdown(detailed, PriceTable(), ("task", "agent", "session", "hour"))}
    assert rows == {("7", "a b", "unknown", "2026-02-21T10"): 1, ("t1", "engineer", "s1", "2026-02-21T10"): 1,
                    ("x y", "engineer", "s1", "2026-02-21T10"): 1}
    rows = {t.key: t.events for t in breakdown(fold(*events), PriceTable(), ("task", "model"))}
    assert rows == {("7", "claude-sonnet-4"): 1, ("t1", "claude-sonnet-4"): 1, ("x y", "claude-sonnet-4"): 1}
