"""A seeded order-flow model: the "crowd" that trades KGST/USDT around a fair-value path.

The simulator needs a market when it has no tape to replay. This module is that market's
*intent*: it generates a time-ordered stream of crowd actions and never matches anything
itself; the simulator's engine executes them for a crowd account, exactly like a user's
orders, and reports back what happened. Pure: no clock reads (time is int ns, injected), one
seeded :class:`random.Random`, integer ticks and qty units, so a seed reproduces a run.

Contract (for the simulator)
----------------------------

* ``flow = OrderFlow(config, market, start_ns)``; :class:`FlowConfig` is a pydantic model
  (``extra="forbid"``), loadable from TOML. Scenario times are ns *after* ``start_ns``.
* ``flow.peek_ts()`` is the time of the next action (None: the flow has gone quiet forever);
  ``flow.pop()`` returns it; ``flow.until(ts_ns)`` returns every action up to ``ts_ns``.
  Actions come in non-decreasing ``ts_ns``, several may share one.
* Actions: :class:`PlaceLimit` (GTC limit for the crowd; may be marketable),
  :class:`Cancel`, :class:`MarketOrder` (ids ``crowd-N`` / ``crowd-mN``, valid Binance
  client order ids). Sizes are whole lots and pass the market's min-qty and min-notional.
* A popped ``PlaceLimit`` counts as resting at once. The engine then tells the flow what
  became of it: ``on_filled(client_id, qty_units)`` for every fill (taker or maker),
  ``on_canceled(client_id)`` once it is canceled, rejected or expired. A fully filled order
  is forgotten. The flow only cancels orders it believes are resting; when actions are
  taken in batches (``until``) a ``Cancel`` may name an order that an earlier action of the
  same batch filled: the engine refuses it as an unknown order, as a venue does, and no
  callback is due. Market orders are fire-and-forget:
  no callback; an unfilled rest simply expires. Unknown ids or overfills raise
  :class:`FlowError` — the two sides disagree, which is a bug, never to be guessed away.

The model
---------

* **Fair value** is a step function in USDT per KGST: ``1 / som_per_usd`` (KGST is one som),
  changed by :class:`FxStep` scenarios. The crowd's *reference* is fair shifted by active
  :class:`DepegShock` profiles (ramp, hold, revert, in bps).
* **Limit orders** arrive as a Poisson process (``limit_per_s`` per side), at a geometric
  number of ticks (mean ``mean_offset_ticks``) behind the crowd's touch — the best bid is the
  tick just below the reference, the best ask just above, so the book has a one-tick spread
  when fair is off-grid (KGST's case: fair 1/87.45 USDT = 1143.5 ticks of 1e-5).
* **Cancels**: every resting order gets an exponential lifetime (rate
  ``cancel_per_order_per_s``) when placed, so cancels arrive at a rate proportional to the
  number resting. At an FX step the crowd also cancels the orders that are now on the wrong
  side of, or too far from, the new reference (``cancel_stale``; ``stale_fraction`` of them,
  all by default — the others get picked off by the repriced crowd).
* **Market orders** arrive as a Poisson process (``market_per_s`` in total), buys and sells
  equally likely, except while a depeg shock pushes: then ``push_fraction`` of them go in the
  shock's direction (and the other way while it reverts).
* **Sizes** are log-normal in lots around a median, capped; :class:`Drought` windows scale
  arrival rates and sizes down.
* Poisson rates are piecewise constant (they change only at drought boundaries), and arrivals
  are drawn exactly by integrating the rate across those boundaries.

Default calibration (KGST-like, not fitted to private data): Binance KGST/USDT traded about
$481 k a day (CoinGecko, 2026-07), i.e. ~42 M KGST; 0.1 market orders/s with a 3,500 KGST
median (mean ~4,800 KGST) trade ~42 M KGST a day.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pegbot.market import Market, Rounding, Side
from pegbot.timeunits import NS_PER_S

_UP = Rounding.UP


class FlowError(RuntimeError):
    """The engine's callbacks disagree with the flow's idea of the crowd's orders."""


# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceLimit:
    """Place a GTC limit order for the crowd (it may be marketable)."""

    ts_ns: int
    side: Side
    price_ticks: int
    qty_units: int
    client_id: str


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel a resting crowd order."""

    ts_ns: int
    client_id: str


@dataclass(frozen=True, slots=True)
class MarketOrder:
    """A crowd market order; whatever the book cannot fill expires."""

    ts_ns: int
    side: Side
    qty_units: int
    client_id: str


Action = PlaceLimit | Cancel | MarketOrder


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """The flow's view of one crowd order it believes is resting."""

    side: Side
    price_ticks: int
    leaves_units: int


# -- configuration --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlowRates(_Model):
    """Poisson rates of the crowd, per second of market time."""

    limit_per_s: float = Field(default=1.0, ge=0, description="limit orders per second, per side")
    market_per_s: float = Field(
        default=0.1, ge=0, description="market orders per second, both sides"
    )
    cancel_per_order_per_s: float = Field(
        default=1 / 120, ge=0, description="cancel rate of each resting order (1 / mean lifetime)"
    )
    initial_orders_per_side: int = Field(
        default=40, ge=0, description="limit orders placed at start_ns so the book starts populated"
    )


class FlowSizes(_Model):
    """Log-normal order sizes in lots (KGST lots of 1 by default)."""

    limit_median_lots: int = Field(default=20_000, gt=0)
    market_median_lots: int = Field(default=3_500, gt=0)
    sigma: float = Field(default=0.8, ge=0, description="log-normal shape")
    cap_factor: float = Field(
        default=20.0, ge=1, description="sizes are capped at median x cap_factor"
    )


class FlowPrices(_Model):
    """Where limit orders go relative to the crowd's touch."""

    mean_offset_ticks: float = Field(default=1.0, ge=0, description="mean of the geometric offset")
    max_offset_ticks: int = Field(default=15, ge=0)


class FxStep(_Model):
    """The som's USD rate jumps (March 2020: 73 → 85 overnight): fair becomes 1/som_per_usd."""

    kind: Literal["fx_step"] = "fx_step"
    at_ns: int = Field(ge=0, description="ns after the flow's start")
    som_per_usd: Decimal = Field(gt=0)
    cancel_stale: bool = True
    stale_fraction: float = Field(
        default=1.0, ge=0, le=1, description="share of stale orders pulled at the step"
    )


class DepegShock(_Model):
    """Market flow pushes the price ``bps`` off fair, holds, then reverts.

    The crowd's reference moves linearly to ``fair x (1 + bps/1e4)`` over ``ramp_ns``, stays
    ``hold_ns``, and returns over ``revert_ns``. Negative ``bps`` pushes KGST below its peg.
    """

    kind: Literal["depeg"] = "depeg"
    at_ns: int = Field(ge=0)
    bps: float
    ramp_ns: int = Field(default=60 * NS_PER_S, ge=0)
    hold_ns: int = Field(default=600 * NS_PER_S, ge=0)
    revert_ns: int = Field(default=600 * NS_PER_S, ge=0)
    push_fraction: float = Field(default=0.9, ge=0.5, le=1, description="market orders pushing")


class Drought(_Model):
    """Liquidity dries up: arrival rates and sizes are scaled down for a while."""

    kind: Literal["drought"] = "drought"
    at_ns: int = Field(ge=0)
    duration_ns: int = Field(gt=0)
    rate_factor: float = Field(default=0.2, ge=0, le=1)
    size_factor: float = Field(default=0.3, gt=0, le=1)


Scenario = Annotated[FxStep | DepegShock | Drought, Field(discriminator="kind")]


class FlowConfig(_Model):
    """Everything the crowd does; the defaults are a quiet KGST/USDT day at its peg."""

    seed: int = 0
    som_per_usd: Decimal = Field(
        default=Decimal("87.45"), gt=0, description="fair = 1 / som_per_usd"
    )
    rates: FlowRates = FlowRates()
    sizes: FlowSizes = FlowSizes()
    prices: FlowPrices = FlowPrices()
    scenarios: list[Scenario] = Field(default_factory=list)


# -- the generator --------------------------------------------------------------------------

# Tie order of actions due at the same ns: scenario sweeps, then cancels, limits, market orders.
_SWEEP, _CANCEL, _LIMIT, _MARKET = 0, 1, 2, 3


