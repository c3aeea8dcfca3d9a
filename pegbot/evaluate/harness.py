"""One evaluation run: the simulator and its crowd, the real bot beside it, the scorecard after.

:func:`run_scenario` starts the simulator on loopback with the scenario's crowd, limits and
faults, attaches the :class:`~pegbot.evaluate.observer.ExchangeObserver`, and (unless told
not to) starts the bot as ``pegbot run`` would run it: a separate process, the shipped example
configuration pointed at the simulator (:mod:`pegbot.evaluate.botconfig`), unmodified ccxt
over loopback. After ``warmup_s`` the measured span begins; the scenario's events are applied
on their schedule through the simulator's admin endpoint (and its crowd); at the end the bot
is stopped with SIGTERM (it cancels everything and prints its summary) and the observer's
stream is scored.

Time is the exchange's clock: the warm-up, the events and the span are measured on it, as
are the observer's events. The run's folder keeps the bot's configuration, log, journal and
summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from pegbot.logging import event_log
from pegbot.market import Market
from pegbot.scorecard import Event, Fair, Quotes, Scorecard, score
from pegbot.sim.config import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    AccountConfig,
    NbkrConfig,
    SimConfig,
)
from pegbot.sim.crowd import CROWD_KEY, FlowSource
from pegbot.sim.errors import SimError
from pegbot.sim.flow import DepegShock, FlowConfig
from pegbot.sim.flow import Drought as FlowDrought
from pegbot.sim.flow import FxStep as FlowFxStep
from pegbot.sim.server import SimServer
from pegbot.timeunits import NS_PER_MIN, NS_PER_S, ns_to_s, s_to_ns

from .botconfig import (
    EXAMPLE,
    JOURNAL_FILE,
    bot_env,
    rate_poll_s,
    read_example,
    simulator_config,
    write_bot_config,
)
from .observer import ExchangeObserver
from .scenario import BurnWeight, CrowdPull, Depeg, DropWs, Drought, Faults, FxStep, Scenario

__all__ = ["RunResult", "fair_ticks", "run_scenario", "sim_config", "spend_weight"]

log = event_log(__name__)
SYMBOL = "KGSTUSDT"
_STOP_TIMEOUT_S = 45.0
# Request weights the 429 storm spends: depth at limit 5000, 1000, 500, 100, and a ping.
_BURNS = (
    (250, "depth?symbol=KGSTUSDT&limit=5000"),
    (50, "depth?symbol=KGSTUSDT&limit=1000"),
    (25, "depth?symbol=KGSTUSDT&limit=500"),
    (5, "depth?symbol=KGSTUSDT&limit=100"),
    (1, "ping"),
)


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        scenario: The scenario.
        with_bot: Whether the bot ran.
        card: The scorecard of the measured span.
        market: The market (for the report's prices).
        events: The observer's stream (the report draws it).
        start_ns: Start of the measured span (exchange clock).
        end_ns: Its end.
        rate_poll_s: How often the bot reads the official rate (its configuration).
        rate_fetches: Fetches of the official rate seen during the whole run.
        first_two_sided_s: When the bot first quoted both sides, from the span's start
            (negative: during the warm-up; None: never).
        bot_exit: The bot's exit code (None without a bot).
        bot_summary: The summary the bot printed (None without a bot, or if it printed none).
        workdir: The run's folder.
    """

    scenario: Scenario
    with_bot: bool
    card: Scorecard
    market: Market
    events: list[Event]
    start_ns: int
    end_ns: int
    rate_poll_s: float | None
    rate_fetches: int
    first_two_sided_s: float | None
    bot_exit: int | None
    bot_summary: dict[str, Any] | None
    workdir: Path
    notes: list[str] = field(default_factory=list)


def fair_ticks(som_per_usd: Any, market: Market) -> Fraction:
    """KGST's fair value, ``1 / som_per_usd`` USDT, in ticks of ``market`` (exact)."""
    return 1 / (Fraction(str(som_per_usd)) * Fraction(market.tick_size))


