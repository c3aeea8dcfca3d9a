"""The matching engine of the simulated exchange: orders, price-time priority, fills, fees.

The engine is pure and synchronous: every method takes the time (int ns UTC) it happens at,
mutates the books and the :class:`~pegbot.sim.accounts.Ledger`, and appends events (execution
reports, balance updates, public trades, depth diffs, book-ticker changes) to :attr:`Engine.events`
for the asyncio shell to publish. Nothing here reads a clock or touches a socket.

Prices are integer ticks, sizes integer qty units (:mod:`pegbot.market`), money integer amount
units (:mod:`pegbot.sim.accounts`). Orders lock what they may spend: a buy locks
``limit price × remaining`` of the quote asset (a market buy its planned cost or its
``quoteOrderQty``), a sell locks the base it offers; fills pay out of the lock and the
commission is taken from the asset received, as on Binance without BNB.

Besides users' orders a book may hold **external liquidity**: levels replayed from a tape.
They show in the public depth next to users' orders. An incoming order takes liquidity in
price order across both; at one price users' resting orders go first. What it takes from an
external level, and when a resting order fills passively from the external market, is decided
by the replay source through :attr:`Engine.external_takers` and :meth:`Engine.fill_external`
(:mod:`pegbot.sim.replay`); the engine's external account is the counterparty.

Simplifications, stated: self-trade prevention is ``NONE`` (an account may trade with
itself); with external liquidity the FOK check and the lock of a market order use the public
levels, an upper bound of what the replay source will let the order take (a shortfall expires
the rest and releases the lock).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import deque
from collections.abc import Iterable, Sequence
from fractions import Fraction

from pegbot.market import Market, Side

from . import errors
from .accounts import AMOUNT_DECIMALS, Account, Ledger, fee_of
from .external import EXTERNAL_FUNDS, EXTERNAL_KEY, ExternalTaker, settle_external, take_external
from .model import (
    CANCELED,
    EXPIRED,
    FILLED,
    FOK,
    GTC,
    HALT,
    IOC,
    LIMIT,
    LIMIT_MAKER,
    MARKET,
    NEW,
    OPEN_STATUSES,
    ORDER_TYPES,
    PARTIALLY_FILLED,
    REJECTED,
    TRADING,
    AccountTrade,
    AccountUpdate,
    BookTicker,
    DepthUpdate,
    Event,
    ExecutionReport,
    NewOrder,
    Order,
    PublicTrade,
    SymbolBook,
)

__all__ = [
    "CANCELED",
    "CROWD_MEMORY",
    "EXPIRED",
    "EXTERNAL_KEY",
    "FILLED",
    "FOK",
    "GTC",
    "HALT",
    "IOC",
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "NEW",
    "OPEN_STATUSES",
    "ORDER_TYPES",
    "PARTIALLY_FILLED",
    "REJECTED",
    "TRADING",
    "AccountTrade",
    "AccountUpdate",
    "BookTicker",
    "DepthUpdate",
    "Engine",
    "Event",
    "ExecutionReport",
    "NewOrder",
    "Order",
    "PublicTrade",
    "SymbolBook",
]


#: Closed orders and trades kept of the ``unlimited`` accounts (a market source's crowd). The
#: crowd stands for many participants and nobody queries its history, but the engine kept
#: every crowd order and trade: at ``--speed 60`` that grew the simulator by ~12 MB a minute.
#: Users' orders and trades (what the bot queries) are all kept, as Binance does.
CROWD_MEMORY = 10_000


class Engine:
    """Books of several symbols, the accounts, and the matching between users' orders.

    Args:
        markets: The symbols traded; each market's ``exchange_symbol`` is its id.
        ledger: The accounts (a new empty one if omitted).
        crowd_memory: Closed orders and trades kept of the ``unlimited`` accounts (see
            :data:`CROWD_MEMORY`).
    """

    def __init__(
        self,
        markets: Sequence[Market],
        ledger: Ledger | None = None,
        crowd_memory: int = CROWD_MEMORY,
    ) -> None:
        self.ledger = ledger or Ledger()
        self.books: dict[str, SymbolBook] = {}
        self.events: list[Event] = []
        self.orders: dict[int, Order] = {}
        self.trades: dict[str, list[AccountTrade]] = {}
        self._by_client: dict[tuple[str, str, str], int] = {}
        self._open: dict[str, dict[int, Order]] = {}  # api key -> open orders by id
        self._max_open: dict[str, int] = {}
        #: Accounts exempt from ``MAX_NUM_ORDERS`` (a market source's crowd).
        self.unlimited: set[str] = set()
        #: Closed orders and trades of the ``unlimited`` accounts kept (see CROWD_MEMORY).
        self.crowd_memory = crowd_memory
        self._prune_at = 2 * crowd_memory
        self._next_order_id = 1
        self._rates: dict[str, tuple[Fraction, Fraction]] = {}
        self._units: dict[str, tuple[int, int]] = {}
        #: Per symbol: how a user's order takes external liquidity, ``(order, units wanted,
        #: limit tick or None, now) -> [(tick, units)]`` (set by a replay source).
        self.external_takers: dict[str, ExternalTaker] = {}
        self.ledger.add(EXTERNAL_KEY, EXTERNAL_KEY)
        for market in markets:
            self.add_market(market)

    # -- set-up ---------------------------------------------------------------------------

    def add_market(self, market: Market, max_open_orders: int = 200) -> None:
        """Add a symbol; its value of one tick × one qty unit must be a whole amount unit.

        ``max_open_orders`` is the ``MAX_NUM_ORDERS`` filter: open orders per account.
        """
        value = market.tick_size * market.qty_unit * (10**AMOUNT_DECIMALS)
        base = market.qty_unit * (10**AMOUNT_DECIMALS)
        if value != value.to_integral_value() or base != base.to_integral_value():
            raise ValueError(f"{market.symbol}: tick × qty unit is finer than 1e-18")
        sym = market.exchange_symbol
        self.books[sym] = SymbolBook(market=market)
        self._max_open[sym] = max_open_orders
        self._units[sym] = (int(value), int(base))
        ext = self.ledger.accounts[EXTERNAL_KEY]
        for asset in (market.base, market.quote):
            ext.balance(asset).free = max(ext.balance(asset).free, EXTERNAL_FUNDS)
        self._rates[sym] = (
            Fraction(str(market.maker_fee)),
            Fraction(str(market.taker_fee)),
        )

    def book(self, symbol: str) -> SymbolBook:
        """The book of an exchange symbol, or -1121."""
        book = self.books.get(symbol)
        if book is None:
            raise errors.invalid_symbol()
        return book

    def account(self, api_key: str) -> Account:
        """The account of ``api_key``, or -2015."""
        account = self.ledger.get(api_key)
        if account is None:
            raise errors.SimError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return account

    def set_status(self, symbol: str, status: str) -> None:
        """Set a symbol's trading status (``TRADING``, ``HALT``, ``BREAK`` ...)."""
        self.book(symbol).status = status

    def quote_value(self, symbol: str, ticks: int, units: int) -> int:
        """Amount units of quote worth ``units`` at ``ticks``."""
        return ticks * units * self._units[symbol][0]

    def base_value(self, symbol: str, units: int) -> int:
        """Amount units of base in ``units`` qty units."""
        return units * self._units[symbol][1]

    def drain(self) -> list[Event]:
        """Take the events produced since the last call."""
        out, self.events = self.events, []
        return out

    # -- orders ---------------------------------------------------------------------------

    def place(self, api_key: str, req: NewOrder, now_ns: int) -> Order:
        """Accept, match and maybe rest a new order; raises :class:`SimError` on a reject."""
        account = self.account(api_key)
        book = self.book(req.symbol)
        if book.status != TRADING:
            raise errors.market_closed()
        self._check_filters(book.market, req)
        cid = req.client_order_id
        if cid:
            known = self._by_client.get((api_key, req.symbol, cid))
            if known is not None and self.orders[known].is_open:
                raise errors.duplicate_order()
        side = req.side
        limit = self._max_open[req.symbol]
        mine = self._open.get(api_key, {})
        # A market order never rests, so only resting types count against the filter.
        crowded = req.type != MARKET and len(mine) >= limit and api_key not in self.unlimited
        if crowded and sum(1 for o in mine.values() if o.symbol == req.symbol) >= limit:
            raise errors.filter_failure("MAX_NUM_ORDERS")
        if req.type == LIMIT_MAKER and self._crosses(book, side, req.price):
            raise errors.would_take()
        order = Order(
            order_id=self._next_order_id,
            client_order_id=cid or f"sim-{self._next_order_id}",
            api_key=api_key,
            symbol=req.symbol,
            side=side,
            type=req.type,
            tif=req.tif if req.type == LIMIT else GTC,
            price=req.price if req.type != MARKET else 0,
            orig_units=req.units,
            quote_amount=req.quote_amount,
            time_ns=now_ns,
            update_ns=now_ns,
        )
        market = book.market
        to_lock = self._initial_lock(book, order)
        lock_asset = market.quote if side is Side.BUY else market.base
        account.lock(lock_asset, to_lock)  # raises -2010 before any state changes
        order.locked = to_lock
        self._next_order_id += 1
        self.orders[order.order_id] = order
        self._by_client[(api_key, req.symbol, order.client_order_id)] = order.order_id
        if len(self.orders) > self._prune_at and self.unlimited:
            self._forget_crowd_orders()
        touched: dict[str, set[str]] = {api_key: {lock_asset}}
        self._report(order, "NEW", now_ns)
        if order.tif == FOK and not self._fok_fillable(book, order):
            self._finish(book, order, EXPIRED, touched, now_ns)
            self._flush(book, touched, now_ns)
            return order
        self._match(book, order, touched, now_ns)
        if order.remaining > 0 and order.type != MARKET and order.tif == GTC:
            order.working_ns = now_ns
            self._rest(book, order)
        elif order.remaining > 0 or order.type == MARKET:
            if order.type == MARKET and order.quote_amount and order.side is Side.BUY:
                order.orig_units = order.executed_units
            status = FILLED if order.remaining == 0 and order.executed_units else EXPIRED
            self._finish(book, order, status, touched, now_ns)
        self._flush(book, touched, now_ns)
        return order

    def cancel(
        self,
        api_key: str,
        symbol: str,
        now_ns: int,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Cancel one open order by id or client id; -2011 if it is not open."""
        book = self.book(symbol)
        order = self._find(api_key, symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise errors.unknown_order()
        touched: dict[str, set[str]] = {}
        self._unrest(book, order)
        self._finish(book, order, CANCELED, touched, now_ns)
        self._flush(book, touched, now_ns)
        return order

    def cancel_all(self, api_key: str, symbol: str, now_ns: int) -> list[Order]:
        """Cancel every open order of the account on ``symbol``; -2011 if there is none."""
        book = self.book(symbol)
        open_orders = self.open_orders(api_key, symbol)
        if not open_orders:
            raise errors.unknown_order()
        touched: dict[str, set[str]] = {}
        for order in open_orders:
            self._unrest(book, order)
            self._finish(book, order, CANCELED, touched, now_ns)
        self._flush(book, touched, now_ns)
        return open_orders

    def get_order(
        self, api_key: str, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order:
        """An order of the account, or -2013."""
        self.book(symbol)
        order = self._find(api_key, symbol, order_id, client_order_id)
        if order is None:
            raise errors.no_such_order()
        return order

    def open_orders(self, api_key: str, symbol: str | None = None) -> list[Order]:
        """The account's open orders, oldest first."""
        mine = self._open.get(api_key, {})
        return [mine[i] for i in sorted(mine) if symbol is None or mine[i].symbol == symbol]

    def all_orders(self, api_key: str, symbol: str) -> list[Order]:
        """Every order of the account on ``symbol``, oldest first."""
        return [o for o in self.orders.values() if o.api_key == api_key and o.symbol == symbol]

    def my_trades(self, api_key: str, symbol: str) -> list[AccountTrade]:
        """The account's fills on ``symbol``, oldest first."""
        return [t for t in self.trades.get(api_key, []) if t.symbol == symbol]

    def depth(
        self, symbol: str, limit: int
    ) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """``(lastUpdateId, bids, asks)`` of the public book, best first."""
        book = self.book(symbol)
        return book.update_id, book.public_levels(1, limit), book.public_levels(-1, limit)

    # -- external liquidity and faults ----------------------------------------------------

    def set_external(
        self, symbol: str, levels: Iterable[tuple[int, int, int]], now_ns: int
    ) -> None:
        """Set external (replayed) levels ``(side, tick, units)``; units 0 removes."""
        book = self.book(symbol)
        for side, tick, units in levels:
            ext = book.ext_bids if side > 0 else book.ext_asks
            if units:
                ext[tick] = units
            else:
                ext.pop(tick, None)
            book.changes[(side, tick)] = book.level(side, tick)
        self._flush(book, {}, now_ns)

    def clear_external(self, symbol: str, now_ns: int) -> None:
        """Remove every external level."""
        book = self.book(symbol)
        levels = [(1, t, 0) for t in book.ext_bids] + [(-1, t, 0) for t in book.ext_asks]
        self.set_external(symbol, levels, now_ns)

    def skip_update_ids(self, symbol: str, count: int) -> None:
        """Advance the update counter without publishing: a gap in the diff stream."""
        self.book(symbol).update_id += count

    def fill_external(self, order_id: int, tick: int, units: int, now_ns: int) -> Order:
        """Fill a user's resting order passively against the external (replayed) market."""
        order = self.orders[order_id]
        book = self.books[order.symbol]
        if not order.is_open or units <= 0 or units > order.remaining:
            raise ValueError(f"order {order_id}: cannot fill {units} units now")
        book.trade_id += 1
        touched: dict[str, set[str]] = {}
        self._shrink(book, order, units)
        self.settle(book, order, tick, units, True, book.trade_id, touched, now_ns)
        settle_external(self, book, order.side, tick, units)
        if order.remaining == 0:
            self._open[order.api_key].pop(order.order_id, None)
            queue = book.orders[self._key(order.side, order.price)]
            queue.remove(order)
            if not queue:
                self._drop_tick(book, order.side, order.price)
        self._flush(book, touched, now_ns)
        return order

    def public_trade(
        self, symbol: str, tick: int, units: int, buyer_is_maker: bool, now_ns: int
    ) -> None:
        """Publish a trade between external participants (a replayed tape trade)."""
        book = self.book(symbol)
        book.trade_id += 1
        self.events.append(PublicTrade(symbol, book.trade_id, tick, units, buyer_is_maker, now_ns))

    # -- internals ------------------------------------------------------------------------

    def _check_filters(self, market: Market, req: NewOrder) -> None:
        sized = req.type != MARKET or not req.quote_amount
        if sized and (req.units <= 0 or req.units < market.qty_to_units(market.min_qty)):
            raise errors.filter_failure("LOT_SIZE")
        if req.type != MARKET:
            if req.price <= 0:
                raise errors.filter_failure("PRICE_FILTER")
            if market.notional(req.price, req.units) < market.min_notional:
                raise errors.filter_failure("NOTIONAL")
        elif req.quote_amount and req.quote_amount < market.min_notional.scaleb(AMOUNT_DECIMALS):
            raise errors.filter_failure("NOTIONAL")

    @staticmethod
    def _crosses(book: SymbolBook, side: Side, price: int) -> bool:
        # Only users' orders are matchable here; external levels count for LIMIT_MAKER too,
        # since on the venue they are real orders the maker order would take.
        if side is Side.BUY:
            best = book.best_user(-1)
            ext = min(book.ext_asks) if book.ext_asks else None
            return (best is not None and best <= price) or (ext is not None and ext <= price)
        best = book.best_user(1)
        ext = max(book.ext_bids) if book.ext_bids else None
        return (best is not None and best >= price) or (ext is not None and ext >= price)

    def _initial_lock(self, book: SymbolBook, order: Order) -> int:
        sym = order.symbol
        if order.side is Side.SELL:
            if order.type == MARKET and order.quote_amount:
                units = self._walk(book, order, budget=order.quote_amount)[0]
                return self.base_value(sym, units)
            return self.base_value(sym, order.orig_units)
        if order.type != MARKET:
            return self.quote_value(sym, order.price, order.orig_units)
        if order.quote_amount:
            return order.quote_amount
        return self._walk(book, order, budget=None)[1]

    def _walk(self, book: SymbolBook, order: Order, budget: int | None) -> tuple[int, int]:
        # Units and quote value the order could take from the public book (users' orders and
        # external levels): exact without external liquidity, an upper bound with it.
        opposite = -1 if order.side is Side.BUY else 1
        if book.ext_bids or book.ext_asks:
            levels = book.public_levels(opposite, 1 << 30)
        else:
            ticks = book.ask_ticks if order.side is Side.BUY else reversed(book.bid_ticks)
            agg = book.user_asks if order.side is Side.BUY else book.user_bids
            levels = [(t, agg[t]) for t in ticks]
        lot = book.market.units_per_lot
        want = order.orig_units if budget is None else None
        units = value = 0
        for tick, level in levels:
            if order.type != MARKET and not _acceptable(order, tick):
                break
            take = level if want is None else min(level, want - units)
            if budget is not None:
                per_lot = self.quote_value(order.symbol, tick, lot)
                take = min(take, (budget - value) // per_lot * lot)
            units += take
            value += self.quote_value(order.symbol, tick, take)
            if (want is not None and units >= want) or take < level:
                break
        return units, value

    def _fok_fillable(self, book: SymbolBook, order: Order) -> bool:
        return self._walk(book, order, budget=None)[0] >= order.orig_units

    def _match(
        self, book: SymbolBook, taker: Order, touched: dict[str, set[str]], now: int
    ) -> None:
        # Price priority across users' orders and external liquidity; at one price users'
        # orders (on the book before the replayed level changed) go first.
        buy = taker.side is Side.BUY
        opposite = book.ask_ticks if buy else book.bid_ticks
        lot = book.market.units_per_lot
        budget = taker.quote_amount if (taker.type == MARKET and taker.quote_amount) else None
        if budget is not None and buy:
            taker.orig_units = 1 << 62  # bounded by the budget; set to executed at the end
        elif budget is not None:
            taker.orig_units = self._walk(book, taker, budget=budget)[0]
        hook = self.external_takers.get(taker.symbol)
        limit = None if taker.type == MARKET else taker.price
        while taker.remaining > 0:
            tick: int | None = (opposite[0] if buy else opposite[-1]) if opposite else None
            if tick is not None and limit is not None and not _acceptable(taker, tick):
                tick = None
            if hook is not None:
                ext_limit = limit if tick is None else (tick - 1 if buy else tick + 1)
                take_external(self, book, taker, hook, ext_limit, budget, touched, now)
                if taker.remaining == 0:
                    break
            if tick is None:
                break
            queue = book.orders[self._key(taker.side.opposite, tick)]
            maker = queue[0]
            units = min(taker.remaining, maker.remaining)
            if budget is not None and buy:
                per_lot = self.quote_value(taker.symbol, tick, lot)
                units = min(units, (budget - taker.cum_quote) // per_lot * lot)
                if units <= 0:
                    break
            self._fill(book, taker, maker, tick, units, touched, now)
            if maker.remaining == 0:
                queue.popleft()
                maker.status = FILLED
                self._open[maker.api_key].pop(maker.order_id, None)
                if not queue:
                    self._drop_tick(book, maker.side, tick)

    def _fill(
        self,
        book: SymbolBook,
        taker: Order,
        maker: Order,
        tick: int,
        units: int,
        touched: dict[str, set[str]],
        now: int,
    ) -> None:
        book.trade_id += 1
        # The maker's public level shrinks by the fill.
        self._shrink(book, maker, units)
        self.settle(book, maker, tick, units, True, book.trade_id, touched, now)
        self.settle(book, taker, tick, units, False, book.trade_id, touched, now)
        self.events.append(
            PublicTrade(taker.symbol, book.trade_id, tick, units, maker.side is Side.BUY, now)
        )

    def _shrink(self, book: SymbolBook, order: Order, units: int) -> None:
        agg = book.user_bids if order.side is Side.BUY else book.user_asks
        agg[order.price] -= units
        if agg[order.price] == 0:
            del agg[order.price]
        book.changes[(int(order.side), order.price)] = book.level(int(order.side), order.price)

    def settle(
        self,
        book: SymbolBook,
        order: Order,
        tick: int,
        units: int,
        is_maker: bool,
        trade_id: int,
        touched: dict[str, set[str]],
        now: int,
    ) -> None:
        """Settle one side of a fill: pay out of the order's lock, credit less the fee, report.

        Public for :mod:`.external` (its :class:`~pegbot.sim.external.Settlement`), which
        settles the user's side of a fill against the replayed market.
        """
        market = book.market
        sym = order.symbol
        quote = self.quote_value(sym, tick, units)
        base = self.base_value(sym, units)
        rate = self._rates[sym][0 if is_maker else 1]
        account = self.ledger.accounts[order.api_key]
        if order.side is Side.BUY:
            account.spend_locked(market.quote, quote)
            order.locked -= quote
            if order.type != MARKET and order.price > tick:
                # A taker bought below its limit: the excess lock goes back.
                excess = self.quote_value(sym, order.price - tick, units)
                account.unlock(market.quote, excess)
                order.locked -= excess
            got_asset, got = market.base, base
        else:
            account.spend_locked(market.base, base)
            order.locked -= base
            got_asset, got = market.quote, quote
        fee = fee_of(got, rate)
        account.credit(got_asset, got - fee)
        self.ledger.collect_fee(got_asset, fee)
        order.executed_units += units
        order.cum_quote += quote
        order.update_ns = now
        order.status = FILLED if order.remaining == 0 else PARTIALLY_FILLED
        touched.setdefault(order.api_key, set()).update((market.base, market.quote))
        trades = self.trades.setdefault(order.api_key, [])
        if order.api_key in self.unlimited and len(trades) >= 2 * self.crowd_memory:
            del trades[: -self.crowd_memory]  # see CROWD_MEMORY; amortised O(1) a trade
        trades.append(
            AccountTrade(
                symbol=sym,
                trade_id=trade_id,
                order_id=order.order_id,
                price=tick,
                units=units,
                quote=quote,
                commission=fee,
                commission_asset=got_asset,
                time_ns=now,
                is_buyer=order.side is Side.BUY,
                is_maker=is_maker,
            )
        )
        self.events.append(
            ExecutionReport(
                api_key=order.api_key,
                order=dataclasses.replace(order),
                exec_type="TRADE",
                time_ns=now,
                last_units=units,
                last_price=tick,
                last_quote=quote,
                commission=fee,
                commission_asset=got_asset,
                trade_id=trade_id,
                is_maker=is_maker,
            )
        )

    def _finish(
        self, book: SymbolBook, order: Order, status: str, touched: dict[str, set[str]], now: int
    ) -> None:
        # Release what the order still holds and close it.
        market = book.market
        asset = market.quote if order.side is Side.BUY else market.base
        if order.locked:
            self.ledger.accounts[order.api_key].unlock(asset, order.locked)
            order.locked = 0
        touched.setdefault(order.api_key, set()).add(asset)
        order.status = status
        order.update_ns = now
        self._report(order, status if status != FILLED else "TRADE", now)

    def _forget_crowd_orders(self) -> None:
        # Drop the closed orders of the unlimited accounts (see CROWD_MEMORY), then wait for
        # as many new orders again: each sweep costs what the orders since the last one did.
        unlimited = self.unlimited
        closed = [o for o in self.orders.values() if o.api_key in unlimited and not o.is_open]
        for o in closed[: max(0, len(closed) - self.crowd_memory)]:
            del self.orders[o.order_id]
            key = (o.api_key, o.symbol, o.client_order_id)
            if self._by_client.get(key) == o.order_id:
                del self._by_client[key]
        self._prune_at = max(2 * self.crowd_memory, 2 * len(self.orders))

    def _report(self, order: Order, exec_type: str, now: int) -> None:
        if exec_type == "TRADE":
            return  # the fill itself was reported
        self.events.append(
            ExecutionReport(
                api_key=order.api_key,
                order=dataclasses.replace(order),
                exec_type=exec_type,
                time_ns=now,
            )
        )

    def _rest(self, book: SymbolBook, order: Order) -> None:
        self._open.setdefault(order.api_key, {})[order.order_id] = order
        key = self._key(order.side, order.price)
        queue = book.orders.get(key)
        if queue is None:
            queue = book.orders[key] = deque()
            bisect.insort(book.bid_ticks if order.side is Side.BUY else book.ask_ticks, order.price)
        queue.append(order)
        agg = book.user_bids if order.side is Side.BUY else book.user_asks
        agg[order.price] = agg.get(order.price, 0) + order.remaining
        book.changes[(int(order.side), order.price)] = book.level(int(order.side), order.price)

    def _unrest(self, book: SymbolBook, order: Order) -> None:
        self._open[order.api_key].pop(order.order_id, None)
        queue = book.orders[self._key(order.side, order.price)]
        queue.remove(order)
        agg = book.user_bids if order.side is Side.BUY else book.user_asks
        agg[order.price] -= order.remaining
        if agg[order.price] == 0:
            del agg[order.price]
        if not queue:
            self._drop_tick(book, order.side, order.price)
        book.changes[(int(order.side), order.price)] = book.level(int(order.side), order.price)

    def _drop_tick(self, book: SymbolBook, side: Side, tick: int) -> None:
        del book.orders[self._key(side, tick)]
        ticks = book.bid_ticks if side is Side.BUY else book.ask_ticks
        del ticks[bisect.bisect_left(ticks, tick)]

    @staticmethod
    def _key(side: Side, tick: int) -> int:
        # One dict for both sides: bids at +tick, asks at -tick (ticks are positive).
        return tick if side is Side.BUY else -tick

    def _find(
        self, api_key: str, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        if order_id is not None:
            order = self.orders.get(order_id)
        elif client_order_id:
            oid = self._by_client.get((api_key, symbol, client_order_id))
            order = self.orders.get(oid) if oid is not None else None
        else:
            raise errors.SimError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order is None or order.api_key != api_key or order.symbol != symbol:
            return None
        return order

    def _flush(self, book: SymbolBook, touched: dict[str, set[str]], now: int) -> None:
        # One depth event per operation; each changed level consumes one update id.
        if book.changes:
            bids = tuple((t, q) for (s, t), q in book.changes.items() if s > 0)
            asks = tuple((t, q) for (s, t), q in book.changes.items() if s < 0)
            first = book.update_id + 1
            book.update_id += len(book.changes)
            book.changes = {}
            self.events.append(
                DepthUpdate(book.market.exchange_symbol, first, book.update_id, bids, asks, now)
            )
            bb = book.public_levels(1, 1)
            ba = book.public_levels(-1, 1)
            top = (*(bb[0] if bb else (0, 0)), *(ba[0] if ba else (0, 0)))
            if top != book.top:
                book.top = top
                self.events.append(
                    BookTicker(book.market.exchange_symbol, book.update_id, *top, now)
                )
        for api_key, assets in touched.items():
            account = self.ledger.accounts[api_key]
            account.update_ns = now
            self.events.append(
                AccountUpdate(
                    api_key,
                    now,
                    tuple(
                        (a, account.balance(a).free, account.balance(a).locked)
                        for a in sorted(assets)
                    ),
                )
            )


def _acceptable(order: Order, tick: int) -> bool:
    return tick <= order.price if order.side is Side.BUY else tick >= order.price
