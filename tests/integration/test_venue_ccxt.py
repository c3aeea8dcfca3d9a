"""CcxtVenue through unmodified ccxt.pro against the simulator: orders, events, fills, balances."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from pegbot.config import VenueSettings
from pegbot.execution import errors
from pegbot.execution.ccxt_venue import CcxtVenue, make_ccxt_venue
from pegbot.execution.dryrun import make_dryrun_venue
from pegbot.execution.paper import make_paper_venue
from pegbot.execution.quirks import BINANCE
from pegbot.execution.venue import Fill, OrderState, OrderUpdate, Venue, VenueEvent
from pegbot.journal import Journal
from pegbot.ledger import Ledger
from pegbot.market import Side
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET, SimConfig
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle, default_sim_config

pytestmark = pytest.mark.timeout(60)

BID = 1140  # 0.01140
ASK = 1145


@pytest.fixture
def sim_config() -> SimConfig:
    """Fees that differ from ccxt's defaults, so the test sees them loaded from the venue."""
    cfg = default_sim_config()
    symbol = cfg.symbols[0].model_copy(
        update={"maker_fee": Decimal("0.00075"), "taker_fee": Decimal("0.00095")}
    )
    return cfg.model_copy(update={"symbols": (symbol,)})


def build(sim: SimHandle, **kw: Any) -> CcxtVenue:
    """A venue on the demo account of ``sim``."""
    kw.setdefault("enable_rate_limit", False)
    return make_ccxt_venue(
        "binance",
        "KGST/USDT",
        api_key=kw.pop("api_key", DEMO_API_KEY),
        secret=kw.pop("secret", DEMO_API_SECRET),
        http_url=sim.http_url,
        ws_url=sim.ws_url,
        **kw,
    )


@pytest.fixture
async def venue(sim: SimHandle) -> AsyncIterator[CcxtVenue]:
    v = build(sim)
    await v.start()
    try:
        yield v
    finally:
        await v.close()


async def next_events(v: Venue, n: int, timeout: float = 5.0) -> list[VenueEvent]:
    out: list[VenueEvent] = []
    it = v.events()

    async def take() -> None:
        async for ev in it:
            out.append(ev)
            if len(out) >= n:
                return

    await asyncio.wait_for(take(), timeout)
    return out


async def maker_sell(sim: SimHandle, qty: str, price: str) -> None:
    mk = sim.maker()
    await mk.load_markets()
    await mk.create_order("KGST/USDT", "limit", "sell", qty, price)


async def test_start_loads_market_and_fees(venue: CcxtVenue) -> None:
    assert isinstance(venue, Venue)
    m = venue.market
    assert m.symbol == "KGST/USDT"
    assert m.tick_size == Decimal("0.00001")
    assert m.lot_size == Decimal("1")
    assert (m.maker_fee, m.taker_fee) == (Decimal("0.00075"), Decimal("0.00095"))
    assert venue.budget is not None
    assert venue.used_weight > 0  # read from X-MBX-USED-WEIGHT-1M


async def test_place_open_cancel_and_events(venue: CcxtVenue) -> None:
    placed = await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-1")
    assert placed.state is OrderState.NEW
    assert (placed.client_id, placed.price_ticks, placed.qty_units) == (
        "pegbot-t1-b0-1",
        BID,
        venue.market.lots_to_units(1000),
    )
    live = await venue.open_orders()
    assert [o.client_id for o in live] == ["pegbot-t1-b0-1"]
    cancelled = await venue.cancel("pegbot-t1-b0-1")
    assert cancelled.state is OrderState.CANCELED
    evs = await next_events(venue, 2)
    assert [(e.client_id, e.state) for e in evs if isinstance(e, OrderUpdate)] == [
        ("pegbot-t1-b0-1", OrderState.NEW),
        ("pegbot-t1-b0-1", OrderState.CANCELED),
    ]
    with pytest.raises(errors.OrderNotFoundError):
        await venue.cancel("pegbot-t1-b0-1")
    assert await venue.open_orders() == []


async def test_place_is_idempotent_by_client_id(venue: CcxtVenue) -> None:
    first = await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-2")
    again = await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-2")
    assert again.order_id == first.order_id
    assert len(await venue.open_orders()) == 1


async def test_place_again_after_fill_returns_the_filled_order(
    sim: SimHandle, venue: CcxtVenue
) -> None:
    await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-20")
    await maker_sell(sim, "1000", "0.0114")
    evs = await next_events(venue, 3)
    assert any(isinstance(e, OrderUpdate) and e.state is OrderState.FILLED for e in evs)
    again = await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-20")
    assert again.state is OrderState.FILLED
    assert await venue.open_orders() == []


