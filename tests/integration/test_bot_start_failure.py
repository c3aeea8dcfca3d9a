"""A bot whose venue never answers: start fails fast, says why, and the shutdown keeps to its
deadline (it once spent 20 s there and logged ``shutdown of sim failed:`` with nothing after:
``str()`` of the ``TimeoutError`` from ``wait_for`` is empty)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pegbot.config import Settings, VenueSettings, load_settings
from pegbot.execution.ccxt_venue import make_ccxt_venue
from pegbot.execution.venue import Venue
from pegbot.journal import Journal
from pegbot.live.bot import Bot
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A loopback TCP server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


def _venue(name: str, vs: VenueSettings, settings: Settings) -> Venue:
    assert vs.rest_url is not None and vs.api_key is not None and vs.api_secret is not None
    return make_ccxt_venue(
        vs.exchange, vs.symbol, api_key=vs.api_key.get_secret_value(),
        secret=vs.api_secret.get_secret_value(), http_url=vs.rest_url, ws_url=vs.ws_url,
        name=name, timeout_ms=300,
    )  # fmt: skip


async def test_start_failure_names_its_cause_and_shutdown_keeps_its_deadline(
    silent_port: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        f'''mode = "testnet"
[venues.sim]
rest_url = "http://127.0.0.1:{silent_port}"
ws_url = "ws://127.0.0.1:{silent_port}"
[peg]
sources = [{{ name = "static", kind = "static", rate = "87.45" }}]
[loop]
shutdown_timeout_s = 1.5
control_dir = "{tmp_path / "control"}"
[journal]
path = "{tmp_path / "journal.sqlite"}"
[metrics]
enabled = false
'''
    )
    env = {"PEGBOT_VENUES__SIM__API_KEY": DEMO_API_KEY,
           "PEGBOT_VENUES__SIM__API_SECRET": DEMO_API_SECRET}  # fmt: skip
    settings = load_settings(path, environ=env)
    journal = Journal(settings.journal.path)
    bot = Bot(settings, _venue, journal=journal)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger="pegbot"), pytest.raises(Exception) as err:
        await bot.run()
    took = time.monotonic() - t0
    journal.close()
    assert took < 6.0, f"start failure + shutdown took {took:.1f} s"
    start = [r for r in caplog.records if getattr(r, "event", None) == "start_failed"]
    assert len(start) == 1 and start[0].levelno == logging.ERROR
    message = start[0].getMessage()
    assert message.startswith("start of venue sim failed: ")
    assert type(err.value).__name__ in message  # the cause, by type and text
    # No error line of this run ends in an empty cause.
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and not any(m.rstrip().endswith(":") for m in errors), errors
    # The shutdown had nothing of this run to cancel, and said so within its deadline.
    done = [r for r in caplog.records if getattr(r, "event", None) == "shutdown_incomplete"]
    assert len(done) == 1 and done[0].open_order_ids == []  # type: ignore[attr-defined]
