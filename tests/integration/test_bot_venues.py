"""Two simulators are two venues: both quoted at once, inventory and skew aggregated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pegbot.config import load_settings
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle, default_sim_config
from pegbot.testing.bot import our_open_orders, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim2() -> AsyncIterator[SimHandle]:
    server = SimServer(default_sim_config(), host="127.0.0.1", port=0)
    await server.start()
    handle = SimHandle(server)
    try:
        yield handle
    finally:
        await handle.close_clients()
        await server.stop()


async def test_two_venues_quoted_at_once_with_aggregated_inventory(
    sim: SimHandle, sim2: SimHandle, tmp_path: Path
) -> None:
    # The maker's own bids rest well below ours, so its market sells always take ours first,
    # even once the skew has moved our bids down several ticks.
    await seed_book(sim, bid="0.01130", ask="0.01158")
    await seed_book(sim2, bid="0.01130", ask="0.01158")
    toml = tmp_path / "two.toml"
    venues = "".join(
        f'[venues.{name}]\nrest_url = "{s.http_url}"\nws_url = "{s.ws_url}"\n'
        f"target_base = 1000000\n"
        for name, s in (("alpha", sim), ("beta", sim2))
    )
    toml.write_text(
        'mode = "testnet"\n'
        + venues
        + "[strategy.params]\nlevels = 2\nsize_lots = 1000\ninventory_range_lots = 3000\n"
        + "price_skew_bps = 50\n"
        + "[risk]\ncooldown_s = 0.3\n"
        + f'[loop]\ninterval_s = 0.2\nbalance_refresh_s = 1.0\ncontrol_dir = "{tmp_path}"\n'
        + '[peg]\nsources = [{ name = "static", kind = "static", rate = "87.45" }]\n'
        + f'[journal]\npath = "{tmp_path / "journal.sqlite"}"\n'
    )
    environ = {
        f"PEGBOT_VENUES__{v}__API_{k}": val
        for v in ("ALPHA", "BETA")
        for k, val in (("KEY", DEMO_API_KEY), ("SECRET", DEMO_API_SECRET))
    }
    settings = load_settings(toml, environ=environ)
    c1, c2 = sim.client(), sim2.client()
    await c1.load_markets()
    await c2.load_markets()
    async with run_bot(settings) as bot:
        assert [r.name for r in bot.runners] == ["alpha", "beta"]
        alpha, beta = bot.runners

        def open_on_both() -> bool:
            return all(
                r.risk_state is not None
                and r.risk_state.level.label == "normal"
                and sum(o.status.value == "open" for o in r.live.values()) == 4
                for r in bot.runners
            )

        await wait_for(open_on_both, 6)
        for client in (c1, c2):
            orders = await our_open_orders(client)
            assert {o["side"] for o in orders} == {"buy", "sell"}
        # Each demo account holds 1,000,000 KGST: the strategy sees both.
        market = alpha.market
        inv = bot.inventory(market)
        assert inv.base_units == market.qty_to_units("2000000")
        assert inv.target_base_units == market.qty_to_units("2000000")
        # A fill on one venue moves the quotes on both (skew on the aggregate).
        before = {
            r.name: max(o.price_ticks for o in r.live.values() if o.side > 0) for r in bot.runners
        }
        maker = sim.maker()
        await maker.load_markets()
        for i in range(3):
            await wait_for(
                lambda: any(o.side > 0 and o.status.value == "open" for o in alpha.live.values()),
                5,
            )
            await maker.create_order("KGST/USDT", "market", "sell", 800)
            await wait_for(lambda i=i: alpha.status.fills > i, 5)  # type: ignore[misc]
        assert beta.status.fills == 0
        await wait_for(
            lambda: all(
                any(o.side > 0 for o in r.live.values())
                and max(o.price_ticks for o in r.live.values() if o.side > 0) < before[r.name]
                for r in bot.runners
            ),
            6,
        )
    assert bot.final_summary["open_orders_after_shutdown"] == 0  # type: ignore[attr-defined]
    assert await our_open_orders(c1) == [] and await our_open_orders(c2) == []
