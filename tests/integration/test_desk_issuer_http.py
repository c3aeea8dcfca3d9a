"""The http issuer adapter against a loopback issuer the test starts (aiohttp).

A rebalance mint goes the whole way: proposed by the Rebalancer, approved and executed on
the signaler, filed with the issuer by the tracker, followed to settled by polling, then
deposited by an operator, which closes its round trip.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pegbot.desk import SignalDesk
from pegbot.desk.issuer import HttpIssuer, IssuerLegTracker, ManualIssuer
from pegbot.desk.rebalance import Band, Rebalancer
from pegbot.journal import Journal
from pegbot.market import Market
from pegbot.peg.signals import ArbSignaler
from pegbot.peg.sinks import SignalSinks

KGST = Market.kgst_usdt()
FAIR = Fraction(100, 8745)


class Issuer:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_client: dict[str, str] = {}
        self.posts = 0

    async def post(self, request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == "Bearer s3cret"
        body = await request.json()
        self.posts += 1
        ref = self.by_client.get(body["client_id"])
        if ref is None:  # idempotent by client_id
            ref = f"KG-{len(self.orders) + 1:04d}"
            self.by_client[body["client_id"]] = ref
            self.orders[ref] = {"ref": ref, "state": "requested", "amount": body["amount"],
                                "side": body["side"]}  # fmt: skip
        return web.json_response(self.orders[ref], status=201)

    async def get(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["ref"])
        if order is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(order)


@pytest.fixture
async def issuer() -> AsyncIterator[tuple[Issuer, str]]:
    state = Issuer()
    app = web.Application()
    app.router.add_post("/api/orders", state.post)
    app.router.add_get("/api/orders/{ref}", state.get)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}/api"
    await runner.cleanup()


async def test_a_rebalance_mint_followed_through_the_http_issuer(
    tmp_path: Path, issuer: tuple[Issuer, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, url = issuer
    journal = Journal(tmp_path / "j.sqlite")
    signaler = ArbSignaler(KGST)
    sinks = SignalSinks(KGST, journal=journal)
    reb = Rebalancer(
        signaler,
        Band(Decimal(50_000), Decimal(100_000), Decimal(150_000)),
        Band(Decimal(500), Decimal(1_000), Decimal(1_500)),
        expiry_ns=3_600 * 10**9,
    )
    [proposed] = reb.check(1_000, Decimal(20_000), Decimal(1_600), FAIR)
    sinks.publish([proposed])
    sid = proposed.signal.id
    size = proposed.signal.size_units // 10**8
    sinks.publish([signaler.approve(sid, 2_000), signaler.mark_executed(sid, 3_000, "ops")])

    async with aiohttp.ClientSession() as session:
        adapter = HttpIssuer(url, session, token="s3cret")
        tracker = IssuerLegTracker(journal, adapter, clock=lambda: 4_000)
        assert await tracker.step() == 1  # filed: requested
        desk = SignalDesk(journal, clock=lambda: 5_000)
        [requested] = [s for s in desk.store.steps(sid) if s.state.value == "requested"]
        assert requested.figures == {"ref": "KG-0001", "amount": str(size)}
        assert requested.source == "http" and requested.actor == "http"
        order = server.orders["KG-0001"]
        assert order["side"] == "mint" and order["amount"] == str(size)
        assert await tracker.step() == 0  # nothing new at the issuer

        order.update(state="settled", amount=str(size), kgs=str(size), quote="52.40", fee="0.1")
        assert await tracker.step() == 2  # confirmed and settled, in order
        assert journal.signal_records()[0]["state"] == "settled"

        # The issuer's API says nothing about the desk's deposit: an operator does.
        desk.record_fact(sid, desk_state("deposited"), "erin", {"transfer": "0.2"})
        trip = desk.round_trip(sid)
        assert trip.closed and trip.pnl is not None
        # No exchange leg: the minted KGST at the signal's recorded fair, less what it cost.
        fair = Decimal(journal.signal_records()[0]["fair"])
        assert fair == Decimal("0.0114351058")
        assert trip.pnl == Decimal(size) * fair - Decimal("52.40") - Decimal("0.1") - Decimal("0.2")
        assert desk.store.round_trips()[0]["signal_id"] == sid

        # An answer pegbot does not understand changes nothing and is logged.
        order.update(state="teleported")
        [p2] = reb.check(10_000, Decimal(20_000), Decimal(1_600), FAIR)
        sinks.publish([p2])
        sinks.publish([signaler.approve(p2.signal.id, 11_000),
                       signaler.mark_executed(p2.signal.id, 12_000, "ops")])  # fmt: skip
        assert await tracker.step() == 1  # the second one is filed (a new order)
        server.orders["KG-0002"]["state"] = "teleported"
        with caplog.at_level(logging.WARNING):
            assert await tracker.step() == 0
        assert "unknown state 'teleported'" in caplog.text
        assert journal.signal_records(["requested"])[0]["id"] == p2.signal.id
        assert tracker.errors == 1

    assert await IssuerLegTracker(journal, ManualIssuer()).step() == 0
    journal.close()


def desk_state(name: str) -> Any:
    from pegbot.peg.signals import SignalState

    return SignalState(name)
