"""The scorecard: peg-quality and obligation figures of one span, from one event stream.

:class:`ScorecardBuilder` reads the stream through a :class:`~pegbot.scorecard.fold.Fold` and
accumulates, per constant piece of time, what the desk is paid for; :meth:`finish` returns a
:class:`Scorecard`. The same builder scores a live bot, a ``pegbot evaluate`` run and a
backtest (only the source of the events differs).

What each figure means (time-weighted means: each piece counts for its duration):

* ``two_sided_uptime``: share of the span with at least one order of ours on each side;
  ``longest_one_sided_s``: the longest run with a side (or both) empty, and per side the
  longest run with no order on it. Time before our first order counts.
* ``spread_bps``: p50/p90 of our quoted spread (our best ask - best bid over their midpoint)
  over the time we were two-sided.
* ``quoted_value``: per band and side, the time-weighted value of our orders priced within
  ±band of fair, in the quote currency; time without a fair counts as zero.
* ``mid`` / ``mid_ex_ours``: the market mid against fair — with our orders (the public book)
  and without them. p50/p90/p99 of ``|mid - fair| / fair`` in bps over the time both a mid
  and a fair existed; ``within`` shares are of the whole span (no mid counts as outside).
* ``jumps``: per FX jump, seconds from the jump to learned / pulled / requoted (and from
  learned), the time any order of ours rested on the wrong side of the new fair, and the
  wrong-side fills while it was the active jump (see the fold).
* ``orders``: requests per kind, per fill and per minute; ``fills``: count, maker share,
  volume; ``markouts_bps``: per horizon, the quantity-weighted ``side x (mid(t+h) - price) /
  price`` of our fills in bps (positive: the market moved our way), with the mid of the book
  *without* our orders; fills whose horizon passes the end or finds no such mid are left out
  and counted.
* ``inventory``: base holding at the start and end (qty, not units), drift, min and max.
* ``obligations``: snapshots, the share meeting each condition and all of them, and
  pass/fail against ``min_uptime`` (see :mod:`pegbot.scorecard.config`).

Percentiles are weighted: the smallest value whose share of time at or below it reaches q.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from pegbot.market import Market, Side
from pegbot.timeunits import NS_PER_MIN, NS_PER_S, ns_to_s, s_to_ns

from .config import ScorecardSettings
from .events import Event, Level, OrderAction, OrderKind, OwnFill
from .fold import CONDITIONS, Fold, Jump, State, band_bounds, quoted_spread_bps

__all__ = ["JumpFigures", "Scorecard", "ScorecardBuilder", "score", "weighted_quantile"]


def weighted_quantile(hist: dict[float, int], q: float) -> float | None:
    """The smallest value whose weight at or below it is at least ``q`` of the total.

    Args:
        hist: Value -> weight (ns of time).
        q: Quantile in [0, 1].

    Returns:
        The quantile, or None for no weight.
    """
    total = sum(hist.values())
    if total <= 0:
        return None
    need = q * total
    acc = 0
    for value in sorted(hist):
        acc += hist[value]
        if acc >= need:
            return value
    return max(hist)


@dataclass(frozen=True, slots=True)
class JumpFigures:
    """One FX jump, answered: seconds from the jump (None: not within its window)."""

    at_ns: int
    from_price: float
    to_price: float
    bps: float
    learned_s: float | None
    pull_s: float | None
    requote_s: float | None
    pull_after_learn_s: float | None
    requote_after_learn_s: float | None
    window_s: float
    wrong_side_s: float
    wrong_side_fills: int
    wrong_side_fills_after_learn: int
    wrong_side_qty: float
    wrong_side_cost_quote: float


@dataclass(frozen=True)
class Scorecard:
    """The figures of one span (see the module docstring)."""

    start_ns: int
    end_ns: int
    span_s: float
    two_sided_uptime: float
    longest_one_sided_s: float
    longest_empty_s: dict[str, float]
    spread_bps: dict[str, float | None]
    quoted_value: dict[str, dict[str, float]]
    mid: dict[str, Any]
    mid_ex_ours: dict[str, Any]
    jumps: tuple[JumpFigures, ...]
    orders: dict[str, Any]
    fills: dict[str, Any]
    markouts_bps: dict[str, float | None]
    markouts_left_out: int
    inventory: dict[str, float | None]
    obligations: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Every figure, nested, JSON-ready."""
        return asdict(self)

    def figures(self) -> dict[str, Any]:
        """The headline figures, one level deep (what a report table shows)."""
        ob = self.obligations
        out: dict[str, Any] = {
            "span_s": self.span_s,
            "two_sided_uptime": self.two_sided_uptime,
            "longest_one_sided_s": self.longest_one_sided_s,
            "longest_empty_s": self.longest_empty_s,
            "our_spread_bps": self.spread_bps,
            "mid_deviation_bps": {k: self.mid[k] for k in ("p50", "p90", "p99")},
            "mid_within": self.mid["within"],
            "mid_ex_ours_deviation_bps": {k: self.mid_ex_ours[k] for k in ("p50", "p90", "p99")},
            "mid_ex_ours_within": self.mid_ex_ours["within"],
        }
        for band, sides in self.quoted_value.items():
            out[f"quoted_value_{band}_quote"] = sides
        out["orders_per_fill"] = {
            k: self.orders[k] for k in ("placed_per_fill", "cancelled_per_fill")
        }
        out["orders_per_min"] = {k: self.orders[k] for k in ("placed_per_min", "cancelled_per_min")}
        out["fills"] = self.fills["count"]
        out["markouts_bps"] = self.markouts_bps
        out["inventory_base"] = self.inventory
        for i, j in enumerate(self.jumps, 1):
            out[f"jump_{i}"] = {
                "bps": j.bps,
                "learned_s": j.learned_s,
                "pull_s": j.pull_s,
                "requote_s": j.requote_s,
                "pull_after_learn_s": j.pull_after_learn_s,
                "wrong_side_s": j.wrong_side_s,
                "wrong_side_fills": j.wrong_side_fills,
            }
        out["obligation_uptime"] = ob["uptime"]
        out["obligation_pass"] = ob["pass"]
        return out


