"""What a venue runner needs from the bot around it: a narrow, declared context.

:class:`~pegbot.live.runner.VenueRunner` runs one venue (feed callbacks, the decision step,
requests, user data) and depends on the bot only through :class:`RunnerContext`. This module
imports nothing from :mod:`pegbot.live`, so dependencies point one way — the bot builds
runners, runners never reach back into the bot — and a runner can be tested against a
stub context (see :mod:`pegbot.testing`).

==========================  ================================================================
member                      what the runner uses it for
==========================  ================================================================
``settings``                strategy, risk, loop and peg settings
``run_id``                  client order ids of this run; orphans are every other run's
``metrics``                 every Prometheus metric
``journal``                 orders, fills, risk transitions (None: not journaled)
``clock()``                 wall clock, int ns UTC
``fair(now_ns)``            the fair value at a decision (shared by every venue)
``inventory(market)``       holdings summed over every venue (skew acts on the desk's total)
``fill_applied(...)``       a fill was journaled and folded in (once per process): the
                            ledger (which counts it once, and not at all if it is in the
                            balances it started from), the log
``risk_changed(...)``       a risk level change to log, journal and act on (a halt anywhere
                            halts everywhere)
``signals_raised(...)``     arbitrage signal events to publish (sinks, auto-execution)
``decided(...)``            after each decision: bot-wide metrics (state, PnL, heartbeat)
``housekept(venue)``        a housekeeping round ended (balances refetched, orders
                            reconciled): the ledger checked against the balances (it may
                            ask the runner for the fills in flight), the PnL snapshot
==========================  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pegbot.config import Settings
from pegbot.execution.risk import RiskState, Transition
from pegbot.execution.venue import Fill
from pegbot.journal import Journal
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import SignalEvent
from pegbot.strategy import Inventory

__all__ = ["RunnerContext", "RunnerStatus"]


@dataclass
class RunnerStatus:
    """Counters of one venue, for the status display and the run's summary."""

    quotes_placed: int = 0
    cancels_sent: int = 0
    fills: int = 0
    rejects: int = 0
    orphans_cancelled: int = 0
    fills_recovered: int = 0
    refused: int = 0
    tick_to_quote_s: list[float] = field(default_factory=list)


class RunnerContext(Protocol):
    """The bot as one venue runner sees it (see the module docstring)."""

    @property
    def settings(self) -> Settings:
        """The configuration."""
        ...

    @property
    def run_id(self) -> str:
        """This run's id (in every client order id it places)."""
        ...

    @property
    def metrics(self) -> Metrics:
        """The metrics."""
        ...

    @property
    def journal(self) -> Journal | None:
        """The journal, or None."""
        ...

    def clock(self) -> int:
        """Wall clock, int ns UTC."""
        ...

    def fair(self, now_ns: int) -> FairValue | None:
        """The fair value at ``now_ns`` (None before any source answered)."""
        ...

    def inventory(self, market: Market) -> Inventory:
        """Holdings summed over every venue, in ``market``'s units."""
        ...

    def fill_applied(self, venue: str, fill: Fill, recovered: bool, new: bool) -> None:
        """A fill was journaled and folded in for the first time in this process.

        ``recovered``: it came from a recovery fetch, not the stream; ``new``: the journal had
        not seen it (False: a previous run journaled it).
        """
        ...

    def risk_changed(self, venue: str, symbol: str, transition: Transition) -> None:
        """Risk moved to another level on ``venue``."""
        ...

    def signals_raised(
        self, venue: str, events: list[SignalEvent], fair: FairValue, now_ns: int
    ) -> None:
        """The venue's arbitrage signaler produced ``events`` (non-empty)."""
        ...

    def decided(self, venue: str, now_ns: int, fair: FairValue | None, risk: RiskState) -> None:
        """A decision was made on ``venue`` (its requests are out)."""
        ...

    async def housekept(self, venue: str) -> None:
        """A housekeeping round of ``venue`` ended."""
        ...

    def idle(self) -> None:
        """A decision loop has nothing waiting: time for work kept out of decisions."""
        ...
