"""The desk's loop inside the running bot: operator decisions, rebalancing, issuer, chain.

:mod:`pegbot.desk` holds the desk's logic; this module is where the live bot drives it:

==========================  ===============================================================
when                        what
==========================  ===============================================================
every control tick          operator decisions queued by ``pegbot signals approve|reject|
                            executed`` are applied to the running signalers and published
after a balance refresh     a venue whose KGST or USDT balance left its band gets a
                            ``rebalance`` proposal (only while the fair value is tradable)
after a decision            the ladder's capacity per side (levels and lots the balances
                            fund) is exported, and handed to the venue's live scorecard
every ``issuer.poll_s``     an automatic issuer is asked to file and settle executed legs
every ``chain.poll_s``      the chain watcher reads new blocks (in a thread: web3 blocks)
==========================  ===============================================================

Nothing here sends an order: the desk's actions go through the signal approval path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from pegbot.config import Settings
from pegbot.desk import DeskWatcher, IssuerLegTracker, make_issuer, make_rebalancer
from pegbot.desk.rebalance import Rebalancer, ladder_capacity
from pegbot.execution.venue import Balance
from pegbot.journal import Journal
from pegbot.logging import describe, event_log
from pegbot.market import Market, Side
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import ArbSignaler, SignalEvent
from pegbot.peg.sinks import SignalSinks
from pegbot.scorecard.live import LiveScorecard
from pegbot.strategy import DesiredQuotes

__all__ = ["DeskLoop"]

log = event_log("pegbot.desk")


class DeskLoop:
    """The desk's hooks in one running bot (see the module docstring).

    Args:
        settings: The configuration (``[desk]``).
        journal: The bot's journal (decisions are read from it, proposals written to it).
        sinks: The bot's signal sinks (writing to ``journal``).
        signalers: The venues' arbitrage signalers, by venue.
        metrics: The bot's metrics (:meth:`Metrics.init_desk` called for the desk's rows).
        clock: Wall clock, int ns UTC.
        http_session: Returns the bot's aiohttp session (an HTTP issuer uses it).
    """

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        sinks: SignalSinks,
        signalers: Mapping[str, ArbSignaler],
        metrics: Metrics,
        clock: Callable[[], int],
        http_session: Callable[[], Any],
    ) -> None:
        desk = settings.desk
        self.settings = settings
        self.metrics = metrics
        self.sinks = sinks
        self.clock = clock
        self.watcher = DeskWatcher(journal, signalers.values(), sinks, metrics)
        self.rebalancers: dict[str, Rebalancer] = {}
        for venue, signaler in signalers.items():
            reb = make_rebalancer(desk.rebalance, signaler, metrics)
            if reb is not None:
                self.rebalancers[venue] = reb
        session = http_session() if desk.issuer.adapter == "http" else None
        self.issuer = IssuerLegTracker(journal, make_issuer(desk.issuer, session), clock)
        self._journal_path = settings.journal.path
        # Configuration, not health: the stale-watcher alert needs to know a watcher is meant
        # to run even when it never completed a poll.
        metrics.chain_enabled.set(1 if desk.chain.enabled else 0)

    # -- hooks ---------------------------------------------------------------------------

    def poll(self, now_ns: int) -> list[SignalEvent]:
        """Apply queued operator decisions; returns the events (already published)."""
        try:
            return self.watcher.poll(now_ns)
        except Exception as exc:  # a journal hiccup must not stop the control loop
            log.error("desk_poll_failed", "desk poll failed: %s", describe(exc))
            return []

    def balances_refreshed(
        self,
        venue: str,
        market: Market,
        balances: Mapping[str, Balance],
        fair: FairValue | None,
        now_ns: int,
    ) -> None:
        """Propose a rebalance when one of ``venue``'s balances left its band."""
        reb = self.rebalancers.get(venue)
        if reb is None or fair is None or not fair.tradable or fair.price is None:
            return  # never size a mint or redemption on a fair value we do not trust
        base, quote = balances.get(market.base), balances.get(market.quote)
        kgst = base.total if base is not None else Decimal(0)
        usdt = quote.total if quote is not None else Decimal(0)
        events = reb.check(now_ns, kgst, usdt, fair.price)
        if events:
            self.sinks.publish(events)

    def observe_capacity(
        self,
        venue: str,
        market: Market,
        desired: DesiredQuotes | None,
        balances: Mapping[str, Balance],
        now_ns: int,
        scorecard: LiveScorecard | None = None,
    ) -> None:
        """Export how much of the desired ladder each side's balance funds.

        A side the strategy wants no quote on has no capacity to measure: its figures are
        left as they were (a 0 would page ``PegbotLadderCapacityLow`` for a choice of the
        strategy's, not for a shortage of money). ``scorecard``, the venue's live scorecard,
        gets each measurement too (its window minimum).
        """
        if desired is None:
            return
        for side, asset, label in (
            (Side.BUY, market.quote, "bid"),
            (Side.SELL, market.base, "ask"),
        ):
            ladder = [
                (q.price_ticks, q.lots)
                for q in (desired.bids if side is Side.BUY else desired.asks)
            ]
            if not ladder:
                continue
            held = balances.get(asset)
            cap = ladder_capacity(
                market, ladder, held.total if held else Decimal(0), side is Side.BUY
            )
            self.metrics.capacity_levels.labels(venue=venue, side=label).set(cap.levels)
            self.metrics.capacity_lots.labels(venue=venue, side=label).set(cap.lots)
            if scorecard is not None:
                scorecard.capacity(now_ns, side, cap.levels, cap.lots)

    # -- background work -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """The issuer and chain loops, until ``stop``."""
        desk = self.settings.desk
        loops = []
        if self.issuer.adapter.automatic:
            loops.append(self._every(desk.issuer.poll_s, self.issuer.step, stop))
        journal = None
        if desk.chain.enabled:
            from pegbot.desk.chain import ChainWatcher, connect  # web3 only when enabled

            # Its own connection: the watcher runs in a worker thread (web3 blocks).
            journal = Journal(self._journal_path)
            watcher = ChainWatcher(
                connect(desk.chain.rpc_url), desk.chain.build(), journal, self.metrics
            )

            async def chain_step() -> object:
                return await asyncio.to_thread(watcher.poll, self.clock())

            loops.append(self._every(desk.chain.poll_s, chain_step, stop))
        try:
            if loops:
                await asyncio.gather(*loops)
        finally:
            if journal is not None:
                journal.close()

    async def _every(
        self, period_s: float, work: Callable[[], Awaitable[object]], stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            try:
                await work()
            except Exception as exc:  # logged and retried: the desk loop never stops the bot
                log.warning("desk_step_failed", "desk step failed: %s", describe(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period_s)
