"""The scorecard of a running bot: the same fold, a rolling window, Prometheus gauges.

The live runner owns the facts (its book, its orders, its fair value, its fills); this
component turns them into scorecard events and folds them with the very
:class:`~pegbot.scorecard.fold.Fold` the offline scorecard uses, so "two-sided", "time to
pull" and an obligation snapshot mean the same live as in an evaluation or a backtest. Memory
is bounded: only the last ``window_s`` seconds of pieces, snapshots and order counts are kept.

Hook (the runner calls, all with its own clock's ``now_ns``; nothing here reads a clock):

* :meth:`LiveScorecard.observe` after each decision: the feed's book (our orders are in it),
  our live orders, and the fair value the decision used. It folds up to ``now_ns``, updates
  the gauges and returns the :class:`LiveFigures`.
* :meth:`LiveScorecard.fill` for each fill folded in for the first time.
* :meth:`LiveScorecard.order` for each order request the venue accepted (placed, cancelled,
  amended, replaced).
* :meth:`LiveScorecard.capacity` for each measurement of the ladder's capacity on a side
  (levels and lots the balance funds; the desk loop measures it about once a second). The
  figures carry the last one and the window's minimum, the gauges the minimum: "could the
  balance fund the ladder the whole time", not only now.

Times never go backwards here: a call with a clock reading earlier than the last one (a
wall clock stepping back, a fill stamped before a decision's ``now``) is taken at the last
time seen, so the hook can never raise on the bot's loop.

What rests is what the runner believes rests: orders acknowledged, and orders whose cancel is
not yet confirmed (they can still fill); a placement not yet acknowledged is not resting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from pegbot.book import OrderBook
from pegbot.market import Market, Side
from pegbot.metrics import Metrics
from pegbot.metrics_table import OBLIGATIONS
from pegbot.strategy import LiveOrder, OrderStatus
from pegbot.timeunits import ns_to_s, s_to_ns

from .config import ScorecardSettings
from .events import Fair, Level, OrderAction, OrderKind, OwnFill, Quotes, book_from_l2
from .fold import Fold, State

__all__ = ["LiveFigures", "LiveScorecard"]

_RESTING = (OrderStatus.OPEN, OrderStatus.PENDING_CANCEL)


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """What the live scorecard says now (seconds; ratios 0-1).

    Attributes:
        two_sided_ratio: Share of the window with an order of ours on each side.
        one_sided_s: The current run with a side empty (0 while two-sided).
        side_empty_s: Per side (``bid``, ``ask``), the current run with no order of ours.
        obligation_ratio: Per obligation and ``all``, the window's share of snapshots
            meeting it.
        obligation_met: Per obligation and ``all``, whether that share reaches min_uptime.
        jumps: FX jumps seen.
        jump_pull_s: Last jump's seconds to pull (None: none yet, or not yet pulled).
        jump_requote_s: Last jump's seconds to requote (None likewise).
        jump_waiting_s: Seconds the last jump has waited for its requote (0 once requoted).
        orders_per_fill: Orders placed in the window per fill (fills floored at one).
        wrong_side_fills: Fills on the wrong side of a jump's new fair, in total.
        capacity: Per side, the last capacity measured as ``(levels, lots)``; None before
            the first.
        capacity_min: Per side, the fewest levels and the fewest lots in force at any time
            in the window (each its own minimum); None before the first measurement.
    """

    two_sided_ratio: float
    one_sided_s: float
    side_empty_s: dict[str, float]
    obligation_ratio: dict[str, float]
    obligation_met: dict[str, bool]
    jumps: int
    jump_pull_s: float | None
    jump_requote_s: float | None
    jump_waiting_s: float
    orders_per_fill: float
    wrong_side_fills: int
    capacity: dict[str, tuple[int, int] | None]
    capacity_min: dict[str, tuple[int, int] | None]


class LiveScorecard:
    """A running bot's scorecard for one venue and symbol (see the module docstring).

    Args:
        market: The market.
        venue: The venue's name (a metric label).
        symbol: The symbol (a metric label).
        settings: Thresholds and obligations.
        metrics: Where to export (its ``pegbot_scorecard_*`` rows, initialised for this venue
            and symbol by :meth:`pegbot.metrics.Metrics.init_bot`); None: figures only.
        window_s: The rolling window of the ratios.
        export_every_s: The gauges are set at most this often (the figures are folded at
            every call; a scrape every few seconds reads them).
    """

    def __init__(
        self,
        market: Market,
        venue: str,
        symbol: str,
        settings: ScorecardSettings | None = None,
        metrics: Metrics | None = None,
        window_s: float = 300.0,
        export_every_s: float = 0.2,
    ) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.export_every_ns = s_to_ns(export_every_s)
        self._exported_ns: int | None = None
        self.market = market
        self.venue = venue
        self.symbol = symbol
        self.settings = settings or ScorecardSettings()
        self.metrics = metrics
        self.window_ns = s_to_ns(window_s)
        self._tick = Fraction(market.tick_size)
        self.fold: Fold | None = None
        self._quotes: tuple[tuple[Level, ...], tuple[Level, ...]] | None = None
        self._fair: Fraction | None = None
        self._pieces: deque[tuple[int, int, bool]] = deque()
        self._obs_ns = 0  # the pieces' total length, and of it two-sided
        self._two_ns = 0
        self._samples: deque[tuple[int, tuple[bool, ...]]] = deque()
        self._met = [0] * len(OBLIGATIONS)
        self._placed: deque[int] = deque()
        self._fills: deque[int] = deque()
        self._one_sided_since: int | None = None
        self._empty_since: dict[str, int | None] = {"bid": None, "ask": None}
        self._jumps_seen = 0
        self._wrong = 0
        self._last_ns = 0
        # Per side, the capacity measurements (t, levels, lots); the oldest one kept is the
        # one in force at the window's start.
        self._capacity: dict[str, deque[tuple[int, int, int]]] = {"bid": deque(), "ask": deque()}

    # -- the hook --------------------------------------------------------------------------

    def observe(
        self,
        now_ns: int,
        book: OrderBook | None,
        orders: Iterable[LiveOrder],
        fair_price: Fraction | None,
    ) -> LiveFigures:
        """Fold in the runner's view at ``now_ns``; returns the figures.

        The gauges are set at most every ``export_every_s``.

        Args:
            now_ns: The runner's clock.
            book: The feed's L2 book (our orders in it), or None before it synced.
            orders: Our live orders (the runner's tracker).
            fair_price: The fair value in the quote currency, or None while unknown.
        """
        now_ns = self._clamp(now_ns)
        fold = self._fold(now_ns)
        m = self.market
        bids: list[Level] = []
        asks: list[Level] = []
        for o in orders:
            if o.status in _RESTING:
                level = (o.price_ticks, m.lots_to_units(o.lots))
                (bids if o.side is Side.BUY else asks).append(level)
        quotes = (tuple(sorted(bids, reverse=True)), tuple(sorted(asks)))
        if quotes != self._quotes:
            self._quotes = quotes
            fold.feed(Quotes(now_ns, *quotes))
        fair = fair_price / self._tick if fair_price is not None else None
        if fair != self._fair:
            self._fair = fair
            before = len(fold.jumps)
            fold.feed(Fair(now_ns, fair))
            self._count_jumps(before)
        if book is not None:
            fold.feed(book_from_l2(now_ns, book, *quotes))
        fold.advance(now_ns)
        figures = self.figures(now_ns)
        last = self._exported_ns
        if last is None or now_ns - last >= self.export_every_ns:
            self._exported_ns = now_ns
            self._export(figures)
        return figures

    def fill(self, now_ns: int, side: Side, price_ticks: int, qty_units: int, maker: bool) -> None:
        """A fill of ours, folded in for the first time, at ``now_ns``."""
        now_ns = self._clamp(now_ns)
        fold = self._fold(now_ns)
        before = sum(j.wrong_fills for j in fold.jumps)
        fold.feed(OwnFill(now_ns, side, price_ticks, qty_units, maker))
        self._fills.append(now_ns)
        wrong = sum(j.wrong_fills for j in fold.jumps) - before
        if wrong:
            self._wrong += wrong
            if self.metrics is not None:
                label = "bid" if side is Side.BUY else "ask"
                m = self.metrics.scorecard_wrong_side_fills
                m.labels(self.venue, self.symbol, label).inc(wrong)

    def order(self, now_ns: int, kind: OrderKind, side: Side) -> None:
        """An order request of ours the venue accepted, at ``now_ns``."""
        now_ns = self._clamp(now_ns)
        self._fold(now_ns).feed(OrderAction(now_ns, kind, side))
        if kind is OrderKind.PLACED:
            self._placed.append(now_ns)

    def capacity(self, now_ns: int, side: Side, levels: int, lots: int) -> None:
        """The ladder's capacity on ``side``, measured at ``now_ns``.

        Args:
            now_ns: When it was measured.
            side: The ladder's side (BUY: the bids, funded by the quote balance).
            levels: Levels funded in full from the top.
            lots: Lots funded at the ladder's prices
                (:func:`pegbot.desk.rebalance.ladder_capacity`).
        """
        now_ns = self._clamp(now_ns)
        self._capacity["bid" if side is Side.BUY else "ask"].append((now_ns, levels, lots))
        self._prune_capacity(now_ns - self.window_ns)  # bounded even if observe() never runs

    # -- figures -----------------------------------------------------------------------------

    def figures(self, now_ns: int) -> LiveFigures:
        """The figures at ``now_ns`` (after :meth:`observe` folded up to it)."""
        lo = now_ns - self.window_ns
        self._prune(lo)
        obs, two = self._obs_ns, self._two_ns
        if self._pieces and self._pieces[0][0] < lo:  # the oldest piece counts from lo on
            t0, _, on = self._pieces[0]
            obs -= lo - t0
            two -= (lo - t0) if on else 0
        n = len(self._samples)
        ratios = {ob: (self._met[i] / n if n else 0.0) for i, ob in enumerate(OBLIGATIONS)}
        need = self.settings.obligations.min_uptime
        fold = self.fold
        jump = fold.jumps[-1] if fold is not None and fold.jumps else None
        pull = requote = None
        waiting = 0.0
        if jump is not None:
            if jump.pulled_ns is not None:
                pull = ns_to_s(jump.pulled_ns - jump.at_ns)
            if jump.requoted_ns is not None:
                requote = ns_to_s(jump.requoted_ns - jump.at_ns)
            else:
                waiting = ns_to_s(max(0, now_ns - jump.at_ns))
        # Runs end the moment the state in force changes, before a piece of it is folded.
        st = fold.state if fold is not None else None
        caps = self._capacity
        return LiveFigures(
            two_sided_ratio=two / obs if obs else 0.0,
            one_sided_s=0.0
            if st is None or st.two_sided
            else _since(self._one_sided_since, now_ns),
            side_empty_s={
                "bid": 0.0 if st is None or st.bids else _since(self._empty_since["bid"], now_ns),
                "ask": 0.0 if st is None or st.asks else _since(self._empty_since["ask"], now_ns),
            },
            obligation_ratio=ratios,
            obligation_met={ob: bool(n) and r >= need for ob, r in ratios.items()},
            jumps=self._jumps_seen,
            jump_pull_s=pull,
            jump_requote_s=requote,
            jump_waiting_s=waiting,
            orders_per_fill=len(self._placed) / max(1, len(self._fills)),
            wrong_side_fills=self._wrong,
            capacity={side: (q[-1][1], q[-1][2]) if q else None for side, q in caps.items()},
            capacity_min={
                side: (min(c[1] for c in q), min(c[2] for c in q)) if q else None
                for side, q in caps.items()
            },
        )

    # -- internals -----------------------------------------------------------------------

    def _clamp(self, now_ns: int) -> int:
        self._last_ns = max(self._last_ns, now_ns)
        return self._last_ns

    def _fold(self, now_ns: int) -> Fold:
        if self.fold is None:
            tick = float(self.market.tick_size) * float(self.market.qty_unit)
            self.fold = Fold(
                self.settings, now_ns, tick, on_segment=self._piece, on_samples=self._samples_at
            )
        return self.fold

    def _piece(self, t0: int, t1: int, st: State) -> None:
        two = st.two_sided
        pieces = self._pieces
        if pieces and pieces[-1][2] == two and pieces[-1][1] == t0:
            # One piece per stretch of the same state, not per decision: the window holds
            # as many pieces as the quotes changed sides, however often the bot decides.
            pieces[-1] = (pieces[-1][0], t1, two)
        else:
            pieces.append((t0, t1, two))
        self._obs_ns += t1 - t0
        self._two_ns += (t1 - t0) if two else 0
        self._one_sided_since = None if two else _first(self._one_sided_since, t0)
        for side, levels in (("bid", st.bids), ("ask", st.asks)):
            self._empty_since[side] = None if levels else _first(self._empty_since[side], t0)
        if self.metrics is not None:
            dt = ns_to_s(t1 - t0)
            self.metrics.scorecard_observed.labels(self.venue, self.symbol).inc(dt)
            if two:
                self.metrics.scorecard_two_sided.labels(self.venue, self.symbol).inc(dt)

    def _samples_at(self, t: int, n: int, st: State, checks: tuple[bool, bool, bool, bool]) -> None:
        # One entry per snapshot: the window drops them one by one as it slides.
        row = (*checks, all(checks))
        assert self.fold is not None  # the fold is what calls this
        step = self.fold.sample_ns
        for k in range(n):
            self._samples.append((t + k * step, row))
        for i, ok in enumerate(row):
            self._met[i] += n * ok

    def _prune(self, lo: int) -> None:
        pieces = self._pieces
        while pieces and pieces[0][1] <= lo:
            t0, t1, on = pieces.popleft()
            self._obs_ns -= t1 - t0
            self._two_ns -= (t1 - t0) if on else 0
        samples = self._samples
        while samples and samples[0][0] < lo:
            _, row = samples.popleft()
            for i, ok in enumerate(row):
                self._met[i] -= ok
        for q in (self._placed, self._fills):
            while q and q[0] < lo:
                q.popleft()
        self._prune_capacity(lo)

    def _prune_capacity(self, lo: int) -> None:
        for caps in self._capacity.values():
            # Drop a measurement only once the next one was in force by lo.
            while len(caps) > 1 and caps[1][0] <= lo:
                caps.popleft()

    def _count_jumps(self, before: int) -> None:
        assert self.fold is not None
        new = len(self.fold.jumps) - before
        if new > 0:
            self._jumps_seen += new
            if self.metrics is not None:
                self.metrics.scorecard_jumps.labels(self.venue, self.symbol).inc(new)

    def _export(self, f: LiveFigures) -> None:
        m = self.metrics
        if m is None:
            return
        v, s = self.venue, self.symbol
        m.scorecard_two_sided_ratio.labels(v, s).set(f.two_sided_ratio)
        m.scorecard_one_sided.labels(v, s).set(f.one_sided_s)
        for side, secs in f.side_empty_s.items():
            m.scorecard_side_empty.labels(v, s, side).set(secs)
        for ob in OBLIGATIONS:
            m.scorecard_obligation_ratio.labels(v, s, ob).set(f.obligation_ratio[ob])
            m.scorecard_obligation_met.labels(v, s, ob).set(1 if f.obligation_met[ob] else 0)
        m.scorecard_jump_pull.labels(v, s).set(f.jump_pull_s or 0.0)
        m.scorecard_jump_requote.labels(v, s).set(f.jump_requote_s or 0.0)
        m.scorecard_jump_waiting.labels(v, s).set(f.jump_waiting_s)
        m.scorecard_orders_per_fill.labels(v, s).set(f.orders_per_fill)
        for side, low in f.capacity_min.items():
            if low is not None:  # no series before a measurement: 0 would claim a shortage
                m.scorecard_capacity_min_levels.labels(v, s, side).set(low[0])
                m.scorecard_capacity_min_lots.labels(v, s, side).set(low[1])


def _first(since: int | None, t0: int) -> int:
    return t0 if since is None else since


def _since(start: int | None, now_ns: int) -> float:
    return ns_to_s(max(0, now_ns - start)) if start is not None else 0.0
