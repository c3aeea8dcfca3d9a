"""The webhook sink against a real aiohttp server on 127.0.0.1, failures and restarts included."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pegbot.book import OrderBook
from pegbot.journal import Journal
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import ArbConfig, ArbCosts, ArbSignaler
from pegbot.peg.sinks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignalSinks,
    WebhookDeliverer,
    verify,
)

KGST = Market.kgst_usdt()
NS = 1_000_000_000
SECRET = b"test-secret"


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=list)  # consumed per request; then 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.received.append((dict(request.headers), body))
        return web.Response(status=status)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


class Clock:
    def __init__(self, now: int = 1_800_000_000 * NS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


def raise_signal(journal: Journal, now: int) -> str:
    """A real signaler on a crafted book: one mint_and_sell proposal, journaled with its outbox."""
    s = ArbSignaler(KGST, ArbCosts(exchange_fee_bps=Decimal(0)), ArbConfig(min_edge_bps=Decimal(0)))
    book = OrderBook()
    book.apply_snapshot([(1147, 500 * 10**8)], [(1150, 500 * 10**8)])
    events = s.evaluate(now, book, FairValue.fixed(Fraction(100, 8745), KGST, now))
    assert len(events) == 1
    SignalSinks(KGST, journal=journal, webhooks=("webhook",)).publish(events)
    return events[0].signal.id


async def test_retries_with_backoff_then_delivers_signed(
    receiver: Receiver, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    clock = Clock()
    sid = raise_signal(journal, clock.now)
    receiver.statuses = [500, 503]
    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        hook = WebhookDeliverer(journal, receiver.url, SECRET, session, clock=clock,
                                backoff_base_s=1, metrics=metrics)  # fmt: skip
        assert await hook.deliver_due() == 0  # 500
        row = journal.delivery_status("webhook", f"{sid}:proposed")
        assert row is not None and row["attempts"] == 1 and row["last_error"] == "HTTP 500"
        assert row["next_attempt_ns"] == clock.now + 1 * NS
        assert await hook.deliver_due() == 0 and len(receiver.statuses) == 1  # not due: no request
        clock.now += NS
        assert await hook.deliver_due() == 0  # 503; next in 2 s
        status = journal.delivery_status("webhook", f"{sid}:proposed")
        assert status is not None and status["next_attempt_ns"] == clock.now + 2 * NS
        clock.now += 2 * NS
        assert await hook.deliver_due() == 1
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert headers[DELIVERY_HEADER] == f"{sid}:proposed"
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify(b"other", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify(
        SECRET, str(int(headers[TIMESTAMP_HEADER]) + 1), body, headers[SIGNATURE_HEADER]
    )
    payload = json.loads(body)
    assert payload["event"] == "signal.proposed" and payload["signal"]["id"] == sid
    assert payload["signal"]["size"] == "500"
    assert journal.pending_count("webhook") == 0
    value = metrics.registry.get_sample_value
    assert value("pegbot_webhook_deliveries_total", {"result": "retry"}) == 2
    assert value("pegbot_webhook_deliveries_total", {"result": "delivered"}) == 1
    assert value("pegbot_webhook_pending_deliveries") == 0
    journal.close()


async def test_pending_signal_survives_a_killed_sink_and_is_delivered_after_restart(
    receiver: Receiver, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    sid = raise_signal(journal, time.time_ns())
    port = receiver.port
    await receiver.stop()  # the receiver is down: connection refused
    async with aiohttp.ClientSession() as session:
        # The real clock: run() sleeps until the next retry is due.
        hook = WebhookDeliverer(journal, receiver.url, SECRET, session, backoff_base_s=0.01)
        stop = asyncio.Event()
        task = asyncio.create_task(hook.run(stop, idle_s=0.01))
        while (journal.delivery_status("webhook", f"{sid}:proposed") or {})["attempts"] < 2:
            await asyncio.sleep(0.01)
        task.cancel()  # kill the sink mid-retry, no clean shutdown
        with pytest.raises(asyncio.CancelledError):
            await task
    journal.close()
    await receiver.start(port)
    restarted = Journal(path)
    assert restarted.pending_count("webhook") == 1
    assert [r["id"] for r in restarted.signal_records(["proposed"])] == [sid]
    async with aiohttp.ClientSession() as session:
        hook = WebhookDeliverer(restarted, receiver.url, SECRET, session)
        assert await deliver_when_due(hook) == 1
    assert [json.loads(b)["signal"]["id"] for _, b in receiver.received] == [sid]
    assert restarted.pending_count("webhook") == 0
    restarted.close()


async def deliver_when_due(hook: WebhookDeliverer, timeout_s: float = 10.0) -> int:
    """Deliver as soon as the journal's retry time comes (the backoff survives restarts)."""
    deadline = time.monotonic() + timeout_s
    delivered = 0
    while not delivered and time.monotonic() < deadline:
        delivered = await hook.deliver_due()
        if not delivered:
            await asyncio.sleep(0.01)
    return delivered