class _Run:
    # The longest run of consecutive pieces for which a condition held.
    __slots__ = ("longest", "since")

    def __init__(self) -> None:
        self.since: int | None = None
        self.longest = 0

    def step(self, t0: int, t1: int, on: bool) -> None:
        if not on:
            self.since = None
            return
        if self.since is None:
            self.since = t0
        self.longest = max(self.longest, t1 - self.since)


class _MidStats:
    # |mid - fair| in bps over time, and the time within each band.
    __slots__ = ("bands", "hist", "measured", "signed", "within")

    def __init__(self, bands: tuple[int, ...]) -> None:
        self.bands = bands
        self.hist: dict[float, int] = {}
        self.within = [0] * len(bands)
        self.measured = 0
        self.signed = 0.0

    def add(self, m2: int, fair_f: float, bounds: list[tuple[int, int]], dt: int) -> None:
        # m2: bid + ask (twice the mid) in ticks; bounds: the bands' limits on m2.
        dev = (m2 / 2 - fair_f) / fair_f * 10_000
        self.hist[abs(dev)] = self.hist.get(abs(dev), 0) + dt
        self.signed += dev * dt
        self.measured += dt
        for i, (lo, hi) in enumerate(bounds):
            if lo <= m2 <= hi:
                self.within[i] += dt

    def figures(self, span: int) -> dict[str, Any]:
        return {
            "p50": weighted_quantile(self.hist, 0.5),
            "p90": weighted_quantile(self.hist, 0.9),
            "p99": weighted_quantile(self.hist, 0.99),
            "mean_bps": self.signed / self.measured if self.measured else None,
            "measured_s": ns_to_s(self.measured),
            "within": {
                f"{b}bps": (w / span if span else 0.0)
                for b, w in zip(self.bands, self.within, strict=True)
            },
        }


