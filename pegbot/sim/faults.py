"""Faults the simulator can inject, set from config at start and changed at runtime.

* ``rest_fail_rate`` of REST calls fail: ``5xx`` answers HTTP 503 with Binance's -1001 body
  before doing anything; ``timeout`` executes the request and then stalls the reply for
  ``rest_timeout_s``, so the client times out with the execution status unknown.
* ``wsapi_fail_rate`` of the WebSocket API's order requests (place, cancel, cancel-replace,
  cancel-all) fail the same two ways: ``5xx`` answers status 503 with -1001 without doing
  anything; ``timeout`` executes the request and never answers it.
* ``cancel_fail_rate`` of single-order cancels and cancel-replaces, over either API, answer
  HTTP/status 503 with -1001 without doing anything: the order stays on the book (an exchange
  under load refusing cancels, which a bot must survive without stacking a second ladder).
  Cancel-all is not refused, so a shutdown can still clear the book.
* ``ws_delay_ms`` delays every WebSocket message; ``ws_reorder`` swaps neighbouring messages.
* ``clock_skew_ms`` shifts the server clock (``serverTime``, the recvWindow check, event times).
* Dropping connections, skipping update ids and halting a symbol are actions, not states: see
  :mod:`pegbot.sim.admin`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .config import FaultConfig

_FIELDS = {
    "rest_fail_rate": float,
    "rest_fail_mode": str,
    "rest_timeout_s": float,
    "wsapi_fail_rate": float,
    "wsapi_fail_mode": str,
    "cancel_fail_rate": float,
    "ws_delay_ms": int,
    "ws_reorder": bool,
    "clock_skew_ms": int,
}


@dataclass
class Faults:
    """The live fault settings."""

    rest_fail_rate: float = 0.0
    rest_fail_mode: str = "5xx"
    rest_timeout_s: float = 15.0
    wsapi_fail_rate: float = 0.0
    wsapi_fail_mode: str = "5xx"
    cancel_fail_rate: float = 0.0
    ws_delay_ms: int = 0
    ws_reorder: bool = False
    clock_skew_ms: int = 0
    rng: random.Random = field(default_factory=random.Random)
    injected: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: FaultConfig) -> Faults:
        """Start from the configuration."""
        return cls(
            rest_fail_rate=cfg.rest_fail_rate,
            rest_fail_mode=cfg.rest_fail_mode,
            rest_timeout_s=cfg.rest_timeout_s,
            wsapi_fail_rate=cfg.wsapi_fail_rate,
            wsapi_fail_mode=cfg.wsapi_fail_mode,
            cancel_fail_rate=cfg.cancel_fail_rate,
            ws_delay_ms=cfg.ws_delay_ms,
            ws_reorder=cfg.ws_reorder,
            clock_skew_ms=cfg.clock_skew_ms,
            rng=random.Random(cfg.seed),
        )

    def update(self, changes: dict[str, Any]) -> None:
        """Change settings by name; unknown names or bad values raise ``ValueError``."""
        for name, value in changes.items():
            kind = _FIELDS.get(name)
            if kind is None:
                raise ValueError(f"unknown fault {name!r}; known: {sorted(_FIELDS)}")
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            converted = kind(value)
            if (
                name in ("rest_fail_rate", "wsapi_fail_rate", "cancel_fail_rate")
                and not 0 <= converted <= 1
            ):
                raise ValueError(f"{name} must be within 0..1")
            if name in ("rest_fail_mode", "wsapi_fail_mode") and converted not in (
                "5xx",
                "timeout",
            ):
                raise ValueError(f"{name} must be '5xx' or 'timeout'")
            setattr(self, name, converted)

    def rest_failure(self) -> str | None:
        """Draw whether this REST call fails, and how."""
        if self.rest_fail_rate and self.rng.random() < self.rest_fail_rate:
            self.count(f"rest_{self.rest_fail_mode}")
            return self.rest_fail_mode
        return None

    def wsapi_failure(self) -> str | None:
        """Draw whether this WebSocket API order request fails, and how."""
        if self.wsapi_fail_rate and self.rng.random() < self.wsapi_fail_rate:
            self.count(f"wsapi_{self.wsapi_fail_mode}")
            return self.wsapi_fail_mode
        return None

    def cancel_failure(self) -> bool:
        """Draw whether this cancel (or cancel-replace) is refused."""
        if self.cancel_fail_rate and self.rng.random() < self.cancel_fail_rate:
            self.count("cancel_5xx")
            return True
        return False

    def count(self, what: str) -> None:
        """Count an injected fault (shown by ``GET /admin/state``)."""
        self.injected[what] = self.injected.get(what, 0) + 1

    def state(self) -> dict[str, Any]:
        """Settings and counts as JSON."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _FIELDS}
        out["injected"] = dict(self.injected)
        return out
