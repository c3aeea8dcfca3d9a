"""Restarts: the real ``pegbot run`` killed with SIGKILL at seeded random moments, many times.

The simulator runs in this process (so reading the exchange's side never goes through its rate
limits); the bot is the real ``pegbot run`` subprocess with the example configuration
(``examples/sim.toml``, pointed at this simulator). A counterparty trades against the bot's
resting orders straight in the engine, also while the bot is dead, so orphans fill. Each restart
is one scenario, drawn from a seeded generator:

=========  =========================================================================
plain      quote, get filled, killed after 0.5-4 s
startup    killed 0.2-2.5 s after the process started (before or while it recovers)
storm      at the end of a minute another client on the IP spends the weight and keeps
           going after its 429s: the bot's next request earns a 418 ban; the bot is
           killed during the ban and restarted while it lasts, or rides it out
ws_drop    every WebSocket (streams and WS API) dropped while quoting, killed later
stall      30 % of REST and WebSocket API replies stalled past ccxt's time-out while
           quoting (the request executed, its answer never comes in time), killed later
=========  =========================================================================

After each restart has quoted (its start-up recovery is done), the audit compares the bot's
books with the exchange's: every trade of the account up to the start is journaled once with
every field equal; every order of the earlier runs has its exchange state as its last journaled
state; every PnL snapshot's holdings equal the exchange's starting balances plus the trades
the bot had journaled by then (so a fill counted twice, or a snapshot off by the fills
recovered at start, shows); the simulator's count of requests received from the bot's IP while
it was banned. Restart-to-quoting is process start → first order of the new run on the
exchange, over the restarts into a healthy simulator.

Run: ``.venv/bin/python benchmarks/bench_restarts.py [--restarts 50] [--seed N] [--json OUT]``
(about 10 minutes for 50). ``tests/reliability/test_restarts.py`` runs a handful.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pegbot.execution.reconciler import parse_client_id  # noqa: E402
from pegbot.market import Side  # noqa: E402
from pegbot.sim import errors as sim_errors  # noqa: E402
from pegbot.sim.accounts import amount_to_decimal  # noqa: E402
from pegbot.sim.config import (  # noqa: E402
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_BALANCES,
    RateLimitConfig,
)
from pegbot.sim.model import GTC, LIMIT, MARKET, NewOrder, Order  # noqa: E402
from pegbot.sim.server import SimServer  # noqa: E402
from pegbot.sim.testing import MAKER_KEY, default_sim_config  # noqa: E402

SYM = "KGSTUSDT"
SEED = 20261122
SCENARIOS = ("plain", "startup", "storm", "ws_drop", "stall")
WEIGHTS = (4, 3, 1, 1, 1)
BAN_S = 10
#: A request arriving this soon after its IP's ban began may have been sent before the 418
#: that announced the ban reached the client.
IN_FLIGHT_S = 0.25
QUOTE_TIMEOUT_S = 40.0
_AMOUNT = 10**18
_SEED_BID, _SEED_ASK = 1139, 1148  # ticks of the counterparty's resting orders


@dataclass
class Restart:
    """One restart: what was done, and what was seen."""

    index: int
    scenario: str
    healthy: bool = True
    to_quote_s: float | None = None
    killed_after_s: float | None = None
    exit_code: int | None = None
    banned_requests: int = 0
    banned_requests_late: int = 0
    note: str = ""


@dataclass
class Audit:
    """What the audits found, summed over the campaign."""

    exchange_trades: int = 0
    journal_fills: int = 0
    lost: int = 0
    extra: int = 0
    field_mismatches: int = 0
    orders_checked: int = 0
    order_state_mismatches: int = 0
    snapshots_checked: int = 0
    snapshot_mismatches: int = 0
    examples: list[str] = field(default_factory=list)
    # Distinct trade ids / client ids / snapshot seqs found wrong at any audit.
    _lost: set[str] = field(default_factory=set, repr=False)
    _bad_fields: set[str] = field(default_factory=set, repr=False)
    _bad_orders: set[str] = field(default_factory=set, repr=False)

    def note(self, text: str) -> None:
        """Keep the first few findings as examples."""
        if len(self.examples) < 12:
            self.examples.append(text)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(workdir: Path) -> dict[str, str]:
    """The bot's environment: this checkout first, keys, files in ``workdir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGBOT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PEGBOT_VENUES__SIM__API_KEY=DEMO_API_KEY,
        PEGBOT_VENUES__SIM__API_SECRET=DEMO_API_SECRET,
        PEGBOT_JOURNAL__PATH=str(workdir / "journal.sqlite"),
        PEGBOT_LOOP__CONTROL_DIR=str(workdir / "control"),
        PEGBOT_LOOP__BALANCE_REFRESH_S="2",
        PEGBOT_METRICS__PORT=str(free_port()),
        PEGBOT_LOGGING__FORMAT="json",
    )
    return env