async def test_errors_are_typed(sim: SimHandle, venue: CcxtVenue) -> None:
    await maker_sell(sim, "1000", "0.01145")
    with pytest.raises(errors.WouldTakeError):
        await venue.place(Side.BUY, ASK, 100, "pegbot-t1-b0-3")
    with pytest.raises(errors.InsufficientFundsError):
        await venue.place(Side.SELL, 2000, 50_000_000, "pegbot-t1-a0-1")
    with pytest.raises(errors.InvalidOrderError):  # PRICE_FILTER maxPrice 1000
        await venue.place(Side.SELL, 200_000_000, 1, "pegbot-t1-a0-2")
    with pytest.raises(errors.InvalidOrderError):  # caught before sending: min notional
        await venue.place(Side.BUY, BID, 1, "pegbot-t1-b0-4")
    with pytest.raises(errors.InvalidOrderError):
        await venue.place(Side.BUY, BID, 1000, "bad id with spaces")
    await sim.admin("status", {"symbol": "KGSTUSDT", "status": "HALT"})
    with pytest.raises(errors.MarketClosedError):
        await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-5")
    await sim.admin("status", {"symbol": "KGSTUSDT", "status": "TRADING"})
    bad = build(sim, secret="wrong-secret")
    try:
        await bad.start(user_stream=False)
        with pytest.raises(errors.AuthError):
            await bad.balances()
    finally:
        await bad.close()


async def test_partial_fill_seen_as_events_and_fills_since(
    sim: SimHandle, venue: CcxtVenue
) -> None:
    await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-6")
    await maker_sell(sim, "300", "0.0114")
    evs = await next_events(venue, 3)
    fills = [e for e in evs if isinstance(e, Fill)]
    updates = [e for e in evs if isinstance(e, OrderUpdate)]
    assert len(fills) == 1
    fill = fills[0]
    units = venue.market.lots_to_units
    assert (fill.client_id, fill.side, fill.price_ticks, fill.qty_units, fill.maker) == (
        "pegbot-t1-b0-6",
        Side.BUY,
        BID,
        units(300),
        True,
    )
    assert (fill.fee, fill.fee_asset) == (Decimal("0.225"), "KGST")
    assert updates[-1].state is OrderState.PARTIALLY_FILLED
    assert updates[-1].filled_units == units(300)
    assert updates[-1].remaining_units == units(700)
    # A fresh venue (after a restart) recovers the same fill, client id included.
    fresh = build(sim)
    await fresh.start(user_stream=False)
    try:
        recovered = await fresh.fills_since(0)
    finally:
        await fresh.close()
    assert recovered == [fill]
    assert await venue.fills_since(fill.ts_ns + 1_000_000) == []


async def test_balances_exact(venue: CcxtVenue) -> None:
    bal = await venue.balances()
    assert bal["KGST"].free == Decimal("1000000")
    assert bal["USDT"].total == Decimal("20000")
    await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-7")
    bal = await venue.balances()
    assert bal["USDT"].locked == Decimal("11.4")
    assert bal["USDT"].free == Decimal("19988.6")


async def test_cancel_all_confirms_and_spares_foreign_orders(
    sim: SimHandle, venue: CcxtVenue
) -> None:
    for n in range(3):
        await venue.place(Side.BUY, BID - n, 1000, f"pegbot-t1-b{n}-9")
    manual = sim.client()
    await manual.load_markets()
    await manual.create_order(
        "KGST/USDT", "limit", "sell", "500", "0.012", {"newClientOrderId": "desk-manual-1"}
    )
    done = await venue.cancel_all()
    assert sorted(o.client_id for o in done) == [f"pegbot-t1-b{n}-9" for n in range(3)]
    assert all(o.state is OrderState.CANCELED for o in done)
    assert [o.client_id for o in await venue.open_orders()] == ["desk-manual-1"]
    # Nothing of ours left: a second cancel-all is a confirmed no-op.
    assert await venue.cancel_all() == []
    # With no prefix every order of the account goes, through the bulk request.
    everything = build(sim, own_prefix=None)
    await everything.start(user_stream=False)
    try:
        await everything.cancel_all()
        assert await everything.open_orders() == []
    finally:
        await everything.close()


async def test_stream_recovers_after_drop(sim: SimHandle, venue: CcxtVenue) -> None:
    venue.reconnect_pause_s = 0.05
    await venue.place(Side.BUY, BID, 1000, "pegbot-t1-b0-8")
    await next_events(venue, 1)
    await sim.admin("drop_ws")
    await maker_sell(sim, "1000", "0.0114")  # fills while the stream may be down
    evs = await next_events(venue, 2, timeout=10)
    fills = [e for e in evs if isinstance(e, Fill)]
    assert len(fills) == 1 and fills[0].qty_units == venue.market.lots_to_units(1000)
    # No duplicate arrives later, whichever path (stream or recovery) delivered it.
    await asyncio.sleep(0.5)
    assert all(not isinstance(e, Fill) for e in _drain(venue))
    deadline = asyncio.get_running_loop().time() + 5
    while not venue.stream_connected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert venue.stream_connected


