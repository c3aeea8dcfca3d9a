"""The ``[peg]`` settings: arbitrage costs, signal thresholds and fair-value limits.

A TOML file for ``pegbot signals --config`` holds the three tables at the top level::

    [costs]
    exchange_fee_bps = 10
    mint_fee_bps = 5

    [signals]
    min_edge_bps = 5
    cooldown_s = 60

    [fair]
    jump_bps = 200

Unknown keys are errors (``extra="forbid"``), so a typo fails loudly instead of leaving a
default in force. The lead may nest :class:`PegSettings` into the root settings as ``peg``.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pegbot.peg.fair import FairConfig
from pegbot.peg.signals import ArbConfig, ArbCosts
from pegbot.timeunits import NS_PER_S


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CostSettings(_Model):
    """See :class:`pegbot.peg.signals.ArbCosts`."""

    exchange_fee_bps: Decimal = Field(default=Decimal(10), ge=0)
    mint_fee_bps: Decimal = Field(default=Decimal(0), ge=0)
    redeem_fee_bps: Decimal = Field(default=Decimal(0), ge=0)
    transfer_cost_quote: Decimal = Field(default=Decimal(0), ge=0)
    fx_spread_bps: Decimal = Field(default=Decimal(0), ge=0)
    settlement_days: Decimal = Field(default=Decimal(0), ge=0)
    fx_vol_daily_bps: Decimal = Field(default=Decimal(0), ge=0)
    haircut_sigmas: Decimal = Field(default=Decimal(1), ge=0)

    def build(self) -> ArbCosts:
        """The core's cost object."""
        return ArbCosts(**self.model_dump())


class SignalSettings(_Model):
    """See :class:`pegbot.peg.signals.ArbConfig`; times in seconds."""

    min_edge_bps: Decimal = Decimal(5)
    hysteresis_bps: Decimal = Field(default=Decimal(2), ge=0)
    cooldown_s: float = Field(default=60.0, ge=0)
    expiry_s: float = Field(default=300.0, gt=0)
    issuer_min_qty: Decimal = Field(default=Decimal(0), ge=0)
    max_qty_per_signal: Decimal | None = Field(default=None, gt=0)
    max_qty_per_day: Decimal | None = Field(default=None, gt=0)

    def build(self) -> ArbConfig:
        """The core's config object."""
        return ArbConfig(
            min_edge_bps=self.min_edge_bps,
            hysteresis_bps=self.hysteresis_bps,
            cooldown_ns=int(self.cooldown_s * NS_PER_S),
            expiry_ns=int(self.expiry_s * NS_PER_S),
            issuer_min_qty=self.issuer_min_qty,
            max_qty_per_signal=self.max_qty_per_signal,
            max_qty_per_day=self.max_qty_per_day,
        )


class FairSettings(_Model):
    """See :class:`pegbot.peg.fair.FairConfig`; ``max_age_s`` applies to a ``--fair-file``."""

    min_sources: int = Field(default=1, ge=1)
    max_disagreement_bps: Decimal = Field(default=Decimal(50), ge=0)
    jump_bps: Decimal = Field(default=Decimal(200), gt=0)
    jump_confirm_s: float = Field(default=300.0, gt=0)
    max_age_s: float | None = Field(default=None, gt=0)

    def build(self) -> FairConfig:
        """The core's config object."""
        return FairConfig(
            min_sources=self.min_sources,
            max_disagreement_bps=self.max_disagreement_bps,
            jump_bps=self.jump_bps,
            jump_confirm_ns=int(self.jump_confirm_s * NS_PER_S),
        )


class PegSettings(_Model):
    """Everything ``pegbot signals`` reads from ``--config``."""

    costs: CostSettings = Field(default_factory=CostSettings)
    signals: SignalSettings = Field(default_factory=SignalSettings)
    fair: FairSettings = Field(default_factory=FairSettings)

    @classmethod
    def from_toml(cls, path: str | Path) -> PegSettings:
        """Load and validate a TOML file (pydantic errors name the field path)."""
        with open(path, "rb") as fh:
            return cls.model_validate(tomllib.load(fh))
