"""Emulator settings: limits, OAuth client, token lifetimes and fault switches."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from kommo_analytics.errors import EmulatorError

SCALES: tuple[str, ...] = ("small", "medium", "large")


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (use e.g. 50ms or 2s)")
    value = float(match.group(1))
    return value * 1000 if match.group(2) == "s" else value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(f"{text!r} is not a rate between 0 and 1")
    return value


@dataclass(frozen=True)
class FaultSpec:
    """Fault switches. Random choices are drawn from a generator seeded by the emulator seed and
    the request's arrival number, so the same request sequence meets the same faults."""

    latency_ms: float = 0.0  # added to every request
    jitter_ms: float = 0.0  # plus uniform 0..jitter
    error_rate: float = 0.0  # share of requests answered 500/502/503/504
    burst_429_rate: float = 0.0  # share of requests that start a burst of 429s
    burst_429_length: int = 5  # requests in one burst
    drop_rate: float = 0.0  # share of connections closed before the body is complete
    truncate_rate: float = 0.0  # share of 200 bodies cut short (invalid JSON)
    expire_tokens_after: int | None = None  # every issued access token dies after N requests
    slow_page_rate: float = 0.0  # share of requests delayed by slow_page_ms
    slow_page_ms: float = 2000.0

    SYNTAX = (
        "comma-separated key=value: latency=50ms, jitter=20ms, 5xx=0.05, 429burst=0.02, "
        "429burst_len=5, drop=0.01, truncate=0.01, expire_tokens_after=300, slow=0.05, slow_ms=2s"
    )

    @property
    def any(self) -> bool:
        return self != FaultSpec()

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        if not spec or spec.strip() in ("", "none"):
            return cls()
        keys: dict[str, tuple[str, Callable[[str], object]]] = {
            "latency": ("latency_ms", _duration_ms),
            "jitter": ("jitter_ms", _duration_ms),
            "5xx": ("error_rate", _rate),
            "429burst": ("burst_429_rate", _rate),
            "429burst_len": ("burst_429_length", int),
            "drop": ("drop_rate", _rate),
            "truncate": ("truncate_rate", _rate),
            "expire_tokens_after": ("expire_tokens_after", int),
            "slow": ("slow_page_rate", _rate),
            "slow_ms": ("slow_page_ms", _duration_ms),
        }
        values: dict[str, object] = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in keys:
                raise EmulatorError(
                    f"bad fault switch {part.strip()!r}", hint=f"--faults takes {cls.SYNTAX}"
                )
            name, convert = keys[key]
            try:
                values[name] = convert(raw.strip())
            except ValueError as exc:
                raise EmulatorError(
                    f"bad fault switch {part.strip()!r}: {exc}", hint=f"--faults takes {cls.SYNTAX}"
                ) from exc
        return cls(**values)  # type: ignore[arg-type]

    def describe(self) -> str:
        default = FaultSpec()
        changed = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return ", ".join(changed) or "none"


@dataclass(frozen=True)
class Quirks:
    """Shapes some real accounts send and others do not (docs/emulator.md, "Real shapes"), off
    by default so that the demo account stays as it was. Tests elsewhere switch them on to check
    that the client copes."""

    account_without_embedded: bool = False  # /account ignores `with=`: no `_embedded` at all
    account_without_datetime: bool = False  # /account never embeds `datetime_settings`
    pages_without_page: bool = False  # paged lists carry no `_page` number

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def parse(cls, spec: str | None) -> Quirks:
        if not spec or spec.strip() in ("", "none"):
            return cls()
        chosen = [part.strip() for part in spec.split(",") if part.strip()]
        unknown = [name for name in chosen if name not in cls.names()]
        if unknown:
            raise EmulatorError(
                f"unknown quirk {unknown[0]!r}",
                hint=f"--quirks takes a comma-separated list of: {', '.join(cls.names())}",
            )
        return cls(**dict.fromkeys(chosen, True))

    def describe(self) -> str:
        return ", ".join(name for name in self.names() if getattr(self, name)) or "none"


@dataclass(frozen=True)
class LiveConfig:
    """Live mode: the account keeps changing while it is served."""

    interval_seconds: float = 2.0  # between two batches of changes
    changes_per_tick: int = 5


@dataclass(frozen=True)
class EmulatorConfig:
    seed: int = 1
    rate_limit_per_second: float = 7.0  # Kommo's documented limit
    # After this many 429s within `block_window_seconds` the client is blocked with a sticky 403,
    # as Kommo does; None switches the block off.
    block_after_violations: int | None = 30
    block_window_seconds: float = 60.0
    access_token_ttl: int = 86400
    refresh_token_ttl: int = 90 * 86400
    auth_code_ttl: int = 20 * 60
    client_id: str = "00000000-0000-4000-8000-00000000c11e"
    client_secret: str = "emulator-client-secret"
    redirect_uri: str = "http://localhost:8501/oauth/callback"
    faults: FaultSpec = field(default_factory=FaultSpec)
    quirks: Quirks = field(default_factory=Quirks)
    live: LiveConfig | None = None