class ScorecardBuilder:
    """Accumulates a :class:`Scorecard` from the event stream.

    Args:
        market: The market (tick and qty unit, for values in the quote currency).
        start_ns: Start of the measured span.
        settings: Thresholds, bands, horizons and obligations.
    """

    def __init__(
        self, market: Market, start_ns: int, settings: ScorecardSettings | None = None
    ) -> None:
        self.market = market
        self.settings = s = settings or ScorecardSettings()
        self._tick = float(market.tick_size)
        self._unit = float(market.qty_unit)
        self.fold = Fold(
            s,
            start_ns,
            self._tick * self._unit,
            on_segment=self._segment,
            on_samples=self._samples_at,
            on_fill=self._fill,
            on_order=self._order,
        )
        self._span = 0
        self._two_sided = 0
        self._one_sided = _Run()
        self._empty = {"bid": _Run(), "ask": _Run()}
        self._spread: dict[float, int] = {}
        self._value_tu = {b: [0.0, 0.0] for b in s.value_bands_bps}  # tick-units x ns
        self._mid = _MidStats(s.mid_bands_bps)
        self._mid_ex = _MidStats(s.mid_bands_bps)
        self._fair_key: Fraction | None = None
        self._fair_f = 0.0
        self._price_bounds: list[tuple[int, int]] = []
        self._mid_bounds: list[tuple[int, int]] = []
        self._quote_key: tuple[tuple[Level, ...], tuple[Level, ...], Fraction | None] | None = None
        self._quote_tu: list[tuple[int, int]] = []
        self._orders = dict.fromkeys(OrderKind, 0)
        self._fills = 0
        self._maker = 0
        self._vol_units = 0
        self._vol_tu = 0
        self._markouts: list[tuple[int, int, int, OwnFill]] = []  # (due, seq, horizon i, fill)
        self._mk_sum = [0.0] * len(s.markouts_s)
        self._mk_w = [0.0] * len(s.markouts_s)
        self._mk_left = 0
        self._seq = 0
        self._inv_first: int | None = None
        self._inv_min: int | None = None
        self._inv_max: int | None = None
        self._samples = 0
        self._met = [0] * (len(CONDITIONS) + 1)

    def feed(self, ev: Event) -> None:
        """Fold one event in (time order)."""
        self.fold.feed(ev)

    def feed_all(self, events: Iterable[Event]) -> ScorecardBuilder:
        """Fold every event in; returns self."""
        for ev in events:
            self.fold.feed(ev)
        return self

    # -- callbacks of the fold -------------------------------------------------------------

    def _fair_bounds(self, fair: Fraction) -> None:
        if fair is self._fair_key:
            return
        self._fair_key = fair
        self._fair_f = float(fair)
        s = self.settings
        self._price_bounds = [band_bounds(fair, b) for b in s.value_bands_bps]
        self._mid_bounds = [band_bounds(fair, b, 2) for b in s.mid_bands_bps]

    def _segment(self, t0: int, t1: int, st: State) -> None:
        dt = t1 - t0
        self._span += dt
        two = st.two_sided
        if two:
            self._two_sided += dt
            bb, ba = st.best_bid, st.best_ask
            assert bb is not None and ba is not None
            spread = quoted_spread_bps(bb, ba)
            self._spread[spread] = self._spread.get(spread, 0) + dt
        self._one_sided.step(t0, t1, not two)
        self._empty["bid"].step(t0, t1, not st.bids)
        self._empty["ask"].step(t0, t1, not st.asks)
        self._resolve_markouts(t1, st)
        if st.base_units is not None:
            self._inventory(st.base_units)
        fair = st.fair
        if fair is None:
            return
        self._fair_bounds(fair)
        key = (st.bids, st.asks, fair)
        old = self._quote_key
        if old is None or any(a is not b for a, b in zip(key, old, strict=True)):
            self._quote_key = key
            self._quote_tu = [
                (
                    sum(p * q for p, q in st.bids if lo <= p <= hi),
                    sum(p * q for p, q in st.asks if lo <= p <= hi),
                )
                for lo, hi in self._price_bounds
            ]
        for band, (b, a) in zip(self.settings.value_bands_bps, self._quote_tu, strict=True):
            acc = self._value_tu[band]
            acc[0] += b * dt
            acc[1] += a * dt
        if st.bid is not None and st.ask is not None:
            self._mid.add(st.bid + st.ask, self._fair_f, self._mid_bounds, dt)
        if st.bid_ex is not None and st.ask_ex is not None:
            self._mid_ex.add(st.bid_ex + st.ask_ex, self._fair_f, self._mid_bounds, dt)

    def _inventory(self, units: int) -> None:
        if self._inv_first is None:
            self._inv_first = units
        self._inv_min = units if self._inv_min is None else min(self._inv_min, units)
        self._inv_max = units if self._inv_max is None else max(self._inv_max, units)

    def _samples_at(self, t: int, n: int, st: State, checks: tuple[bool, bool, bool, bool]) -> None:
        self._samples += n
        for i, ok in enumerate(checks):
            self._met[i] += n * ok
        self._met[-1] += n * all(checks)

    def _fill(self, f: OwnFill, st: State) -> None:
        self._fills += 1
        self._maker += f.maker
        self._vol_units += f.qty_units
        self._vol_tu += f.price_ticks * f.qty_units
        for i, h in enumerate(self.settings.markouts_s):
            self._seq += 1
            heapq.heappush(self._markouts, (f.ts_ns + s_to_ns(h), self._seq, i, f))

    def _resolve_markouts(self, t1: int, st: State) -> None:
        # Every markout due inside this piece reads the mid of this piece.
        heap = self._markouts
        while heap and heap[0][0] < t1:
            _, _, i, f = heapq.heappop(heap)
            if st.bid_ex is None or st.ask_ex is None:
                self._mk_left += 1
                continue
            mid = (st.bid_ex + st.ask_ex) / 2
            sign = 1.0 if f.side is Side.BUY else -1.0
            self._mk_sum[i] += sign * (mid - f.price_ticks) / f.price_ticks * 10_000 * f.qty_units
            self._mk_w[i] += f.qty_units

    def _order(self, ev: OrderAction) -> None:
        self._orders[ev.kind] += 1

    # -- the result ------------------------------------------------------------------------

    def finish(self, end_ns: int) -> Scorecard:
        """Fold up to ``end_ns`` and return the figures of ``[start_ns, end_ns)``."""
        fold = self.fold
        if fold.now_ns > end_ns:
            raise ValueError(f"events up to {fold.now_ns} ns were folded: past the end {end_ns} ns")
        fold.close(end_ns)
        start = fold.start_ns
        span = self._span
        s = self.settings
        tu = self._tick * self._unit
        minutes = span / NS_PER_MIN
        placed = self._orders[OrderKind.PLACED]
        cancelled = self._orders[OrderKind.CANCELLED]
        fills = self._fills
        ob = s.obligations
        n = self._samples
        uptime = self._met[-1] / n if n else 0.0
        unit = self._unit
        return Scorecard(
            start_ns=start,
            end_ns=max(end_ns, start),
            span_s=ns_to_s(span),
            two_sided_uptime=self._two_sided / span if span else 0.0,
            longest_one_sided_s=ns_to_s(self._one_sided.longest),
            longest_empty_s={k: ns_to_s(r.longest) for k, r in self._empty.items()},
            spread_bps={
                "p50": weighted_quantile(self._spread, 0.5),
                "p90": weighted_quantile(self._spread, 0.9),
            },
            quoted_value={
                f"{b}bps": {
                    "bid": acc[0] * tu / span if span else 0.0,
                    "ask": acc[1] * tu / span if span else 0.0,
                }
                for b, acc in self._value_tu.items()
            },
            mid=self._mid.figures(span),
            mid_ex_ours=self._mid_ex.figures(span),
            jumps=tuple(_jump_figures(j, self._tick, unit, tu) for j in fold.jumps),
            orders={
                **{k.value: v for k, v in self._orders.items()},
                "placed_per_fill": placed / fills if fills else None,
                "cancelled_per_fill": cancelled / fills if fills else None,
                "placed_per_min": placed / minutes if minutes else None,
                "cancelled_per_min": cancelled / minutes if minutes else None,
            },
            fills={
                "count": fills,
                "maker": self._maker,
                "taker": fills - self._maker,
                "volume_base": self._vol_units * unit,
                "volume_quote": self._vol_tu * tu,
            },
            markouts_bps={
                f"{h:g}s": (self._mk_sum[i] / self._mk_w[i] if self._mk_w[i] else None)
                for i, h in enumerate(s.markouts_s)
            },
            markouts_left_out=self._mk_left + len(self._markouts),
            inventory=self._inventory_figures(unit),
            obligations={
                "samples": n,
                "uptime": uptime,
                "pass": bool(n) and uptime >= ob.min_uptime,
                "conditions": {
                    c: (self._met[i] / n if n else 0.0) for i, c in enumerate(CONDITIONS)
                },
                "settings": ob.model_dump(),
            },
        )

    def _inventory_figures(self, unit: float) -> dict[str, float | None]:
        end = self.fold.state.base_units
        first = self._inv_first
        if first is None or end is None or self._inv_min is None or self._inv_max is None:
            return dict.fromkeys(("start", "end", "drift", "min", "max"))
        return {
            "start": first * unit,
            "end": end * unit,
            "drift": (end - first) * unit,
            "min": self._inv_min * unit,
            "max": self._inv_max * unit,
        }


