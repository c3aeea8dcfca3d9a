"""A venue's recovery: what a start (or a reconciliation round) settles before quoting goes on.

After a crash the exchange knows things the bot does not: orders of the dead run still
resting (orphans), fills made while nobody listened, orders that closed unseen. Before the
first quote of a run, :func:`recover` settles all of it, the independent steps at once:

* **orphans** — every ``pegbot-`` order not of this run is cancelled, each cancel journaled,
  and the cancel confirmed by an open-orders fetch (round after round) before anything else
  may be placed;
* **balances** — fetched with the venue time they are as of
  (:class:`~pegbot.live.holdings.VenueHoldings`), so a fill already in them is not added
  again whether it arrives before or after them;
* **fills** — fetched from the last journaled one on; each is journaled (a replay of a row
  already there is recognised) and folded in once;
* **final states** — every order the journal still shows open, and every order a recovered
  fill belongs to that the journal does not show finished, is looked up and its final state
  journaled, so the journal's order history ends where the exchange's does.

The steps only read from the runner (:class:`Recovering`, its public members) and write to
the journal and the venue; the runner applies fills through its own
:meth:`Recovering.record_fill`. The housekeeping round's reconciliation
(:func:`reconcile_orders`) journals the orphan cancels it makes the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pegbot.execution.errors import OrderNotFoundError, VenueError
from pegbot.execution.orders import OpenOrder, OrderTracker
from pegbot.execution.reconciler import is_pegbot_order
from pegbot.execution.venue import Fill, OrderUpdate, Venue
from pegbot.live.context import RunnerContext
from pegbot.live.holdings import VenueHoldings
from pegbot.logging import EventLog, describe
from pegbot.market import Market, Rounding
from pegbot.timeunits import NS_PER_DAY

__all__ = [
    "Recovering",
    "RecoveryReport",
    "cancel_orphans",
    "reconcile_orders",
    "recover",
    "recover_fills",
    "recover_since",
    "refresh_balances",
    "settle_final_states",
]

# Order lookups in flight at once while settling final states (4 weight each on Binance).
_LOOKUPS_AT_ONCE = 4
# Rounds of cancel + confirm before orphans are declared stuck.
_ORPHAN_ROUNDS = 5


class Recovering(Protocol):
    """What recovery reads of a venue runner (all public members of it)."""

    name: str
    symbol: str
    venue: Venue
    ctx: RunnerContext
    orders: OrderTracker
    holdings: VenueHoldings
    log: EventLog
    book_changed: asyncio.Event

    @property
    def market(self) -> Market:
        """The venue's market."""
        ...

    def record_fill(self, f: Fill, recovered: bool = False) -> bool:
        """Journal and fold in a fill once; True when the journal had not seen it."""
        ...


@dataclass
class RecoveryReport:
    """What one recovery settled.

    Attributes:
        orphans_cancelled: Orders of other runs cancelled (each journaled).
        fills_recovered: Fills the journal had not seen.
        final_states: Orders whose final state was looked up and journaled.
    """

    orphans_cancelled: int = 0
    fills_recovered: int = 0
    final_states: int = 0


def recover_since(r: Recovering) -> int:
    """Where fill recovery starts: the newest journaled fill's time, or a day back."""
    journal = r.ctx.journal
    last = journal.last_fill_ns(r.name) if journal is not None else None
    # Inclusive: fills sharing the last one's millisecond may not all be journaled; the
    # journal recognises the ones that are.
    return int(last) if last else r.ctx.clock() - NS_PER_DAY


async def recover(r: Recovering) -> RecoveryReport:
    """Start-up recovery (see the module docstring); every step done when it returns."""
    report = RecoveryReport()
    since = recover_since(r)
    try:
        async with asyncio.TaskGroup() as tg:
            orphans = tg.create_task(cancel_orphans(r))
            tg.create_task(refresh_balances(r))
            fills = tg.create_task(recover_fills(r, since))
    except ExceptionGroup as group:
        # The first failure as it is: a rate limit is waited out and the recovery tried
        # again by the caller; anything else fails the start, named.
        raise _first(group) from None
    cancelled, gone = orphans.result()
    report.orphans_cancelled = len(cancelled)
    fetched, report.fills_recovered = fills.result()
    report.final_states = await settle_final_states(
        r, skip=set(cancelled), also={*gone, *(f.client_id for f in fetched)}
    )
    return report


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _journal_order(r: Recovering, update: OrderUpdate) -> None:
    journal = r.ctx.journal
    if journal is not None:
        journal.record_order(r.name, r.symbol, update, r.ctx.clock())


