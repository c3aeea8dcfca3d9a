"""Evaluation scenarios: a TOML file saying what the market does, for how long, and what counts.

A scenario (``scenarios/*.toml`` at the repository root) names a duration, the crowd of the
simulator (:class:`~pegbot.sim.flow.FlowConfig` without its scenario list), the simulator's
limits and faults, a timeline of events, the scorecard's settings, the market-making
obligations and the targets the run must meet. Times in the file are seconds from the start
of the measured span; the harness adds the warm-up in front (the bot starts and quotes
before anything is measured).

Example::

    name = "fx_step_down"
    duration_s = 120
    run_past_rate_poll_s = 60     # ...and until 60 s after the bot's next rate poll
    som_per_usd = "87.45"

    [crowd]
    seed = 7

    [[events]]
    kind = "fx_step"              # NBKR's rate (through /admin/nbkr) and the crowd move
    at_s = 30
    som_per_usd = "74.3"

    [obligations]
    max_spread_bps = 50

    [targets]
    min_two_sided = 0.999
    max_side_empty_s = 0.1

Event kinds: ``fx_step`` (the official rate changes; the crowd reprices unless
``crowd = false``), ``depeg`` and ``drought`` (the crowd's own scenarios), ``crowd_pull`` (the
crowd cancels every order it rests), ``faults`` (``POST /admin/faults`` with ``set``),
``drop_ws`` (``POST /admin/drop_ws``) and ``burn_weight`` (a neighbour on the bot's IP uses
up the request weight of every minute window for ``duration_s``: a 429 storm).

Bad input fails with every bad field named by its path (``events.0.som_per_usd: Input
should be greater than 0``); unknown keys are errors.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pegbot.scorecard import ObligationSettings, ScorecardSettings
from pegbot.sim.config import FaultConfig, RateLimitConfig
from pegbot.sim.flow import FlowPrices, FlowRates, FlowSizes

__all__ = [
    "BurnWeight",
    "CrowdPull",
    "CrowdSettings",
    "Depeg",
    "DropWs",
    "Drought",
    "Faults",
    "FxStep",
    "Scenario",
    "ScenarioError",
    "SimSettings",
    "Targets",
    "load_scenario",
]


class ScenarioError(ValueError):
    """A scenario file is missing, not TOML, or invalid; the message names each bad field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FxStep(_Model):
    """The official rate steps to ``som_per_usd`` (and the crowd's fair value with it)."""

    kind: Literal["fx_step"] = "fx_step"
    at_s: float = Field(ge=0)
    som_per_usd: Decimal = Field(gt=0)
    date: str | None = Field(default=None, description="the date daily.xml shows from then on")
    crowd: bool = Field(default=True, description="the crowd reprices at the step too")
    cancel_stale: bool = True
    stale_fraction: float = Field(default=1.0, ge=0, le=1)


class Depeg(_Model):
    """The crowd pushes the price ``bps`` off fair, holds, and lets it revert."""

    kind: Literal["depeg"] = "depeg"
    at_s: float = Field(ge=0)
    bps: float
    ramp_s: float = Field(default=60, ge=0)
    hold_s: float = Field(default=600, ge=0)
    revert_s: float = Field(default=600, ge=0)
    push_fraction: float = Field(default=0.9, ge=0.5, le=1)


class Drought(_Model):
    """The crowd's arrival rates and sizes shrink for ``duration_s``."""

    kind: Literal["drought"] = "drought"
    at_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    rate_factor: float = Field(default=0.2, ge=0, le=1)
    size_factor: float = Field(default=0.3, gt=0, le=1)


class CrowdPull(_Model):
    """The crowd cancels every order it rests (it keeps arriving afterwards, as configured)."""

    kind: Literal["crowd_pull"] = "crowd_pull"
    at_s: float = Field(ge=0)


class Faults(_Model):
    """``POST /admin/faults`` with ``set`` (e.g. ``{rest_fail_rate = 0.3}``)."""

    kind: Literal["faults"] = "faults"
    at_s: float = Field(ge=0)
    set: dict[str, Any]


class DropWs(_Model):
    """``POST /admin/drop_ws``: every WebSocket connection is closed."""

    kind: Literal["drop_ws"] = "drop_ws"
    at_s: float = Field(ge=0)


class BurnWeight(_Model):
    """A 429 storm: another client on the bot's IP spends every minute's request weight."""

    kind: Literal["burn_weight"] = "burn_weight"
    at_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)


Event = Annotated[
    FxStep | Depeg | Drought | CrowdPull | Faults | DropWs | BurnWeight,
    Field(discriminator="kind"),
]


class CrowdSettings(_Model):
    """``[crowd]``: the order-flow crowd (the defaults are a quiet KGST day)."""

    seed: int = 0
    rates: FlowRates = FlowRates()
    sizes: FlowSizes = FlowSizes()
    prices: FlowPrices = FlowPrices()


