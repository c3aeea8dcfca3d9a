"""The matching engine of the simulated exchange: orders, price-time priority, fills, fees.

The engine is pure and synchronous: every method takes the time (int ns UTC) it happens at,
mutates the books and the :class:`~pegbot.sim.accounts.Ledger`, and appends events (execution
reports, balance updates, public trades, depth diffs, book-ticker changes) to :attr:`Engine.events`
for the asyncio shell to publish. Nothing here reads a clock or touches a socket.

Prices are integer ticks, sizes integer qty units (:mod:`pegbot.market`), money integer amount
units (:mod:`pegbot.sim.accounts`). Orders lock what they may spend: a buy locks
``limit price × remaining`` of the quote asset (a market buy its planned cost or its
``quoteOrderQty``), a sell locks the base it offers; fills pay out of the lock and the
commission is taken from the asset received, as on Binance without BNB. A cancel carries its
own client id (``c`` of its report; the order's id is ``C``), and an amend reduces an order
in place keeping its priority (execution type ``REPLACED``), as Binance documents them.

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
    CANCEL_RESTRICTIONS,
    CANCELED,
    EXPIRED,
    EXPIRY_FOK,
    EXPIRY_IOC,
    EXPIRY_LIQUIDITY,
    EXPIRY_NONE,
    FILLED,
    FOK,
    GTC,
    IOC,
    LIMIT,
    LIMIT_MAKER,
    MARKET,
    PARTIALLY_FILLED,
    REJECTED,
    TRADING,
    AccountTrade,
    AccountUpdate,
    Event,
    ExecutionReport,
    NewOrder,
    Order,
    PublicTrade,
    SymbolBook,
)
from .pretrade import acceptable, check_filters, crosses, fok_fillable, initial_lock, reach

__all__ = ["CROWD_MEMORY", "Engine"]


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
        self._next_client_id = 0
        #: Per symbol: ``MAX_NUM_ORDER_AMENDS``, or None where amending is not allowed.
        self._amends: dict[str, int | None] = {}
        self._rates: dict[str, tuple[Fraction, Fraction]] = {}
        self._units: dict[str, tuple[int, int]] = {}
        #: Per symbol: how a user's order takes external liquidity, ``(order, units wanted,
        #: limit tick or None, now) -> [(tick, units)]`` (set by a replay source).
        self.external_takers: dict[str, ExternalTaker] = {}
        self.ledger.add(EXTERNAL_KEY, EXTERNAL_KEY)
        for market in markets:
            self.add_market(market)

    # -- set-up ---------------------------------------------------------------------------

    def add_market(
        self, market: Market, max_open_orders: int = 200, max_amends: int | None = 10
    ) -> None:
        """Add a symbol; its value of one tick × one qty unit must be a whole amount unit.

        ``max_open_orders`` is the ``MAX_NUM_ORDERS`` filter: open orders per account;
        ``max_amends`` the ``MAX_NUM_ORDER_AMENDS`` filter (None: ``amendAllowed`` false).
        """
        value = market.tick_size * market.qty_unit * (10**AMOUNT_DECIMALS)
        base = market.qty_unit * (10**AMOUNT_DECIMALS)
        if value != value.to_integral_value() or base != base.to_integral_value():
            raise ValueError(f"{market.symbol}: tick × qty unit is finer than 1e-18")
        sym = market.exchange_symbol
        self.books[sym] = SymbolBook(market=market)
        self._max_open[sym] = max_open_orders
        self._amends[sym] = max_amends
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
        book = self.check_new(req)
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
        if req.type == LIMIT_MAKER and crosses(book, side, req.price):
            raise errors.would_take()
        order = self._new_order(api_key, req, now_ns)
        market = book.market
        to_lock = initial_lock(book, order, *self._units[req.symbol])
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
        if order.tif == FOK and not fok_fillable(book, order, self._units[req.symbol][0]):
            order.expiry_reason = EXPIRY_FOK
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
            if status == EXPIRED:
                order.expiry_reason = EXPIRY_IOC if order.tif == IOC else EXPIRY_LIQUIDITY
            self._finish(book, order, status, touched, now_ns)
        self._flush(book, touched, now_ns)
        return order

    def check_new(self, req: NewOrder) -> SymbolBook:
        """The symbol's book if ``req`` passes the symbol's status and filters, else raise.

        What cancel-replace evaluates before it cancels anything ("Filters and Order Count
        are evaluated before the processing of the cancellation and order placement").
        """
        book = self.book(req.symbol)
        if book.status != TRADING:
            raise errors.market_closed()
        check_filters(book.market, req)
        return book

    def cancel(
        self,
        api_key: str,
        symbol: str,
        now_ns: int,
        order_id: int | None = None,
        client_order_id: str | None = None,
        *,
        cancel_client_order_id: str = "",
        restriction: str = "",
    ) -> Order:
        """Cancel one open order by id or client id; -2011 if it is not open.

        Args:
            api_key: The account.
            symbol: Exchange symbol.
            now_ns: Time of the cancel.
            order_id: The order's id (searched first when both ids are given; the client id
                must then match it).
            client_order_id: The order's client id.
            cancel_client_order_id: The cancel request's own id (``newClientOrderId``);
                generated when empty. It is the cancel report's ``c`` and the reply's
                ``clientOrderId``; the order's id is ``C`` / ``origClientOrderId``.
            restriction: ``ONLY_NEW`` or ``ONLY_PARTIALLY_FILLED`` (``cancelRestrictions``):
                the cancel fails with -2011 unless the order has that status.
        """
        book = self.book(symbol)
        if restriction and restriction not in CANCEL_RESTRICTIONS:
            raise errors.SimError(-1145, "Invalid cancelRestrictions")
        order = self._find(api_key, symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise errors.unknown_order()
        if restriction and order.status != CANCEL_RESTRICTIONS[restriction]:
            raise errors.SimError(-2011, "Order was not canceled due to cancel restrictions.")
        touched: dict[str, set[str]] = {}
        order.cancel_client_order_id = cancel_client_order_id or self._new_client_id()
        self._unrest(book, order)
        self._finish(book, order, CANCELED, touched, now_ns)
        self._flush(book, touched, now_ns)
        return order

    def cancel_all(
        self, api_key: str, symbol: str, now_ns: int, cancel_client_order_id: str = ""
    ) -> list[Order]:
        """Cancel every open order of the account on ``symbol``; -2011 if there is none.

        One cancel id (generated when empty) names every cancel of the request, as on
        Binance.
        """
        book = self.book(symbol)
        open_orders = self.open_orders(api_key, symbol)
        if not open_orders:
            raise errors.unknown_order()
        touched: dict[str, set[str]] = {}
        cancel_id = cancel_client_order_id or self._new_client_id()
        for order in open_orders:
            order.cancel_client_order_id = cancel_id
            self._unrest(book, order)
            self._finish(book, order, CANCELED, touched, now_ns)
        self._flush(book, touched, now_ns)
        return open_orders

    def amend(
        self,
        api_key: str,
        symbol: str,
        now_ns: int,
        order_id: int | None,
        client_order_id: str | None,
        new_units: int,
        new_client_order_id: str = "",
    ) -> tuple[Order, str]:
        """Reduce an open order's quantity in place, keeping its priority.

        Binance's "Order Amend Keep Priority": only a decrease (``newQty`` above 0 and below
        the order's quantity); the order keeps its id and its place in the queue, its
        client id becomes ``new_client_order_id`` (generated when empty; the current id may
        be sent to keep it), what it no longer needs is unlocked, and the user stream gets an
        ``executionReport`` with execution type ``REPLACED``. A new quantity at or below what
        already executed leaves nothing open: the order expires (the simulator's reading of
        the documented "the order expires because of the amendment").

        Returns:
            The order after the amend and the client id it had before.

        Raises:
            SimError: -2038 (unknown or closed order, an increase, no change, too many
                amendments), -1013 (the new quantity breaks ``LOT_SIZE``).
        """
        book = self.book(symbol)
        spec = self._amends[symbol]
        if spec is None:
            raise errors.amend_rejected("Order amend is not supported for this symbol.")
        order = self._find(api_key, symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise errors.amend_rejected("Unknown order sent.")
        if new_units > order.orig_units:
            raise errors.amend_rejected("Order amend (quantity increase) is not supported.")
        if new_units == order.orig_units:
            raise errors.amend_rejected("The requested action would change no state; rejecting.")
        if order.amends >= spec:
            raise errors.amend_rejected("Filter failure: MAX_NUM_ORDER_AMENDS")
        market = book.market
        if new_units <= 0 or new_units < market.qty_to_units(market.min_qty):
            raise errors.filter_failure("LOT_SIZE")
        before = order.client_order_id
        after = new_client_order_id or self._new_client_id()
        if after != before:
            known = self._by_client.get((api_key, symbol, after))
            if known is not None and self.orders[known].is_open:
                raise errors.amend_rejected("Duplicate order sent.")
        give_back = order.remaining - max(new_units - order.executed_units, 0)
        self._shrink(book, order, give_back)
        order.orig_units = max(new_units, order.executed_units)
        buy = order.side is Side.BUY
        # What the order no longer needs: all of its lock once nothing is left open.
        freed = order.locked
        if order.remaining:
            freed = (
                self.quote_value(symbol, order.price, give_back)
                if buy
                else give_back * (self._units[symbol][1])
            )
        asset = market.quote if buy else market.base
        self.ledger.accounts[api_key].unlock(asset, freed)
        order.locked -= freed
        order.amends += 1
        order.update_ns = now_ns
        if after != before:
            self._by_client.pop((api_key, symbol, before), None)
            self._by_client[(api_key, symbol, after)] = order.order_id
            order.client_order_id = after
        if order.remaining == 0:
            self._unrest(book, order)
            order.status, order.expiry_reason = EXPIRED, EXPIRY_NONE
        self._report(order, "REPLACED", now_ns)
        self._flush(book, {api_key: {asset}}, now_ns)
        return order, before

    def report_rejected(self, api_key: str, req: NewOrder, reason: str, now_ns: int) -> None:
        """Report a new order the matching engine rejected (cancel-replace's new order).

        The user stream gets an ``executionReport`` with execution type ``REJECTED`` and the
        reject reason ``r`` (Binance's enums, "Execution types": REJECTED is sent for a
        cancel-replace whose new order is rejected after the cancel succeeded).
        """
        order = self._new_order(api_key, req, now_ns)
        order.status = REJECTED
        self._next_order_id += 1
        self._report(order, REJECTED, now_ns, reject_reason=reason)

    def get_order(
        self, api_key: str, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order:
        """An order of the account, or -2013 (-2039 when the two ids name different orders)."""
        self.book(symbol)
        if order_id is not None and client_order_id:
            by_id = self._find(api_key, symbol, order_id, None)
            if by_id is not None and by_id.client_order_id != client_order_id:
                raise errors.SimError(-2039, "Client order ID is not correct for this order ID.")
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
            taker.orig_units = reach(book, taker, budget, self._units[taker.symbol][0])[0]
        hook = self.external_takers.get(taker.symbol)
        limit = None if taker.type == MARKET else taker.price
        while taker.remaining > 0:
            tick: int | None = (opposite[0] if buy else opposite[-1]) if opposite else None
            if tick is not None and limit is not None and not acceptable(taker, tick):
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
        book.execution_id += 1
        self.events.append(
            ExecutionReport(
                api_key=order.api_key,
                order=dataclasses.replace(order),
                exec_type="TRADE",
                execution_id=book.execution_id,
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

    def _report(
        self, order: Order, exec_type: str, now: int, *, reject_reason: str = "NONE"
    ) -> None:
        if exec_type == "TRADE":
            return  # the fill itself was reported
        book = self.books[order.symbol]
        book.execution_id += 1
        cancel = exec_type == CANCELED
        self.events.append(
            ExecutionReport(
                api_key=order.api_key,
                order=dataclasses.replace(order),
                exec_type=exec_type,
                time_ns=now,
                client_order_id=order.cancel_client_order_id if cancel else "",
                orig_client_order_id=order.client_order_id if cancel else "",
                execution_id=book.execution_id,
                reject_reason=reject_reason,
            )
        )

    def _new_order(self, api_key: str, req: NewOrder, now: int) -> Order:
        # The order a request makes, under the next order id (taken by the caller).
        return Order(
            order_id=self._next_order_id,
            client_order_id=req.client_order_id or f"sim-{self._next_order_id}",
            api_key=api_key,
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            tif=req.tif if req.type == LIMIT else GTC,
            price=req.price if req.type != MARKET else 0,
            orig_units=req.units,
            quote_amount=req.quote_amount,
            time_ns=now,
            update_ns=now,
        )

    def _new_client_id(self) -> str:
        # Binance generates ids for cancels and amends that do not name their own.
        self._next_client_id += 1
        return f"sim-c{self._next_client_id}"

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
        left = agg.get(order.price, 0) - order.remaining
        if left:
            agg[order.price] = left
        else:
            agg.pop(order.price, None)
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
            if order is not None and client_order_id and order.client_order_id != client_order_id:
                return None  # both given: the id is searched, the client id must match it
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
        self.events.extend(book.drain_changes(now))
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