class OrderFlow:
    """The crowd's action stream; see the module docstring for the contract."""

    def __init__(self, config: FlowConfig, market: Market, start_ns: int) -> None:
        """Create the flow; nothing is generated until :meth:`pop`."""
        self.config = config
        self.market = market
        self.start_ns = start_ns
        self._rng = random.Random(config.seed)
        self._tick = Fraction(market.tick_size)
        # Fair steps: (abs ts, fair in ticks), sorted; the first holds from start.
        steps = sorted((s for s in config.scenarios if isinstance(s, FxStep)), key=_at)
        self._fair: list[tuple[int, Fraction]] = [(start_ns, self._fair_ticks(config.som_per_usd))]
        self._fair += [(start_ns + s.at_ns, self._fair_ticks(s.som_per_usd)) for s in steps]
        self._shocks = [s for s in config.scenarios if isinstance(s, DepegShock)]
        self._droughts = [s for s in config.scenarios if isinstance(s, Drought)]
        bounds = {start_ns + d.at_ns for d in self._droughts}
        bounds |= {start_ns + d.at_ns + d.duration_ns for d in self._droughts}
        self._bounds = sorted(b for b in bounds if b > start_ns)
        self._resting: dict[str, _Resting] = {}
        self._cancels: list[tuple[int, int, str]] = []  # (ts, seq, client id), lazy deletion
        self._pending: deque[Action] = deque()
        self._sweeps = [(start_ns + s.at_ns, s.stale_fraction) for s in steps if s.cancel_stale]
        self._next_id = 0
        self._seq = 0
        rates = config.rates
        for _ in range(rates.initial_orders_per_side):
            for side in (Side.BUY, Side.SELL):
                self._pending.append(self._new_limit(start_ns, side))
        self._t_limit = self._arrival(start_ns, 2 * rates.limit_per_s)
        self._t_market = self._arrival(start_ns, rates.market_per_s)

    # -- the fair path --------------------------------------------------------------------

    def _fair_ticks(self, som_per_usd: Decimal) -> Fraction:
        return 1 / (Fraction(som_per_usd) * self._tick)

    def fair_ticks(self, ts_ns: int) -> Fraction:
        """Fair value at ``ts_ns`` in ticks, exact."""
        fair = self._fair[0][1]
        for at, value in self._fair:
            if at > ts_ns:
                break
            fair = value
        return fair

    def fair_price(self, ts_ns: int) -> Decimal:
        """Fair value at ``ts_ns`` in the quote currency (to the Decimal context's precision)."""
        f = self.fair_ticks(ts_ns) * self._tick
        return Decimal(f.numerator) / Decimal(f.denominator)

    def shock_bps(self, ts_ns: int) -> float:
        """The depeg shocks' combined offset of the crowd's reference from fair, in bps."""
        total = 0.0
        for s in self._shocks:
            total += s.bps * _profile(s, ts_ns - self.start_ns)
        return total

    def reference_ticks(self, ts_ns: int) -> Fraction:
        """The price the crowd quotes around at ``ts_ns``, in ticks."""
        bps = self.shock_bps(ts_ns)
        fair = self.fair_ticks(ts_ns)
        return fair * (1 + Fraction(bps) / 10_000) if bps else fair

    def touch_ticks(self, ts_ns: int) -> tuple[int, int]:
        """The crowd's best bid and best ask ticks at ``ts_ns`` (one tick apart off-grid)."""
        ref = self.reference_ticks(ts_ns)
        return max(math.ceil(ref) - 1, 1), math.floor(ref) + 1

    def _buy_fraction(self, ts_ns: int) -> float:
        rel = ts_ns - self.start_ns
        for s in self._shocks:
            if s.bps == 0 or rel < s.at_ns:
                continue
            push = s.push_fraction if s.bps > 0 else 1 - s.push_fraction
            if rel < s.at_ns + s.ramp_ns + s.hold_ns:
                return push
            if rel < s.at_ns + s.ramp_ns + s.hold_ns + s.revert_ns:
                return 1 - push
        return 0.5

    def _drought(self, ts_ns: int) -> tuple[float, float]:
        # (rate factor, size factor) in force at ts_ns.
        rel = ts_ns - self.start_ns
        rate = size = 1.0
        for d in self._droughts:
            if d.at_ns <= rel < d.at_ns + d.duration_ns:
                rate *= d.rate_factor
                size *= d.size_factor
        return rate, size

    # -- the stream -----------------------------------------------------------------------

    def peek_ts(self) -> int | None:
        """Time of the next action, or None if no action will ever come."""
        self._drop_stale_pending()
        if self._pending:
            return self._pending[0].ts_ns
        due = self._due()
        return None if due is None else due[0]

    def _due(self) -> tuple[int, int] | None:
        cancels = self._cancels
        resting = self._resting
        # Lazy deletion: orders filled or already being canceled keep their old entry.
        while cancels and (cancels[0][2] not in resting or resting[cancels[0][2]].cancel_sent):
            heapq.heappop(cancels)
        best: tuple[int, int] | None = None
        for ts, kind in (
            (self._sweeps[0][0] if self._sweeps else None, _SWEEP),
            (cancels[0][0] if cancels else None, _CANCEL),
            (self._t_limit, _LIMIT),
            (self._t_market, _MARKET),
        ):
            if ts is not None and (best is None or (ts, kind) < best):
                best = (ts, kind)
        return best

    def pop(self) -> Action:
        """The next action (and its effect on the flow's state).

        Raises:
            FlowError: The flow has gone quiet forever (every rate is zero).
        """
        self._drop_stale_pending()
        while not self._pending:
            due = self._due()
            if due is None:
                raise FlowError("no more actions: every rate is zero")
            ts, kind = due
            if kind == _SWEEP:
                self._sweep(ts, self._sweeps.pop(0)[1])
            elif kind == _CANCEL:
                _, _, cid = heapq.heappop(self._cancels)
                self._resting[cid].cancel_sent = True
                return Cancel(ts, cid)
            elif kind == _LIMIT:
                side = Side.BUY if self._rng.random() < 0.5 else Side.SELL
                self._t_limit = self._arrival(ts, 2 * self.config.rates.limit_per_s)
                return self._new_limit(ts, side)
            else:
                self._t_market = self._arrival(ts, self.config.rates.market_per_s)
                return self._new_market(ts)
        action = self._pending.popleft()
        if isinstance(action, Cancel):
            self._resting[action.client_id].cancel_sent = True
        return action

    def _drop_stale_pending(self) -> None:
        # A sweep's cancel whose order filled (or was canceled) since the sweep is void.
        pending = self._pending
        while pending:
            head = pending[0]
            if not isinstance(head, Cancel):
                return
            order = self._resting.get(head.client_id)
            if order is not None and not order.cancel_sent:
                return
            pending.popleft()

    def until(self, ts_ns: int) -> list[Action]:
        """Every action due at or before ``ts_ns``, in order."""
        out: list[Action] = []
        while True:
            nxt = self.peek_ts()
            if nxt is None or nxt > ts_ns:
                return out
            out.append(self.pop())

    def __iter__(self) -> Iterator[Action]:
        while self.peek_ts() is not None:
            yield self.pop()

    # -- feedback from the engine ---------------------------------------------------------

    @property
    def resting(self) -> Mapping[str, RestingOrder]:
        """The crowd orders the flow believes are resting, by client id (a copy)."""
        return {cid: RestingOrder(r.side, r.price, r.leaves) for cid, r in self._resting.items()}

    def on_filled(self, client_id: str, qty_units: int) -> None:
        """The engine filled ``qty_units`` of a crowd limit order (maker or taker)."""
        order = self._resting.get(client_id)
        if order is None:
            raise FlowError(f"fill for {client_id!r}, which is not a resting crowd order")
        if not 0 < qty_units <= order.leaves:
            raise FlowError(f"fill of {qty_units} for {client_id!r} with {order.leaves} left")
        order.leaves -= qty_units
        if order.leaves == 0:
            del self._resting[client_id]

    def on_canceled(self, client_id: str) -> None:
        """A crowd limit order left the book unfilled (canceled, rejected or expired)."""
        if self._resting.pop(client_id, None) is None:
            raise FlowError(f"cancel of {client_id!r}, which is not a resting crowd order")

    # -- building actions -----------------------------------------------------------------

    def _arrival(self, t: int, base_rate: float) -> int | None:
        # Next arrival of a Poisson process whose rate is base_rate x the drought factor,
        # piecewise constant between self._bounds: spend one unit exponential of hazard.
        if base_rate <= 0:
            return None
        hazard = self._rng.expovariate(1.0)
        i = 0
        bounds = self._bounds
        while True:
            while i < len(bounds) and bounds[i] <= t:
                i += 1
            end = bounds[i] if i < len(bounds) else None
            rate = base_rate * self._drought(t)[0]
            if rate > 0:
                dt = hazard / rate * NS_PER_S
                if end is None or t + dt < end:
                    return t + int(dt) + 1
                hazard -= rate * (end - t) / NS_PER_S
            if end is None:
                return None
            t = end

    def _lots(self, median: int, ts: int, ticks: int) -> int:
        sizes = self.config.sizes
        raw = median * math.exp(sizes.sigma * self._rng.gauss(0.0, 1.0)) * self._drought(ts)[1]
        lots = max(1, min(round(raw), round(median * sizes.cap_factor)))
        # Stay within the venue's filters so the engine never rejects the crowd.
        m = self.market
        min_lots = max(
            m.qty_to_lots(m.min_qty, _UP) if m.min_qty else 1,
            m.qty_to_lots(m.min_notional / m.ticks_to_price(ticks), _UP) if m.min_notional else 1,
        )
        return max(lots, min_lots)

    def _new_limit(self, ts: int, side: Side) -> PlaceLimit:
        prices = self.config.prices
        bid, ask = self.touch_ticks(ts)
        offset = 0
        if prices.mean_offset_ticks > 0:
            # Geometric on {0, 1, ...} with the configured mean.
            q = prices.mean_offset_ticks / (1 + prices.mean_offset_ticks)
            u = 1.0 - self._rng.random()  # (0, 1]
            offset = min(int(math.log(u) / math.log(q)), prices.max_offset_ticks)
        price = max(bid - offset, 1) if side is Side.BUY else ask + offset
        lots = self._lots(self.config.sizes.limit_median_lots, ts, price)
        cid = f"crowd-{self._next_id}"
        self._next_id += 1
        units = self.market.lots_to_units(lots)
        self._resting[cid] = _Resting(side, price, units)
        rate = self.config.rates.cancel_per_order_per_s
        if rate > 0:
            life = int(self._rng.expovariate(rate) * NS_PER_S) + 1
            self._seq += 1
            heapq.heappush(self._cancels, (ts + life, self._seq, cid))
        return PlaceLimit(ts, side, price, units, cid)

    def _new_market(self, ts: int) -> MarketOrder:
        side = Side.BUY if self._rng.random() < self._buy_fraction(ts) else Side.SELL
        bid, _ = self.touch_ticks(ts)
        lots = self._lots(self.config.sizes.market_median_lots, ts, bid)
        cid = f"crowd-m{self._next_id}"
        self._next_id += 1
        return MarketOrder(ts, side, self.market.lots_to_units(lots), cid)

    def _sweep(self, ts: int, fraction: float) -> None:
        # After an FX step the crowd pulls quotes that are through or far from the new fair;
        # with fraction < 1 some stay, to be picked off by the repriced crowd.
        bid, ask = self.touch_ticks(ts)
        far = self.config.prices.max_offset_ticks + 1
        for cid, r in self._resting.items():
            if r.cancel_sent:
                continue
            stale = (
                not bid - far <= r.price <= bid
                if r.side is Side.BUY
                else not ask <= r.price <= ask + far
            )
            if stale and (fraction >= 1.0 or self._rng.random() < fraction):
                self._pending.append(Cancel(ts, cid))


class _Resting:
    __slots__ = ("cancel_sent", "leaves", "price", "side")

    def __init__(self, side: Side, price: int, leaves: int) -> None:
        self.side = side
        self.price = price
        self.leaves = leaves
        self.cancel_sent = False


def _at(s: FxStep) -> int:
    return s.at_ns


def _profile(s: DepegShock, rel: int) -> float:
    # Share of the shock's bps in force ``rel`` ns after the flow's start: ramp, hold, revert.
    t = rel - s.at_ns
    if t < 0:
        return 0.0
    if t < s.ramp_ns:
        return t / s.ramp_ns
    t -= s.ramp_ns
    if t < s.hold_ns:
        return 1.0
    t -= s.hold_ns
    if t < s.revert_ns:
        return 1.0 - t / s.revert_ns
    return 0.0
