"""Where signal events go: the journal, a JSON-lines file, Prometheus, and a signed webhook.

:class:`SignalSinks` is the synchronous fan-out the loop calls with the signaler's events. The
webhook is not called from there: the event and its webhook delivery are written to the
journal in one transaction (an outbox row), and :class:`WebhookDeliverer` — an async task —
drains the outbox with retries and exponential backoff. A crash or restart loses nothing: the
next deliverer on the same journal file sends what is still owed. Receivers may see a delivery
twice (after a lost response), so each carries an idempotency key.

Webhook request: ``POST`` of the JSON payload with headers ``X-Pegbot-Delivery`` (idempotency
key), ``X-Pegbot-Event``, ``X-Pegbot-Timestamp`` (Unix seconds) and ``X-Pegbot-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>." + body`` under the shared secret (the
timestamp is signed so a captured request cannot be replayed later).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import aiohttp

from pegbot.journal import Delivery, Journal
from pegbot.logging import event_log
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import SignalEvent, SignalState
from pegbot.timeunits import NS_PER_S

log = event_log(__name__)

SIGNATURE_HEADER = "X-Pegbot-Signature"
TIMESTAMP_HEADER = "X-Pegbot-Timestamp"
DELIVERY_HEADER = "X-Pegbot-Delivery"
EVENT_HEADER = "X-Pegbot-Event"


def event_payload(event: SignalEvent, market: Market) -> dict[str, Any]:
    """The JSON body of one signal event (also the JSON-lines record)."""
    return {
        "event": f"signal.{event.signal.state.value}",
        "at_ns": event.at_ns,
        "previous_state": None if event.previous is None else event.previous.value,
        "signal": event.signal.to_dict(market),
    }


def delivery_key(event: SignalEvent) -> str:
    """Idempotency key: one delivery per signal per state."""
    return f"{event.signal.id}:{event.signal.state.value}"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Pegbot-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a received signature (for receivers and tests)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def export_fair(metrics: Metrics, venue: str, symbol: str, fair: FairValue) -> None:
    """Set the fair-value gauges from one evaluation."""
    if fair.price is not None:
        metrics.fair_value.labels(venue=venue, symbol=symbol).set(float(fair.price))
        metrics.fair_observed.labels(venue=venue, symbol=symbol).set(fair.observed_at_ns / NS_PER_S)
    metrics.fair_disagreement.labels(venue=venue, symbol=symbol).set(fair.disagreement_bps)
    for state in ("ok", "stale", "disputed", "jump"):
        metrics.fair_state.labels(venue=venue, symbol=symbol, state=state).set(
            1 if fair.state.value == state else 0
        )
    metrics.arb_enabled.labels(venue=venue, symbol=symbol).set(1 if fair.tradable else 0)
    jump = fair.jump
    if jump is not None:
        metrics.fair_jump_pending.labels(venue=venue, symbol=symbol).set(1 if jump.pending else 0)
        metrics.fair_jump_started.labels(venue=venue, symbol=symbol).set(jump.at_ns / NS_PER_S)
        took = -1.0
        if jump.confirmed_at_ns is not None:
            took = (jump.confirmed_at_ns - jump.at_ns) / NS_PER_S
        metrics.fair_jump_confirm_seconds.labels(venue=venue, symbol=symbol).set(took)


class SignalSinks:
    """Fan-out of signal events to the journal (with webhook outbox), a JSONL file, metrics."""

    def __init__(
        self,
        market: Market,
        journal: Journal | None = None,
        jsonl: IO[str] | None = None,
        metrics: Metrics | None = None,
        webhooks: Sequence[str] = (),
    ) -> None:
        """Configure the sinks; ``webhooks`` names the outbox sinks to enqueue for."""
        if webhooks and journal is None:
            raise ValueError("webhook delivery needs a journal (the outbox lives there)")
        self.market = market
        self.journal = journal
        self.jsonl = jsonl
        self.metrics = metrics
        self.webhooks = tuple(webhooks)

    def publish(self, events: Iterable[SignalEvent]) -> None:
        """Record and forward each event, journal first (it is the source of truth)."""
        for event in events:
            payload = event_payload(event, self.market)
            if self.journal is not None:
                body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
                outbox = [(name, delivery_key(event), body) for name in self.webhooks]
                self.journal.record_signal(
                    payload["signal"], payload["previous_state"], event.at_ns, outbox
                )
            if self.jsonl is not None:
                self.jsonl.write(json.dumps(payload, sort_keys=True) + "\n")
                self.jsonl.flush()
            if self.metrics is not None:
                sig = event.signal
                self.metrics.arb_signals.labels(
                    direction=sig.kind.value, state=sig.state.value
                ).inc()
                if sig.state is SignalState.PROPOSED:
                    self.metrics.arb_net_edge.labels(direction=sig.kind.value).set(
                        float(sig.net_edge_bps)
                    )
            log.info(
                "arb_signal",
                "signal %s",
                payload["event"],
                signal_id=event.signal.id,
                state=event.signal.state.value,
                reason=event.signal.reason,
            )


def open_jsonl(path: str | Path) -> IO[str]:
    """Open a JSON-lines sink for appending (line-buffered)."""
    return open(path, "a", encoding="utf-8", buffering=1)


class WebhookDeliverer:
    """Drains the journal's outbox for one webhook: POST, sign, retry with backoff.

    Every failure (connection error, timeout, non-2xx) schedules a retry at
    ``base × 2^(attempts-1)`` seconds (capped); after ``max_attempts`` the row is marked dead
    in the journal — kept with its last error for a human, never silently dropped.
    """

    def __init__(
        self,
        journal: Journal,
        url: str,
        secret: bytes,
        session: aiohttp.ClientSession,
        name: str = "webhook",
        clock: Callable[[], int] = time.time_ns,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 300.0,
        max_attempts: int = 50,
        timeout_s: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        """Configure the endpoint; the caller owns ``session`` and the journal."""
        if not secret:
            raise ValueError("a webhook needs a non-empty HMAC secret")
        self.journal = journal
        self.url = url
        self.secret = secret
        self.session = session
        self.name = name
        self.clock = clock
        self.backoff_base_ns = int(backoff_base_s * NS_PER_S)
        self.backoff_max_ns = int(backoff_max_s * NS_PER_S)
        self.max_attempts = max_attempts
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.metrics = metrics

    def backoff_ns(self, attempts: int) -> int:
        """Delay after the ``attempts``-th consecutive failure."""
        return int(min(self.backoff_max_ns, self.backoff_base_ns * 2 ** max(0, attempts - 1)))

    async def _post(self, delivery: Delivery) -> str | None:
        body = delivery.payload.encode()
        timestamp = str(self.clock() // NS_PER_S)
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery.key,
            EVENT_HEADER: json.loads(delivery.payload).get("event", ""),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }
        try:
            async with self.session.post(
                self.url, data=body, headers=headers, timeout=self.timeout
            ) as resp:
                if 200 <= resp.status < 300:
                    return None
                return f"HTTP {resp.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"

    async def deliver_due(self) -> int:
        """One pass over the due rows, oldest first; returns how many were delivered.

        Stops at the first failure so deliveries stay in order while the receiver is down.
        """
        delivered = 0
        for delivery in self.journal.due_deliveries(self.name, self.clock()):
            error = await self._post(delivery)
            now = self.clock()
            if error is None:
                self.journal.mark_delivered(delivery.id, now)
                delivered += 1
                self._count("delivered")
                continue
            attempts = delivery.attempts + 1
            dead = attempts >= self.max_attempts
            self.journal.mark_failed(delivery.id, now + self.backoff_ns(attempts), error, dead)
            self._count("dead" if dead else "retry")
            log.warning(
                "webhook_failed",
                "webhook delivery failed",
                key=delivery.key,
                attempts=attempts,
                dead=dead,
                error=error,
            )
            if not dead:
                break
        if self.metrics is not None:
            self.metrics.webhook_pending.set(self.journal.pending_count(self.name))
        return delivered

    async def run(self, stop: asyncio.Event, idle_s: float = 0.5) -> None:
        """Deliver until ``stop`` is set, sleeping until the next row is due (<= ``idle_s``)."""
        while not stop.is_set():
            await self.deliver_due()
            due = self.journal.next_due_ns(self.name)
            wait = idle_s if due is None else max(0.0, min(idle_s, (due - self.clock()) / NS_PER_S))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.webhook_deliveries.labels(result=result).inc()