_CHILD = r"""
import asyncio, sys
import aiohttp
from pegbot.journal import Journal
from pegbot.peg.sinks import WebhookDeliverer

async def main():
    journal = Journal(sys.argv[1])
    async with aiohttp.ClientSession() as session:
        hook = WebhookDeliverer(journal, sys.argv[2], b"test-secret", session, backoff_base_s=0.01)
        await hook.deliver_due()
        print("attempted", flush=True)
        await asyncio.sleep(60)  # killed here

asyncio.run(main())
"""


async def test_sigkilled_process_loses_nothing(receiver: Receiver, tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    sid = raise_signal(journal, time.time_ns())
    journal.close()
    down = Receiver()
    await down.start()
    dead_url = down.url
    await down.stop()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), dead_url],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), timeout=30)
        assert line.strip() == "attempted"
    finally:
        child.kill()
        child.wait()
    restarted = Journal(path)
    row = restarted.delivery_status("webhook", f"{sid}:proposed")
    assert row is not None and row["attempts"] == 1 and row["delivered_ns"] is None
    async with aiohttp.ClientSession() as session:
        hook = WebhookDeliverer(restarted, receiver.url, SECRET, session)
        assert await deliver_when_due(hook) == 1
    assert len(receiver.received) == 1
    restarted.close()


async def test_gives_up_after_max_attempts_but_keeps_the_row(
    receiver: Receiver, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    clock = Clock()
    sid = raise_signal(journal, clock.now)
    receiver.statuses = [500, 500]
    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        hook = WebhookDeliverer(journal, receiver.url, SECRET, session, clock=clock,
                                backoff_base_s=1, max_attempts=2, metrics=metrics)  # fmt: skip
        await hook.deliver_due()
        clock.now += 10 * NS
        await hook.deliver_due()
        clock.now += 10 * NS
        assert await hook.deliver_due() == 0
    row = journal.delivery_status("webhook", f"{sid}:proposed")
    assert (
        row is not None
        and row["dead"] == 1
        and row["attempts"] == 2
        and row["last_error"] == "HTTP 500"
    )
    assert journal.pending_count("webhook") == 0
    assert (
        metrics.registry.get_sample_value("pegbot_webhook_deliveries_total", {"result": "dead"})
        == 1
    )
    journal.close()


async def test_timeout_is_a_retry(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    journal = Journal(tmp_path / "j.sqlite")
    sid = raise_signal(journal, Clock().now)
    try:
        async with aiohttp.ClientSession() as session:
            hook = WebhookDeliverer(journal, url, SECRET, session, clock=Clock(), timeout_s=0.2)
            assert await hook.deliver_due() == 0
    finally:
        release.set()
        await runner.cleanup()
    assert journal.delivery_status("webhook", f"{sid}:proposed")["last_error"] == "timeout"  # type: ignore[index]
    journal.close()
