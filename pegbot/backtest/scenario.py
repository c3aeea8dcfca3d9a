"""Backtest scenarios: TOML files in ``backtests/`` that say what to replay and how.

A scenario names the tape, the market's fees and filters, the strategy and its parameters,
the wake-up timer, order latency, the queue model, the fair value, the starting account and
the risk and reconciler settings. Every table forbids unknown keys, so a typo fails loudly
with its path. ``--set key=value`` overrides any key by its dotted path before validation;
the value is read as a TOML value (``10``, ``0.5``, ``true``, ``"text"``, ``[1, 2]``) and
taken as a plain string when it is not one.

Relative paths (tape, fair series, latency file) are resolved against the current directory
first and then against the scenario file's directory.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pegbot.backtest.book import DenseBookView
from pegbot.backtest.engine import Backtest, BacktestError, FairFn, fixed_fair, mid_fair
from pegbot.backtest.fair import fair_series_from_file
from pegbot.backtest.venue import Account
from pegbot.execution.reconciler import Reconciler
from pegbot.execution.risk import Risk, RiskParams
from pegbot.market import Market
from pegbot.matching import (
    ConstantLatency,
    FillEngine,
    InterpolatedLatency,
    LatencyModel,
    LogProbQueue,
    LogProbQueue2,
    PowerProbQueue,
    PowerProbQueue2,
    PowerProbQueue3,
    QueueModel,
    RiskAverse,
)
from pegbot.strategy import FairView, adapt_fair, load_strategy
from pegbot.tape.reader import TapeReader
from pegbot.timeunits import NS_PER_MS


class ScenarioError(ValueError):
    """The scenario file or an override is invalid (the message names the key)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketSpec(_Model):
    """Overrides of the tape's market: fees and exchange filters (decimal strings)."""

    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    lot_size: Decimal | None = None


class StrategySpec(_Model):
    """The strategy by module name or file, and its parameters."""

    name: str = "peg_ladder"
    params: dict[str, Any] = Field(default_factory=dict)


class EngineSpec(_Model):
    """The wake-up timer."""

    wake_ms: float = Field(default=100.0, gt=0)
    max_idle_ms: float = Field(default=5000.0, gt=0)


class LatencySpec(_Model):
    """Order latency: constant, or interpolated from a CSV of ``request,exchange,response`` ns."""

    kind: Literal["constant", "interpolated"] = "constant"
    entry_ms: float = Field(default=10.0, ge=0)
    response_ms: float = Field(default=10.0, ge=0)
    file: str | None = None


class QueueSpec(_Model):
    """Queue-position and fill model (:mod:`pegbot.matching`)."""

    model: Literal["risk_averse", "power", "power2", "power3", "log", "log2"] = "risk_averse"
    n: float = Field(default=3.0, gt=0)
    partial_fills: bool = True
    round_half_lot: bool = False


class FairSpec(_Model):
    """Where the fair value comes from: a fixed price or rate, a rate series file, the mid."""

    source: Literal["fixed", "mid", "series"] = "mid"
    price: Decimal | None = Field(default=None, gt=0)
    rate: Decimal | None = Field(default=None, gt=0)
    file: str | None = None


class AccountSpec(_Model):
    """The starting account and the inventory target, in base and quote currency."""

    base: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    target_base: Decimal | None = None


class RiskSpec(_Model):
    """Risk on or off, and its parameters (:class:`pegbot.execution.risk.RiskParams`)."""

    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)


class ReconcilerSpec(_Model):
    """Reconciler settings (:class:`pegbot.execution.reconciler.Reconciler`)."""

    price_tolerance_ticks: int = Field(default=0, ge=0)
    size_tolerance: float = Field(default=0.0, ge=0, lt=1)
    wait_for_cancel: bool = False
    post_only: bool = True
    cross_level: bool = True
    amend: bool = False
    replace: bool = False


class SignalsSpec(_Model):
    """The arbitrage signaler alongside (off by default)."""

    enabled: bool = False