def _secs(a: int | None, b: int | None) -> float | None:
    return ns_to_s(b - a) if a is not None and b is not None else None


def _jump_figures(j: Jump, tick: float, unit: float, tu: float) -> JumpFigures:
    return JumpFigures(
        at_ns=j.at_ns,
        from_price=float(j.from_ticks) * tick,
        to_price=float(j.to_ticks) * tick,
        bps=j.bps,
        learned_s=_secs(j.at_ns, j.learned_ns),
        pull_s=_secs(j.at_ns, j.pulled_ns),
        requote_s=_secs(j.at_ns, j.requoted_ns),
        pull_after_learn_s=_after(j.learned_ns, j.pulled_ns),
        requote_after_learn_s=_after(j.learned_ns, j.requoted_ns),
        window_s=_secs(j.at_ns, j.closed_ns) or 0.0,
        wrong_side_s=ns_to_s(j.wrong_ns),
        wrong_side_fills=j.wrong_fills,
        wrong_side_fills_after_learn=j.wrong_fills_after_learn,
        wrong_side_qty=j.wrong_units * unit,
        wrong_side_cost_quote=float(j.wrong_cost_tu) * tu,
    )


def _after(learned: int | None, done: int | None) -> float | None:
    # Seconds from learning the rate to acting on it; 0 when it was done before it was learned
    # (the orders happened to be fine already).
    if learned is None or done is None:
        return None
    return max(0.0, (done - learned) / NS_PER_S)


def score(
    market: Market,
    events: Iterable[Event],
    start_ns: int,
    end_ns: int,
    settings: ScorecardSettings | None = None,
) -> Scorecard:
    """The scorecard of ``[start_ns, end_ns)`` from a time-ordered event stream.

    Events after ``end_ns`` are not read.
    """
    builder = ScorecardBuilder(market, start_ns, settings)
    for ev in events:
        if ev.ts_ns > end_ns:
            break
        builder.feed(ev)
    return builder.finish(end_ns)
