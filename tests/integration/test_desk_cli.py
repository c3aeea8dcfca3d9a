"""``pegbot signals`` operator commands against a journal a running bot writes.

The "bot" is the real thing minus the exchange: an :class:`ArbSignaler` raising signals from
a book, :class:`SignalSinks` writing them to a real SQLite journal, and a
:class:`DeskWatcher` polling in its own thread with its own connection, as the live control
loop will. The commands run through typer's CliRunner in the test thread (a second
connection to the same WAL file).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pegbot.book import OrderBook
from pegbot.desk import DeskWatcher
from pegbot.journal import Journal
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import ArbConfig, ArbCosts, ArbSignaler, SignalEvent
from pegbot.peg.sinks import SignalSinks

KGST = Market.kgst_usdt()
FAIR = Fraction(100, 8745)  # 87.45 KGS per USD
runner = CliRunner()


def desk_metrics() -> Metrics:
    metrics = Metrics()
    metrics.init_desk(["binance"])
    return metrics


@dataclass
class Bot:
    path: Path
    expiry_s: float = 300.0
    metrics: Metrics = field(default_factory=desk_metrics)
    raised: list[SignalEvent] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    polls: int = 0
    error: BaseException | None = None

    def run(self) -> None:
        try:
            journal = Journal(self.path)
            signaler = ArbSignaler(
                KGST,
                ArbCosts(exchange_fee_bps=Decimal(0)),
                ArbConfig(min_edge_bps=Decimal(0), expiry_ns=int(self.expiry_s * 1e9)),
            )
            sinks = SignalSinks(KGST, journal=journal)
            watcher = DeskWatcher(journal, [signaler], sinks, self.metrics)
            book = OrderBook()
            book.apply_snapshot([(1147, 1000 * 10**8)], [(1150, 10**10)])  # bid 0.01147 > fair
            events = signaler.evaluate(time.time_ns(), book, FairValue.fixed(FAIR, KGST))
            sinks.publish(events)
            self.raised = events
            self.ready.set()
            while not self.stop.is_set():
                watcher.poll(time.time_ns())
                self.polls += 1
                time.sleep(0.01)
            journal.close()
        except BaseException as exc:  # surfaced by the fixture
            self.error = exc
            self.ready.set()
            raise

    def wait_polls(self, n: int = 3) -> None:
        start = self.polls
        deadline = time.monotonic() + 5
        while self.polls < start + n and time.monotonic() < deadline:
            time.sleep(0.01)


def start(path: Path, expiry_s: float = 300.0) -> tuple[Bot, threading.Thread]:
    bot = Bot(path, expiry_s)
    thread = threading.Thread(target=bot.run, daemon=True)
    thread.start()
    assert bot.ready.wait(10) and bot.error is None
    return bot, thread


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    b, thread = start(tmp_path / "journal.sqlite")
    yield b
    b.stop.set()
    thread.join(5)
    assert b.error is None


def cli(journal: Path, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(
        __import__("pegbot.cli", fromlist=["app"]).app,
        ["signals", *args, "--journal", str(journal)],
    )
    return res.exit_code, res.stdout, res.stderr


def sample(bot: Bot, name: str, **labels: str) -> float | None:
    return bot.metrics.registry.get_sample_value(name, labels)


def test_a_signal_from_proposal_to_settled_round_trip_pnl(bot: Bot) -> None:
    j = bot.path
    [event] = bot.raised
    sid = event.signal.id
    size = KGST.units_to_qty(event.signal.size_units)
    assert size == 1000

    code, out, _ = cli(j, "list", "--json")
    assert code == 0
    [listed] = json.loads(out)["signals"]
    assert listed["id"] == sid and listed["state"] == "proposed"

    code, out, err = cli(j, "approve", sid, "--by", "alice", "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "approved"
    # The running bot's own signaler moved: approving again is a forbidden transition.
    code, _, err = cli(j, "approve", sid)
    assert code == 2 and "approved → approved is not allowed" in err

    code, out, err = cli(
        j, "executed", sid, "--ref", "MINT-0042", "--qty", "1000", "--price", "0.01147",
        "--fee", "0.011", "--by", "bob",
    )  # fmt: skip
    assert code == 0, err
    assert "now requested" in out  # executed, and the issuer leg filed under its ref
    code, _, err = cli(j, "confirmed", sid, "--amount", "1000", "--by", "carol")
    assert code == 0, err
    # 1000 KGST minted against 1000 som, worth 11.40 USDT after the bank's conversion.
    code, _, err = cli(
        j, "settled", sid, "--amount", "1000", "--kgs", "1000", "--quote", "11.40", "--fee", "0.02"
    )
    assert code == 0, err
    code, out, err = cli(j, "deposited", sid, "--amount", "1000", "--transfer", "0.05", "--json")
    assert code == 0, err
    trip = json.loads(out)["round_trip"]
    # 11.47 sold − 0.011 exchange fee − 11.40 som leg − 0.02 issuer fee − 0.05 transfer
    assert trip["closed"] and trip["pnl_quote"] == "-0.011"
    assert trip["breakdown"]["residual_base"] == "0"

    code, out, _ = cli(j, "pnl", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["total_pnl_quote"] == "-0.011"
    assert report["by_kind"] == {"mint_and_sell": "-0.011"}

    code, out, _ = cli(j, "show", sid, "--json")
    shown = json.loads(out)
    assert [t["to"] for t in shown["transitions"]] == [
        "proposed", "approved", "executed", "requested", "confirmed", "settled", "deposited",
    ]  # fmt: skip
    who = {a["action"]: a["by"] for a in shown["actions"]}
    assert {k: who[k] for k in ("approve", "executed", "requested", "confirmed")} == {
        "approve": "alice", "executed": "bob", "requested": "bob", "confirmed": "carol",
    }  # fmt: skip
    assert who["deposited"]  # the OS user by default
    assert all(a["status"] == "applied" for a in shown["actions"])
    [requested] = [s for s in shown["steps"] if s["state"] == "requested"]
    assert requested["figures"] == {"amount": "1000", "ref": "MINT-0042"}
    code, text, _ = cli(j, "show", sid)
    assert "round trip closed: realised PnL -0.011" in text

    # The watcher exported every transition, whoever wrote it.
    bot.wait_polls()
    for state in ("proposed", "approved", "executed", "requested", "settled", "deposited"):
        assert sample(bot, "pegbot_signal_transitions_total", kind="mint_and_sell",
                      to_state=state) == 1, state  # fmt: skip
    assert sample(bot, "pegbot_signal_transitions_total", kind="mint_and_sell",
                  to_state="failed") == 0  # fmt: skip
    last = sample(bot, "pegbot_signal_last_transition_timestamp_seconds", kind="mint_and_sell",
                  to_state="deposited")  # fmt: skip
    assert last is not None and abs(last - time.time()) < 60
    assert sample(bot, "pegbot_round_trips_total", kind="mint_and_sell") == 1
    assert sample(bot, "pegbot_round_trip_realised_pnl_quote", kind="mint_and_sell") == -0.011
    assert sample(bot, "pegbot_desk_actions_total", action="approve", result="applied") == 1


def test_invalid_transitions_exit_2_with_a_clear_message(bot: Bot) -> None:
    j = bot.path
    sid = bot.raised[0].signal.id
    code, _, err = cli(j, "approve", "nope")
    assert code == 2 and "unknown signal 'nope'" in err
    code, _, err = cli(j, "reject", sid, "--reason", "FX desk says no", "--by", "dana")
    assert code == 0, err
    code, _, err = cli(j, "approve", sid)
    assert code == 2 and "rejected → approved is not allowed" in err
    code, _, err = cli(j, "settled", sid, "--amount", "1")
    assert code == 2 and "rejected → settled is not allowed" in err
    code, out, _ = cli(j, "show", sid, "--json")
    shown = json.loads(out)
    assert shown["signal"]["state"] == "rejected"
    assert shown["signal"]["reason"] == "reject by dana: FX desk says no"
    code, out, _ = cli(j, "list", "--state", "rejected", "--json")
    assert [s["id"] for s in json.loads(out)["signals"]] == [sid]
    code, out, _ = cli(j, "list", "--state", "proposed", "--json")
    assert json.loads(out)["signals"] == []


def test_an_expired_signal_cannot_be_approved(tmp_path: Path) -> None:
    bot, thread = start(tmp_path / "j.sqlite", expiry_s=0.3)
    try:
        sid = bot.raised[0].signal.id
        time.sleep(0.4)
        code, _, err = cli(bot.path, "approve", sid)
        assert code == 2 and "expired at" in err
    finally:
        bot.stop.set()
        thread.join(5)


def test_without_a_running_bot_a_decision_is_withdrawn(tmp_path: Path) -> None:
    bot, thread = start(tmp_path / "j.sqlite")
    bot.stop.set()
    thread.join(5)
    sid = bot.raised[0].signal.id
    code, _, err = cli(bot.path, "approve", sid, "--wait", "0.2")
    assert code == 1 and "withdrawn: no running bot applied it" in err
    code, out, _ = cli(bot.path, "show", sid, "--json")
    shown = json.loads(out)
    assert shown["signal"]["state"] == "proposed"
    assert shown["actions"][0]["status"] == "refused"
    # A fresh bot does not pick the withdrawn approval up.
    journal = Journal(bot.path)
    assert (
        DeskWatcher(journal, [], SignalSinks(KGST, journal=journal), desk_metrics()).poll(
            time.time_ns()
        )
        == []
    )
    journal.close()


def test_the_old_tape_form_is_refused_and_the_journal_must_exist(tmp_path: Path) -> None:
    from pegbot.cli import app

    res = runner.invoke(app, ["signals", "tape.parquet", "--fair", "0.0114"])
    assert res.exit_code == 2
    code, _, err = cli(tmp_path / "missing.sqlite", "list")
    assert code == 2 and "no journal at" in err
