"""Tape replay in the simulator: the tape's book at every update id, users' fills, ccxt sync.

The tape is converted from ``tests/data/binance_raw/spot_nexousdt_20240723.dat.gz`` (real
Binance NEXOUSDT spot data, MIT, see ``tests/data/README.md``).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from pegbot.market import Market, Side
from pegbot.sim.config import AccountConfig, SimConfig
from pegbot.sim.exchange import Exchange
from pegbot.sim.model import LIMIT, MARKET, NewOrder
from pegbot.sim.replay import TapeSource
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle
from pegbot.tape.binance import convert_binance_raw
from pegbot.tape.replay import BookReplayer
from pegbot.tape.schema import TRADE

DATA = Path(__file__).parents[1] / "data" / "binance_raw"
NEXO = Market(
    symbol="NEXO/USDT",
    base="NEXO",
    quote="USDT",
    tick_size=Decimal("0.001"),
    lot_size=Decimal("0.001"),
)
KEY, SECRET = "replay-key", "replay-secret"


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tape") / "nexo.parquet"
    convert_binance_raw([DATA / "spot_nexousdt_20240723.dat.gz"], out, NEXO)
    return out


def make_exchange(src: TapeSource) -> Exchange:
    config = SimConfig(
        symbols=(src.symbol_config(),),
        accounts=(
            AccountConfig(
                api_key=KEY, api_secret=SECRET, balances={"NEXO": "1000", "USDT": "5000"}
            ),
        ),
        depth_interval_ms=0,
    )
    ex = Exchange(config, clock=lambda: 1_721_700_000_000_000_000)
    src.attach(ex)
    return ex


def test_replay_reproduces_the_tape_book_at_every_update_id(tape: Path) -> None:
    src = TapeSource(tape)
    ex = make_exchange(src)
    rep = BookReplayer()
    compared = 0
    trades = 0
    while (msg := src.pop()) is not None:
        rep.apply(msg.cols, msg.start, msg.stop)
        if msg.kind == TRADE:
            trades += 1
            continue
        if not rep.synced:
            continue
        _, bids, asks = ex.engine.depth(src.symbol, 1 << 20)
        assert bids == rep.book.levels(1), msg.update_id
        assert asks == rep.book.levels(-1), msg.update_id
        assert src.tape_update_id == msg.update_id
        compared += 1
    assert compared > 300 and trades > 50
    assert ex.engine.books[src.symbol].trade_id == trades


def test_users_take_and_rest_beside_the_tape(tape: Path) -> None:
    src = TapeSource(tape)
    ex = make_exchange(src)
    for _ in range(50):
        src.pop()
    best_ask, ask_qty = src.book.best_ask, src.book.best_ask_qty
    assert best_ask is not None and ask_qty > 0
    units = min(ask_qty, NEXO.qty_to_units("1"))
    taker = ex.engine.place(KEY, NewOrder(src.symbol, Side.BUY, MARKET, units=units), 1)
    assert taker.status == "FILLED" and taker.executed_units == units
    trade = ex.engine.my_trades(KEY, src.symbol)[-1]
    assert (trade.price, trade.is_maker) == (best_ask, False)
    # A bid at the tape's best bid waits behind the tape's queue and fills from tape flow.
    bid = src.book.best_bid
    assert bid is not None
    resting = ex.engine.place(
        KEY, NewOrder(src.symbol, Side.BUY, LIMIT, units=NEXO.qty_to_units("2"), price=bid), 2
    )
    ex.publish()
    assert resting.is_open and resting.order_id in src.fills
    _, bids, _ = ex.engine.depth(src.symbol, 1)
    assert bids[0] == (bid, src.book.bids[bid] + resting.remaining)
    while src.pop() is not None and resting.is_open:
        pass
    assert resting.status == "FILLED", "the tape never reached the order"
    fill = ex.engine.my_trades(KEY, src.symbol)[-1]
    assert (fill.price, fill.is_maker) == (bid, True)
    assert ex.engine.ledger.accounts[KEY].balance("USDT").locked == 0


def test_an_amended_order_keeps_its_place_in_the_tape_queue(tape: Path) -> None:
    """Amend keep priority beside the tape: the same queue ahead, a smaller order."""
    src = TapeSource(tape)
    ex = make_exchange(src)
    for _ in range(50):
        src.pop()
    bid = src.book.best_bid
    assert bid is not None
    order = ex.engine.place(
        KEY, NewOrder(src.symbol, Side.BUY, LIMIT, units=NEXO.qty_to_units("2"), price=bid), 1
    )
    ex.publish()
    before = src.fills.order(order.order_id)
    assert before is not None
    ex.engine.amend(KEY, src.symbol, 2, order.order_id, None, NEXO.qty_to_units("1.5"))
    ex.publish()
    after = src.fills.order(order.order_id)
    assert after is not None
    assert after.ahead_units == before.ahead_units
    assert after.leaves_units == order.remaining == NEXO.qty_to_units("1.5")
    # Amended again, then canceled: it leaves the tape's queue with the order.
    ex.engine.amend(KEY, src.symbol, 3, order.order_id, None, NEXO.qty_to_units("0.001"))
    ex.publish()
    view = src.fills.order(order.order_id)
    assert view is not None and view.leaves_units == NEXO.qty_to_units("0.001")
    ex.engine.cancel(KEY, src.symbol, 4, order.order_id)
    ex.publish()
    assert order.order_id not in src.fills


async def test_ccxt_follows_a_replay_over_the_wire(tape: Path) -> None:
    src = TapeSource(tape, speed=2000.0)
    config = SimConfig(
        symbols=(src.symbol_config(),),
        accounts=(AccountConfig(api_key=KEY, api_secret=SECRET),),
        depth_interval_ms=10,
    )
    server = SimServer(config, market=None)
    src.attach(server.exchange)
    await server.start()
    handle = SimHandle(server, KEY, SECRET)
    try:
        ex = handle.client()
        book = await asyncio.wait_for(ex.watch_order_book("NEXO/USDT"), 5)
        runner = asyncio.create_task(src.run(server.exchange))
        while not runner.done():
            book = await asyncio.wait_for(ex.watch_order_book("NEXO/USDT"), 5)
        await runner
        await asyncio.sleep(0.05)
        server.exchange.flush_depth()
        rep = BookReplayer()
        for cols in src.reader.iter_batches():
            rep.apply(cols)
        deadline = asyncio.get_running_loop().time() + 3
        while book["nonce"] < server.exchange.engine.books[src.symbol].update_id:
            assert asyncio.get_running_loop().time() < deadline
            book = await asyncio.wait_for(ex.watch_order_book("NEXO/USDT"), 3)
        want_bids = [
            [float(NEXO.ticks_to_price(t)), float(NEXO.units_to_qty(q))]
            for t, q in rep.book.levels(1)
        ]
        assert book["bids"][: len(want_bids)] == want_bids
        assert len(book["asks"]) == len(rep.book.asks)
    finally:
        await handle.close_clients()
        await server.stop()


def test_symbol_config_keeps_the_tape_grid(tape: Path) -> None:
    spec = TapeSource(tape).symbol_config()
    assert spec.exchange_symbol == "NEXOUSDT" and spec.tick_size == Decimal("0.001")
    assert spec.market().lot_size == Decimal("0.001") and spec.min_qty == Decimal("0.001")
