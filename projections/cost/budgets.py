"""Token and USD budgets: parsing the `resource` policies, measuring spend, deciding alerts. Pure.

Spend only grows, so the alerts due at the head of the log are a superset of those due at any
earlier point: evaluating late, twice, or after a rebuild finds the same alerts. Each alert's
event id is derived from (budget, threshold, window) alone, so appending it is idempotent, and
the cost projection folds recorded alerts back in, so an alert already in the log is never due
again, however long ago it was written.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from eventlog import InvalidEventError, NewEvent

from .state import CostState
from .report import POSITION, Tally, breakdown
from .pricing import PriceTable

WINDOWS = {"total": (), "day": ("day",), "hour": ("hour",), "session": ("session",), "run": ("session",)}
ACTIONS = ("allow", "warn", "require_approval", "deny")
DEFAULT_ALERTS = (50, 80, 95)
PROVIDER = POSITION["provider"]

#: Spellings of one provider: Loki Mode names its CLIs (claude, codex, gemini), usage events
#: name the vendor (anthropic, openai, google).
_PROVIDER_FAMILIES = ({"anthropic", "claude"}, {"openai", "codex"}, {"google", "gemini", "vertex"})


@dataclass(frozen=True)
class Budget:
    """One limit on spend: tokens or USD, per window, optionally for some providers only."""

    name: str
    unit: str  # "tokens" or "usd"
    limit: Decimal
    alerts: tuple[int, ...] = DEFAULT_ALERTS
    on_exceed: str = "require_approval"
    providers: frozenset[str] | None = None
    window: str = "total"

    @property
    def key(self) -> str:
        """The budget's identity in alert ids: its name, plus the unit for USD limits."""
        return self.name if self.unit == "tokens" else f"{self.name}:usd"

    def applies_to(self, parts: list[str]) -> bool:
        """Whether a ledger cell (split as in ``cost_report.cells``) counts against this budget."""
        return self.providers is None or parts[PROVIDER].lower() in self.providers


@dataclass(frozen=True)
class WindowSpend:
    """Spend of one budget in one window."""

    budget: Budget
    window: str  # "total", "day:2026-02-21", "hour:2026-02-21T10", "session:<id>"
    spent: Decimal
    partial: bool  # some spend in the window could not be measured (unknown price or count)

    @property
    def percent(self) -> Decimal:
        return self.spent * 100 / self.budget.limit

    @property
    def remaining_percent(self) -> Decimal:
        return max(Decimal(0), 100 - self.percent)

    @property
    def exceeded(self) -> bool:
        return self.spent > self.budget.limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget.name, "unit": self.budget.unit, "window": self.window,
            "limit": str(self.budget.limit), "spent": str(self.spent),
            "percent": str(self.percent.quantize(Decimal("0.01"))),
            "remaining_percent": str(self.remaining_percent.quantize(Decimal("0.01"))),
            "exceeded": self.exceeded, "partial": self.partial, "on_exceed": self.budget.on_exceed,
        }


def parse_budgets(policies: Mapping[str, Any] | None) -> list[Budget]:
    """Read budgets from a policies document (`policies.resource`, or a top-level `resource`)."""
    doc = policies or {}
    section = doc.get("policies", doc) if isinstance(doc, Mapping) else None
    if not isinstance(section, Mapping):
        raise InvalidEventError("policies: expected a mapping with a `policies` section")
    rules = section.get("resource") or []
    if not isinstance(rules, list):
        raise InvalidEventError("policies: `resource` must be a list of rules")
    budgets: list[Budget] = []
    for position, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise InvalidEventError(f"policies: resource[{position}] must be a mapping")
        budgets += _rule_budgets(position, rule)
    keys = [b.key for b in budgets]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InvalidEventError(f"policies: budget names must be unique, repeated: {duplicates}")
    return budgets


