"""PaperVenue (queue-position fills beside a fed book, virtual balances) and DryRunVenue."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from pegbot.book import OrderBook
from pegbot.execution import errors
from pegbot.execution.dryrun import DryRunVenue
from pegbot.execution.paper import PaperVenue
from pegbot.execution.venue import Fill, OrderState, OrderUpdate, Venue, VenueEvent
from pegbot.feeds.model import Trade
from pegbot.ledger import Ledger
from pegbot.market import Market, Side

M = Market.kgst_usdt()
U = M.units_per_lot


def book() -> OrderBook:
    b = OrderBook()
    b.apply_snapshot([(1140, 5000 * U), (1139, 8000 * U)], [(1145, 4000 * U), (1146, 9000 * U)])
    return b


def paper(**kw: object) -> tuple[PaperVenue, OrderBook]:
    v = PaperVenue(M, {"KGST": "100000", "USDT": "1000"}, clock=lambda: 7, **kw)  # type: ignore[arg-type]
    b = book()
    v.on_book(b, 1)
    return v, b


def drain(v: PaperVenue | DryRunVenue) -> list[VenueEvent]:
    out: list[VenueEvent] = []
    while not v._queue.empty():
        out.append(v._queue.get_nowait())
    return out


async def test_protocol() -> None:
    v, _ = paper()
    assert isinstance(v, Venue)
    assert isinstance(DryRunVenue(M), Venue)
    assert await v.start() == M


async def test_rests_behind_the_queue_and_fills_partially() -> None:
    v, _ = paper()
    placed = await v.place(Side.BUY, 1140, 1000, "pegbot-p-b0-1")
    assert placed.state is OrderState.NEW
    bal = await v.balances()
    assert bal["USDT"].locked == Decimal("11.4")
    assert bal["USDT"].free == Decimal("988.6")
    assert (
        v.on_trade(Trade(2, 2, 1, 1140, 4000 * U, Side.SELL)) == []
    )  # the 5000 ahead are not yet through
    fills = v.on_public_trade(-1, 1140, 1300 * U, 3)  # 1000 ahead left, 300 reach us
    assert [(f.qty_units, f.price_ticks, f.maker) for f in fills] == [(300 * U, 1140, True)]
    f = fills[0]
    assert (f.fee, f.fee_asset) == (Decimal("0.3"), "KGST")  # maker fee from the KGST received
    evs = drain(v)
    assert [type(e).__name__ for e in evs] == ["OrderUpdate", "Fill", "OrderUpdate"]
    last = evs[-1]
    assert isinstance(last, OrderUpdate)
    assert (last.state, last.filled_units) == (OrderState.PARTIALLY_FILLED, 300 * U)
    bal = await v.balances()
    assert bal["KGST"].free == Decimal("100299.7")
    assert bal["USDT"].locked == Decimal("7.98")
    assert bal["USDT"].free == Decimal("988.6")
    # The rest fills when the book's asks come down through our bid (a cross).
    b2 = book()
    b2.set_ask(1140, 200 * U)
    fills = v.on_book(b2, 4)
    assert [(f.qty_units, f.price_ticks) for f in fills] == [(700 * U, 1140)]
    assert (await v.open_orders()) == []
    bal = await v.balances()
    assert bal["USDT"].locked == 0
    assert bal["USDT"].total == Decimal("1000") - Decimal("11.4")
    assert await v.fills_since(0) == [f, *fills]
    assert await v.fills_since(4) == fills


async def test_post_only_cross_and_taking() -> None:
    v, _ = paper()
    with pytest.raises(errors.WouldTakeError):
        await v.place(Side.BUY, 1145, 100, "pegbot-p-b0-2")
    assert await v.open_orders() == []
    # A plain limit takes the asks at their prices as taker, the rest rests.
    placed = await v.place(Side.BUY, 1146, 15000, "pegbot-p-b0-3", post_only=False)
    assert placed.state is OrderState.PARTIALLY_FILLED
    assert placed.filled_units == 13000 * U
    fills = [e for e in drain(v) if isinstance(e, Fill)]
    assert [(f.price_ticks, f.qty_units, f.maker) for f in fills] == [
        (1145, 4000 * U, False),
        (1146, 9000 * U, False),
    ]
    assert [o.client_id for o in await v.open_orders()] == ["pegbot-p-b0-3"]
    bal = await v.balances()
    paid = Decimal("0.01145") * 4000 + Decimal("0.01146") * 9000
    assert bal["USDT"].locked == Decimal("0.01146") * 2000
    assert bal["USDT"].total == Decimal("1000") - paid
    assert bal["KGST"].free == Decimal("100000") + 13000 - Decimal("13")  # taker fee 0.1 %


async def test_rejects_cancels_and_idempotency() -> None:
    v, _ = paper()
    with pytest.raises(errors.InsufficientFundsError):
        await v.place(Side.BUY, 1140, 100_000, "pegbot-p-b0-4")
    with pytest.raises(errors.InvalidOrderError):
        await v.place(Side.BUY, 1140, 1, "pegbot-p-b0-5")  # below min notional
    a = await v.place(Side.SELL, 1150, 2000, "pegbot-p-a0-1")
    assert await v.place(Side.SELL, 1150, 2000, "pegbot-p-a0-1") == a
    assert (await v.balances())["KGST"].locked == 2000
    await v.place(Side.BUY, 1139, 1000, "pegbot-p-b1-1")
    c = await v.cancel("pegbot-p-a0-1")
    assert c.state is OrderState.CANCELED
    assert (await v.balances())["KGST"].locked == 0
    with pytest.raises(errors.OrderNotFoundError):
        await v.cancel("pegbot-p-a0-1")
    done = await v.cancel_all()
    assert [u.client_id for u in done] == ["pegbot-p-b1-1"]
    assert await v.open_orders() == []
    bal = await v.balances()
    assert (bal["KGST"].free, bal["USDT"].free) == (Decimal("100000"), Decimal("1000"))


async def test_no_book_yet_is_temporary() -> None:
    v = PaperVenue(M, {"USDT": "100"})
    with pytest.raises(errors.TemporaryError):
        await v.place(Side.BUY, 1140, 100, "pegbot-p-b0-9")


async def test_ledger_agrees_with_paper_balances() -> None:
    v, _ = paper()
    led = Ledger(M)
    led.set_balances("paper", Decimal("100000"), Decimal("1000"), cost_price=Decimal("0.0114"))
    await v.place(Side.BUY, 1140, 3000, "pegbot-p-b0-6")
    await v.place(Side.SELL, 1145, 2500, "pegbot-p-a0-6")
    v.on_public_trade(-1, 1140, 6000 * U, 2)
    v.on_public_trade(1, 1145, 4300 * U, 3)
    v.on_public_trade(1, 1146, 100 * U, 4)  # through our ask: the rest fills
    await v.place(Side.SELL, 1139, 500, "pegbot-p-a1-6", post_only=False)
    led.apply_all(await v.fills_since(0))
    bal = await v.balances()
    inv = led.holdings("paper")
    assert inv.base == bal["KGST"].total
    assert inv.quote == bal["USDT"].total


async def test_dry_run_logs_and_never_fills(caplog: pytest.LogCaptureFixture) -> None:
    v = DryRunVenue(M, {"KGST": "5"}, clock=lambda: 3)
    with caplog.at_level(logging.INFO, logger="pegbot.execution.dryrun"):
        u = await v.place(Side.BUY, 1140, 1000, "pegbot-d-b0-1")
    assert u.state is OrderState.NEW and u.ts_ns == 3
    rec = [r for r in caplog.records if getattr(r, "event", "") == "dry_run_place"]
    assert len(rec) == 1
    assert (rec[0].price, rec[0].qty) == ("0.0114", "1000")  # type: ignore[attr-defined]
    assert await v.place(Side.BUY, 1140, 1000, "pegbot-d-b0-1") == u
    assert len(v.intended) == 1
    assert [o.client_id for o in await v.open_orders()] == ["pegbot-d-b0-1"]
    with pytest.raises(errors.InvalidOrderError):
        await v.place(Side.BUY, 1140, 0, "pegbot-d-b0-2")
    assert await v.fills_since(0) == []
    done = await v.cancel_all()
    assert [d.state for d in done] == [OrderState.CANCELED]
    assert await v.open_orders() == []
    with pytest.raises(errors.OrderNotFoundError):
        await v.cancel("pegbot-d-b0-1")
    assert [type(e).__name__ for e in drain(v)] == ["OrderUpdate", "OrderUpdate"]
    assert (await v.balances())["KGST"].free == 5
