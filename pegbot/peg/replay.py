"""Running the signaler over a recorded tape (``pegbot signals``).

The book is rebuilt with the shared tape reader and replayer; the signaler is evaluated once
per message (rows sharing a ``local_ts``), only while the book is synced, at that message's
local time. The fair value comes from a fixed price or from a rate series file.

Rate series file (``--fair-file``): CSV with a header row and two columns, ``ts`` (int ns UTC,
or ISO-8601 with an offset) and either ``fair`` (quote per KGST) or ``usd_kgs`` (KGS per USD).
Each row is in force from its ``ts`` until the next row.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from pegbot.market import Market
from pegbot.peg.fair import FairConfig, FairEstimator, FairValue, SourceSpec
from pegbot.peg.signals import ARB_KINDS, ArbConfig, ArbCosts, ArbSignaler, SignalEvent
from pegbot.peg.sources import USD_KGS, RateObservation, RateSourceError, parse_decimal
from pegbot.tape.reader import TapeReader
from pegbot.tape.replay import BookReplayer
from pegbot.timeunits import NS_PER_S


class FairFileError(ValueError):
    """A rate series file is malformed (the message names the line)."""


def read_fair_file(path: str | Path, source: str = "file") -> list[RateObservation]:
    """Parse a rate series CSV into USD/KGS observations, in time order."""
    out: list[RateObservation] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        if "ts" not in cols or not cols & {"fair", "usd_kgs"}:
            raise FairFileError(f"{path}: need columns ts and fair or usd_kgs, got {sorted(cols)}")
        for row in reader:
            line = reader.line_num
            try:
                ts = _parse_ts(row["ts"])
                if row.get("usd_kgs"):
                    rate = parse_decimal(row["usd_kgs"], source)
                else:
                    rate = 1 / parse_decimal(row["fair"], source)
            except (RateSourceError, ValueError, ZeroDivisionError, TypeError) as exc:
                raise FairFileError(f"{path}:{line}: {exc}") from exc
            if out and ts < out[-1].effective_at_ns:
                raise FairFileError(f"{path}:{line}: ts goes backwards")
            out.append(RateObservation(source, USD_KGS, rate, ts, ts))
    if not out:
        raise FairFileError(f"{path}: no rates")
    return out


def _parse_ts(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return int(parsed.timestamp()) * NS_PER_S + parsed.microsecond * 1000


@dataclass
class SignalsRun:
    """What a replay produced."""

    market: Market
    signaler: ArbSignaler
    messages: int = 0
    evaluations: int = 0
    fair_states: Counter[str] = field(default_factory=Counter)
    last_fair: FairValue | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"signals": [...], "summary": {...}}`` as ``pegbot signals --json`` prints it."""
        sigs = self.signaler.signals()
        size = sum((self.market.units_to_qty(s.size_units) for s in sigs), Decimal(0))
        profit = sum((s.expected_profit for s in sigs), Fraction(0))
        by_kind = {k.value: sum(1 for s in sigs if s.kind is k) for k in ARB_KINDS}
        by_state: Counter[str] = Counter(s.state.value for s in sigs)
        return {
            "signals": [s.to_dict(self.market) for s in sigs],
            "summary": {
                "count": len(sigs),
                "by_kind": by_kind,
                "by_state": dict(sorted(by_state.items())),
                "size": _plain(size),
                "expected_profit": _plain(_round(profit, 8)),
                "quote": self.market.quote,
                "messages": self.messages,
                "evaluations": self.evaluations,
                "fair_states": dict(sorted(self.fair_states.items())),
                "suppressed": {
                    k.value: dict(sorted(self.signaler.suppressed(k).items())) for k in ARB_KINDS
                },
                "status": {
                    "enabled": self.signaler.status.enabled,
                    "fair_state": self.signaler.status.fair_state.value,
                    "reason": self.signaler.status.reason,
                },
            },
        }


def _round(value: Fraction, places: int) -> Decimal:
    return round(Decimal(value.numerator) / Decimal(value.denominator), places)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value else "0"
    return text


def _messages(reader: TapeReader) -> Iterator[tuple[dict[str, Any], int, int, int]]:
    # Yields (batch, start, stop, local_ts) per message: the rows sharing one local_ts.
    for cols in reader.iter_batches():
        local = cols["local_ts"]
        if len(local) == 0:
            continue
        cuts = np.flatnonzero(np.diff(local)) + 1
        bounds = [0, *cuts.tolist(), len(local)]
        for i in range(len(bounds) - 1):
            yield cols, bounds[i], bounds[i + 1], int(local[bounds[i]])


def run_signals(
    tape: str | Path,
    costs: ArbCosts,
    config: ArbConfig,
    fair_price: Decimal | None = None,
    fair_series: list[RateObservation] | None = None,
    fair_config: FairConfig | None = None,
    fair_max_age_ns: int | None = None,
    publish: Callable[[list[SignalEvent]], None] | None = None,
) -> SignalsRun:
    """Replay ``tape`` and run the signaler at every message.

    Exactly one of ``fair_price`` (a fixed, always-ok fair) and ``fair_series`` is needed;
    ``publish`` (e.g. :meth:`~pegbot.peg.sinks.SignalSinks.publish`) receives the events.
    """
    if (fair_price is None) == (fair_series is None):
        raise ValueError("give exactly one of a fair price and a fair series")
    reader = TapeReader(tape)
    market = reader.meta.market()
    signaler = ArbSignaler(market, costs, config, venue=reader.meta.exchange or "tape")
    run = SignalsRun(market, signaler)
    estimator: FairEstimator | None = None
    pending: list[RateObservation] = []
    fixed: FairValue | None = None
    if fair_price is not None:
        fixed = FairValue.fixed(Fraction(fair_price), market)
    else:
        assert fair_series is not None
        spec = SourceSpec(fair_series[0].source, max_age_ns=fair_max_age_ns)
        estimator = FairEstimator(market, [spec], fair_config)
        pending = list(reversed(fair_series))
    replayer = BookReplayer()
    book = replayer.book
    for cols, start, stop, local_ts in _messages(reader):
        replayer.apply(cols, start, stop)
        run.messages += 1
        book.local_ts = local_ts
        if not replayer.synced:
            continue
        if estimator is not None:
            # Feed the rates that were known by now (each is "observed" at its own ts).
            while pending and pending[-1].observed_at_ns <= local_ts:
                estimator.observe(pending.pop())
            fair = estimator.evaluate(local_ts)
        else:
            assert fixed is not None
            fair = fixed  # always ok and never ages; its now_ns is not used by the signaler
        run.fair_states[fair.state.value] += 1
        run.last_fair = fair
        events = signaler.evaluate(local_ts, book, fair)
        run.evaluations += 1
        if events and publish is not None:
            publish(events)
    return run