def _rule_budgets(position: int, rule: Mapping[str, Any]) -> list[Budget]:
    where = f"policies: resource[{position}]"
    limits = [("tokens", rule.get("max_tokens")), ("usd", rule.get("max_usd"))]
    limits = [(unit, value) for unit, value in limits if value is not None]
    if not limits:
        return []  # another kind of resource rule (the policy engine's), not a budget
    name = rule.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidEventError(f"{where}: a budget needs a `name`")
    common = dict(
        alerts=_alerts(where, rule.get("alerts", list(DEFAULT_ALERTS))),
        on_exceed=_choice(where, "on_exceed", rule.get("on_exceed", "require_approval"), ACTIONS),
        providers=_providers(where, rule.get("providers")),
        window=_choice(where, "window", rule.get("window", "total"), tuple(WINDOWS)),
    )
    return [Budget(name, unit, _limit(where, unit, value), **common) for unit, value in limits]


def _limit(where: str, unit: str, value: Any) -> Decimal:
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number <= 0 or (unit == "tokens" and number != int(number)):
        field = "max_tokens" if unit == "tokens" else "max_usd"
        raise InvalidEventError(f"{where}: {field} must be a positive {'whole ' if unit == 'tokens' else ''}number, not {value!r}")
    return number


def _alerts(where: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100 for v in value):
        raise InvalidEventError(f"{where}: alerts must be a list of whole percentages 1-100, not {value!r}")
    return tuple(sorted(set(value)))


def _choice(where: str, field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidEventError(f"{where}: {field} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _providers(where: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidEventError(f"{where}: providers must be a list of names, not {value!r}")
    names: set[str] = set()
    for provider in value:
        lowered = provider.lower()
        names |= next((f for f in _PROVIDER_FAMILIES if lowered in f), {lowered})
    return frozenset(names)


def spend(state: CostState, prices: PriceTable, budget: Budget) -> list[WindowSpend]:
    """Measure a budget's spend in every window that has usage, oldest window first."""
    by = WINDOWS[budget.window]
    found = []
    for tally in breakdown(state, prices, by, keep=budget.applies_to):
        window = "total" if not by else f"{by[0]}:{tally.key[0]}"
        found.append(WindowSpend(budget, window, *_amount(budget, tally)))
    return found or [WindowSpend(budget, "total" if not by else f"{by[0]}:none", Decimal(0), False)]


def _amount(budget: Budget, tally: Tally) -> tuple[Decimal, bool]:
    if budget.unit == "tokens":
        return Decimal(tally.tokens), tally.incomplete > 0
    return tally.usd, tally.unknown_events > 0


def current(spends: list[WindowSpend]) -> WindowSpend:
    """The window a person cares about now: the latest one (by window key)."""
    return max(spends, key=lambda s: s.window)


def alert_id(budget: Budget, threshold: int | str, window: str) -> str:
    """The deterministic event id of an alert: one per budget, threshold and window, ever."""
    digest = hashlib.sha256(f"{budget.key}\x1f{threshold}\x1f{window}".encode()).hexdigest()
    return f"cost-{digest[:32]}"


def due_events(state: CostState, prices: PriceTable, budgets: Iterable[Budget]) -> list[NewEvent]:
    """Return the `cost.alert` and `cost.budget_exceeded` events not yet recorded, in a stable order."""
    due: list[NewEvent] = []
    for budget in budgets:
        for window in spend(state, prices, budget):
            for threshold in budget.alerts:
                if window.spent * 100 >= threshold * budget.limit:
                    due.append(_event(window, "alert", threshold))
            if window.exceeded:
                due.append(_event(window, "budget_exceeded", "exceeded"))
    return [event for event in due if event.id not in state.fired]


def _event(window: WindowSpend, action: str, threshold: int | str) -> NewEvent:
    budget = window.budget
    payload: dict[str, Any] = {
        "action": action, "budget": budget.name, "unit": budget.unit, "window": window.window,
        "limit": str(budget.limit), "spent": str(window.spent),
        "percent": str(window.percent.quantize(Decimal("0.01"))), "partial": window.partial,
    }
    if action == "alert":
        payload["threshold"] = threshold
    else:
        payload["on_exceed"] = budget.on_exceed
    if budget.providers is not None:
        payload["providers"] = sorted(budget.providers)
    return NewEvent(type="cost", source="cost", payload=payload, id=alert_id(budget, threshold, window.window))
