"""The bot against the simulator through unmodified ccxt: quoting, requoting, skew."""

from __future__ import annotations

from pathlib import Path

import pytest
from _bot_helpers import run_bot, seed_book, settings_for, wait_for

from pegbot.sim.testing import SimHandle

pytestmark = pytest.mark.timeout(60)


async def test_both_sides_quoted_inside_the_band_within_seconds(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    settings = settings_for(sim, tmp_path)
    async with run_bot(settings) as bot:
        runner = bot.runners[0]
        await wait_for(
            lambda: {o.side for o in runner.live.values() if o.status.value == "open"} == {1, -1}, 5
        )
        ours = [
            o
            for o in await sim.client().fetch_open_orders("KGST/USDT")
            if o["clientOrderId"].startswith("pegbot-")
        ]
        assert {o["side"] for o in ours} == {"buy", "sell"}
        fair = 1 / 87.45
        for o in ours:
            assert abs(o["price"] - fair) / fair * 1e4 <= settings.risk.band_bps
        bids = [o["price"] for o in ours if o["side"] == "buy"]
        asks = [o["price"] for o in ours if o["side"] == "sell"]
        assert max(bids) < fair < min(asks)