def example_config(port: int, workdir: Path) -> Path:
    """``examples/sim.toml`` pointed at the simulator on ``port``."""
    text = (ROOT / "examples" / "sim.toml").read_text()
    path = workdir / "sim.toml"
    path.write_text(text.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
    return path


class Campaign:
    """The simulator, the bot's process, the counterparty and the audits."""

    def __init__(self, server: SimServer, workdir: Path, rng: random.Random, say: Any) -> None:
        self.server = server
        self.ex = server.exchange
        self.workdir = workdir
        self.rng = rng
        self.say = say
        self.config = example_config(int(server.http_url.rsplit(":", 1)[1]), workdir)
        self.env = bot_env(workdir)
        self.log = workdir / "bot.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.audit = Audit()
        self.rows: list[Restart] = []
        self._checked_snapshots = 0
        self._market = self.ex.engine.books[SYM].market

    # -- the exchange's side -------------------------------------------------------------------

    def orders(self) -> list[Order]:
        """Every order of the bot's account."""
        return self.ex.engine.all_orders(DEMO_API_KEY, SYM)

    def runs(self) -> set[str]:
        """Run ids that placed orders."""
        return {p.run for o in self.orders() if (p := parse_client_id(o.client_order_id))}

    def first_order_ns(self, run: str) -> int:
        """When ``run`` placed its first order (exchange time)."""
        return min(
            o.time_ns
            for o in self.orders()
            if (p := parse_client_id(o.client_order_id)) and p.run == run
        )

    def banned_requests(self) -> tuple[int, int]:
        """Requests the bot's IP sent while banned so far: all, and the late ones.

        Late: arrived more than :data:`IN_FLIGHT_S` into the ban (an earlier one may have
        left before the 418 that announced the ban reached the client).
        """
        limiter = self.ex.limiter
        total = limiter.requests_while_banned.get("127.0.0.1", 0)
        ages = limiter.banned_request_ages.get("127.0.0.1", [])
        return total, sum(1 for a in ages if a > IN_FLIGHT_S * 1e9)

    def banned(self) -> bool:
        """The bot's IP is banned now."""
        return "127.0.0.1" in self.ex.limiter.state(self.ex.now_ns())["bans"]

    def keep_book(self) -> None:
        """The counterparty's resting bid and ask are there (the book stays two-sided)."""
        mine = self.ex.engine.open_orders(MAKER_KEY, SYM)
        have = {(int(o.side), o.price) for o in mine}
        for side, price in ((Side.BUY, _SEED_BID), (Side.SELL, _SEED_ASK)):
            if (int(side), price) not in have:
                units = self._market.lots_to_units(50_000)
                self.ex.engine.place(
                    MAKER_KEY, NewOrder(SYM, side, LIMIT, units, price, GTC), self.ex.now_ns()
                )
        self.ex.publish()

    async def taker(self, stop: asyncio.Event) -> None:
        """Market orders against the bot's resting orders every ~250 ms, alive or dead."""
        rng = random.Random(self.rng.random())
        while not stop.is_set():
            ours = [
                o
                for o in self.ex.engine.open_orders(DEMO_API_KEY, SYM)
                if o.client_order_id.startswith("pegbot-")
            ]
            if ours:
                target = rng.choice(ours)
                side = Side.SELL if target.side is Side.BUY else Side.BUY
                lots = min(rng.choice((100, 200, 300, 500)), target.remaining)
                units = self._market.lots_to_units(lots) if lots > 0 else 0
                if units > 0:
                    with contextlib.suppress(sim_errors.SimError):
                        self.ex.engine.place(
                            MAKER_KEY, NewOrder(SYM, side, MARKET, units), self.ex.now_ns()
                        )
                        self.ex.publish()
            await asyncio.sleep(rng.uniform(0.15, 0.35))

    # -- the bot -------------------------------------------------------------------------------

    async def spawn(self) -> int:
        """Start ``pegbot run``; returns the start time (ns)."""
        fh = self.log.open("ab")
        try:
            t0 = time.time_ns()
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "from pegbot.cli import main; main()", "run",
                "--config", str(self.config), "--json",
                env=self.env, stdout=fh, stderr=fh,
            )  # fmt: skip
        finally:
            fh.close()
        return t0

    async def kill(self) -> None:
        """SIGKILL the bot."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
        self.proc = None

    async def wait_quote(self, before: set[str], timeout: float) -> str | None:
        """The new run's id once it placed an order; None if it exited or timed out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self.runs() - before
            if new:
                return next(iter(new))
            if self.proc is None or self.proc.returncode is not None:
                return None
            await asyncio.sleep(0.02)
        return None

    # -- audits --------------------------------------------------------------------------------

    def _journal(self) -> sqlite3.Connection:
        uri = f"file:{self.workdir / 'journal.sqlite'}?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=5.0)

    def audit_now(self, before_ns: int, current_run: str | None) -> None:
        """Compare the journal and the ledger's snapshots with the exchange (see module doc)."""
        a = self.audit
        path = self.workdir / "journal.sqlite"
        if not path.exists():
            return
        trades = self.ex.engine.my_trades(DEMO_API_KEY, SYM)
        by_order = {o.order_id: o for o in self.orders()}
        with contextlib.closing(self._journal()) as db:
            fills = {
                r[0]: r
                for r in db.execute(
                    "SELECT trade_id, order_id, client_id, side, price_ticks, qty_units, fee,"
                    " fee_asset, maker, ts_ns, recorded_ns FROM fills WHERE venue = 'sim'"
                )
            }
            latest = {
                r[0]: (r[1], r[2])
                for r in db.execute(
                    "SELECT client_id, state, filled_units FROM order_events WHERE seq IN"
                    " (SELECT MAX(seq) FROM order_events WHERE venue = 'sim' GROUP BY client_id)"
                )
            }
            snaps = db.execute(
                "SELECT seq, at_ns, base, quote FROM pnl_snapshots WHERE venue = 'sim'"
                " AND seq > ? AND at_ns < ? ORDER BY seq",
                (self._checked_snapshots, before_ns),
            ).fetchall()
        exchange_ids = {str(t.trade_id) for t in trades}
        for t in trades:
            row = fills.get(str(t.trade_id))
            if row is None:
                if t.time_ns <= before_ns and str(t.trade_id) not in a._lost:
                    a._lost.add(str(t.trade_id))
                    a.note(f"trade {t.trade_id} at {t.time_ns} not journaled")
                continue
            order = by_order[t.order_id]
            want = (
                str(t.trade_id), str(t.order_id), order.client_order_id,
                1 if t.is_buyer else -1, t.price, t.units,
                amount_to_decimal(t.commission), t.commission_asset, int(t.is_maker),
                t.time_ns // 1_000_000 * 1_000_000,
            )  # fmt: skip
            got = (*row[:6], Decimal(row[6]), row[7], row[8], row[9])
            if got != want and str(t.trade_id) not in a._bad_fields:
                a._bad_fields.add(str(t.trade_id))
                a.note(f"trade {t.trade_id}: journal {got} != exchange {want}")
        a.extra = len(set(fills) - exchange_ids)
        a.exchange_trades, a.journal_fills = len(trades), len(fills)
        # Orders of the runs before the current one: their last journaled state is final.
        checked = 0
        for o in self.orders():
            parsed = parse_client_id(o.client_order_id)
            if parsed is None or parsed.run == current_run or o.time_ns >= before_ns:
                continue
            checked += 1
            state = latest.get(o.client_order_id)
            want_state = (o.status.lower(), o.executed_units)
            if state != want_state and o.client_order_id not in a._bad_orders:
                a._bad_orders.add(o.client_order_id)
                a.note(f"order {o.client_order_id}: journal {state} != exchange {want_state}")
        a.orders_checked = max(a.orders_checked, checked)
        a.lost, a.field_mismatches = len(a._lost), len(a._bad_fields)
        a.order_state_mismatches = len(a._bad_orders)
        # Each PnL snapshot against the exchange's starting balances plus the trades the bot
        # had journaled by then.
        base0 = Fraction(DEMO_BALANCES["KGST"])
        quote0 = Fraction(DEMO_BALANCES["USDT"])
        qty_unit = Fraction(self._market.qty_unit)
        deltas = {str(t.trade_id): self._delta(t, qty_unit) for t in trades}
        for seq, at_ns, base, quote in snaps:
            known = [deltas[tid] for tid, r in fills.items() if r[10] <= at_ns and tid in deltas]
            want_base = base0 + sum((d[0] for d in known), Fraction(0))
            want_quote = quote0 + sum((d[1] for d in known), Fraction(0))
            a.snapshots_checked += 1
            if (Fraction(base), Fraction(quote)) != (want_base, want_quote):
                a.snapshot_mismatches += 1
                a.note(
                    f"snapshot {seq}: ledger base {float(Fraction(base)):.4f} quote "
                    f"{float(Fraction(quote)):.6f} != exchange {float(want_base):.4f} "
                    f"{float(want_quote):.6f}"
                )
            self._checked_snapshots = seq

    @staticmethod
    def _delta(t: Any, qty_unit: Fraction) -> tuple[Fraction, Fraction]:
        qty = qty_unit * t.units
        quote = Fraction(t.quote, _AMOUNT)
        fee = Fraction(t.commission, _AMOUNT)
        base_d, quote_d = (qty, -quote) if t.is_buyer else (-qty, quote)
        if t.commission_asset == "KGST":
            base_d -= fee
        elif t.commission_asset == "USDT":
            quote_d -= fee
        return base_d, quote_d

    def balances_identity(self) -> bool:
        """The engine's balances equal the starting ones plus every trade (the audit's model)."""
        account = self.ex.engine.ledger.accounts[DEMO_API_KEY]
        qty_unit = Fraction(self._market.qty_unit)
        base = Fraction(DEMO_BALANCES["KGST"])
        quote = Fraction(DEMO_BALANCES["USDT"])
        for t in self.ex.engine.my_trades(DEMO_API_KEY, SYM):
            d = self._delta(t, qty_unit)
            base, quote = base + d[0], quote + d[1]
        b, q = account.balance("KGST"), account.balance("USDT")
        return (Fraction(b.free + b.locked, _AMOUNT), Fraction(q.free + q.locked, _AMOUNT)) == (
            base,
            quote,
        )

    # -- one restart ---------------------------------------------------------------------------

    async def restart(self, index: int, scenario: str) -> Restart:
        """Spawn the bot, play ``scenario``, kill it; audit once it quoted."""
        row = Restart(index, scenario, healthy=not self.banned())
        rng = self.rng
        self.keep_book()
        before = self.runs()
        banned0, late0 = self.banned_requests()
        t0 = await self.spawn()
        try:
            if scenario == "startup":
                delay = rng.uniform(0.2, 2.5)
                await asyncio.sleep(delay)
                row.killed_after_s = delay
                new = (self.runs() - before) or None
                if new:
                    row.to_quote_s = (self.first_order_ns(next(iter(new))) - t0) / 1e9
                return row
            timeout = QUOTE_TIMEOUT_S + (BAN_S if not row.healthy else 0)
            run = await self.wait_quote(before, timeout)
            if run is None:
                row.exit_code = self.proc.returncode if self.proc else None
                row.note = "exited before quoting" if row.exit_code is not None else "no quote"
                return row
            row.to_quote_s = (self.first_order_ns(run) - t0) / 1e9
            self.audit_now(t0, run)
            await self._play(scenario, row, before | {run})
        finally:
            if row.killed_after_s is None:
                row.killed_after_s = (time.time_ns() - t0) / 1e9
            await self.kill()
            self.ex.faults.update({"rest_fail_rate": 0.0, "wsapi_fail_rate": 0.0})
            banned, late = self.banned_requests()
            row.banned_requests, row.banned_requests_late = banned - banned0, late - late0
            await asyncio.sleep(rng.uniform(0.0, 1.0))  # dead for a while; orphans may fill
        return row

    async def _play(self, scenario: str, row: Restart, runs: set[str]) -> None:
        rng = self.rng
        if scenario == "plain":
            await asyncio.sleep(rng.uniform(0.5, 4.0))
        elif scenario == "ws_drop":
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            await self.server_admin("drop_ws")
            await asyncio.sleep(rng.uniform(0.2, 3.0))
        elif scenario == "stall":
            self.ex.faults.update(
                {
                    "rest_fail_rate": 0.3,
                    "rest_fail_mode": "timeout",
                    "rest_timeout_s": 11.0,
                    "wsapi_fail_rate": 0.3,
                    "wsapi_fail_mode": "timeout",
                }
            )
            await asyncio.sleep(rng.uniform(1.0, 4.0))
        elif scenario == "storm":
            await self._storm(row, runs)

    async def _storm(self, row: Restart, runs: set[str]) -> None:
        # Late in a minute, so the ban ends in a fresh weight window (inside the spent one,
        # the first request after the ban would earn the next ban at once).
        into = time.time() % 60.0
        start = self.rng.uniform(52.0, 56.0)
        await asyncio.sleep((start - into) % 60.0)
        limiter = self.ex.limiter
        limiter.spend("127.0.0.1", 0, self.ex.now_ns(), limiter.config.ban_after_429s)
        deadline = time.monotonic() + 10.0
        while not self.banned() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the bot's next request earns the ban
        if not self.banned():
            row.note = "the bot sent nothing to be banned for"
            return
        if self.rng.random() < 0.5:
            # Killed during the ban and restarted while it lasts.
            await asyncio.sleep(self.rng.uniform(0.3, 3.0))
            await self.kill()
            row.note = "killed during the ban; the next start is inside it"
            return
        # Rides it out: quoting again after the ban, then killed.
        while self.banned():
            await asyncio.sleep(0.1)
        before = self.runs()
        quoted = time.monotonic()
        while time.monotonic() - quoted < QUOTE_TIMEOUT_S:
            if self._quoting_since(quoted):
                break
            await asyncio.sleep(0.05)
        row.note = f"rode the ban out; runs {len(before)}"
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))

    def _quoting_since(self, since_monotonic: float) -> bool:
        cutoff = time.time_ns() - int((time.monotonic() - since_monotonic) * 1e9)
        return any(o.time_ns >= cutoff for o in self.orders())

    async def server_admin(self, action: str) -> None:
        """One admin action in-process (the admin routes are not rate-limited)."""
        if action == "drop_ws":
            self.ex.faults.count("ws_dropped")
            await self.server.streams.drop_all()
            await self.server.wsapi.drop_all()

    async def final_stop(self) -> tuple[int, float | None]:
        """Start once more, quote, stop with SIGTERM; returns (exit code, time to quote)."""
        self.keep_book()
        before = self.runs()
        t0 = await self.spawn()
        run = await self.wait_quote(before, QUOTE_TIMEOUT_S + BAN_S)
        to_quote = (self.first_order_ns(run) - t0) / 1e9 if run else None
        if run is not None:
            self.audit_now(t0, run)
        await asyncio.sleep(2.0)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(self.proc.wait(), 60)
        self.proc = None
        return rc, to_quote


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_campaign(
    restarts: int = 50,
    seed: int = SEED,
    workdir: Path | None = None,
    scenarios: tuple[str, ...] | None = None,
    say: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    """Run the campaign; returns its figures (see the module docstring).

    Args:
        restarts: Kill -9 restarts (the final clean stop comes on top).
        seed: Seed of every random choice.
        workdir: Where the journal, config and logs go (a temporary directory if None).
        scenarios: A fixed sequence of scenarios (cycled) instead of the seeded draw.
        say: Progress lines.
    """
    rng = random.Random(seed)
    own = workdir is None
    tmp = tempfile.TemporaryDirectory(prefix="pegbot_restarts_") if own else None
    wd = Path(tmp.name) if tmp is not None else Path(workdir or ".")
    wd.mkdir(parents=True, exist_ok=True)
    cfg = default_sim_config().model_copy(
        update={
            "depth_interval_ms": 100,
            "rate_limits": RateLimitConfig(ban_seconds=BAN_S),
        }
    )
    server = SimServer(cfg, host="127.0.0.1", port=0)
    await server.start()
    campaign = Campaign(server, wd, rng, say)
    stop = asyncio.Event()
    taker = asyncio.create_task(campaign.taker(stop))
    t_start = time.monotonic()
    try:
        for i in range(restarts):
            if scenarios:
                scenario = scenarios[i % len(scenarios)]
            else:
                scenario = rng.choices(SCENARIOS, WEIGHTS)[0]
            row = await campaign.restart(i, scenario)
            campaign.rows.append(row)
            say(
                f"restart {i + 1}/{restarts} {scenario:8s} to_quote "
                f"{row.to_quote_s if row.to_quote_s is None else round(row.to_quote_s, 2)} s"
                f" killed after {row.killed_after_s:.2f} s banned_requests "
                f"{row.banned_requests} ({row.banned_requests_late} late) {row.note}"
            )
        while campaign.banned():
            await asyncio.sleep(0.2)
        rc, final_to_quote = await campaign.final_stop()
        stop.set()
        await taker
        await asyncio.sleep(0.5)
        campaign.audit_now(time.time_ns(), None)
        identity = campaign.balances_identity()
        open_after = [
            o.client_order_id
            for o in server.exchange.engine.open_orders(DEMO_API_KEY, SYM)
            if o.client_order_id.startswith("pegbot-")
        ]
    finally:
        stop.set()
        if not taker.done():
            taker.cancel()
        await campaign.kill()
        await server.stop()
        if tmp is not None:
            tmp.cleanup()
    rows = campaign.rows
    healthy = [
        r.to_quote_s
        for r in rows
        if r.healthy and r.to_quote_s is not None and r.scenario != "startup"
    ]
    if final_to_quote is not None:
        healthy.append(final_to_quote)
    a = campaign.audit
    audit = {k: v for k, v in asdict(a).items() if not k.startswith("_")}
    return {
        "restarts": restarts,
        "seed": seed,
        "scenarios": {s: sum(1 for r in rows if r.scenario == s) for s in SCENARIOS},
        "duration_s": round(time.monotonic() - t_start, 1),
        "to_quote_n": len(healthy),
        "to_quote_p50_s": statistics.median(healthy) if healthy else None,
        "to_quote_p90_s": _pct(healthy, 0.9),
        "to_quote_max_s": max(healthy) if healthy else None,
        "no_quote": [asdict(r) for r in rows if r.scenario != "startup" and r.to_quote_s is None],
        "requests_while_banned": sum(r.banned_requests for r in rows),
        "requests_while_banned_late": sum(r.banned_requests_late for r in rows),
        "bans": sum(1 for r in rows if r.scenario == "storm" and "ban" in r.note),
        "final_exit_code": rc,
        "open_after": len(open_after),
        "balances_identity": identity,
        "audit": audit,
        "rows": [asdict(r) for r in rows],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the campaign and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--restarts", type=int, default=50)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run_campaign(args.restarts, args.seed, args.workdir))
    text = json.dumps(result, indent=1, default=str)
    if args.json:
        args.json.write_text(text)
    summary = {k: v for k, v in result.items() if k not in ("rows",)}
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