async def test_unknown_symbol_is_bad_symbol(sim: SimHandle) -> None:
    v = make_ccxt_venue(
        "binance", "BTC/USDT", http_url=sim.http_url, ws_url=sim.ws_url, enable_rate_limit=False
    )
    try:
        with pytest.raises(errors.BadSymbolError):
            await v.start(user_stream=False)
    finally:
        await v.close()


async def test_paper_and_dry_run_trade_on_the_venues_market(sim: SimHandle) -> None:
    settings = VenueSettings(rest_url=sim.http_url, ws_url=sim.ws_url)
    paper = make_paper_venue("paper", settings)
    dry = make_dryrun_venue("dry", settings, {"base": "10"})
    with pytest.raises(RuntimeError):
        paper.market  # noqa: B018 - not loaded before start()
    for v in (paper, dry):
        m = await v.start()
        assert (m.symbol, m.tick_size) == ("KGST/USDT", Decimal("0.00001"))
        assert m.min_notional == 1
        assert m.maker_fee == Decimal("0.001")  # no key: the public market's default fees
    bal = await paper.balances()
    assert (bal["KGST"].free, bal["USDT"].free) == (Decimal("1000000"), Decimal("20000"))
    assert (await dry.balances())["KGST"].free == 10


def _drain(venue: CcxtVenue) -> list[VenueEvent]:
    out: list[VenueEvent] = []
    while not venue._queue.empty():
        out.append(venue._queue.get_nowait())
    return out


async def test_two_venues_one_ledger_and_journal(sim: SimHandle, tmp_path: Path) -> None:
    """Two simulators, one venue each; fills aggregate in one ledger and one journal."""
    second = SimServer(default_sim_config(), host="127.0.0.1", port=0)
    await second.start()
    other = SimHandle(second)
    venues = [build(sim, name="binance"), build(other, name="second")]
    try:
        for v in venues:
            await v.start()
            await v.place(Side.BUY, BID, 1000, "pegbot-m1-b0-1")
        await maker_sell(sim, "400", "0.0114")
        await maker_sell(other, "250", "0.0114")
        ledger = Ledger(venues[0].market)
        journal = Journal(tmp_path / "j.sqlite")
        for v in venues:
            fills = [e for e in await next_events(v, 3) if isinstance(e, Fill)]
            assert journal.record_fills(fills, 0) == 1
            ledger.apply_all(fills)
        # Both exchanges numbered their first trade "1": still two distinct fills.
        assert [f.trade_id for f in journal.fills()] == ["1", "1"]
        # Fees: 0.075 % on the first simulator (module config), 0.1 % on the second.
        assert ledger.holdings("binance").base == Fraction(400) - Fraction("0.3")
        assert ledger.holdings("second").base == Fraction(250) - Fraction("0.25")
        assert ledger.holdings().base == Fraction(650) - Fraction("0.55")
        pnl = ledger.pnl(Fraction(1140, 100_000))
        assert pnl.fills == 2 and pnl.unrealised == 0
        journal.close()
    finally:
        for v in venues:
            await v.close()
        await other.close_clients()
        await second.stop()


@pytest.mark.parametrize("by_id", [True, False])
async def test_fills_since_pages_through_history(sim: SimHandle, by_id: bool) -> None:
    placer = build(sim)
    await placer.start(user_stream=False)
    await placer.place(Side.BUY, BID, 5000, "pegbot-t1-b0-30")
    await placer.place(Side.BUY, BID - 1, 5000, "pegbot-t1-b1-30")
    mk = sim.maker()
    await mk.load_markets()
    for _ in range(5):
        await mk.create_order("KGST/USDT", "limit", "sell", "100", "0.0114")
    for _ in range(3):
        await mk.create_order("KGST/USDT", "market", "sell", "2000")
    await placer.close()
    quirks = BINANCE if by_id else dataclasses.replace(BINANCE, trades_from_id_param=None)
    fresh = build(sim, fills_page=3, quirks=quirks)
    await fresh.start(user_stream=False)
    pages: list[tuple[Any, Any]] = []
    real = fresh.client.fetch_my_trades

    async def recorded(symbol: str, since: Any, limit: Any, params: Any) -> Any:
        pages.append((since, dict(params)))  # records the pages, then asks the venue
        return await real(symbol, since, limit, params)

    fresh.client.fetch_my_trades = recorded
    try:
        fills = await fresh.fills_since(0)
    finally:
        await fresh.close()
    assert len(pages) >= 3
    assert pages[0] == (0, {})
    later = pages[1:]
    if by_id:
        assert all(since is None and "fromId" in params for since, params in later)
    else:
        assert all(since is not None and params == {} for since, params in later)
    assert [f.trade_id for f in fills] == [str(n) for n in range(1, 10)]
    assert {f.client_id for f in fills} == {"pegbot-t1-b0-30", "pegbot-t1-b1-30"}
    assert sum(f.qty_units for f in fills) == fresh.market.lots_to_units(6500)
