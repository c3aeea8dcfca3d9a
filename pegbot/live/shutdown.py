"""A venue's shutdown: cancel everything of ours, confirm it, or say at once what may be left.

The final cancel-all keeps to ``loop.shutdown_timeout_s``. One venue cancel-all (a single
``DELETE openOrders`` per symbol where it touches only our orders) is retried until it is
confirmed or the deadline comes. A rate-limit block or ban is waited out only when it ends
before the deadline; one that outlasts it is not fought: nothing is sent into it (on Binance
every request during a ban is a reason for a longer one), the requests in flight are not
waited for, and the shutdown reports at once.

What may be left is named at ERROR (``shutdown_incomplete``), counted in
``pegbot_order_rejects_total{reason="deadline"}`` and journaled as a risk transition with
reason ``shutdown_incomplete`` (the client ids in its details): the orders of this run still
believed open and, when the start-up recovery never finished, the orders the journal still
shows open from earlier runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from pegbot.execution.errors import DeadlineError, VenueError
from pegbot.execution.orders import OrderTracker
from pegbot.execution.risk import Risk
from pegbot.execution.venue import Venue
from pegbot.live.context import RunnerContext
from pegbot.logging import EventLog, describe
from pegbot.timeunits import NS_PER_S

__all__ = ["Stopping", "cancel_everything"]


class Stopping(Protocol):
    """What the shutdown reads of a venue runner (all public members of it)."""

    name: str
    symbol: str
    venue: Venue
    ctx: RunnerContext
    orders: OrderTracker
    log: EventLog
    recovered: bool
    risk: Risk | None

    async def drain(self, timeout_s: float) -> None:
        """Wait for the requests in flight."""
        ...


@dataclass(frozen=True, slots=True)
class _ShutdownNote:
    # A journal risk-transition record of a shutdown that left orders possibly open.
    at_ns: int
    from_level: str | None
    reasons: tuple[str, ...]
    details: tuple[str, ...]
    to_level: str = "halt"


async def cancel_everything(r: Stopping, timeout_s: float) -> tuple[list[str], bool]:
    """Cancel every order of ours on ``r``'s venue within ``timeout_s`` (module docstring).

    Returns:
        Client ids of our orders that may still be open ([] when confirmed none is; also []
        unconfirmed with no order known), and whether the venue confirmed it.
    """
    loop = asyncio.get_running_loop()
    ctx = r.ctx
    # A little of the time is kept back to log and journal what is left.
    end = loop.time() + timeout_s - min(0.5, timeout_s * 0.1)
    budget = r.venue.budget
    blocked = budget is not None and budget.blocked_until_ns > ctx.clock() + timeout_s * NS_PER_S
    if not blocked:
        await r.drain(min(2.0, timeout_s / 4))  # in flight during a ban: they wait in it
    last: BaseException | None = None
    attempt = 0
    while (remaining := end - loop.time()) > 0:
        try:
            gone = await asyncio.wait_for(r.venue.cancel_all(timeout_s=remaining), remaining)
        except (VenueError, TimeoutError) as exc:
            last = exc
            r.log.error("cancel_all_failed", "shutdown cancel-all failed: %s", describe(exc))
            if isinstance(exc, DeadlineError | TimeoutError):
                break  # the venue already used up the time it was given, or is blocked
            attempt += 1
            await asyncio.sleep(max(0.0, min(0.2 * attempt, end - loop.time())))
            continue
        journal = ctx.journal
        if journal is not None and gone:
            journal.record_orders(r.name, r.symbol, gone, ctx.clock())
        r.orders.finish_all()
        return [], True
    left = r.orders.client_ids()
    if not r.recovered and ctx.journal is not None:
        # Stopped before the start-up recovery: earlier runs' orders may still rest too.
        known = ctx.journal.latest_orders(r.name, r.symbol, open_only=True)
        left = sorted({*left, *known})
    _report_left(r, left, last, timeout_s)
    return left, False


def _report_left(
    r: Stopping, left: list[str], cause: BaseException | None, timeout_s: float
) -> None:
    ctx = r.ctx
    r.log.error(
        "shutdown_incomplete",
        "shutdown deadline hit: %d order(s) of ours may still be open on %s: %s",
        len(left),
        r.name,
        ", ".join(left) or "(none known)",
        open_order_ids=left,
        timeout_s=timeout_s,
        cause=describe(cause) if cause else None,
    )
    ctx.metrics.order_rejected(r.name, r.symbol, DeadlineError.reason)
    if ctx.journal is not None:
        level = r.risk.level.label if r.risk is not None else None
        note = _ShutdownNote(ctx.clock(), level, ("shutdown_incomplete",), tuple(left))
        try:
            ctx.journal.record_risk_transition(r.name, r.symbol, note)
        except Exception as exc:  # the journal may be what failed; the log line stands
            r.log.error(
                "journal_failed", "could not journal the shutdown report: %s", describe(exc)
            )
