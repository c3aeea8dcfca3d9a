"""The bot against the simulator through unmodified ccxt: quoting, requoting, inventory skew."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pegbot.market import Side
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import bot_settings, our_open_orders, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(60)

FAIR = 1 / 87.45


async def test_both_sides_quoted_inside_the_band_within_seconds(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    t0 = time.monotonic()
    async with run_bot(settings) as bot:
        ours = await wait_for_orders(
            sim,
            lambda o: sorted(x["side"] for x in o) == ["buy", "buy", "sell", "sell"],
        )  # two levels a side, each placed once
        assert time.monotonic() - t0 < 5
        for o in ours:
            assert abs(o["price"] - FAIR) / FAIR * 1e4 <= settings.risk.band_bps
        bids = [o["price"] for o in ours if o["side"] == "buy"]
        asks = [o["price"] for o in ours if o["side"] == "sell"]
        assert max(bids) < FAIR < min(asks)
        # What ops sees: both sides up, streams connected, submissions recorded.
        reg = bot.metrics.registry
        labels = {"venue": "sim", "symbol": "KGST/USDT"}
        await wait_for(
            lambda: (
                reg.get_sample_value("pegbot_quote_up", {**labels, "side": "bid"}) == 1
                and reg.get_sample_value("pegbot_quote_up", {**labels, "side": "ask"}) == 1
            ),
            3,
        )
        assert reg.get_sample_value("pegbot_ws_connected", {"venue": "sim", "stream": "depth"}) == 1
        assert reg.get_sample_value("pegbot_ws_connected", {"venue": "sim", "stream": "user"}) == 1
        sent = reg.get_sample_value("pegbot_orders_submitted_total", {**labels, "side": "bid"})
        assert sent is not None and sent >= 2
        assert reg.get_sample_value("pegbot_fair_value_quote", labels) == pytest.approx(FAIR)


async def wait_for_orders(sim: SimHandle, cond, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    client = sim.client()
    await client.load_markets()
    got: list = []

    async def poll() -> bool:
        nonlocal got
        got = await our_open_orders(client)
        return bool(cond(got))

    deadline = time.monotonic() + timeout
    while not await poll():
        if time.monotonic() > deadline:
            raise AssertionError(f"orders on the exchange never matched: {got}")
        await _sleep(0.05)
    return got


async def _sleep(s: float) -> None:
    import asyncio

    await asyncio.sleep(s)


async def test_requotes_when_the_fair_value_moves(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim)
    rate = tmp_path / "usd_kgs.txt"
    rate.write_text("87.45\n")
    settings = bot_settings(
        sim,
        tmp_path,
        peg=f'''[peg]
sources = [{{ name = "desk", kind = "file", path = "{rate}", interval_s = 0.1, max_age_s = 60 }}]
''',
    )
    async with run_bot(settings):
        before = await wait_for_orders(sim, lambda o: len(o) == 4)
        # The som strengthens 0.5 %: fair moves up ~57 bps, about 6.6 ticks.
        rate.write_text("87.00\n")
        os.utime(rate)
        new_fair = 1 / 87.00

        def moved(orders: list) -> bool:  # type: ignore[type-arg]
            bids = [o["price"] for o in orders if o["side"] == "buy"]
            asks = [o["price"] for o in orders if o["side"] == "sell"]
            return (
                len(bids) == 2
                and len(asks) == 2
                and max(bids) < new_fair < min(asks)
                and min(asks) > max(a["price"] for a in before if a["side"] == "sell")
            )

        after = await wait_for_orders(sim, moved)
        # Every ask moved up (new orders). A bid may stay where it rests when the new ladder
        # wants that very price (cross-level matching keeps its queue place), never more.
        kept = {o["clientOrderId"] for o in before} & {o["clientOrderId"] for o in after}
        assert all(o["side"] == "buy" for o in after if o["clientOrderId"] in kept), after
        assert len(kept) < len(before)


async def test_quotes_skew_down_as_the_maker_sells_us_inventory(
    sim: SimHandle, tmp_path: Path
) -> None:
    # The maker's own bid rests well below, so its market sells always take ours first,
    # even once the skew has moved our bids down several ticks.
    await seed_book(sim, bid="0.01130", ask="0.01158")
    # Sizes are followed exactly (no size tolerance), so the resting orders show the skew.
    settings = bot_settings(
        sim,
        tmp_path,
        params={"price_skew_bps": 50, "inventory_range_lots": 3000},
        loop={"size_tolerance": 0},
    )
    maker = sim.maker()
    await maker.load_markets()
    async with run_bot(settings) as bot:
        runner = bot.runners[0]

        def normal_with_bid() -> bool:
            rs = runner.risk_state
            return (
                rs is not None
                and rs.level.label == "normal"
                and any(
                    o.side is Side.BUY and o.status.value == "open" for o in runner.live.values()
                )
            )

        await wait_for(normal_with_bid, 5)
        first = await wait_for_orders(sim, lambda o: len(o) == 4)
        bid0 = max(o["price"] for o in first if o["side"] == "buy")
        ask0 = min(o["price"] for o in first if o["side"] == "sell")
        base0 = bot.inventory(runner.market).base_units
        # The maker account sells into our best bid, again and again.
        for i in range(3):
            await wait_for(normal_with_bid, 5)
            best = max(
                (o for o in runner.live.values() if o.side is Side.BUY),
                key=lambda o: o.price_ticks,
            )
            # A market sell takes the best bid, ours (the maker's own bid rests below).
            await maker.create_order("KGST/USDT", "market", "sell", best.lots)
            await wait_for(lambda i=i: runner.status.fills > i, 5)  # type: ignore[misc]
        gained = bot.inventory(runner.market).base_units - base0
        assert gained >= runner.market.lots_to_units(1000)  # three fills, bids shrinking

        def skewed(orders: list) -> bool:  # type: ignore[type-arg]
            bids = [o for o in orders if o["side"] == "buy"]
            asks = [o for o in orders if o["side"] == "sell"]
            return (
                bool(bids and asks)
                and max(o["price"] for o in bids) < bid0
                and min(o["price"] for o in asks) < ask0
            )

        now = await wait_for_orders(sim, skewed)
        # Size skews too: long inventory shrinks bids and grows asks.
        bid_size = max(o["amount"] for o in now if o["side"] == "buy")
        ask_size = min(o["amount"] for o in now if o["side"] == "sell")
        assert bid_size < ask_size
        assert {o.side for o in runner.live.values()} == {Side.BUY, Side.SELL}
