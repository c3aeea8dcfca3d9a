"""``CcxtVenue``: the :class:`~pegbot.execution.venue.Venue` over an unmodified ccxt.pro client.

One class for Binance live, its testnet, the simulator and any ccxt exchange with the calls
pegbot needs; what differs between venues is data (:mod:`pegbot.execution.quirks`).

What it guarantees where market-making bots commonly fail:

* **No duplicate after a time-out.** A placement whose outcome is unknown (time-out, 5xx,
  network error) is looked up by its client id before anything is sent again; a re-send
  uses the same client id, so the venue itself refuses a second copy; a lookup that fails
  too ends in :class:`OutcomeUnknownError`, never in a guess.
* **No misreported rejects.** A post-only cross is :class:`WouldTakeError`, not a network
  error (:mod:`pegbot.execution.errors` maps by class and message).
* **No bans.** Every reply's used-weight header is read into the :class:`RateBudget`; a 429
  or 418 blocks every request until its ``Retry-After`` has passed (places fail fast,
  cancels and reads wait), so the venue never sees a request that would earn a ban.
* **Clock skew heals.** ``-1021`` resynchronises ccxt's time offset and retries once.
* **Cancel-all is confirmed** with an open-orders fetch, round after round.

User data comes from ``watch_orders`` and ``watch_my_trades`` (Binance: the WS API user
stream), deduplicated (an order update by its state and filled quantity, a fill by trade id).
After the stream drops and comes back, the venue fetches open orders and recent fills and
pushes what the stream missed, through the same de-duplication.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import ccxt.pro as ccxtpro

from pegbot.book import OrderBook
from pegbot.execution import errors, order_changes
from pegbot.execution.budget import RateBudget
from pegbot.execution.ccxt_history import AccountHistoryMixin
from pegbot.execution.ccxt_parse import parse_fee_rates, parse_fill, parse_order
from pegbot.execution.ccxt_stream import UserStreamMixin
from pegbot.execution.quirks import VenueQuirks, deep_copy, point_client_at, quirks_for
from pegbot.execution.rate_guard import RateGuard
from pegbot.execution.venue import (
    Fill,
    OrderState,
    OrderUpdate,
    ReplaceResult,
    VenueCapabilities,
    VenueEvent,
)
from pegbot.feeds.model import Trade
from pegbot.logging import event_log
from pegbot.market import Market, Side
from pegbot.timeunits import NS_PER_S

__all__ = ["CcxtVenue", "load_market", "make_ccxt_venue", "point_client_at"]

log = event_log(__name__)

_T = TypeVar("_T")
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_\-.:/]+$")


def make_ccxt_venue(
    exchange_id: str = "binance",
    symbol: str = "KGST/USDT",
    *,
    api_key: str = "",
    secret: str = "",
    http_url: str | None = None,
    ws_url: str | None = None,
    sandbox: bool = False,
    name: str | None = None,
    timeout_ms: int = 10_000,
    enable_rate_limit: bool = False,
    quirks: VenueQuirks | None = None,
    **venue_kwargs: Any,
) -> CcxtVenue:
    """Build a :class:`CcxtVenue` for ``exchange_id``.

    Args:
        exchange_id: ccxt id; its quirks come from :data:`~pegbot.execution.quirks.QUIRKS`.
        symbol: Unified symbol to trade.
        api_key: API key.
        secret: API secret.
        http_url: REST base URL of another host (the simulator); None for the real hosts.
        ws_url: WebSocket base URL of that host (required with ``http_url``).
        sandbox: Use the venue's testnet (ccxt ``set_sandbox_mode``).
        name: Venue name in events and the journal (default: the exchange id).
        timeout_ms: ccxt request time-out.
        enable_rate_limit: ccxt's own client-side throttle. Off by default: the venue's
            :class:`~pegbot.execution.rate_guard.RateGuard` budgets from the exchange's
            declared limits and its usage headers, while ccxt's guess spaces every WebSocket
            API message 250 ms apart (five tokens of a 50 ms bucket) — a requote of ten
            orders would take 2.5 s.
        quirks: Override the exchange's quirks (default: :func:`quirks_for` its id).
        **venue_kwargs: Passed to :class:`CcxtVenue`.
    """
    quirks = quirks or quirks_for(exchange_id)
    klass = getattr(ccxtpro, exchange_id, None)
    if klass is None:
        raise ValueError(f"ccxt.pro has no exchange {exchange_id!r}")
    opts: dict[str, Any] = {
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": enable_rate_limit,
        "timeout": timeout_ms,
        "options": deep_copy(quirks.options),
    }
    client = klass(opts)
    if sandbox:
        client.set_sandbox_mode(True)
    if http_url is not None:
        if ws_url is None:
            raise ValueError("ws_url is required with http_url")
        point_client_at(client, quirks, http_url, ws_url)
    return CcxtVenue(client, symbol, quirks, name=name or exchange_id, **venue_kwargs)


async def load_market(
    exchange_id: str = "binance",
    symbol: str = "KGST/USDT",
    *,
    http_url: str | None = None,
    ws_url: str | None = None,
    sandbox: bool = False,
) -> Market:
    """The market spec of ``symbol`` from the venue's public API (no keys, no user stream).

    What the paper and dry-run venues trade on: the live venue's own filters.
    """
    venue = make_ccxt_venue(exchange_id, symbol, http_url=http_url, ws_url=ws_url, sandbox=sandbox)
    try:
        return await venue.start(user_stream=False)
    finally:
        await venue.close()


def _forget_answered_ws_requests(client: Any) -> None:
    """Drop the WebSocket API's finished requests from ccxt.pro's connection state.

    ccxt.pro files every request under its numeric id in the connection's ``subscriptions``
    and never removes it once answered: a bot placing orders all day grows it without bound.
    An id whose future is gone was answered (or failed); streams use named keys and stay.
    """
    for conn in list(getattr(client, "clients", {}).values()):
        subs, futures = conn.subscriptions, conn.futures
        for key in [k for k in subs if isinstance(k, str) and k.isdigit() and k not in futures]:
            del subs[key]


class CcxtVenue(AccountHistoryMixin, UserStreamMixin):
    """A :class:`~pegbot.execution.venue.Venue` over a ccxt.pro client (see module doc).

    Attributes:
        name: Venue name.
        client: The ccxt.pro client (owned: :meth:`close` closes it).
        quirks: The venue's quirks.
        guard: The rate guard (budget, used weight, Retry-After blocks).
        stream_connected: The user-data stream is up.
        stream_reconnects: Times the user-data stream came back after failing.
        counters: Counts of notable events (``lookups``, ``resends``, ``rate_limited``, …).
    """

    def __init__(
        self,
        client: Any,
        symbol: str,
        quirks: VenueQuirks | None = None,
        *,
        name: str | None = None,
        budget: RateBudget | None = None,
        clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        own_prefix: str | None = "pegbot-",
        lookup_attempts: int = 4,
        max_resends: int = 2,
        retry_pause_s: float = 0.2,
        cancel_all_rounds: int = 10,
        reconnect_pause_s: float = 0.5,
        dedup_memory: int = 20_000,
        fills_page: int = 1000,
        ws_orders: bool | None = None,
    ) -> None:
        """Wrap ``client`` (not yet connected) for ``symbol``.

        Args:
            client: A ccxt.pro exchange instance.
            symbol: Unified symbol.
            quirks: The venue's quirks (default: by the client's id).
            name: Venue name (default: the client's id).
            budget: A shared rate budget; built from the venue's limits at start if None.
            clock: ns UTC clock (injected for tests).
            sleep: Async sleep (injected for tests).
            own_prefix: Client id prefix of our orders; cancel-all touches only those
                (None: every order of the account on the symbol).
            lookup_attempts: Tries to look an order up after an unknown outcome.
            max_resends: Re-sends of a placement the venue says it never received.
            retry_pause_s: Pause between those tries.
            cancel_all_rounds: Cancel + confirm rounds before cancel-all gives up.
            reconnect_pause_s: Pause before re-subscribing a failed user stream.
            dedup_memory: Trade ids and order states remembered for de-duplication.
            fills_page: Trades asked per page by :meth:`fills_since`.
            ws_orders: Place, cancel and cancel-replace over the WebSocket API (None: where
                the venue has it, ``quirks.ws_order_entry``); REST otherwise. Amends and
                the cancel-all go over REST either way.
        """
        self.client = client
        self.symbol = symbol
        self.quirks = quirks or quirks_for(str(client.id))
        self.name = name or str(client.id)
        # The budget exists from the first request on (a ban can be the first reply); the
        # exchange's declared limits replace the defaults at start.
        self._own_budget = budget is None
        self.guard = RateGuard(
            self.quirks, clock, sleep, budget or RateBudget.binance_spot(now_ns=clock()), self.name
        )
        self.clock = clock
        self._sleep = sleep
        self.own_prefix = own_prefix
        self.lookup_attempts = lookup_attempts
        self.max_resends = max_resends
        self.retry_pause_s = retry_pause_s
        self.cancel_all_rounds = cancel_all_rounds
        self.reconnect_pause_s = reconnect_pause_s
        self.fills_page = fills_page
        q = self.quirks
        self.ws_orders = q.ws_order_entry if ws_orders is None else ws_orders
        self.capabilities = VenueCapabilities(
            time_in_force=frozenset({"GTC", "IOC"}),
            user_stream=True,
            replace=q.cancel_replace,
            amend=q.amend_keep_priority,
        )
        self.stream_connected = False
        self.stream_reconnects = 0
        self.counters: dict[str, int] = {}
        self._market: Market | None = None
        self._queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._seen_fills: OrderedDict[str, None] = OrderedDict()
        self._seen_orders: OrderedDict[tuple[str, str, int, int], None] = OrderedDict()
        # Venue order id -> our client id, newest last (bounded like the other memories).
        self._client_ids: OrderedDict[str, str] = OrderedDict()
        self._open_known: dict[str, OrderUpdate] = {}  # open as the stream last said
        self._latest: OrderedDict[str, OrderUpdate] = OrderedDict()  # by client id
        self._dedup_memory = dedup_memory
        self._last_fill_ns = 0
        self._closed = False

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]:
        """The async sleep every pause goes through (injectable; shared with the guard)."""
        return self._sleep

    @sleep.setter
    def sleep(self, value: Callable[[float], Awaitable[None]]) -> None:
        self._sleep = value
        self.guard.sleep = value

    @property
    def budget(self) -> RateBudget | None:
        """The rate budget, fed from the used-weight header and 429/418 replies."""
        return self.guard.budget

    @property
    def used_weight(self) -> int:
        """Last used weight the venue reported (-1 before any reply)."""
        return self.guard.used_weight

    def on_book(self, book: OrderBook, ts_ns: int) -> Sequence[Fill]:
        """The exchange fills our orders itself: nothing to do with the feed's book."""
        return ()

    def on_trade(self, trade: Trade) -> Sequence[Fill]:
        """The exchange fills our orders itself: nothing to do with public trades."""
        return ()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def market(self) -> Market:
        """The symbol's market spec (valid after :meth:`start`)."""
        if self._market is None:
            raise RuntimeError(f"{self.name}: start() the venue first")
        return self._market

    async def start(self, *, user_stream: bool = True) -> Market:
        """Load the market and fees, set up the rate budget, start the user-data stream.

        Args:
            user_stream: Subscribe the user-data stream (returns once the venue confirmed
                it). Without it :meth:`events` yields nothing: for recovery and tools.
        """
        # ccxt keeps the last JSON reply only when asked to: exchangeInfo carries the venue's
        # rate limits, which the budget must be built from (not from a guess).
        self.client.enableLastJsonResponse = True
        try:
            await self._call("markets", self.client.load_markets)
            info = self.client.last_json_response
        finally:
            self.client.enableLastJsonResponse = False
            self.client.last_json_response = None
        if self.symbol not in self.client.markets:
            raise errors.BadSymbolError(f"{self.name} does not list {self.symbol}")
        market = Market.from_ccxt(self.client.markets[self.symbol])
        if self._own_budget and self.guard.budget is not None:
            limits = info.get("rateLimits") if isinstance(info, dict) else None
            if not limits and self.quirks.exchange_info_limits:
                # Markets came from ccxt's cache or another call: ask for the limits.
                reply = await self._call(
                    "exchange_info",
                    self.client.public_get_exchangeinfo,
                    {"symbol": market.exchange_symbol},
                )
                limits = reply.get("rateLimits") if isinstance(reply, dict) else None
            # The declared limits replace the defaults; a block already learned stays.
            self.guard.budget.adopt(RateBudget.declared_or_default(limits, self.clock(), self.name))
            self._own_budget = False
        # Fees and the user stream's subscription are independent round trips: at once.
        fees = asyncio.ensure_future(self._load_fees(market))
        try:
            if user_stream:
                await self._subscribe()
        finally:
            market = await fees
        self._market = market
        if user_stream:
            self._tasks = [
                asyncio.create_task(self._stream("orders"), name=f"{self.name}-orders"),
                asyncio.create_task(self._stream("trades"), name=f"{self.name}-trades"),
            ]
        return market

    async def _load_fees(self, market: Market) -> Market:
        if self.quirks.fee_method is None or not getattr(self.client, "apiKey", ""):
            return market
        method = getattr(self.client, self.quirks.fee_method, None)
        if method is None:
            return market
        try:
            reply = await self._call("fees", method, {"symbol": market.exchange_symbol})
        except errors.VenueError as exc:
            # The market's default fees stay; the desk sees why in the log.
            log.warning("fees_unavailable", "fees not loaded", error=str(exc))
            return market
        maker, taker = parse_fee_rates(reply)
        if maker is None or taker is None:
            return market
        return dataclasses.replace(market, maker_fee=maker, taker_fee=taker)

    async def close(self) -> None:
        """Stop the stream tasks and close the client; does not cancel orders."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.client.close()

    # -- requests -------------------------------------------------------------------------

    def _count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1

    async def _call(
        self,
        kind: str,
        fn: Callable[..., Awaitable[_T]],
        *args: Any,
        fail_fast: bool = False,
        deadline_ns: int | None = None,
    ) -> _T:
        """One venue request: honour a ban window, read the weight header, map errors.

        A clock-skew error resynchronises the time offset and retries once. With
        ``deadline_ns``, a ban window ending after it raises :class:`DeadlineError` at once.
        """
        for attempt in (0, 1):
            await self.guard.wait(kind, fail_fast, deadline_ns)
            try:
                # ccxt.pro's WebSocket API requests wait for their answer without a time-out
                # of their own: the client's REST time-out bounds every request alike.
                result = await asyncio.wait_for(fn(*args), self.client.timeout / 1000 + 0.5)
            except TimeoutError as exc:
                raise errors.OutcomeUnknownError(f"{kind}: no answer in time") from exc
            except Exception as exc:  # every venue failure is mapped below
                headers = getattr(self.client, "last_response_headers", None)
                self.guard.observe(headers)
                mapped = errors.from_exception(exc)
                if isinstance(mapped, errors.RateLimitedError):
                    self._count("rate_limited")
                    self.guard.on_rate_limited(headers, str(exc))
                elif isinstance(mapped, errors.ClockSkewError) and attempt == 0:
                    self._count("clock_resync")
                    await self._resync_clock()
                    continue
                raise mapped from exc
            finally:
                if self.ws_orders:
                    _forget_answered_ws_requests(self.client)
            self.guard.observe(getattr(self.client, "last_response_headers", None))
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _resync_clock(self) -> None:
        try:
            offset = await self.client.load_time_difference()
        except Exception as exc:
            raise errors.from_exception(exc) from exc
        log.warning("clock_resync", "clock resynchronised", offset_ms=offset)

    # -- orders ---------------------------------------------------------------------------

    def _check_client_id(self, client_id: str) -> None:
        if not client_id or len(client_id) > self.quirks.max_client_id:
            raise errors.InvalidOrderError(
                f"client id {client_id!r} must be 1..{self.quirks.max_client_id} characters"
            )
        if not _CLIENT_ID_RE.match(client_id):
            raise errors.InvalidOrderError(f"client id {client_id!r} has illegal characters")

    async def place(
        self,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
        time_in_force: str | None = None,
    ) -> OrderUpdate:
        """Place a limit order; idempotent by ``client_id`` (see the module docstring).

        Args:
            side: Buy or sell.
            price_ticks: Limit price.
            lots: Size in lots.
            client_id: Our client order id.
            post_only: Ask for post-only (maker only).
            time_in_force: ccxt's unified ``timeInForce`` (``IOC``: a taker order that never
                rests nor trades beyond its price); None: the venue's default (GTC).
        """
        market = self.market
        self._check_client_id(client_id)
        known = self._latest.get(client_id)
        if known is not None:
            # Asked again for an order this venue already placed (a retry by the caller):
            # Binance would accept a closed order's client id as a new order.
            return known
        try:
            market.check_order(price_ticks, lots)
        except ValueError as exc:
            raise errors.InvalidOrderError(str(exc)) from exc
        params: dict[str, Any] = {self.quirks.client_id_param: client_id}
        if post_only:
            params.update(self.quirks.post_only_params)
        if time_in_force is not None:
            if post_only:
                raise errors.InvalidOrderError("post-only and a time in force do not mix")
            params["timeInForce"] = time_in_force
        args = (
            self.symbol,
            "limit",
            "buy" if side is Side.BUY else "sell",
            market.format_qty(market.lots_to_units(lots)),
            market.format_price(price_ticks),
            params,
        )
        resends = 0
        while True:
            try:
                create = self.client.create_order_ws if self.ws_orders else self.client.create_order
                raw = await self._call("place", create, *args, fail_fast=True)
            except errors.VenueError as exc:
                if not _maybe_executed(exc):
                    raise
                self._count("lookups")
                found = await self._lookup(client_id, exc)
                if found is not None:
                    return found
                if isinstance(exc, errors.DuplicateOrderError):
                    # Refused as a duplicate yet not found: never guess, let the bot decide.
                    raise
                if resends >= self.max_resends:
                    raise errors.OutcomeUnknownError(
                        f"{client_id}: not placed after {resends + 1} tries ({exc})"
                    ) from exc
                resends += 1
                self._count("resends")
                await self.sleep(self.retry_pause_s)
                continue
            update = self._order_update(raw, fallback_client_id=client_id)
            self._remember_order(update)
            return update

    async def lookup(self, client_id: str) -> OrderUpdate | None:
        """The venue's current view of one of our orders (None: the venue does not know it).

        Raises:
            OutcomeUnknownError: Every try to ask failed.
        """
        self.market  # noqa: B018 - started?
        return await self._lookup(client_id, errors.TemporaryError("lookup"))

    async def _lookup(self, client_id: str, cause: BaseException) -> OrderUpdate | None:
        """The order with ``client_id`` as the venue knows it; None if it never arrived.

        Raises:
            OutcomeUnknownError: The venue could not be asked (every try failed).
        """
        last: BaseException = cause
        for attempt in range(self.lookup_attempts):
            if attempt:
                await self.sleep(self.retry_pause_s * attempt)
            try:
                raw = await self._call(
                    "lookup",
                    self.client.fetch_order,
                    None,
                    self.symbol,
                    {self.quirks.lookup_param: client_id},
                )
            except errors.OrderNotFoundError:
                return None
            except errors.TemporaryError as exc:
                last = exc
                continue
            update = self._order_update(raw, fallback_client_id=client_id)
            self._remember_order(update)
            return update
        raise errors.OutcomeUnknownError(
            f"{client_id}: outcome unknown, lookup failed {self.lookup_attempts} times ({last})"
        ) from last

    async def cancel(self, client_id: str) -> OrderUpdate:
        """Cancel one order by client id.

        Raises:
            OrderNotFoundError: The venue has no such open order (filled or already gone).
        """
        self.market  # noqa: B018 - started?
        for attempt in range(self.lookup_attempts):
            try:
                raw = await self._call(
                    "cancel",
                    self.client.cancel_order_ws if self.ws_orders else self.client.cancel_order,
                    None,
                    self.symbol,
                    {self.quirks.lookup_param: client_id},
                )
            except errors.OrderNotFoundError:
                raise
            except errors.TemporaryError as exc:
                # The cancel may have gone through: ask before sending it again.
                self._count("lookups")
                found = await self._lookup(client_id, exc)
                if found is None:
                    raise errors.OrderNotFoundError(f"{client_id}: unknown to the venue") from exc
                if found.state is OrderState.CANCELED:
                    return found
                if not found.state.is_open:
                    raise errors.OrderNotFoundError(
                        f"{client_id}: already {found.state.value}"
                    ) from exc
                await self.sleep(self.retry_pause_s * (attempt + 1))
                continue
            update = self._order_update(raw, fallback_client_id=client_id)
            self._remember_order(update)
            return update
        raise errors.OutcomeUnknownError(f"{client_id}: cancel not confirmed")

    async def replace(
        self,
        cancel_client_id: str,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
    ) -> ReplaceResult:
        """Move an order with one STOP_ON_FAILURE cancel-replace (see :mod:`.order_changes`).

        Raises:
            InvalidOrderError: The venue has no cancel-replace, or the new order breaks a
                filter (nothing sent).
            VenueError: The request failed as a whole (``outcome_unknown`` on a time-out or
                5xx: reconcile before believing either half).
        """
        market = self.market
        if not self.capabilities.replace:
            raise errors.InvalidOrderError(f"{self.name} has no cancel-replace")
        self._check_client_id(client_id)
        try:
            market.check_order(price_ticks, lots)
        except ValueError as exc:
            raise errors.InvalidOrderError(str(exc)) from exc
        send = order_changes.send_replace_ws if self.ws_orders else order_changes.send_replace
        result = await send(
            self, market, cancel_client_id, side, price_ticks, lots, client_id, post_only
        )
        for update in (result.canceled, result.placed):
            if update is not None:
                self._remember_order(update)
        return result

    async def amend(self, client_id: str, lots: int) -> OrderUpdate:
        """Reduce an order to ``lots`` remaining, keeping its queue position (amend).

        Raises:
            OrderNotFoundError: The order is no longer open.
            InvalidOrderError: The venue refused the amend (not a reduce, too many amends).
        """
        market = self.market
        if not self.capabilities.amend:
            raise errors.InvalidOrderError(f"{self.name} has no amend")
        # The venue takes the new *total*: what filled (as last known) plus what should rest.
        # A fill we have not heard of yet only makes what rests smaller, never larger.
        known = self.latest(client_id)
        total = (known.filled_units if known is not None else 0) + market.lots_to_units(lots)
        update = await order_changes.send_amend(self, market, client_id, total)
        self._remember_order(update)
        return update

    def latest(self, client_id: str) -> OrderUpdate | None:
        """The order as this venue last reported it (None: never seen)."""
        return self._latest.get(client_id)

    def _ours(self, update: OrderUpdate) -> bool:
        return self.own_prefix is None or update.client_id.startswith(self.own_prefix)

    async def cancel_all(self, timeout_s: float | None = None) -> list[OrderUpdate]:
        """Cancel every open order of ours on the symbol and confirm none is left.

        Each round fetches the open orders (the confirmation) and cancels what of ours is
        left — with one ``DELETE openOrders`` (weight 1) when every open order is ours, else
        one cancel per order; a failing request only costs a round.

        Args:
            timeout_s: Give up after this long (None: after the rounds). A rate-limit block
                that ends after the deadline is not waited for (:class:`DeadlineError` at
                once), so the caller can report in time what may still be open.

        Raises:
            OutcomeUnknownError: Not confirmed after ``cancel_all_rounds`` rounds.
            DeadlineError: Not confirmed within ``timeout_s``.
        """
        deadline = None if timeout_s is None else self.clock() + int(timeout_s * NS_PER_S)
        cancelled: list[OrderUpdate] = []
        left = -1
        last: errors.VenueError | None = None
        for round_ in range(self.cancel_all_rounds):
            if round_:
                pause = self.retry_pause_s
                if deadline is not None and self.clock() + int(pause * NS_PER_S) >= deadline:
                    break
                await self.sleep(pause)
            try:
                every = await self._open_orders(deadline)
            except errors.DeadlineError:
                raise
            except errors.TemporaryError as exc:
                last = exc
                continue
            live = [o for o in every if self._ours(o)]
            left = len(live)
            if not live:
                return cancelled
            # One bulk request when it would touch nothing but ours (a desk's manual
            # orders on the same account stay).
            everything = len(live) == len(every)
            if everything:
                try:
                    raws = await self._call(
                        "cancel_all",
                        self.client.cancel_all_orders,
                        self.symbol,
                        deadline_ns=deadline,
                    )
                except errors.OrderNotFoundError:
                    raws = []  # Binance -2011: nothing was open any more
                except errors.DeadlineError:
                    raise
                except errors.TemporaryError as exc:
                    last = exc
                    continue
                for raw in raws if isinstance(raws, list) else []:
                    update = self._order_update(raw)
                    self._remember_order(update)
                    cancelled.append(update)
            else:
                for order in live:
                    if deadline is not None and self.clock() >= deadline:
                        break
                    with contextlib.suppress(errors.OrderNotFoundError, errors.TemporaryError):
                        cancelled.append(await self.cancel(order.client_id))
        seen = "unknown" if left < 0 else str(left)
        if deadline is not None and self.clock() + int(self.retry_pause_s * NS_PER_S) >= deadline:
            raise errors.DeadlineError(
                f"{self.name}: cancel-all not confirmed within {timeout_s:.1f} s"
                f" ({seen} orders of ours last seen open; last error: {last!r})"
            )
        raise errors.OutcomeUnknownError(
            f"{self.name}: cancel-all not confirmed after {self.cancel_all_rounds} rounds"
            f" ({seen} orders of ours last seen open; last error: {last!r})"
        )

    async def open_orders(self) -> list[OrderUpdate]:
        """Every open order on the symbol (ours and any other of the account)."""
        return await self._open_orders(None)

    async def _open_orders(self, deadline_ns: int | None) -> list[OrderUpdate]:
        raws = await self._call(
            "open_orders", self.client.fetch_open_orders, self.symbol, deadline_ns=deadline_ns
        )
        out = [self._order_update(raw) for raw in raws]
        for update in out:
            if update.order_id:
                self._name_order(update.order_id, update.client_id)
        return out

    def _order_update(self, raw: Mapping[str, Any], fallback_client_id: str = "") -> OrderUpdate:
        return parse_order(raw, self.market, self.quirks, fallback_client_id)

    def _fill(self, raw: Mapping[str, Any], market: Market) -> Fill:
        return parse_fill(raw, market, self.quirks, self.name, self.symbol, self._client_ids)

    def _name_order(self, order_id: str, client_id: str) -> None:
        # A bot running for months names millions of orders: keep the newest ones only (a
        # fill of a forgotten order is named by a lookup, _learn_client_ids).
        self._client_ids[order_id] = client_id
        self._client_ids.move_to_end(order_id)
        if len(self._client_ids) > self._dedup_memory:
            self._client_ids.popitem(last=False)

    def _remember_order(self, update: OrderUpdate) -> None:
        if update.order_id:
            self._name_order(update.order_id, update.client_id)
        self._latest[update.client_id] = update
        self._latest.move_to_end(update.client_id)
        if len(self._latest) > self._dedup_memory:
            self._latest.popitem(last=False)
        # What recovery must re-check after an outage (a stale entry only costs a lookup).
        if update.state.is_open:
            self._open_known[update.client_id] = update
        else:
            self._open_known.pop(update.client_id, None)


def _maybe_executed(exc: errors.VenueError) -> bool:
    """Whether a failed placement may have reached the venue (look it up before re-sending)."""
    if exc.outcome_unknown or isinstance(exc, errors.DuplicateOrderError):
        return True
    # A plain network error: the request may have left before the connection broke.
    return type(exc) is errors.TemporaryError
