"""The tape market source: a recorded book replayed at N× beside users' orders.

The tape's levels become the engine's *external liquidity* (:meth:`Engine.set_external`), so
the public depth is the tape's book plus users' resting orders, published through the same
update-id counter as everything else (the simulator's ids, not the tape's). Tape trades are
published as public trades. Users' orders meet the tape through :mod:`pegbot.matching`:

* a marketable user order takes the tape's levels through :meth:`FillEngine.take` (its
  consumed overlay stops one level from being taken twice before the tape updates it);
* a resting user order joins the queue behind the tape's quantity at its price and fills
  passively from the tape's trades and depth changes under the configured queue model; an
  amend (keep priority) shrinks it in place there too.

The counterparty of those fills is the engine's external account. :meth:`TapeSource.step`
applies the tape up to a local timestamp synchronously (tests use it);
:meth:`TapeSource.run` paces the tape against the clock at ``speed``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pegbot.book import OrderBook
from pegbot.logging import event_log
from pegbot.matching import EngineFill, FillEngine, QueueModel, RiskAverse
from pegbot.tape.reader import Columns, TapeReader
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE, TapeMeta
from pegbot.timeunits import NS_PER_S

from .config import SymbolConfig
from .exchange import Exchange
from .external import EXTERNAL_KEY
from .model import Event, ExecutionReport, Order

log = event_log(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """One tape message: rows ``start:stop`` of a batch, all of one ``kind`` group."""

    cols: Columns
    start: int
    stop: int
    kind: int
    local_ts: int
    update_id: int


def iter_messages(reader: TapeReader) -> Iterator[Message]:
    """Group a tape's rows into messages: one diff (same ``u``), one snapshot, one trade."""
    for cols in reader.iter_batches():
        kind, local, uid = cols["kind"], cols["local_ts"], cols["update_id"]
        n = len(kind)
        i = 0
        while i < n:
            k = int(kind[i])
            j = i + 1
            if k == CLEAR:
                # A clear and the snapshot rows that follow it at the same time are one reset.
                while j < n and int(kind[j]) == SNAPSHOT and local[j] == local[i]:
                    j += 1
            elif k in (DIFF, SNAPSHOT):
                while j < n and int(kind[j]) == k and uid[j] == uid[i] and local[j] == local[i]:
                    j += 1
            yield Message(cols, i, j, k, int(local[i]), int(uid[j - 1]))
            i = j