class SimSettings(_Model):
    """``[sim]``: the simulator's limits, faults from the start and depth pace."""

    depth_interval_ms: int = Field(default=100, ge=0)
    rate_limits: RateLimitConfig = RateLimitConfig()
    faults: FaultConfig = FaultConfig()


class Targets(_Model):
    """``[targets]``: what the run must meet; a target left out is not checked.

    Attributes:
        min_two_sided: Least two-sided uptime.
        max_one_sided_s: Longest run with a side empty.
        max_side_empty_s: Longest run with no order on one side.
        max_pull_after_learn_s: Per jump: seconds from the bot reading the new rate until no
            order of ours rests on the wrong side of it.
        max_requote_s: Per jump: seconds from the jump until both sides quote around the new
            fair.
        max_requote_after_learn_s: The same, from the bot reading the new rate.
        max_wrong_side_fills: Fills on the wrong side of a jump's new fair, all jumps.
        max_wrong_side_fills_after_learn: Of those, fills after the bot read the new rate.
        max_mid_p90_bps: p90 of the public mid's distance from fair.
        min_mid_within: Least share of the span the public mid spent within a band of fair,
            by band in bps (a band of ``[scorecard] mid_bands_bps``).
        max_placed_per_fill: Orders placed per fill (no fills: not applicable).
        obligations_pass: The market-making obligations must pass.
    """

    min_two_sided: float | None = Field(default=None, ge=0, le=1)
    max_one_sided_s: float | None = Field(default=None, ge=0)
    max_side_empty_s: float | None = Field(default=None, ge=0)
    max_pull_after_learn_s: float | None = Field(default=None, ge=0)
    max_requote_s: float | None = Field(default=None, ge=0)
    max_requote_after_learn_s: float | None = Field(default=None, ge=0)
    max_wrong_side_fills: int | None = Field(default=None, ge=0)
    max_wrong_side_fills_after_learn: int | None = Field(default=None, ge=0)
    max_mid_p90_bps: float | None = Field(default=None, ge=0)
    min_mid_within: dict[int, float] = Field(default_factory=dict)
    max_placed_per_fill: float | None = Field(default=None, gt=0)
    obligations_pass: bool = False


class Scenario(_Model):
    """One evaluation scenario (see the module docstring)."""

    name: str = Field(min_length=1)
    description: str = ""
    duration_s: float = Field(gt=0)
    warmup_s: float = Field(default=10.0, ge=0)
    run_past_rate_poll_s: float | None = Field(default=None, ge=0)
    som_per_usd: Decimal = Field(default=Decimal("87.45"), gt=0)
    nbkr_date: str = "03.07.2026"
    crowd: CrowdSettings = CrowdSettings()
    sim: SimSettings = SimSettings()
    events: list[Event] = Field(default_factory=list)
    scorecard: ScorecardSettings = ScorecardSettings()
    obligations: ObligationSettings = ObligationSettings()
    targets: Targets = Targets()

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        for i, ev in enumerate(self.events):
            if ev.at_s >= self.duration_s:
                raise ValueError(
                    f"events.{i}.at_s: {ev.at_s} is not within the duration ({self.duration_s} s)"
                )
        bands = set(self.scorecard.mid_bands_bps)
        for band in self.targets.min_mid_within:
            if band not in bands:
                raise ValueError(
                    f"targets.min_mid_within.{band}: not a band of scorecard.mid_bands_bps "
                    f"{sorted(bands)}"
                )
        return self

    @property
    def score_settings(self) -> ScorecardSettings:
        """The scorecard's settings with this scenario's obligations."""
        return self.scorecard.model_copy(update={"obligations": self.obligations})

    def length_s(self, rate_poll_s: float | None) -> float:
        """The measured span: ``duration_s``, or longer to see the bot's next rate poll.

        Args:
            rate_poll_s: How often the bot reads the official rate (from its configuration).
        """
        steps = [e.at_s for e in self.events if isinstance(e, FxStep)]
        if self.run_past_rate_poll_s is None or not steps or rate_poll_s is None:
            return self.duration_s
        return max(self.duration_s, max(steps) + rate_poll_s + self.run_past_rate_poll_s)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: The file is missing, not TOML, or a field is bad (named by its path).
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ScenarioError(f"{p}: no such scenario file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: {exc}") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{p}: {_errors(exc)}") from exc


def _errors(exc: ValidationError) -> str:
    out = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        # A discriminated union adds the kind to the path: events.0.fx_step.at_s -> events.0.at_s
        if len(loc) > 2 and loc[0] == "events" and loc[2] in _KINDS:
            del loc[2]
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "; ".join(out)


_KINDS = {"fx_step", "depeg", "drought", "crowd_pull", "faults", "drop_ws", "burn_weight"}
