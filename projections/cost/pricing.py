"""Token prices and exact money. Pure: no I/O, no floats.

Prices are USD per million tokens, kept as ``Decimal``. A price that is not known stays
``None`` and makes the cost it touches "unknown": the reference system summed unknown cost to
$0.00, which hid real spend. The defaults below are public list prices of common models; they
are defaults to override (``cost.prices`` in `.loki/config.yaml`), not a billing source.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any, Mapping

from eventlog import InvalidEventError

MILLION = Decimal(1_000_000)
CENT = Decimal("0.01")

#: Token kinds, in the order a tally stores them.
KINDS = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True)
class Price:
    """USD per million tokens of each kind; None where the price is not known."""

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    def of(self, kind: str) -> Decimal | None:
        return getattr(self, kind)


def _p(i: str, o: str, cr: str, cw: str) -> Price:
    return Price(Decimal(i), Decimal(o), Decimal(cr), Decimal(cw))


#: Public list prices (USD per million tokens: input, output, cache read, cache write).
#: Anthropic cache writes are the 5-minute rate; OpenAI and Google do not charge extra for
#: writing the cache, so their cache write is the input price.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4-5": _p("5", "25", "0.50", "6.25"),
    "claude-opus-4-1": _p("15", "75", "1.50", "18.75"),
    "claude-opus-4": _p("15", "75", "1.50", "18.75"),
    "claude-sonnet-4-5": _p("3", "15", "0.30", "3.75"),
    "claude-sonnet-4": _p("3", "15", "0.30", "3.75"),
    "claude-3-7-sonnet": _p("3", "15", "0.30", "3.75"),
    "claude-3-5-sonnet": _p("3", "15", "0.30", "3.75"),
    "claude-haiku-4-5": _p("1", "5", "0.10", "1.25"),
    "claude-3-5-haiku": _p("0.80", "4", "0.08", "1"),
    "claude-3-opus": _p("15", "75", "1.50", "18.75"),
    "claude-3-haiku": _p("0.25", "1.25", "0.03", "0.30"),
    "gpt-5": _p("1.25", "10", "0.125", "1.25"),
    "gpt-5-mini": _p("0.25", "2", "0.025", "0.25"),
    "gpt-5-nano": _p("0.05", "0.40", "0.005", "0.05"),
    "gpt-4.1": _p("2", "8", "0.50", "2"),
    "gpt-4.1-mini": _p("0.40", "1.60", "0.10", "0.40"),
    "gpt-4.1-nano": _p("0.10", "0.40", "0.025", "0.10"),
    "gpt-4o": _p("2.50", "10", "1.25", "2.50"),
    "gpt-4o-mini": _p("0.15", "0.60", "0.075", "0.15"),
    "o3": _p("2", "8", "0.50", "2"),
    "o4-mini": _p("1.10", "4.40", "0.275", "1.10"),
    "o1": _p("15", "60", "7.50", "15"),
    "gemini-2.5-pro": _p("1.25", "10", "0.31", "1.25"),
    "gemini-2.5-flash": _p("0.30", "2.50", "0.075", "0.30"),
}

# Vendor spellings of one model: "anthropic/claude-sonnet-4", Bedrock's
# "anthropic.claude-sonnet-4-20250514-v1:0", Vertex's "claude-sonnet-4@20250514", dated ids.
_PREFIX = re.compile(r"^(?:[a-z0-9-]+/|anthropic\.|openai\.|us\.anthropic\.|eu\.anthropic\.)")
_SUFFIX = re.compile(r"(?:-v\d+(?::\d+)?|@\d{8}|-\d{8}|-\d{4}-\d{2}-\d{2}|-latest)$")


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name, with aliases; looks models up through their vendor spellings."""

    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    aliases: Mapping[str, str] = field(default_factory=dict)

    def lookup(self, model: str) -> Price | None:
        """Return the price of ``model``, or None when it is not known."""
        name = model.strip().lower()
        for _ in range(4):  # peel at most a few layers: prefix, -v1:0, date
            found = self._direct(name)
            if found is not None:
                return found
            shorter = _SUFFIX.sub("", _PREFIX.sub("", name))
            if shorter == name:
                return None
            name = shorter
        return None

    def _direct(self, name: str) -> Price | None:
        target = self.aliases.get(name, name)
        return self.prices.get(target)


def cost_of(price: Price | None, tokens: Mapping[str, int]) -> tuple[Decimal, tuple[str, ...]]:
    """Return the exact USD cost of the priced token counts, and the kinds used but unpriced."""
    if price is None:
        return Decimal(0), tuple(kind for kind in KINDS if tokens.get(kind))
    total, unpriced = Decimal(0), []
    with localcontext() as ctx:
        ctx.prec = 60  # exact for any realistic count: no rounding happens at all
        for kind in KINDS:
            count = tokens.get(kind, 0)
            if not count:
                continue
            unit = price.of(kind)
            if unit is None:
                unpriced.append(kind)
            else:
                total += count * unit
        return total / MILLION, tuple(unpriced)


def parse_price_table(config: Mapping[str, Any] | None) -> PriceTable:
    """Build the price table from the ``cost`` section of config.yaml (defaults overridden)."""
    section = (config or {}).get("cost") or {}
    if not isinstance(section, Mapping):
        raise InvalidEventError("config.yaml: `cost` must be a mapping")
    prices = dict(DEFAULT_PRICES)
    overrides = section.get("prices") or {}
    if not isinstance(overrides, Mapping):
        raise InvalidEventError("config.yaml: `cost.prices` must map model names to prices")
    for model, entry in overrides.items():
        prices[str(model).lower()] = _parse_price(str(model), entry)
    aliases = section.get("aliases") or {}
    if not isinstance(aliases, Mapping):
        raise InvalidEventError("config.yaml: `cost.aliases` must map names to model names")
    return PriceTable(prices, {str(k).lower(): str(v).lower() for k, v in aliases.items()})


def _parse_price(model: str, entry: Any) -> Price:
    if not isinstance(entry, Mapping):
        raise InvalidEventError(f"config.yaml: price of {model!r} must be a mapping of input/output/cache_read/cache_write")
    unknown = set(entry) - set(KINDS)
    if unknown:
        raise InvalidEventError(f"config.yaml: price of {model!r} has unknown keys {sorted(unknown)}; use {list(KINDS)}")
    return Price(**{kind: _decimal(model, kind, entry.get(kind)) for kind in KINDS})


def _decimal(model: str, kind: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidEventError(f"config.yaml: {model}.{kind} must be a number, not {value!r}")
    try:
        # str() first: a YAML float such as 0.3 becomes Decimal("0.3"), not its binary value.
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidEventError(f"config.yaml: {model}.{kind} must be a number, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise InvalidEventError(f"config.yaml: {model}.{kind} must be a non-negative number, not {value!r}")
    return number


def format_usd(amount: Decimal | None, unknown_events: int = 0, events: int = 0) -> str:
    """Render money for people: "$1.23", "unknown", or "≥$1.23 (+2 unknown)" when partly known."""
    if amount is None or (events and unknown_events >= events):
        return "unknown"
    shown = f"${amount.quantize(CENT):,}" if amount >= CENT or amount == 0 else f"${amount:.4f}"
    return f"≥{shown} (+{unknown_events} unknown)" if unknown_events else shown