def sim_config(sc: Scenario) -> SimConfig:
    """The simulator of ``sc``: the demo account, the crowd and its scenarios, limits, faults."""
    warm = sc.warmup_s
    crowd: list[FlowFxStep | DepegShock | FlowDrought] = []
    for ev in sc.events:
        at = s_to_ns(warm + ev.at_s)
        if isinstance(ev, FxStep) and ev.crowd:
            crowd.append(
                FlowFxStep(
                    at_ns=at,
                    som_per_usd=ev.som_per_usd,
                    cancel_stale=ev.cancel_stale,
                    stale_fraction=ev.stale_fraction,
                )
            )
        elif isinstance(ev, Depeg):
            crowd.append(
                DepegShock(
                    at_ns=at,
                    bps=ev.bps,
                    ramp_ns=s_to_ns(ev.ramp_s),
                    hold_ns=s_to_ns(ev.hold_s),
                    revert_ns=s_to_ns(ev.revert_s),
                    push_fraction=ev.push_fraction,
                )
            )
        elif isinstance(ev, Drought):
            crowd.append(
                FlowDrought(
                    at_ns=at,
                    duration_ns=s_to_ns(ev.duration_s),
                    rate_factor=ev.rate_factor,
                    size_factor=ev.size_factor,
                )
            )
    c = sc.crowd
    flow = FlowConfig(
        seed=c.seed,
        som_per_usd=sc.som_per_usd,
        rates=c.rates,
        sizes=c.sizes,
        prices=c.prices,
        scenarios=crowd,
    )
    rates = {**NbkrConfig().rates, "USD": sc.som_per_usd}
    return SimConfig(
        accounts=(AccountConfig(api_key=DEMO_API_KEY, api_secret=SecretStr(DEMO_API_SECRET)),),
        rate_limits=sc.sim.rate_limits,
        faults=sc.sim.faults,
        nbkr=NbkrConfig(date=sc.nbkr_date, rates=rates),
        flow=flow,
        depth_interval_ms=sc.sim.depth_interval_ms,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Run:
    # The moving parts of one run.

    def __init__(self, sc: Scenario, server: SimServer, observer: ExchangeObserver) -> None:
        self.sc = sc
        self.server = server
        self.ex = server.exchange
        self.observer = observer
        self.market = observer.market
        self.nbkr = dict(self.ex.nbkr_rates)
        self.tasks: list[asyncio.Task[None]] = []

    async def admin(self, http: aiohttp.ClientSession, action: str, body: dict[str, Any]) -> None:
        url = f"{self.server.http_url}/admin/{action}"
        async with http.post(url, json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"admin {action}: {resp.status} {await resp.text()}")

    async def sleep_until(self, at_ns: int) -> None:
        delay = (at_ns - self.ex.now_ns()) / NS_PER_S
        if delay > 0:
            await asyncio.sleep(delay)

    async def timeline(self, http: aiohttp.ClientSession, start_ns: int) -> None:
        for ev in sorted(self.sc.events, key=lambda e: e.at_s):
            await self.sleep_until(start_ns + s_to_ns(ev.at_s))
            await self.apply(http, ev, start_ns)

    async def apply(self, http: aiohttp.ClientSession, ev: Any, start_ns: int) -> None:
        log.info("scenario_event", "scenario event %s at %s s", ev.kind, ev.at_s, kind=ev.kind)
        if isinstance(ev, FxStep):
            self.nbkr["USD"] = ev.som_per_usd
            body: dict[str, Any] = {"rates": {k: str(v) for k, v in self.nbkr.items()}}
            if ev.date:
                body["date"] = ev.date
            await self.admin(http, "nbkr", body)
            # From the moment the fixture answers with the new rate, it is the fair value.
            self.observer.add(Fair(self.observer.now(), fair_ticks(ev.som_per_usd, self.market)))
        elif isinstance(ev, Faults):
            await self.admin(http, "faults", ev.set)
        elif isinstance(ev, DropWs):
            await self.admin(http, "drop_ws", {})
        elif isinstance(ev, CrowdPull):
            with contextlib.suppress(SimError):  # nothing resting: nothing to pull
                self.ex.engine.cancel_all(CROWD_KEY, SYMBOL, self.ex.now_ns())
            self.ex.publish()
        elif isinstance(ev, BurnWeight):
            until = start_ns + s_to_ns(ev.at_s + ev.duration_s)
            self.tasks.append(asyncio.create_task(self.burn(http, until)))

    async def burn(self, http: aiohttp.ClientSession, until_ns: int) -> None:
        limit = self.sc.sim.rate_limits.weight_per_minute
        await spend_weight(http, self.server.http_url, limit, self.ex.now_ns, until_ns)


async def spend_weight(
    http: aiohttp.ClientSession,
    http_url: str,
    limit: int,
    clock: Callable[[], int],
    until_ns: int,
) -> None:
    """Spend each minute window's request weight to ``limit``, exactly, until ``until_ns``.

    A neighbour on the same IP: every window is filled without a 429 of its own (it reads
    ``X-MBX-USED-WEIGHT-1M`` and steps down from weight 250 to 1), so the *next* request from
    the IP gets the 429 until the minute turns. ``clock`` is the exchange's (windows are its
    calendar minutes).
    """
    base = f"{http_url}/api/v3/"
    while (now := clock()) < until_ns:
        async with http.get(base + "ping") as resp:
            used = int(resp.headers.get("X-MBX-USED-WEIGHT-1M", limit))
        left = limit - used
        for weight, path in _BURNS:
            while left >= weight:
                async with http.get(base + path) as resp:
                    await resp.read()
                    if resp.status != 200:
                        left = 0
                        break
                    left = limit - int(resp.headers.get("X-MBX-USED-WEIGHT-1M", limit))
        window_end = now - now % NS_PER_MIN + NS_PER_MIN
        delay = (min(window_end + 5_000_000, until_ns) - clock()) / NS_PER_S
        if delay > 0:
            await asyncio.sleep(delay)


async def _stop_bot(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


def _summary(path: Path) -> dict[str, Any] | None:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.startswith("{")]
    if not lines:
        return None
    try:
        out: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None
    return out


def _first_two_sided(events: list[Event], start_ns: int) -> float | None:
    for ev in events:
        if isinstance(ev, Quotes) and ev.bids and ev.asks:
            return ns_to_s(ev.ts_ns - start_ns)
    return None


async def run_scenario(
    sc: Scenario,
    workdir: Path,
    *,
    with_bot: bool = True,
    example: Path = EXAMPLE,
    progress: Callable[[float, float], None] | None = None,
) -> RunResult:
    """Run ``sc`` once (see the module docstring); the run's files go in ``workdir``.

    Args:
        sc: The scenario.
        workdir: The run's folder (created).
        with_bot: Run the bot; False measures the market alone.
        example: The bot configuration to run (the shipped example).
        progress: Called about once a second with (seconds measured, seconds in the span).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    # Every run starts a fresh simulator, whose trade ids start over: a journal left here by
    # the last run would make the bot take this run's fills for ones it had already seen
    # (its fill count read 1 instead of 71) and recover orders of an exchange that is gone.
    for stale in workdir.glob(f"{JOURNAL_FILE}*"):  # with SQLite's -wal and -shm files
        stale.unlink()
    example_cfg = read_example(example)
    poll = rate_poll_s(example_cfg)
    length_s = sc.length_s(poll if with_bot else None)
    cfg = sim_config(sc)
    server = SimServer(cfg, "127.0.0.1", 0, market=FlowSource(cfg.flow, SYMBOL))
    observer = ExchangeObserver(server.exchange, DEMO_API_KEY, SYMBOL)
    observer.attach(server)
    await server.start()
    run = _Run(sc, server, observer)
    proc: asyncio.subprocess.Process | None = None
    bot_exit: int | None = None
    try:
        t0 = observer.now()
        observer.add(Fair(t0, fair_ticks(sc.som_per_usd, run.market)))
        if with_bot:
            bot_cfg = simulator_config(
                example_cfg, server.http_url, server.ws_url, workdir, _free_port()
            )
            path = write_bot_config(bot_cfg, workdir / "bot.toml")
            env = {**os.environ, **bot_env(bot_cfg, DEMO_API_KEY, DEMO_API_SECRET)}
            with (workdir / "bot.out").open("wb") as out, (workdir / "bot.log").open("wb") as err:
                args = ["-m", "pegbot.cli", "run", "--config", str(path), "--json"]
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *args,
                    stdout=out,
                    stderr=err,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                )
        start = t0 + s_to_ns(sc.warmup_s)
        end = start + s_to_ns(length_s)
        async with aiohttp.ClientSession() as http:
            timeline = asyncio.create_task(run.timeline(http, start))
            try:
                while (now := server.exchange.now_ns()) < end:
                    if progress is not None:
                        progress(max(0.0, ns_to_s(now - start)), length_s)
                    if proc is not None and proc.returncode is not None and bot_exit is None:
                        bot_exit = proc.returncode
                        log.error("bot_exited", "the bot exited early with %s", bot_exit)
                    await asyncio.sleep(min(1.0, max(0.0, ns_to_s(end - now))))
                if progress is not None:
                    progress(length_s, length_s)
            finally:
                for task in (timeline, *run.tasks):
                    task.cancel()
                for task in (timeline, *run.tasks):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if proc is not None:
                bot_exit = await _stop_bot(proc)
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await server.stop()
    events = [ev for ev in observer.events if ev.ts_ns <= end]
    card = score(run.market, events, start, end, sc.score_settings)
    notes = []
    if with_bot and bot_exit not in (0, None):
        notes.append(f"the bot exited with {bot_exit}: see {workdir / 'bot.log'}")
    return RunResult(
        scenario=sc,
        with_bot=with_bot,
        card=card,
        market=run.market,
        events=events,
        start_ns=start,
        end_ns=end,
        rate_poll_s=poll if with_bot else None,
        rate_fetches=observer.rate_fetches,
        first_two_sided_s=_first_two_sided(events, start),
        bot_exit=bot_exit,
        bot_summary=_summary(workdir / "bot.out") if with_bot else None,
        workdir=workdir,
        notes=notes,
    )