class TapeSource:
    """Replay one tape into the simulator.

    Args:
        path: The tape file.
        speed: Tape seconds per real second.
        queue: Queue-position model for users' resting orders (RiskAverse by default).
    """

    def __init__(self, path: str | Path, speed: float = 1.0, queue: QueueModel | None = None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.reader = TapeReader(path)
        self.meta: TapeMeta = self.reader.meta
        self.market = self.meta.market()
        if self.market.qty_decimals != 8:
            raise ValueError(f"{path}: qty_decimals {self.market.qty_decimals} is not 8")
        self.symbol = self.market.exchange_symbol
        self.speed = speed
        self.book = OrderBook()
        self.fills = FillEngine(queue or RiskAverse())
        self.tape_update_id = 0
        self.messages = 0
        self.user_fills = 0
        self._exchange: Exchange | None = None
        self._iter: Iterator[Message] | None = None
        self._next: Message | None = None

    def symbol_config(self) -> SymbolConfig:
        """A symbol with the tape's grid (the simulator must trade the tape's symbol)."""
        return SymbolConfig(
            base=self.market.base,
            quote=self.market.quote,
            tick_size=self.market.tick_size,
            lot_size=self.market.lot_size,
            min_qty=self.market.lot_size,
            min_price=self.market.tick_size,
            min_notional=self.market.min_notional,
            max_price=Decimal(10) ** 9,
            max_qty=Decimal(10) ** 12,
            max_notional=Decimal(10) ** 15,
        )

    def attach(self, exchange: Exchange) -> None:
        """Hook into ``exchange`` (its config must contain :meth:`symbol_config`'s symbol)."""
        exchange.engine.book(self.symbol)  # -1121 if the symbol is missing
        exchange.engine.external_takers[self.symbol] = self._take
        exchange.hooks.append(self._on_event)
        self._exchange = exchange
        self._iter = iter_messages(self.reader)
        self._next = next(self._iter, None)

    # -- users' orders ------------------------------------------------------------------

    def _take(self, order: Order, units: int, limit: int | None, now: int) -> list[tuple[int, int]]:
        fills = self.fills.take(self.book, int(order.side), units, limit, order.order_id, now)
        return [(f.price_ticks, f.qty_units) for f in fills]

    def _on_event(self, ev: Event) -> None:
        if not isinstance(ev, ExecutionReport) or ev.order.symbol != self.symbol:
            return
        if ev.api_key == EXTERNAL_KEY or self._exchange is None:
            return
        live = self._exchange.engine.orders.get(ev.order.order_id)
        if live is None:
            return
        tracked = live.order_id in self.fills
        view = self.fills.order(live.order_id) if tracked else None
        if view is not None and live.is_open and live.remaining < view.leaves_units:
            # Amended down: keep the order's place in the tape's queue, smaller.
            self.fills.amend(live.order_id, view.qty_units - view.leaves_units + live.remaining)
        elif live.is_open and not tracked:
            level = (self.book.bids if live.side > 0 else self.book.asks).get(live.price, 0)
            self.fills.add(
                live.order_id, int(live.side), live.price, live.remaining, level, ev.time_ns
            )
        elif not live.is_open and tracked:
            self.fills.cancel(live.order_id)

    def _apply_fills(self, fills: list[EngineFill], now: int) -> None:
        ex = self._exchange
        if ex is None:
            return
        for fill in fills:
            order = ex.engine.orders.get(int(fill.order_id))
            if order is None or not order.is_open:
                self.fills.cancel(fill.order_id)
                continue
            units = min(fill.qty_units, order.remaining)
            ex.engine.fill_external(order.order_id, fill.price_ticks, units, now)
            self.user_fills += 1
            if not order.is_open:
                self.fills.cancel(order.order_id)

    # -- the tape -----------------------------------------------------------------------

    def apply(self, msg: Message) -> None:
        """Apply one tape message to the external book, the engine and users' queues."""
        ex = self._exchange
        if ex is None:
            raise RuntimeError("attach() first")
        cols, now = msg.cols, ex.now_ns()
        sides, prices, qtys = cols["side"], cols["price"], cols["qty"]
        rows = range(msg.start, msg.stop)
        if msg.kind == TRADE:
            for i in rows:
                side, price, qty = int(sides[i]), int(prices[i]), int(qtys[i])
                ex.engine.public_trade(self.symbol, price, qty, side < 0, now)
                self._apply_fills(self.fills.on_trade(side, price, qty, now), now)
        else:
            changes: dict[tuple[int, int], int] = {}
            if msg.kind == CLEAR:
                changes.update({(1, t): 0 for t in self.book.bids})
                changes.update({(-1, t): 0 for t in self.book.asks})
                rows = range(msg.start + 1, msg.stop)
            for i in rows:
                changes[(int(sides[i]), int(prices[i]))] = int(qtys[i])
            for (side, tick), qty in changes.items():
                self.book.set_level(side, tick, qty)
            ex.engine.set_external(self.symbol, [(s, t, q) for (s, t), q in changes.items()], now)
            for (side, tick), qty in changes.items():
                self._apply_fills(self.fills.on_depth(side, tick, qty, now), now)
            self.book.update_id = msg.update_id
            self.tape_update_id = msg.update_id
        self.messages += 1
        ex.publish()

    def step(self, until_local_ts: int | None = None) -> int:
        """Apply every message with ``local_ts <= until_local_ts`` (all if None)."""
        done = 0
        while self._next is not None and (
            until_local_ts is None or self._next.local_ts <= until_local_ts
        ):
            self.apply(self._next)
            done += 1
            self._next = next(self._iter, None) if self._iter is not None else None
        return done

    def next_message(self) -> Message | None:
        """The message :meth:`step` would apply next."""
        return self._next

    def pop(self) -> Message | None:
        """Apply and return the next message (None at the end of the tape)."""
        msg = self._next
        if msg is not None:
            self.apply(msg)
            self._next = next(self._iter, None) if self._iter is not None else None
        return msg

    async def run(self, exchange: Exchange) -> None:
        """Replay the whole tape at ``speed`` against the exchange clock."""
        if self._exchange is None:
            self.attach(exchange)
        if self._next is None:
            return
        tape_start = self._next.local_ts
        real_start = exchange.now_ns()
        while self._next is not None:
            elapsed = exchange.now_ns() - real_start
            self.step(tape_start + int(elapsed * self.speed))
            if self._next is None:
                break
            wait = (self._next.local_ts - tape_start) / self.speed - (
                exchange.now_ns() - real_start
            )
            await asyncio.sleep(min(max(wait / NS_PER_S, 0.0), 1.0))
        log.info(
            "tape_replay_finished",
            "tape replay finished: %d messages, %d user fills",
            self.messages,
            self.user_fills,
            messages=self.messages,
            user_fills=self.user_fills,
        )
