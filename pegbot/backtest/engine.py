"""The backtest shell: the live bot's Strategy → Risk → Reconciler loop on a replayed tape.

Only the clock and the venue are swapped (``DESIGN.md``, principle 1). The clock is the
tape's: rows reach the exchange side at their exchange time and the strategy's book at their
local receive time (:mod:`pegbot.backtest.core`), so feed latency is the recorded one. The
venue is :class:`~pegbot.backtest.venue.SimVenue`, with order entry and response latency
and queue-position fills from :mod:`pegbot.matching`.

Each decision is the shared :class:`~pegbot.execution.decision.DecisionStep` (strategy,
risk, reconciler), and our orders are an :class:`~pegbot.execution.orders.OrderTracker` — the
very objects the live runner uses — so what counts as resting, pending or finished is decided
by one piece of code in both worlds. The venue's answers are folded into the tracker when
they reach the shell; on ``RiskState.cancel_all`` every order is cancelled one by one.
Inventory as the strategy sees it moves when a fill's answer arrives; the venue's own account
moves at the fill.

The strategy is asked on a timer (``wake_ns``), and only when something it reads may have
changed: for a strategy whose :attr:`~pegbot.strategy.Strategy.inputs` leave out the book's
depth, a best price, a fill, a reject or a "not found" (an ack or a cancel ack only when the
last diff left something out waiting for it), or ``max_idle_ns`` since the last decision (so
time-driven risk triggers such as a stale book still fire); for any other strategy, any book
change or order response.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from pegbot.backtest import core
from pegbot.backtest.book import DenseBookView
from pegbot.backtest.fair import FairFn, fixed_fair, mid_fair
from pegbot.backtest.venue import ACK, FILL, REJECT, Account, SimVenue
from pegbot.execution.decision import DecisionStep
from pegbot.execution.orders import OrderTracker
from pegbot.execution.reconciler import Reconciler
from pegbot.execution.risk import Risk
from pegbot.market import Market
from pegbot.matching import FillEngine, LatencyModel, RiskAverse
from pegbot.strategy import FairView, FeedHealth, Input, Inventory, MarketState, Strategy
from pegbot.tape.reader import Columns, TapeReader
from pegbot.tape.schema import TRADE

_COLS = ("kind", "side", "price", "qty", "exch_ts", "local_ts")
_ZERO = Decimal(0)
_GC_GEN0 = 100_000  # young-generation threshold during a run (see Backtest.run)
_MARGIN = 256  # spare ticks on each side of the dense books
#: Widest price range the dense books track (6 rows x 8 B x 2 M = 96 MB); depth rows
#: further away are counted in ``BacktestRun.far_levels`` and not applied.
MAX_DENSE_TICKS = 2_000_000


class BacktestError(ValueError):
    """The backtest cannot run on these inputs (the message says why)."""


@dataclass
class BacktestRun:
    """Everything a run produced; :mod:`pegbot.backtest.results` turns it into tables.

    Attributes:
        market: The market.
        events: Tape rows replayed.
        wall_s: Wall time of the replay.
        cpu_s: CPU time of the process over the same span (every thread, including the
            tape reader's).
        venue: The venue (records, its account).
        local: The account as the shell saw it at the end.
        initial: The account at the start.
        target_base_units: The inventory target.
        bbo: Local best-price timeline ``(local_ts, best_bid, best_ask)`` at each change.
        evaluations: Strategy decisions made.
        wakeups_skipped: Not counted exactly (the core jumps them); kept for the summary.
        start_ns: First row's local time.
        end_ns: Last row's local time.
        fair_price: The fixed fair price, when fair came from a fixed rate.
        fair_source: ``fixed``, ``mid`` or ``series``.
        risk_transitions: Risk level changes ``(at_ns, from, to, reasons)``.
        signals: Signals the arbitrage signaler raised.
        far_levels: Depth rows outside the dense books' range, counted and not applied.
    """

    market: Market
    events: int
    wall_s: float
    venue: SimVenue
    local: Account
    initial: Account
    target_base_units: int
    bbo: np.ndarray[Any, Any]
    evaluations: int
    start_ns: int
    end_ns: int
    fair_source: str
    fair_price: Decimal | None = None
    fair_series: list[tuple[int, Fraction]] = field(default_factory=list)
    risk_transitions: list[tuple[int, str, str, str]] = field(default_factory=list)
    signals: int = 0
    far_levels: int = 0
    cpu_s: float = 0.0


class Backtest:
    """One backtest run over a tape (see the module docstring).

    Args:
        tape: The tape file.
        market: The market (fees, filters); its tick and lot must match the tape's.
        strategy: The strategy.
        reconciler: The reconciler (no rate budget in backtests unless you give one).
        risk: The risk layer, or None to send the strategy's quotes unclamped.
        fills: The fill engine (queue model, partial fills).
        latency: Order entry and response latency.
        fair: The fair value at a decision time; see :func:`fixed_fair`, :func:`mid_fair`.
        fair_source: Name of the fair source, for the results.
        initial: The starting account.
        target_base_units: The inventory the strategy skews toward.
        wake_ns: Timer period of strategy wake-ups.
        max_idle_ns: Longest time without a decision.
        progress: Called with (rows done, rows total) after each row group.
        signaler: Optional callable ``(now_ns, book, fair) -> int`` (signals raised).
        defer_depth: With the risk-averse queue, hand non-crossing depth rows at our levels
            to the fill engine in one call (same fills, fewer calls); False sends each row.
        reorder_ns: How much earlier than its local receive time a row's exchange time may
            be and still be applied in exchange-time order across row groups (the feed
            latency allowance); rows later than that are applied no earlier than the rows
            the venue side has already applied.
    """

    def __init__(
        self,
        tape: str | Path,
        market: Market,
        strategy: Strategy,
        reconciler: Reconciler,
        risk: Risk | None,
        fills: FillEngine,
        latency: LatencyModel,
        fair: FairFn = mid_fair,
        fair_source: str = "mid",
        initial: Account | None = None,
        target_base_units: int = 0,
        wake_ns: int = 100_000_000,
        max_idle_ns: int = 5_000_000_000,
        progress: Callable[[int, int], None] | None = None,
        signaler: Callable[[int, DenseBookView, FairView | None], int] | None = None,
        defer_depth: bool = True,
        reorder_ns: int = 10_000_000_000,
    ) -> None:
        if wake_ns <= 0 or max_idle_ns <= 0:
            raise BacktestError("wake_ns and max_idle_ns must be positive")
        self.reader = TapeReader(tape)
        meta = self.reader.meta
        if meta.tick_size != market.tick_size or meta.qty_decimals != market.qty_decimals:
            raise BacktestError(
                f"tape grid (tick {meta.tick_size}, qty decimals {meta.qty_decimals}) differs "
                f"from the market's (tick {market.tick_size}, {market.qty_decimals})"
            )
        if fills.lot_units != market.units_per_lot:
            raise BacktestError("fill engine lot_units must equal market.units_per_lot")
        self.market = market
        self.strategy = strategy
        self.reconciler = reconciler
        self.risk = risk
        self.fills = fills
        self.fair = fair
        self.fair_source = fair_source
        self.progress = progress
        self.signaler = signaler
        start = initial or Account()
        self.initial = Account(start.base_units, start.cash_tu, start.fees)
        self.venue = SimVenue(market, fills, latency, Account(start.base_units, start.cash_tu))
        self.local = Account(start.base_units, start.cash_tu)
        self.target = target_base_units
        self.step = DecisionStep(strategy, risk, reconciler)
        self.orders = OrderTracker(reconciler.run)
        self.st = core.new_state()
        self.st[core.WAKE_NS] = wake_ns
        self.st[core.MAX_IDLE] = max_idle_ns
        self.st[core.BBO_ONLY] = int(Input.DEPTH not in strategy.inputs)
        self.st[core.DEFER] = int(defer_depth and isinstance(fills.queue, RiskAverse))
        self.reorder_ns = reorder_ns
        self.evaluations = 0
        self.signals = 0
        self._rejects_seen = 0
        self._inventory: Inventory | None = None
        self._inv_cash = 0
        self._cpu0 = 0.0
        self._upl = market.units_per_lot
        tick_unit = Fraction(market.tick_size) * Fraction(market.qty_unit)
        per_unit = Fraction(market.qty_unit) / tick_unit  # tick-units per quote unit
        self._qu_num, self._qu_den = per_unit.denominator, per_unit.numerator
        self._bbo_chunks: list[np.ndarray[Any, Any]] = []
        self._transitions: list[tuple[int, str, str, str]] = []
        self._batches: Iterator[Columns] = iter(())
        self._pool: ThreadPoolExecutor | None = None
        self._prefetch: Future[Columns | None] | None = None
        self._rows_loaded = 0
        self.fair_price: Decimal | None = None
        #: The fair price steps of a rate series, for the results (empty otherwise).
        self.fair_series: list[tuple[int, Fraction]] = []
        self._first_ts: int | None = None
        self._rows: np.ndarray[Any, Any] | None = None
        self._flat: np.ndarray[Any, Any] | None = None  # buffer under ``_rows``
        self._spare: np.ndarray[Any, Any] | None = None  # buffer under the window before
        self._arange = np.zeros(0, dtype=np.int64)
        self._done = np.zeros(0, dtype=bool)  # window rows the venue side has applied
        self._books: np.ndarray[Any, Any] | None = None
        self._tl = np.zeros((3, 1), dtype=np.int64)
        self._carry = 0
        self._last_diff_skipped = False
        self._last_ts = 0

    # -- data windows ---------------------------------------------------------------------

    def _next_batch(self) -> Columns | None:
        while True:
            fut = self._prefetch
            cols = fut.result() if fut is not None else next(self._batches, None)
            if cols is None:
                self._prefetch = None
                return None
            if self._pool is not None:
                # Read and decompress the next row group while this one replays (pyarrow
                # releases the GIL); one request in flight, so the iterator is never
                # advanced by two threads at once.
                self._prefetch = self._pool.submit(next, self._batches, None)
            if len(cols["kind"]):
                self._rows_loaded += len(cols["kind"])
                if self.progress is not None:
                    self.progress(self._rows_loaded, self.reader.num_rows)
                return cols

    def _load(self, cols: Columns) -> None:
        st = self.st
        local = np.ascontiguousarray(cols["local_ts"], dtype=np.int64)
        exch = np.asarray(cols["exch_ts"], dtype=np.int64)
        ex = self._fill_exch(exch, local)
        if self._first_ts is None:
            self._first_ts = int(local[0])
            # The clock starts at the first row's exchange time, as hftbacktest's does.
            st[core.NEXT_WAKE] = min(int(ex.min()), int(local[0])) + st[core.WAKE_NS]
        self._last_ts = int(local[-1])
        m = len(local)
        # The rows the last window left (not yet applied on both sides) go first; the new
        # window is written straight after them (one allocation, no concatenation).
        keep = cut = 0
        old_done = self._done
        old = self._rows
        if old is not None:
            ie = int(st[core.IE])
            old_done[old[6, :ie]] = True  # applied on the exchange side already
            # argmin of a bool array: its first False (0 when all are True, checked first).
            first_pending = old.shape[1] if old_done.all() else int(np.argmin(old_done))
            cut = min(int(st[core.IL]), first_pending)
            keep = old.shape[1] - cut
            st[core.IL] -= cut
        new = self._window(keep + m)
        done = np.zeros(keep + m, dtype=bool)
        if old is not None and keep:
            new[:6, :keep] = old[:6, cut:]
            done[:keep] = old_done[cut:]
        new[0, keep:] = cols["kind"]
        new[1, keep:] = cols["side"]
        new[2, keep:] = cols["price"]
        new[3, keep:] = cols["qty"]
        new[4, keep:] = ex
        new[5, keep:] = local
        ex_all = new[4]
        # Rows the exchange side applied already are (usually) a prefix of the window.
        first = int(np.argmin(done)) if len(done) else 0
        if not done[first:].any():
            # Every row from ``first`` on is still to apply (the usual case): a slice, no
            # index arrays to gather through.
            t_todo = ex_all[first:]
            n_order = len(t_todo)
            if n_order < 2 or bool((t_todo[1:] >= t_todo[:-1]).all()):
                np.add(self._arange[:n_order], first, out=new[6, :n_order])
                new[7, :n_order] = t_todo
            else:
                order = np.argsort(t_todo, kind="stable") + first
                new[6, :n_order] = order
                new[7, :n_order] = ex_all[order]
        else:
            todo = np.flatnonzero(~done)
            t_todo = ex_all[todo]
            if len(t_todo) < 2 or bool((t_todo[1:] >= t_todo[:-1]).all()):
                order = todo  # already in exchange-time order: no sort
            else:
                order = todo[np.argsort(t_todo, kind="stable")]
            n_order = len(order)
            new[6, :n_order] = order
            new[7, :n_order] = ex_all[order]
        self._done = done
        st[core.IE] = 0
        st[core.NPEND] = n_order
        st[core.HORIZON] = int(new[5, -1]) - self.reorder_ns
        self._rows = new
        st[core.N] = new.shape[1]
        # The rows kept from the last window were in range (or counted far) already.
        self._ensure_range(new[0, keep:], new[2, keep:])
        need = max(1024, new.shape[1] // 4 + 1)
        if self._tl.shape[1] < need:
            # Reused across windows: entries are copied out at each flush, so only the
            # first NBBO columns are ever read.
            self._tl = np.empty((3, need), dtype=np.int64)
        st[core.NBBO] = 0

    def _window(self, n: int) -> np.ndarray[Any, Any]:
        # An (8, n) C-contiguous window over one of two flat buffers used in turn (the
        # other holds the previous window, whose tail is copied in): memory written in
        # place instead of fresh pages every row group.
        flat = self._spare
        if flat is None or len(flat) < 8 * n:
            flat = np.empty(8 * n + 8 * n // 4, dtype=np.int64)  # room for longer windows
        self._spare = self._flat
        self._flat = flat
        if len(self._arange) < n:
            self._arange = np.arange(len(flat) // 8, dtype=np.int64)
        return flat[: 8 * n].reshape(8, n)

    def _fill_exch(self, exch: np.ndarray[Any, Any], local: np.ndarray[Any, Any]) -> Any:
        # A row without exchange time takes the previous row's (the next row's at the very
        # start), as the hftbacktest npz exporter does; all zero: local time.
        ex = exch.copy()
        missing = ex <= 0
        if missing.any():
            idx = np.where(~missing, np.arange(len(ex)), -1)
            np.maximum.accumulate(idx, out=idx)
            head = idx < 0
            if self._carry > 0:
                ex[missing & head] = self._carry
            elif (~missing).any():
                ex[missing & head] = ex[int(np.argmax(~missing))]
            else:
                ex[missing & head] = local[missing & head]
            fill = missing & ~head
            ex[fill] = ex[idx[fill]]
        self._carry = int(ex[-1])
        return ex

    def _ensure_range(self, kind: np.ndarray[Any, Any], price: np.ndarray[Any, Any]) -> None:
        prices = price[kind != 1]  # a CLEAR row's price means nothing
        if not len(prices):
            if self._books is None:
                self._alloc(1, 2)
            return
        lo, hi = int(prices.min()), int(prices.max())
        if lo <= 0:
            raise BacktestError(f"tape has a non-positive price tick {lo}")
        if self._books is not None:
            base, size = int(self.st[core.BASE]), int(self.st[core.SIZE])
            if lo >= base and hi < base + size:
                return
            if size >= MAX_DENSE_TICKS:
                return  # already at the cap: rows outside are counted (core.FAR)
            lo, hi = min(lo, base), max(hi, base + size - 1)
        lo, hi = max(1, lo - _MARGIN), hi + _MARGIN
        if hi - lo + 1 > MAX_DENSE_TICKS:
            # Deep snapshots reach far from the touch: center the books on the median price
            # and count the levels outside instead of tracking them.
            mid = (
                int(np.median(prices))
                if self._books is None
                else int(self.st[core.BASE] + self.st[core.SIZE] // 2)
            )
            lo = max(1, mid - MAX_DENSE_TICKS // 2)
            hi = lo + MAX_DENSE_TICKS - 1
        self._alloc(lo, hi)

    def _alloc(self, lo: int, hi: int) -> None:
        size = hi - lo + 1
        fresh = np.zeros((6, size), dtype=np.int64)
        if self._books is not None:
            old_base, old_size = int(self.st[core.BASE]), int(self.st[core.SIZE])
            off = old_base - lo
            fresh[:, off : off + old_size] = self._books
            for i_lo, i_hi in ((core.E_LO, core.E_HI), (core.L_LO, core.L_HI)):
                if self.st[i_lo] <= self.st[i_hi]:
                    self.st[i_lo] += off
                    self.st[i_hi] += off
        self._books = fresh
        self.st[core.BASE] = lo
        self.st[core.SIZE] = size

    def _flush_bbo(self) -> None:
        n = int(self.st[core.NBBO])
        if n:
            self._bbo_chunks.append(self._tl[:, :n].copy())
        self.st[core.NBBO] = 0

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> BacktestRun:
        """Replay the whole tape; returns the run's records."""
        core.warm_up()  # JIT compile or cache load is not replay time
        import pandas  # noqa: F401  (pyarrow imports it on the first read: not replay time)

        t0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._batches = self.reader.iter_batches(list(_COLS))
        if self.reader.num_row_groups > 1:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="pegbot-tape")
        # Each decision allocates a few dozen short-lived objects and creates no cycles of
        # note: a rarer young-generation collection saves ~8 % of the replay (measured on
        # the 5 M-row tape); the setting is restored when the run ends.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], _GC_GEN0), *thresholds[1:])
        try:
            return self._run(t0)
        finally:
            gc.set_threshold(*thresholds)
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
                self._prefetch = None

    def _run(self, t0: float) -> BacktestRun:
        st = self.st
        first = self._next_batch()
        if first is None:
            raise BacktestError(f"{self.reader.path}: the tape has no rows")
        self._load(first)
        venue = self.venue
        advance = core.advance
        bbo_only = bool(st[core.BBO_ONLY])
        item = st.item
        i_stop, i_due, i_now = core.STOP, core.DIRTY_AT, core.NOW
        ev_row, ev_wake, ev_time = core.EV_ROW, core.EV_WAKE, core.EV_TIME
        while True:
            # Answers wait for the next wake-up (nothing reads them before); the core only
            # needs to know when the first one the strategy must see arrives.
            st[i_stop], st[i_due] = venue.next_times(bbo_only and not self._last_diff_skipped)
            ev = advance(self._rows, self._books, self._tl, st)
            if ev == ev_row:
                self._on_row()
            elif ev == ev_wake:
                self._on_wake(item(i_now))
            elif ev == ev_time:
                self._on_time(item(i_now))
            elif ev == core.EV_DATA:
                self._flush_bbo()
                nxt = self._next_batch()
                if nxt is None:
                    st[core.END] = 1
                else:
                    self._load(nxt)
            elif ev == core.EV_FLUSH:
                self._flush_bbo()
            else:
                break
        self._flush_bbo()
        # No more market data: let requests in flight land and their answers arrive.
        while venue.next_arrival is not None or venue.next_response is not None:
            cands = [t for t in (venue.next_arrival, venue.next_response) if t is not None]
            self._on_time(min(cands))
            self._deliver_due(min(cands))
        wall = time.perf_counter() - t0
        cpu = time.process_time() - self._cpu0
        bbo = (
            np.concatenate(self._bbo_chunks, axis=1)
            if self._bbo_chunks
            else np.zeros((3, 0), dtype=np.int64)
        )
        return BacktestRun(
            market=self.market,
            events=int(self.reader.num_rows),
            wall_s=wall,
            cpu_s=cpu,
            venue=venue,
            local=self.local,
            initial=self.initial,
            target_base_units=self.target,
            bbo=bbo,
            evaluations=self.evaluations,
            start_ns=self._first_ts or 0,
            end_ns=self._last_ts,
            fair_source=self.fair_source,
            fair_price=self.fair_price,
            fair_series=self.fair_series,
            risk_transitions=self._transitions,
            signals=self.signals,
            far_levels=int(st[core.FAR]),
        )

    # -- events ---------------------------------------------------------------------------

    def _sync_pending(self) -> None:
        # Hand the deferred depth rows at our levels to the fill engine. Deferring is only on
        # with the risk-averse queue, where a depth row does ``ahead = min(ahead, level)`` and
        # nothing else, so one call with the rows' minimum leaves every order as the rows
        # one by one would.
        st = self.st
        item = st.item
        if not item(core.PEND_N):
            return
        st[core.PEND_N] = 0
        base = item(core.BASE)
        books = self._books
        assert books is not None
        t = item(core.E_TS)
        eng = self.fills
        out = []
        # The fill engine does not touch ``resting`` (on_fills below does, after the loop).
        for side, price, _ in self.venue.resting.values():
            ix = price - base
            row = 4 if side > 0 else 5
            low = books.item(row, ix) - 1  # stored as minimum + 1; 0 means none
            if low >= 0:
                books[row, ix] = 0
                out += eng.on_depth(side, price, low, t)
        if out:
            self.venue.on_fills(out)

    def _set_ranges(self) -> None:
        if not self.venue.changed:
            return
        self.venue.changed = False
        inf = core.INF
        bmin, bmax, amin, amax = inf, core.NO_BID, core.NO_ASK, -inf
        for side, price, _ in self.venue.resting.values():
            if side > 0:
                if price < bmin:
                    bmin = price
                if price > bmax:
                    bmax = price
            else:
                if price < amin:
                    amin = price
                if price > amax:
                    amax = price
        taken = self.venue.taken
        tb, ta = taken[1], taken[-1]
        st = self.st  # scalar writes: cheaper than building an array for a slice
        st[core.OWN_BID_MIN] = bmin
        st[core.OWN_BID_MAX] = bmax
        st[core.OWN_ASK_MIN] = amin
        st[core.OWN_ASK_MAX] = amax
        st[core.TAKEN_BID_LO] = min(tb) if tb else inf
        st[core.TAKEN_BID_HI] = max(tb) if tb else -inf
        st[core.TAKEN_ASK_LO] = min(ta) if ta else inf
        st[core.TAKEN_ASK_HI] = max(ta) if ta else -inf

    def _on_row(self) -> None:
        item = self.st.item
        if item(core.PEND_N):
            self._sync_pending()
        r = item(core.ROW)
        assert self._rows is not None
        k, s, p, q = self._rows[:4, r].tolist()
        t = item(core.NOW)
        if k == TRADE:
            fills = self.fills.on_trade(s, p, q, t)
        else:
            fills = self.fills.on_depth(s, p, q, t)
            taken = self.venue.taken[s]
            if p in taken:
                taken.discard(p)
                self.venue.changed = True
                self._set_ranges()
        if fills:
            self.venue.on_fills(fills)
            self._set_ranges()

    def _on_time(self, now: int) -> None:
        item = self.st.item
        if item(core.PEND_N):
            self._sync_pending()
        v = self.venue
        na = v.next_arrival
        if na is not None and na <= now:
            bb, ba = item(core.BBE), item(core.BAE)
            assert self._books is not None
            v.act(
                now, self._books, item(core.BASE),
                None if bb == core.NO_BID else bb, None if ba == core.NO_ASK else ba,
            )  # fmt: skip
            self._set_ranges()

    def _deliver_due(self, now: int) -> None:
        venue = self.venue
        if venue.next_response is None or venue.next_response > now:
            return
        orders = self.orders
        for at, _, kind, cid, fill, _ in venue.pop_due(now):
            if kind == ACK:
                orders.on_open(cid, at)
            elif kind == FILL:
                assert fill is not None
                self.local.apply(fill, _ZERO)
                leaves = fill.leaves_units
                orders.on_fill(cid, None, leaves_lots=leaves // self._upl, closed=leaves == 0)
            else:  # a reject, a cancel's ack or "not found": the order is done
                if kind == REJECT:
                    self._rejects_seen += 1
                orders.on_closed(cid)

    def _on_wake(self, now: int) -> None:
        # Answers that arrived before now (one arriving exactly now is seen next time).
        self._deliver_due(now - 1)
        st = self.st
        item = st.item
        st[core.BBO_CHANGED] = st[core.BOOK_CHANGED] = st[core.DIRTY] = 0
        st[core.LAST_EVAL] = now
        self.evaluations += 1
        bb, ba, l_ts = item(core.BBL), item(core.BAL), item(core.L_TS)
        books = self._books
        assert books is not None
        book = DenseBookView(
            books[2], books[3], item(core.BASE),
            None if bb == core.NO_BID else bb, None if ba == core.NO_ASK else ba, l_ts,
        )  # fmt: skip
        fair = self.fair(now, book)
        loc = self.local
        inv = self._inventory
        if inv is None or inv.base_units != loc.base_units or self._inv_cash != loc.cash_tu:
            # Immutable, so the same object serves every decision until a fill moves it.
            quote_units = loc.cash_tu * self._qu_num // self._qu_den
            inv = self._inventory = Inventory(loc.base_units, quote_units, self.target)
            self._inv_cash = loc.cash_tu
        state = MarketState(
            now, book, fair, inv, self.orders.live_orders(), "backtest",
            FeedHealth(l_ts, bool(item(core.L_SYNCED)), True, self._rejects_seen),
        )  # fmt: skip
        decision = self.step.decide(state)
        if decision.risk is not None and decision.risk.transition is not None:
            assert self.risk is not None
            for tr in self.risk.drain_transitions():  # recorded here: the list need not grow
                self._transitions.append(
                    (tr.at_ns, tr.from_level.label, tr.to_level.label, ",".join(tr.reasons))
                )
        if self.signaler is not None:
            self.signals += self.signaler(now, book, fair)
        venue = self.venue
        if decision.cancel_all:
            self._last_diff_skipped = True
            for o in self.orders.cancel_everything():
                venue.send_cancel(now, o.client_id)
            return
        self._last_diff_skipped = bool(decision.actions.skipped)
        sent = self.orders.apply(decision.actions)
        for c in sent.cancels:
            venue.send_cancel(now, c.client_id)
        upl = self._upl
        for pl in sent.places:
            qt = pl.quote
            venue.send_place(
                now, pl.client_id, int(qt.side), qt.price_ticks, qt.lots * upl, pl.post_only
            )


__all__ = [
    "Backtest",
    "BacktestError",
    "BacktestRun",
    "FairFn",
    "fixed_fair",
    "mid_fair",
]
