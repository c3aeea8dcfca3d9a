"""Helpers of the reliability suite: bot configuration on a simulator, running it in-process
or as the real ``pegbot run`` subprocess, and reading the exchange's side of things.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pegbot.config import Settings, VenueSettings
from pegbot.execution.ccxt_venue import make_ccxt_venue
from pegbot.execution.reconciler import parse_client_id
from pegbot.execution.venue import Venue
from pegbot.journal import Journal
from pegbot.live.bot import Bot
from pegbot.live.wiring import make_venue
from pegbot.sim.config import DEMO_API_KEY
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import LEVELS

REPO = Path(__file__).resolve().parents[2]
SYM = "KGSTUSDT"


def load_benchmark(name: str) -> Any:
    """The module of ``benchmarks/<name>.py`` (the suite runs shortened benchmarks)."""
    path = REPO / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"pegbot_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def sides(orders: list[dict[str, Any]]) -> set[str]:
    """The sides present in ccxt orders."""
    return {str(o["side"]) for o in orders}


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``pegbot`` subprocess: this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGBOT_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def pegbot_cmd(*args: str) -> list[str]:
    """``python -m pegbot.cli`` with arguments (the installed ``pegbot`` script, same code)."""
    return [sys.executable, "-c", "from pegbot.cli import app; app()", *args]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def non_loopback_ip() -> str | None:
    """An address of this machine that is not loopback (None if it has none)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))  # UDP: no packet is sent
        ip = str(s.getsockname()[0])
        if not ip.startswith("127."):
            return ip
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            ip = str(info[4][0])
            if not ip.startswith("127."):
                return ip
    return None


def reachable(host: str, port: int) -> bool:
    """Whether a TCP connect to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# -- the exchange's side, read from the simulator's engine ------------------------------


def fast_venue(name: str, vs: VenueSettings, settings: Settings) -> Venue:
    """The live venue with a 1.5 s HTTP time-out (the default 10 s makes time-outs slow)."""
    if vs.rest_url is None:
        return make_venue(name, vs, settings)
    assert vs.api_key is not None and vs.api_secret is not None
    return make_ccxt_venue(
        vs.exchange, vs.symbol, api_key=vs.api_key.get_secret_value(),
        secret=vs.api_secret.get_secret_value(), http_url=vs.rest_url, ws_url=vs.ws_url,
        name=name, timeout_ms=1500,
    )  # fmt: skip


@dataclass
class Watch:
    """What the sampler saw on the exchange while the bot ran."""

    samples: int = 0
    max_open_per_side: dict[str, int] = field(default_factory=lambda: {"buy": 0, "sell": 0})
    # Our open orders identical in side, price, size and level: a re-sent order (a requote
    # overlapping its cancel differs in price or size).
    max_same_price: int = 0


def ours_open(sim: SimHandle) -> list[Any]:
    """Our orders open on the exchange, from the engine."""
    eng = sim.exchange.engine
    return [
        o for o in eng.open_orders(DEMO_API_KEY, SYM) if o.client_order_id.startswith("pegbot-")
    ]


def open_sides(sim: SimHandle) -> dict[str, int]:
    """Count of our open orders per side."""
    out = {"buy": 0, "sell": 0}
    for o in ours_open(sim):
        out["buy" if int(o.side) > 0 else "sell"] += 1
    return out


@contextlib.asynccontextmanager
async def watching(sim: SimHandle) -> AsyncIterator[Watch]:
    """Sample the exchange every 20 ms."""
    w = Watch()

    async def loop() -> None:
        while True:
            for side, n in open_sides(sim).items():
                w.max_open_per_side[side] = max(w.max_open_per_side[side], n)
            seen: dict[tuple[int, int, int, str], int] = {}
            for o in ours_open(sim):
                parsed = parse_client_id(o.client_order_id)
                key = (int(o.side), o.price, o.orig_units, parsed.level_id if parsed else "?")
                seen[key] = seen.get(key, 0) + 1
            w.max_same_price = max([w.max_same_price, *seen.values()])
            w.samples += 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(loop())
    try:
        yield w
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def quoting_both(sim: SimHandle) -> bool:
    """Both sides quoted on the exchange."""
    s = open_sides(sim)
    return s["buy"] >= 1 and s["sell"] >= 1


def level(bot: Bot) -> str:
    """The risk level of the bot's one venue."""
    rs = bot.runners[0].risk_state
    return rs.level.label if rs is not None else "unknown"


def assert_exchange_clean(sim: SimHandle, w: Watch, overlap: int = 0) -> int:
    """No client id used twice, no order open twice, the ladder kept; returns orders placed.

    ``overlap``: extra orders a side allowed while a replacement is placed before the
    cancel of the order it replaces is confirmed (``loop.wait_for_cancel = false``), which
    a failing cancel prolongs.
    """
    ids = [o.client_order_id for o in sim.exchange.engine.all_orders(DEMO_API_KEY, SYM)]
    ours = [i for i in ids if i.startswith("pegbot-")]
    assert len(ours) == len(set(ours)), "a client order id was used twice"
    assert w.max_same_price <= 1, "the same order (level, side, price, size) open twice"
    top = max(w.max_open_per_side.values())
    assert top <= LEVELS + overlap, f"more orders than the ladder: {w.max_open_per_side}"
    return len(ours)


def assert_journal(settings: Settings, sim: SimHandle) -> tuple[list[Any], list[Any]]:
    """Fills journaled once each and equal to the exchange's; returns (fills, transitions)."""
    j = Journal(settings.journal.path)
    try:
        fills = j.fills()
        transitions = j.risk_transitions("sim")
    finally:
        j.close()
    ids = [f.trade_id for f in fills]
    assert len(ids) == len(set(ids))
    trades = {str(t.trade_id) for t in sim.exchange.engine.my_trades(DEMO_API_KEY, SYM)}
    assert set(ids) == trades, "journal and exchange disagree on our fills"
    return fills, transitions


def reasons_of(transitions: list[Any]) -> str:
    """All recorded reasons, as one string."""
    return " ".join(f"{t.to_state}:{t.reasons}" for t in transitions)
