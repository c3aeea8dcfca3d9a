"""The backtest shell: the live bot's Strategy → Risk → Reconciler loop on a replayed tape.

Only the clock and the venue are swapped (``DESIGN.md``, principle 1). The clock is the
tape's: rows reach the exchange side at their exchange time and the strategy's book at their
local receive time (:mod:`pegbot.backtest.core`), so feed latency is the recorded one. The
venue is :class:`~pegbot.backtest.venue.SimVenue`, with order entry and response latency
and queue-position fills from :mod:`pegbot.matching`.

Each decision is the shared :class:`~pegbot.execution.decision.DecisionStep` (strategy,
risk, reconciler), and our orders are an :class:`~pegbot.execution.orders.OrderTracker` — the
very objects the live runner uses — so what counts as resting, pending or finished is decided
by one piece of code in both worlds. Everything between sending a request and reading its
answers runs compiled (the venue's exchange side, :mod:`pegbot.backtest.exchange`): Python
runs only when the strategy is asked to decide, and then folds the answers that reached the
shell since the last decision into the tracker, in (time, sequence) order, each kind as the
live runner folds it. The tracker's requests go out in the live runner's order: cancels,
cancel-replaces, amends (the new total: what filled as far as the shell knows plus what
should rest), places; on ``RiskState.cancel_all`` every order is cancelled one by one.
Inventory as the strategy sees it moves when a fill's answer arrives; the venue's own account
is the sum of the fills at their exchange times.

The strategy is asked on a timer (``wake_ns``), and only when something it declared in
:attr:`~pegbot.strategy.Strategy.inputs` may have changed, or the decision step needs it:

* ``BEST_PRICES``: a local best price moved; ``BEST_SIZES``: the quantity at a best price
  changed (or a best price moved); ``DEPTH``: any local level changed; ``TRADES``: a public
  trade reached the local side; ``FAIR``: the fair value may have changed (with the mid as
  fair: a best price moved; a rate series: one of its steps passed; a fixed fair: never);
  ``INVENTORY``: a fill's answer arrived; ``OWN_ORDERS``: any answer arrived;
* always: an answer that changes what the reconciler must do (a fill, a reject, "not
  found", an expiry, an amend refused, a replace not attempted), and an ack, cancel ack or
  amend ack when the last diff left something out waiting for one;
* ``TIMER``, or a risk layer (its triggers are time-driven, e.g. a stale book): at least
  every ``max_idle_ns`` since the last decision.
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
from typing import Any, Protocol

import numpy as np

from pegbot.backtest import core
from pegbot.backtest import exchange as xc
from pegbot.backtest.book import DenseBookView
from pegbot.backtest.fair import FairFn, fixed_fair, mid_fair
from pegbot.backtest.venue import Account, SimVenue
from pegbot.execution.decision import DecisionStep
from pegbot.execution.orders import OrderTracker
from pegbot.execution.reconciler import Reconciler
from pegbot.execution.risk import Risk
from pegbot.market import Market
from pegbot.matching import FillEngine, LatencyModel
from pegbot.strategy import FairView, FeedHealth, Input, Inventory, MarketState, Strategy
from pegbot.tape.reader import Columns, TapeReader

_COLS = ("kind", "side", "price", "qty", "exch_ts", "local_ts")
# State vector indices a decision reads, as module constants (no attribute look-ups per
# decision).
_BBL, _BAL, _L_TS, _BASE, _L_SYNCED = core.BBL, core.BAL, core.L_TS, core.BASE, core.L_SYNCED
_NO_BID, _NO_ASK = core.NO_BID, core.NO_ASK
_ZERO = Decimal(0)
_GC_GEN0 = 100_000  # young-generation threshold during a run (see Backtest.run)
_MARGIN = 256  # spare ticks on each side of the dense books
#: Rows read at a time: the window the replay holds, whatever the tape's row groups.
BATCH_ROWS = 1 << 18
#: Widest price range the dense books track (6 rows x 8 B x 2 M = 96 MB); depth rows
#: further away are counted in ``BacktestRun.far_levels`` and not applied.
MAX_DENSE_TICKS = 2_000_000


class BacktestError(ValueError):
    """The backtest cannot run on these inputs (the message says why)."""


class RunVenue(Protocol):
    """What a finished run keeps of its venue: the records, as columns, and the account."""

    account: Account

    def columns(self) -> dict[str, dict[str, np.ndarray[Any, Any]]]:
        """The order, fill and quote records as numpy columns."""
        ...


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
        core_s: Wall time inside the compiled replay core (the exchange side, both books, the
            wake-ups); the rest of ``wall_s`` is the shell's Python, almost all of it the
            decisions. Tells a quant whether the engine or the strategy's decisions set the
            speed.
    """

    market: Market
    events: int
    wall_s: float
    venue: RunVenue
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
    core_s: float = 0.0