class Scenario(_Model):
    """A whole scenario file."""

    name: str = "backtest"
    tape: str = ""
    market: MarketSpec = MarketSpec()
    strategy: StrategySpec = StrategySpec()
    engine: EngineSpec = EngineSpec()
    latency: LatencySpec = LatencySpec()
    queue: QueueSpec = QueueSpec()
    fair: FairSpec = FairSpec()
    account: AccountSpec = AccountSpec()
    risk: RiskSpec = RiskSpec()
    reconciler: ReconcilerSpec = ReconcilerSpec()
    signals: SignalsSpec = SignalsSpec()
    output: str = "backtests/out"


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` → (["a", "b", "c"], value read as TOML, else the raw string)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"override {item!r} is not key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``key=value`` set (tables created as needed)."""
    out = copy.deepcopy(dict(raw))
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ScenarioError(f"override {item!r}: {part} is not a table")
            node = nxt
        node[path[-1]] = value
    return out


def load_scenario(
    path: str | Path | None, overrides: Sequence[str] = (), base: Mapping[str, Any] | None = None
) -> tuple[Scenario, Path]:
    """Read, override and validate a scenario.

    Args:
        path: The TOML file (None: defaults, or ``base``).
        overrides: ``key=value`` items.
        base: A raw scenario mapping to start from instead of a file.

    Returns:
        The scenario and the directory relative paths are resolved against.

    Raises:
        ScenarioError: Unreadable file, bad TOML, or invalid keys or values.
    """
    raw: dict[str, Any] = dict(base or {})
    where = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text())
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {p}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{p}: bad TOML: {exc}") from exc
        where = p.resolve().parent
    raw = apply_overrides(raw, overrides)
    try:
        return Scenario.model_validate(raw), where
    except ValidationError as exc:
        lines = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ScenarioError("invalid scenario: " + "; ".join(lines)) from exc


def resolve(path: str, where: Path) -> Path:
    """A path as given if it exists, else relative to the scenario's directory."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return where / p


def make_market(sc: Scenario, tape: Path) -> Market:
    """The tape's market with the scenario's fees and filters."""
    market = TapeReader(tape).meta.market()
    m = sc.market
    kw: dict[str, Any] = {
        "maker_fee": m.maker_fee,
        "taker_fee": m.taker_fee,
        "min_qty": m.min_qty,
        "min_notional": m.min_notional,
    }
    if m.lot_size is not None:
        kw["lot_size"] = m.lot_size
    return replace(market, **kw)


def make_queue(spec: QueueSpec, market: Market) -> QueueModel:
    """The queue model a scenario names (the log family sees base-asset quantities)."""
    scale = 10**market.qty_decimals
    if spec.model == "risk_averse":
        return RiskAverse()
    if spec.model == "power":
        return PowerProbQueue(spec.n)
    if spec.model == "power2":
        return PowerProbQueue2(spec.n)
    if spec.model == "power3":
        return PowerProbQueue3(spec.n)
    if spec.model == "log":
        return LogProbQueue(scale)
    return LogProbQueue2(scale)


def make_latency(spec: LatencySpec, where: Path) -> LatencyModel:
    """The latency model a scenario names."""
    if spec.kind == "constant":
        return ConstantLatency(int(spec.entry_ms * NS_PER_MS), int(spec.response_ms * NS_PER_MS))
    if spec.file is None:
        raise ScenarioError("latency.file is required for interpolated latency")
    rows = []
    for lineno, line in enumerate(resolve(spec.file, where).read_text().splitlines(), 1):
        if not line.strip() or line.startswith(("#", "request")):
            continue
        try:
            a, b, c = (int(x) for x in line.split(","))
        except ValueError as exc:
            raise ScenarioError(
                f"{spec.file}:{lineno}: expected request,exchange,response ns"
            ) from exc
        rows.append((a, b, c))
    return InterpolatedLatency(rows)


def make_fair(spec: FairSpec, market: Market, where: Path) -> tuple[FairFn, Decimal | None]:
    """The fair function and, for a fixed fair, its price."""
    if spec.source == "mid":
        return mid_fair, None
    if spec.source == "fixed":
        if (spec.price is None) == (spec.rate is None):
            raise ScenarioError("fair: give exactly one of price and rate for a fixed fair")
        price = spec.price if spec.price is not None else Decimal(1) / spec.rate  # type: ignore[operator]
        return fixed_fair(market, price), price
    if spec.file is None:
        raise ScenarioError("fair.file is required for a fair series")
    return _series_fair(resolve(spec.file, where), market), None


def _series_fair(path: Path, market: Market) -> FairFn:
    # The peg's own estimator over a recorded rate series, as pegbot signals uses it.
    from pegbot.peg.fair import FairEstimator, SourceSpec
    from pegbot.peg.replay import read_fair_file

    series = read_fair_file(path)
    estimator = FairEstimator(market, [SourceSpec(series[0].source)])
    pending = list(reversed(series))

    def fair(now_ns: int, book: DenseBookView) -> FairView | None:
        while pending and pending[-1].observed_at_ns <= now_ns:
            estimator.observe(pending.pop())
        return adapt_fair(estimator.evaluate(now_ns), market)

    return fair


def _signaler(market: Market) -> Callable[[int, DenseBookView, FairView | None], int]:
    from pegbot.peg.fair import FairValue
    from pegbot.peg.signals import ArbConfig, ArbCosts, ArbSignaler

    sig = ArbSignaler(market, ArbCosts(), ArbConfig(), venue="backtest")
    tick = Fraction(market.tick_size)
    last: list[tuple[Fraction, FairValue]] = []  # the last fair price and its FairValue

    def run(now_ns: int, book: DenseBookView, fair: FairView | None) -> int:
        if fair is None or not book.is_two_sided:
            return 0
        if last and last[0][0] == fair.price_ticks:
            # The same price (always, with a fixed fair): restamp instead of rebuilding
            # the exact ticks and rates.
            value = replace(
                last[0][1], now_ns=now_ns, observed_at_ns=now_ns, effective_at_ns=now_ns
            )
        else:
            value = FairValue.fixed(fair.price_ticks * tick, market, now_ns)
        last[:] = [(fair.price_ticks, value)]
        events = sig.evaluate(now_ns, book, value)
        return sum(1 for e in events if e.previous is None)  # newly proposed

    return run


def build_backtest(
    sc: Scenario,
    where: Path,
    tape: str | Path | None = None,
    strategy: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Backtest:
    """Wire a :class:`Backtest` from a scenario (``tape``/``strategy`` override it)."""
    tape_path = resolve(str(tape), Path.cwd()) if tape else resolve(sc.tape, where)
    if not str(tape_path) or not tape_path.is_file():
        raise ScenarioError(f"tape not found: {tape_path or '(none given)'}")
    market = make_market(sc, tape_path)
    strat = load_strategy(strategy or sc.strategy.name, market, sc.strategy.params)
    fair, fixed_price = make_fair(sc.fair, market, where)
    acct = sc.account
    upl_units = market.qty_to_units(acct.base)
    cash_tu = Fraction(acct.quote) / (Fraction(market.tick_size) * Fraction(market.qty_unit))
    if cash_tu.denominator != 1:
        raise ScenarioError("account.quote is finer than a tick-unit")
    target = market.qty_to_units(acct.target_base if acct.target_base is not None else acct.base)
    risk = Risk(RiskParams(**sc.risk.params), market) if sc.risk.enabled else None
    rc = sc.reconciler
    reconciler = Reconciler(
        market,
        "bt",
        price_tolerance_ticks=rc.price_tolerance_ticks,
        size_tolerance=rc.size_tolerance,
        wait_for_cancel=rc.wait_for_cancel,
        post_only=rc.post_only,
        cross_level=rc.cross_level,
        amend=rc.amend,
        replace=rc.replace,
    )
    q = sc.queue
    engine = FillEngine(
        make_queue(q, market),
        partial_fills=q.partial_fills,
        lot_units=market.units_per_lot,
        round_half_lot=q.round_half_lot,
    )
    series = (
        fair_series_from_file(resolve(sc.fair.file, where))
        if sc.fair.source == "series" and sc.fair.file
        else []
    )
    try:
        bt = Backtest(
            tape_path,
            market,
            strat,
            reconciler,
            risk,
            engine,
            make_latency(sc.latency, where),
            fair=fair,
            fair_source=sc.fair.source,
            initial=Account(upl_units, int(cash_tu)),
            target_base_units=target,
            wake_ns=int(sc.engine.wake_ms * NS_PER_MS),
            max_idle_ns=int(sc.engine.max_idle_ms * NS_PER_MS),
            progress=progress,
            signaler=_signaler(market) if sc.signals.enabled else None,
            fair_times=[t for t, _ in series],
        )
    except BacktestError as exc:
        raise ScenarioError(str(exc)) from exc
    bt.fair_price = fixed_price
    bt.fair_series = series
    return bt
