"""The issuer side of a signal: adapters that file and follow mints and redemptions.

KGST's issuer publishes no API, so the issuer is an adapter behind a small contract:

================ ======== ===================================================================
member           required what
================ ======== ===================================================================
``name``         yes      source label of the steps it records (``manual``, ``http``)
``automatic``    yes      True: :class:`IssuerLegTracker` files executed signals and polls
``request(o)``   if auto  file a mint or redemption; returns its :class:`IssuerStatus`
``status(ref)``  if auto  the order's current :class:`IssuerStatus`
``close()``      no       release connections
================ ======== ===================================================================

* :class:`ManualIssuer` (the default): not automatic; operators advance the states with
  ``pegbot signals executed --ref``, ``confirmed``, ``settled``, ``deposited``, ``failed``.
* :class:`HttpIssuer`: a JSON API of this shape (what pegbot asks of an issuer's endpoint)::

      POST {url}/orders        {"client_id": SIGNAL_ID, "side": "mint"|"redeem", "amount": "1000"}
      GET  {url}/orders/{ref}
      → 200 {"ref": "...", "state": "requested"|"confirmed"|"settled"|"failed",
             "amount": "...", "kgs": "...", "quote": "...", "fee": "...", "reason": "..."}

  ``client_id`` is the idempotency key: filing the same signal twice must return the same
  order. A bearer token, if configured, goes in ``Authorization``.

The issuer reports up to ``settled`` (or ``failed``); ``deposited`` is the desk's own
transfer, confirmed by an operator or the chain. A state the issuer reports that pegbot does
not know is an :class:`IssuerError`, never a default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import aiohttp

from pegbot.desk.operator import DeskError, SignalDesk
from pegbot.journal import Journal
from pegbot.logging import describe, event_log
from pegbot.peg.signals import SignalKind, SignalState

__all__ = [
    "ISSUER_STATES",
    "HttpIssuer",
    "IssuerAdapter",
    "IssuerError",
    "IssuerLegTracker",
    "IssuerOrder",
    "IssuerStatus",
    "ManualIssuer",
]

log = event_log(__name__)

#: The states an issuer may report, in order (``failed`` ends any of them).
ISSUER_STATES: tuple[SignalState, ...] = (
    SignalState.REQUESTED,
    SignalState.CONFIRMED,
    SignalState.SETTLED,
)
_FIGURES = ("amount", "kgs", "quote", "fee")


class IssuerError(RuntimeError):
    """The issuer answered something pegbot cannot act on (or did not answer)."""


@dataclass(frozen=True, slots=True)
class IssuerOrder:
    """A mint or redemption to file: the signal, the side and the KGST amount."""

    signal_id: str
    side: str  # "mint" | "redeem"
    amount: Decimal


@dataclass(frozen=True, slots=True)
class IssuerStatus:
    """An order as the issuer reports it.

    Attributes:
        ref: The issuer's reference.
        state: ``requested``, ``confirmed``, ``settled`` or ``failed``.
        figures: Exact decimal strings (``amount``, ``kgs``, ``quote``, ``fee``).
        reason: Why it failed ("" otherwise).
    """

    ref: str
    state: SignalState
    figures: dict[str, str] = field(default_factory=dict)
    reason: str = ""


class IssuerAdapter(Protocol):
    """The issuer contract (see the module docstring's table)."""

    name: str
    automatic: bool

    async def request(self, order: IssuerOrder) -> IssuerStatus:
        """File a mint or redemption."""
        ...

    async def status(self, ref: str) -> IssuerStatus:
        """The order's current state."""
        ...


class ManualIssuer:
    """Operators advance the issuer leg by hand (``pegbot signals …``)."""

    name = "manual"
    automatic = False

    async def request(self, order: IssuerOrder) -> IssuerStatus:
        """Not filed by pegbot: the operator files it and gives the reference."""
        raise IssuerError("the manual issuer is driven by operator commands")

    async def status(self, ref: str) -> IssuerStatus:
        """Not polled: the operator reports each step."""
        raise IssuerError("the manual issuer is driven by operator commands")


class HttpIssuer:
    """An issuer reached over the JSON API in the module docstring.

    Args:
        url: Base URL (``https://issuer.example/api``).
        session: The caller's aiohttp session.
        token: Bearer token, if the endpoint needs one.
        timeout_s: Per-request time-out.
    """

    name = "http"
    automatic = True

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        token: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def request(self, order: IssuerOrder) -> IssuerStatus:
        """POST the order (idempotent by ``client_id``)."""
        body = {"client_id": order.signal_id, "side": order.side, "amount": str(order.amount)}
        return await self._call("POST", f"{self.url}/orders", body)

    async def status(self, ref: str) -> IssuerStatus:
        """GET the order."""
        return await self._call("GET", f"{self.url}/orders/{ref}", None)

    async def _call(self, method: str, url: str, body: dict[str, Any] | None) -> IssuerStatus:
        try:
            async with self.session.request(
                method, url, json=body, headers=self.headers, timeout=self.timeout
            ) as resp:
                if resp.status not in (200, 201):
                    raise IssuerError(f"{method} {url}: HTTP {resp.status}")
                data = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise IssuerError(f"{method} {url}: {describe(exc)}") from exc
        return parse_status(data)


def parse_status(data: Any) -> IssuerStatus:
    """Validate an issuer's answer.

    Raises:
        IssuerError: Not an object, no ref, an unknown state or a figure that is no number.
    """
    if not isinstance(data, dict) or not isinstance(data.get("ref"), str) or not data["ref"]:
        raise IssuerError(f"issuer answer without a ref: {data!r:.200}")
    raw = data.get("state")
    allowed = {s.value: s for s in (*ISSUER_STATES, SignalState.FAILED)}
    if raw not in allowed:
        raise IssuerError(f"issuer order {data['ref']}: unknown state {raw!r}")
    figures: dict[str, str] = {}
    for key in _FIGURES:
        if data.get(key) is None:
            continue
        try:
            value = Decimal(str(data[key]))
        except InvalidOperation:
            raise IssuerError(f"issuer order {data['ref']}: {key}={data[key]!r}") from None
        if not value.is_finite() or value < 0:
            raise IssuerError(f"issuer order {data['ref']}: {key}={data[key]!r}")
        figures[key] = str(data[key])
    return IssuerStatus(data["ref"], allowed[raw], figures, str(data.get("reason", "")))


class IssuerLegTracker:
    """Files executed signals with an automatic issuer and records what it reports.

    Call :meth:`step` from a task (every few seconds; the issuer is slow). Each call files
    every ``executed`` signal, then polls every ``requested``/``confirmed`` one and records
    the states it moved through, in order, with their figures. A failed call is logged and
    retried at the next step; it never changes a state.

    Args:
        journal: The journal.
        adapter: The issuer (a manual one makes :meth:`step` a no-op).
        clock: Wall clock, int ns UTC.
    """

    def __init__(
        self, journal: Journal, adapter: IssuerAdapter, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.desk = SignalDesk(journal, clock)
        self.adapter = adapter
        self.errors = 0

    async def step(self) -> int:
        """File and poll once; returns how many transitions it recorded."""
        if not self.adapter.automatic:
            return 0
        moved = 0
        store = self.desk.store
        for record in store.records((SignalState.EXECUTED.value,)):
            kind = SignalKind(record["kind"])
            order = IssuerOrder(
                record["id"], "mint" if kind.mints else "redeem", Decimal(record["size"])
            )
            try:
                status = await self.adapter.request(order)
                moved += self._record(record["id"], SignalState.EXECUTED, status)
            except IssuerError as exc:
                self._failed(record["id"], exc)
        waiting = (SignalState.REQUESTED.value, SignalState.CONFIRMED.value)
        for record in store.records(waiting):
            ref = self._ref(record["id"])
            if ref is None:
                continue
            try:
                status = await self.adapter.status(ref)
                moved += self._record(record["id"], SignalState(record["state"]), status)
            except IssuerError as exc:
                self._failed(record["id"], exc)
        return moved

    def _ref(self, signal_id: str) -> str | None:
        for s in reversed(self.desk.store.steps(signal_id)):
            if "ref" in s.figures:
                return s.figures["ref"]
        return None

    def _record(self, signal_id: str, current: SignalState, status: IssuerStatus) -> int:
        name = self.adapter.name
        if status.state is SignalState.FAILED:
            self.desk.record_fact(
                signal_id,
                SignalState.FAILED,
                name,
                {"ref": status.ref},
                status.reason or "issuer: failed",
                source=name,
            )
            return 1
        order = (SignalState.EXECUTED, *ISSUER_STATES)
        start, end = order.index(current), order.index(status.state)
        if end < start:
            raise IssuerError(
                f"issuer order {status.ref} went back from {current.value} to {status.state.value}"
            )
        for state in order[start + 1 : end + 1]:
            figures = {"ref": status.ref} if state is SignalState.REQUESTED else {}
            if state is status.state:
                figures.update(status.figures)
            try:
                self.desk.record_fact(signal_id, state, name, figures, source=name)
            except DeskError as exc:  # an operator got there first: theirs stands
                log.warning(
                    "issuer_step_conflict", "signal %s: %s", signal_id, exc, signal_id=signal_id
                )
                return 0
        return end - start

    def _failed(self, signal_id: str, exc: IssuerError) -> None:
        self.errors += 1
        log.warning("issuer_call_failed", "signal %s: %s", signal_id, exc, signal_id=signal_id)