class Backtest:
    """One backtest run over a tape (see the module docstring).

    Args:
        tape: The tape file.
        market: The market (fees, filters); its tick and lot must match the tape's.
        strategy: The strategy.
        reconciler: The reconciler (no rate budget in backtests unless you give one).
        risk: The risk layer, or None to send the strategy's quotes unclamped.
        fills: The fill engine whose rules the venue follows (queue model, partial fills,
            lot, rounding); the venue runs them compiled and the engine holds no orders.
        latency: Order entry and response latency.
        fair: The fair value at a decision time; see :func:`fixed_fair`, :func:`mid_fair`.
        fair_source: Name of the fair source, for the results.
        initial: The starting account.
        target_base_units: The inventory the strategy skews toward.
        wake_ns: Timer period of strategy wake-ups.
        max_idle_ns: Longest time without a decision, for a strategy reading the timer or
            with a risk layer (see the module docstring).
        progress: Called with (rows done, rows total) after each row group.
        signaler: Optional callable ``(now_ns, book, fair) -> int`` (signals raised).
        reorder_ns: How much earlier than its local receive time a row's exchange time may
            be and still be applied in exchange-time order across row groups (the feed
            latency allowance); rows later than that are applied no earlier than the rows
            the venue side has already applied.
        fair_times: When the fair value changes (a rate series' observation times), for a
            strategy reading ``FAIR`` with ``fair_source = "series"``.
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
        reorder_ns: int = 10_000_000_000,
        fair_times: list[int] | None = None,
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
        if not callable(getattr(latency, "tables", None)):
            raise BacktestError(f"{latency!r}: the backtest needs a latency model with tables()")
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
        self.st = core.new_state()
        inputs = strategy.inputs
        self.venue = SimVenue(
            market,
            fills,
            latency,
            Account(start.base_units, start.cash_tu),
            self.st,
            sorted(fair_times or []),
        )
        self.local = Account(start.base_units, start.cash_tu)
        self.target = target_base_units
        self.step = DecisionStep(strategy, risk, reconciler)
        self.orders = OrderTracker(reconciler.run)
        st = self.st
        st[core.WAKE_NS] = wake_ns
        timer = Input.TIMER in inputs or risk is not None
        st[core.MAX_IDLE] = max_idle_ns if timer else core.INF
        st[core.WAKE_ON] = _wake_flags(inputs, fair_source)
        # Confirmations wake a strategy that reads its orders, else only a waiting diff.
        self._confirms = Input.OWN_ORDERS in inputs
        self._confirms_now = self._confirms
        self.venue.set_dirty_mask(self._confirms)
        self._sv = st.data  # a memoryview: element reads a third of numpy's cost
        self._ids = self.venue.ids  # client ids by order handle (the venue appends to it)
        self.reorder_ns = reorder_ns
        self.evaluations = 0
        self.signals = 0
        self._rejects_seen = 0
        self._filled: dict[str, int] = {}  # units filled of each live order, as answered
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
        self._done = np.zeros(0, dtype=bool)  # window rows the venue side has applied
        self._books: np.ndarray[Any, Any] | None = None
        self._bid_l = self._ask_l = np.zeros(0, dtype=np.int64)  # the local book's sides
        self._carry = 0  # exchange time of the last row loaded
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
        kind, local = cols["kind"], cols["local_ts"]
        m = len(kind)
        # The rows the last window left (not yet applied on both sides) go first; the new
        # window is written straight after them (one allocation, no concatenation).
        keep = cut = 0
        old_done = self._done
        old = self._rows
        if old is not None:
            ie = int(st[core.IE])
            old_done[old[:ie, 6]] = True  # applied on the exchange side already
            # argmin of a bool array: its first False (0 when all are True, checked first).
            first_pending = len(old) if old_done.all() else int(np.argmin(old_done))
            cut = min(int(st[core.IL]), first_pending)
            keep = len(old) - cut
            st[core.IL] -= cut
        new = self._window(keep + m)
        done = np.zeros(keep + m, dtype=bool)
        if old is not None and keep:
            new[:keep, :6] = old[cut:, :6]
            done[:keep] = old_done[cut:]
        # Rows the exchange side applied already are (usually) a prefix of the window.
        first = int(np.argmin(done)) if keep else 0
        if keep and done[first:].any():
            first = -1  # a scattered remainder: its order is worked out below
        lo, hi, self._carry, n_order = core.fill_window(
            new,
            keep,
            kind,
            cols["side"],
            cols["price"],
            cols["qty"],
            cols["exch_ts"],
            local,
            self._carry,
            first,
        )
        if n_order < 0:
            # Not in exchange-time order (or a scattered remainder): sort what is left.
            todo = np.flatnonzero(~done)
            ex_all = new[:, 4]
            order = todo[np.argsort(ex_all[todo], kind="stable")]
            n_order = len(order)
            new[:n_order, 6] = order
            new[:n_order, 7] = ex_all[order]
        if self._first_ts is None:
            self._first_ts = int(local[0])
            # The clock starts at the first row's exchange time, as hftbacktest's does.
            ex0 = int(new[keep:, 4].min())
            st[core.NEXT_WAKE] = min(ex0, int(local[0])) + st[core.WAKE_NS]
        self._last_ts = int(local[-1])
        self._done = done
        st[core.IE] = 0
        st[core.NPEND] = n_order
        st[core.HORIZON] = int(new[-1, 5]) - self.reorder_ns
        self._rows = new
        st[core.N] = len(new)
        # The rows kept from the last window were in range (or counted far) already.
        self._ensure_range(lo, hi)

    def _window(self, n: int) -> np.ndarray[Any, Any]:
        # An (n, 8) C-contiguous window (a row's fields in one cache line) over one of two
        # flat buffers used in turn (the other holds the previous window, whose tail is
        # copied in): memory written in place instead of fresh pages every batch.
        flat = self._spare
        if flat is None or len(flat) < 8 * n:
            flat = np.empty(8 * n + 8 * n // 4, dtype=np.int64)  # room for longer windows
        self._spare = self._flat
        self._flat = flat
        return flat[: 8 * n].reshape(n, 8)

    def _ensure_range(self, lo: int, hi: int) -> None:
        # ``lo..hi``: the new rows' price range (CLEAR rows aside; lo > hi: no prices).
        if lo > hi:
            if self._books is None:
                self._alloc(1, 2)
            return
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
                self._median_price()
                if self._books is None
                else int(self.st[core.BASE] + self.st[core.SIZE] // 2)
            )
            lo = max(1, mid - MAX_DENSE_TICKS // 2)
            hi = lo + MAX_DENSE_TICKS - 1
        self._alloc(lo, hi)

    def _median_price(self) -> int:
        assert self._rows is not None
        rows = self._rows
        return int(np.median(rows[rows[:, 0] != 1, 2]))

    def _alloc(self, lo: int, hi: int) -> None:
        size = hi - lo + 1
        fresh = np.zeros((4, size), dtype=np.int64)
        if self._books is not None:
            old_base, old_size = int(self.st[core.BASE]), int(self.st[core.SIZE])
            off = old_base - lo
            fresh[:, off : off + old_size] = self._books
            for i_lo, i_hi in ((core.E_LO, core.E_HI), (core.L_LO, core.L_HI)):
                if self.st[i_lo] <= self.st[i_hi]:
                    self.st[i_lo] += off
                    self.st[i_hi] += off
        self._books = fresh
        self._bid_l, self._ask_l = fresh[2], fresh[3]
        self.venue.attach_books(fresh, lo)

    def _flush_bbo(self) -> None:
        n = int(self.st[xc.X_NBB])
        if n:
            self._bbo_chunks.append(self.venue.lg[:3, :n].copy())
        self.st[xc.X_NBB] = 0

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> BacktestRun:
        """Replay the whole tape; returns the run's records."""
        core.warm_up()  # JIT compile or cache load is not replay time
        import pandas  # noqa: F401  (pyarrow imports it on the first read: not replay time)

        t0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._batches = self.reader.iter_batches(list(_COLS), batch_rows=BATCH_ROWS)
        if self.reader.num_rows > BATCH_ROWS:
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
        item = st.item
        i_now = core.NOW
        ev_wake, ev_data, ev_flush = core.EV_WAKE, core.EV_DATA, core.EV_FLUSH
        clock = time.perf_counter
        core_s = 0.0
        while True:
            t = clock()
            ev = advance(self._rows, self._books, st, venue.fe, venue.xq, venue.lg)
            core_s += clock() - t
            if ev == ev_wake:
                self._on_wake(item(i_now))
            elif ev == ev_data:
                self._flush_bbo()
                nxt = self._next_batch()
                if nxt is None:
                    st[core.END] = 1
                else:
                    self._load(nxt)
            elif ev == ev_flush:
                self._flush_bbo()
                venue.make_room()
            else:
                break
        venue.check()
        self._flush_bbo()
        # No more market data, requests in flight have landed: every answer arrives.
        xc.deliver(st, venue.xq, core.INF)
        self._fold()
        venue.flush_logs()
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
            core_s=core_s,
        )

    # -- events ---------------------------------------------------------------------------

    def _fold(self) -> None:
        # The answers in the outbox (due by now), into the tracker and the shell's account,
        # each kind as the live runner folds it (pegbot.live.requests): the two halves of a
        # cancel-replace settle on their own answers.
        answers = self.venue.take_outbox()
        if not answers:
            return
        orders = self.orders
        on_open, on_fill, on_closed = orders.on_open, orders.on_fill, orders.on_closed
        ids = self._ids
        upl = self._upl
        filled = self._filled
        book = self.local.book
        ack, fill, amended, rejected = xc.ACK, xc.FILL, xc.AMENDED, xc.AMEND_REJECTED
        for at, _, kind, h, side, price, qty, leaves, _, _ in answers:
            cid = ids[h]
            if kind == ack:
                on_open(cid, at)
            elif kind == fill:
                book(side, price, qty)
                on_fill(cid, None, 0, leaves // upl, leaves == 0)
                if leaves:
                    filled[cid] = filled.get(cid, 0) + qty
                else:
                    filled.pop(cid, None)
            elif kind == amended:
                orders.on_amended(cid, at, leaves // upl)
            elif kind == rejected:
                orders.on_amend_failed(cid)  # the order rests as it was
            else:  # a reject, a cancel's ack, "not found", an expiry, a replace not attempted
                if kind == xc.REJECT:
                    self._rejects_seen += 1
                on_closed(cid)
                filled.pop(cid, None)

    def _on_wake(self, now: int) -> None:
        # The core delivered the answers that arrived before now (one arriving exactly now
        # is seen next time) and reset the wake-up flags. This runs once per decision: state
        # indices are module constants and the requests go out through bound methods.
        self._fold()
        sv = self._sv
        self.evaluations += 1
        bb, ba, l_ts = sv[_BBL], sv[_BAL], sv[_L_TS]
        book = DenseBookView(
            self._bid_l,
            self._ask_l,
            sv[_BASE],
            None if bb == _NO_BID else bb,
            None if ba == _NO_ASK else ba,
            l_ts,
        )
        fair = self.fair(now, book)
        loc = self.local
        inv = self._inventory
        if inv is None or inv.base_units != loc.base_units or self._inv_cash != loc.cash_tu:
            # Immutable, so the same object serves every decision until a fill moves it.
            quote_units = loc.cash_tu * self._qu_num // self._qu_den
            inv = self._inventory = Inventory(loc.base_units, quote_units, self.target)
            self._inv_cash = loc.cash_tu
        state = MarketState(
            now,
            book,
            fair,
            inv,
            self.orders.live_orders(),
            "backtest",
            FeedHealth(l_ts, sv[_L_SYNCED] != 0, True, self._rejects_seen),
        )
        decision = self.step.decide(state)
        rs = decision.risk
        if rs is not None and rs.transition is not None:
            assert self.risk is not None
            for tr in self.risk.drain_transitions():  # recorded here: the list need not grow
                self._transitions.append(
                    (tr.at_ns, tr.from_level.label, tr.to_level.label, ",".join(tr.reasons))
                )
        if self.signaler is not None:
            self.signals += self.signaler(now, book, fair)
        venue = self.venue
        if decision.cancel_all:
            self._set_confirms(True)
            venue.send_cancels(now, [o.client_id for o in self.orders.cancel_everything()])
            return
        actions = decision.actions
        confirms = self._confirms or bool(actions.skipped)
        if confirms is not self._confirms_now:
            self._set_confirms(confirms)
        cancels, places, amends, replaces = (
            actions.cancels,
            actions.places,
            actions.amends,
            actions.replaces,
        )
        if not (cancels or places or amends or replaces or actions.rebinds):
            return
        sent = self.orders.apply(actions)
        # In the live runner's order: cancels, cancel-replaces, amends, places. A side is
        # an int (Side is an IntEnum) for the request table.
        if sent.cancels:
            venue.send_cancels(now, [c.client_id for c in sent.cancels])
        upl = self._upl
        for rp in sent.replaces:
            q = rp.place.quote
            venue.send_replace(
                now,
                rp.cancel.client_id,
                rp.place.client_id,
                q.side,
                q.price_ticks,
                q.lots * upl,
                rp.place.post_only,
            )
        for a in sent.amends:
            # The venue takes the new total: what filled as far as we know, plus what should
            # rest (a fill not heard of yet only makes what rests smaller), as live.
            venue.send_amend(now, a.client_id, self._filled.get(a.client_id, 0) + a.lots * upl)
        if sent.places:
            venue.send_places(
                now,
                [
                    (
                        pl.client_id,
                        pl.quote.side,
                        pl.quote.price_ticks,
                        pl.quote.lots * upl,
                        pl.post_only,
                    )
                    for pl in sent.places
                ],
            )

    def _set_confirms(self, confirms: bool) -> None:
        # Whether acks and cancel acks wake the strategy (see the module docstring).
        if confirms is not self._confirms_now:
            self._confirms_now = confirms
            self.venue.set_dirty_mask(confirms)


def _wake_flags(inputs: frozenset[Input], fair_source: str) -> int:
    # The replay core's wake-up flags for a strategy reading ``inputs``.
    flags = 0
    if Input.BEST_PRICES in inputs:
        flags |= core.W_BEST_PRICES
    if Input.BEST_SIZES in inputs:
        flags |= core.W_BEST_SIZES
    if Input.DEPTH in inputs:
        flags |= core.W_DEPTH
    if Input.TRADES in inputs:
        flags |= core.W_TRADES
    if Input.FAIR in inputs:
        if fair_source == "mid":
            flags |= core.W_BEST_PRICES
        elif fair_source == "series":
            flags |= core.W_FAIR_TIMES
    return flags


__all__ = [
    "Backtest",
    "BacktestError",
    "BacktestRun",
    "FairFn",
    "fixed_fair",
    "mid_fair",
]
