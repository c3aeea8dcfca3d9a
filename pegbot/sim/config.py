"""Configuration of the simulated exchange: symbols, accounts, rate limits, faults, NBKR rates.

Loaded from a TOML file (``pegbot sim --config FILE``) or built in code by tests. Unknown keys
are errors. The account of :data:`DEMO_API_KEY` / :data:`DEMO_API_SECRET` exists unless the
configuration lists accounts of its own: it is the documented demo key that
``pegbot sim`` uses without ``--api-key``. It is a public test value, never a real credential.

Example::

    depth_interval_ms = 100

    [[symbols]]
    base = "KGST"
    quote = "USDT"
    tick_size = "0.00001"
    min_notional = "1"

    [[accounts]]
    api_key = "my-key"
    api_secret = "my-secret"
    balances = { KGST = "1000000", USDT = "20000" }

    [faults]
    rest_fail_rate = 0.01

    [flow]             # the crowd of --market flow (pegbot.sim.flow.FlowConfig)
    seed = 7
    [[flow.scenarios]]
    kind = "fx_step"
    at_ns = 600_000_000_000
    som_per_usd = "85"
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from pegbot.market import Market

from .flow import FlowConfig

#: The documented demo API key of the simulator (not a secret: it only works on loopback).
DEMO_API_KEY = "pegbot-demo-key-00000000000000000000000000000000000000000000000000"
#: The HMAC secret of :data:`DEMO_API_KEY`.
DEMO_API_SECRET = "pegbot-demo-secret-0000000000000000000000000000000000000000000000"
#: What the demo account starts with.
DEMO_BALANCES = {"KGST": Decimal("1000000"), "USDT": Decimal("20000")}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SymbolConfig(_Model):
    """One symbol and its filters (KGSTUSDT's real filters are not public: these are guesses)."""

    base: str = "KGST"
    quote: str = "USDT"
    tick_size: Decimal = Field(default=Decimal("0.00001"), gt=0)
    lot_size: Decimal = Field(default=Decimal("1"), gt=0)
    min_qty: Decimal = Field(default=Decimal("1"), ge=0)
    max_qty: Decimal = Field(default=Decimal("900000000"), gt=0)
    min_price: Decimal = Field(default=Decimal("0.00001"), ge=0)
    max_price: Decimal = Field(default=Decimal("1000"), ge=0)
    min_notional: Decimal = Field(default=Decimal("1"), ge=0)
    max_notional: Decimal = Field(default=Decimal("9000000"), gt=0)
    max_num_orders: int = Field(default=200, gt=0)
    #: ``amendAllowed``: order amend keep priority is enabled on the symbol.
    amend_allowed: bool = True
    #: The ``MAX_NUM_ORDER_AMENDS`` filter: amendments allowed per order.
    max_num_order_amends: int = Field(default=10, gt=0)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    status: Literal["TRADING", "HALT", "BREAK"] = "TRADING"

    @property
    def exchange_symbol(self) -> str:
        """Binance's id, ``KGSTUSDT``."""
        return f"{self.base}{self.quote}"

    def market(self) -> Market:
        """The :class:`Market` of this symbol."""
        return Market(
            symbol=f"{self.base}/{self.quote}",
            base=self.base,
            quote=self.quote,
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            min_qty=self.min_qty,
            min_notional=self.min_notional,
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
        )


class AccountConfig(_Model):
    """An API key, its secret and the balances it starts with."""

    api_key: str = Field(min_length=1)
    api_secret: SecretStr
    balances: dict[str, Decimal] = Field(default_factory=lambda: dict(DEMO_BALANCES))


class RateLimitConfig(_Model):
    """Binance's limits (``exchangeInfo.rateLimits``), enforced per client IP and per account.

    ``ban_reaction_ms``: requests arriving this soon after an IP's first 429 of the minute were
    sent before the client could read it, and count with it as one toward ``ban_after_429s``.
    """

    enabled: bool = True
    weight_per_minute: int = Field(default=6000, gt=0)
    orders_per_10s: int = Field(default=100, gt=0)
    orders_per_day: int = Field(default=200000, gt=0)
    raw_requests_per_5m: int = Field(default=300000, gt=0)
    ban_after_429s: int = Field(default=3, ge=1)
    ban_reaction_ms: int = Field(default=50, ge=0)
    ban_seconds: int = Field(default=120, ge=1)


class FaultConfig(_Model):
    """Faults active from start-up (all can be changed at runtime through ``/admin/faults``)."""

    rest_fail_rate: float = Field(default=0.0, ge=0, le=1)
    rest_fail_mode: Literal["5xx", "timeout"] = "5xx"
    rest_timeout_s: float = Field(default=15.0, gt=0)
    wsapi_fail_rate: float = Field(default=0.0, ge=0, le=1)
    wsapi_fail_mode: Literal["5xx", "timeout"] = "5xx"
    cancel_fail_rate: float = Field(default=0.0, ge=0, le=1)
    ws_delay_ms: int = Field(default=0, ge=0)
    ws_reorder: bool = False
    clock_skew_ms: int = 0
    halted: tuple[str, ...] = ()
    seed: int = 0


class NbkrConfig(_Model):
    """What ``/nbkr/XML/daily.xml`` serves: effective date and KGS per ``nominal`` units."""

    date: str = "03.07.2026"
    rates: dict[str, Decimal] = Field(
        default_factory=lambda: {"USD": Decimal("87.4500"), "EUR": Decimal("99.8679")}
    )


class SimConfig(_Model):
    """The whole simulator configuration."""

    symbols: tuple[SymbolConfig, ...] = (SymbolConfig(),)
    accounts: tuple[AccountConfig, ...] = (
        AccountConfig(api_key=DEMO_API_KEY, api_secret=SecretStr(DEMO_API_SECRET)),
    )
    rate_limits: RateLimitConfig = RateLimitConfig()
    faults: FaultConfig = FaultConfig()
    nbkr: NbkrConfig = NbkrConfig()
    flow: FlowConfig = FlowConfig()
    depth_interval_ms: int = Field(default=100, ge=0)
    ping_interval_s: float = Field(default=20.0, gt=0)
    max_recv_window_ms: int = 60000

    @classmethod
    def load(cls, path: str | Path) -> SimConfig:
        """Read a TOML file."""
        with open(path, "rb") as fh:
            return cls.model_validate(tomllib.load(fh))