async def cancel_orphans(r: Recovering) -> tuple[list[str], list[str]]:
    """Cancel every ``pegbot-`` order not of this run; confirm none is left.

    Returns:
        Client ids cancelled (journaled), and those that were gone when cancelled (filled
        meanwhile: their final state is for :func:`settle_final_states`).

    Raises:
        RuntimeError: Orphans still open after every round.
    """
    cancelled: list[str] = []
    gone: list[str] = []

    async def cancel(cid: str) -> None:
        try:
            update = await r.venue.cancel(cid)
        except OrderNotFoundError:
            gone.append(cid)
            return
        cancelled.append(cid)
        _journal_order(r, update)
        r.log.warning("orphan_cancelled", "cancelled orphan order", client_order_id=cid)

    for attempt in range(_ORPHAN_ROUNDS):
        opened = await r.venue.open_orders()
        stale = [
            o.client_id
            for o in opened
            if is_pegbot_order(o.client_id) and o.client_id not in r.orders
        ]
        if not stale:
            return cancelled, gone
        async with asyncio.TaskGroup() as tg:
            for cid in stale:
                tg.create_task(cancel(cid))
        await asyncio.sleep(0.05 * attempt)
    raise RuntimeError(f"{r.name}: orphaned pegbot orders are still open after 5 rounds")


async def refresh_balances(r: Recovering) -> None:
    """Fetch the venue's balances; the fills after their time stay on top."""
    sent = r.ctx.clock()
    snapshot = await r.venue.balances()
    r.holdings.reset(snapshot, sent)


async def recover_fills(r: Recovering, since_ns: int) -> tuple[list[Fill], int]:
    """Fetch fills since ``since_ns`` and fold them in; returns them and how many were new."""
    fetched = await r.venue.fills_since(since_ns)
    new = sum(r.record_fill(f, recovered=True) for f in fetched)
    return fetched, new


async def settle_final_states(r: Recovering, skip: set[str], also: Iterable[str] = ()) -> int:
    """Journal the final state of orders the journal does not show finished.

    Args:
        r: The runner.
        skip: Client ids settled already (orphans just cancelled and journaled).
        also: Client ids to check besides the journal's open ones (orders recovered fills
            belong to, orphans found gone).

    Returns:
        How many final states were journaled.
    """
    journal = r.ctx.journal
    if journal is None:
        return 0
    latest = journal.latest_orders(r.name, r.symbol)
    wanted = {cid for cid, u in latest.items() if u.state.is_open}
    wanted |= {cid for cid in also if cid not in latest or latest[cid].state.is_open}
    done = skip | set(r.orders.client_ids())  # settled now, or this run's own
    wanted = {cid for cid in wanted if cid and is_pegbot_order(cid) and cid not in done}
    gate = asyncio.Semaphore(_LOOKUPS_AT_ONCE)
    settled = 0

    async def settle(cid: str) -> None:
        nonlocal settled
        try:
            async with gate:
                update = await r.venue.lookup(cid)
                if update is not None and update.state.is_open:
                    # Open but missed by the orphan sweep (placed as it ran): an orphan too.
                    with contextlib.suppress(OrderNotFoundError):
                        update = await r.venue.cancel(cid)
        except VenueError as exc:
            # Left for the next recovery (the journal still shows it open).
            r.log.warning(
                "order_lookup_failed", "final state unknown: %s", describe(exc), client_order_id=cid
            )
            return
        if update is None:
            r.log.warning("order_unknown", "the venue does not know it", client_order_id=cid)
            return
        known = latest.get(cid)
        if known is None or (known.state, known.filled_units) != (
            update.state,
            update.filled_units,
        ):
            _journal_order(r, update)
            settled += 1

    async with asyncio.TaskGroup() as tg:
        for cid in sorted(wanted):
            tg.create_task(settle(cid))
    if settled:
        r.log.info("final_states_journaled", "final states journaled", orders=settled)
    return settled


async def reconcile_orders(r: Recovering) -> None:
    """Settle unknown placements and missed updates with an open-orders fetch.

    Orders of ours the tracker says must go (another run's, or ones this run gave up on)
    are cancelled, each cancel journaled.
    """
    started = r.ctx.clock()
    opened = await r.venue.open_orders()
    market = r.market
    snapshot = [
        OpenOrder(
            o.client_id,
            o.side,
            o.price_ticks,
            market.units_to_lots(o.remaining_units, Rounding.DOWN),
        )
        for o in opened
    ]
    for cid in r.orders.reconcile(snapshot, started):
        with contextlib.suppress(OrderNotFoundError, VenueError):
            _journal_order(r, await r.venue.cancel(cid))
    r.book_changed.set()
