"""Data residency: which model providers and regions a run may use; air-gapped mode allows none remote.

The decision is pure (:func:`check_provider`); reading the policy and recording violations as
events are the edges. Policy is fail-closed: a provider not allowed, or any remote provider
when air-gapped, is a violation.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from eventlog import Event, InvalidEventError, NewEvent

#: Providers that run on the machine itself: the only ones an air-gapped run may use.
LOCAL_PROVIDERS = frozenset({"local", "ollama", "llamacpp", "llama.cpp", "lmstudio", "vllm-local"})
POLICY_FILE = "residency.json"


class ResidencyPolicy(msgspec.Struct, kw_only=True, frozen=True):
    """Allowed providers and regions (empty: any), and whether the machine is air-gapped."""

    allowed_providers: tuple[str, ...] = ()
    allowed_regions: tuple[str, ...] = ()
    air_gapped: bool = False


@dataclass(frozen=True)
class ResidencyDecision:
    provider: str
    region: str | None
    allowed: bool
    reason: str
    seqs: list[int] = field(default_factory=list)


def check_provider(provider: str, region: str | None = None, policy: ResidencyPolicy | None = None) -> ResidencyDecision:
    """Decide whether ``provider`` (in ``region``) may be used under ``policy``."""
    policy = policy or ResidencyPolicy()
    name = (provider or "").strip().lower()
    if not name:
        return ResidencyDecision(provider, region, False, "no provider named (fail closed)")
    local = name in LOCAL_PROVIDERS
    if policy.air_gapped and not local:
        return ResidencyDecision(provider, region, False, "air-gapped mode: remote providers are not allowed")
    allowed = {p.lower() for p in policy.allowed_providers}
    if allowed and name not in allowed:
        return ResidencyDecision(provider, region, False, f"provider not in allowed providers {sorted(allowed)}")
    regions = {r.lower() for r in policy.allowed_regions}
    if regions and not local:
        if not region:
            return ResidencyDecision(provider, region, False, "region unknown and regions are restricted (fail closed)")
        if region.lower() not in regions:
            return ResidencyDecision(provider, region, False, f"region not in allowed regions {sorted(regions)}")
    return ResidencyDecision(provider, region, True, "local provider" if local else "allowed by policy")


def load_policy(loki_dir: Path, env: Mapping[str, str] | None = None) -> ResidencyPolicy:
    """Read `.loki/residency.json`, overridden by LOKI_RESIDENCY_PROVIDERS/_REGIONS and LOKI_AIR_GAPPED."""
    env = os.environ if env is None else env
    path = Path(loki_dir) / POLICY_FILE
    try:
        policy = msgspec.json.decode(path.read_bytes(), type=ResidencyPolicy)
    except FileNotFoundError:
        policy = ResidencyPolicy()
    except msgspec.DecodeError as exc:
        raise InvalidEventError(f"{path}: {exc}") from None
    split = lambda text: tuple(p.strip() for p in text.split(",") if p.strip())
    changes = {}
    if env.get("LOKI_RESIDENCY_PROVIDERS"):
        changes["allowed_providers"] = split(env["LOKI_RESIDENCY_PROVIDERS"])
    if env.get("LOKI_RESIDENCY_REGIONS"):
        changes["allowed_regions"] = split(env["LOKI_RESIDENCY_REGIONS"])
    if env.get("LOKI_AIR_GAPPED", "").strip().lower() in ("1", "true", "yes", "on"):
        changes["air_gapped"] = True
    return msgspec.structs.replace(policy, **changes) if changes else policy


def providers_used(events: Iterable[Event]) -> dict[tuple[str, str | None], list[int]]:
    """Collect every (provider, region) the log names in a payload, with the seqs naming it."""
    used: dict[tuple[str, str | None], list[int]] = {}
    for event in events:
        provider = event.payload.get("provider")
        if isinstance(provider, str) and provider and event.type != "residency":
            region = event.payload.get("region")
            used.setdefault((provider, region if isinstance(region, str) else None), []).append(event.seq)
    return used


def violation_event(decision: ResidencyDecision, seq: int | None = None) -> NewEvent:
    """The `residency.violation` event for a decision; its id is derived so re-checking never duplicates it."""
    key = f"{seq}|{decision.provider}|{decision.region}|{decision.reason}".encode()
    payload = {"action": "violation", "provider": decision.provider, "region": decision.region,
               "reason": decision.reason}
    if seq is not None:
        payload["seq"] = seq
    return NewEvent(type="residency", source="cli", payload=payload,
                    id="residency-" + hashlib.sha256(key).hexdigest()[:32])
