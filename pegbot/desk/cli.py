"""Operator commands on the journal: ``pegbot signals list|show|approve|reject|executed|…``.

Decisions (``approve``, ``reject``, ``executed``) are checked against the journal, queued for
the running bot and waited for (``--wait`` seconds, default 10): the bot owns live signals
(:mod:`pegbot.desk.store`). Issuer-leg facts (``confirmed``, ``settled``, ``deposited``,
``failed``, and ``executed --ref`` on an already executed signal) are recorded directly.
Verbs: decisions are imperatives (``approve``, ``reject``), reported facts past participles
(``executed``, ``confirmed``, ``settled``, ``deposited``, ``failed``).

Every action is journaled with who (``--by``, default the OS user) and when. Exit codes: 0
done; 1 no running bot applied the decision in time (it is withdrawn) or a runtime error;
2 a refused action (unknown signal, forbidden transition, expired) or a usage error.
The journal is ``--journal PATH``, else ``journal.path`` of ``--config`` / ``PEGBOT_…``.
"""

from __future__ import annotations

import calendar
import getpass
import json
import re
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from pegbot.config import ConfigError, load_settings
from pegbot.desk.operator import DeskError, SignalDesk
from pegbot.desk.pnl import RoundTrip, decimal_str
from pegbot.journal import Journal
from pegbot.peg.cli import signals_app
from pegbot.peg.signals import SignalState
from pegbot.timeunits import NS_PER_DAY, NS_PER_HOUR, NS_PER_MIN, NS_PER_S

__all__ = ["register"]

_OPEN = tuple(s.value for s in SignalState if not s.final)

JournalOpt = Annotated[
    Path | None, typer.Option("--journal", help="The journal file (default: from the config).")
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="The bot's TOML config.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who acts (default: the OS user).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
WaitOpt = Annotated[
    float, typer.Option("--wait", min=0, help="Seconds to wait for the running bot to apply it.")
]
IdArg = Annotated[str, typer.Argument(help="The signal id.")]


def _open(journal: Path | None, config: Path | None) -> SignalDesk:
    if journal is None:
        try:
            journal = load_settings(config).journal.path
        except ConfigError as exc:
            _fail(2, str(exc))
    if not journal.is_file():
        _fail(2, f"no journal at {journal} (is the bot's journal.path elsewhere?)")
    return SignalDesk(Journal(journal))


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _by(by: str | None) -> str:
    return by or getpass.getuser()


def _iso(ns: int | None) -> str:
    if ns is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / NS_PER_S)) + "Z"


def _emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
    else:
        typer.echo(text)


def _number(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{name} {value!r} is not a number") from None
    if not d.is_finite() or d < 0:
        raise typer.BadParameter(f"{name} must be a non-negative number")
    return value


_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": NS_PER_S, "m": NS_PER_MIN, "h": NS_PER_HOUR, "d": NS_PER_DAY}


def _since(value: str | None, now_ns: int) -> int | None:
    if value is None:
        return None
    m = _SINCE.match(value)
    if m:
        return now_ns - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        t = time.strptime(value.rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise typer.BadParameter(
            f"--since {value!r}: use 30m, 2h, 1d or 2026-07-01T00:00:00Z"
        ) from None
    return calendar.timegm(t) * NS_PER_S


# -- reading -------------------------------------------------------------------------------------


def list_command(
    state: Annotated[list[str], typer.Option("--state", help="Only these states.")] = [],  # noqa: B006
    kind: Annotated[list[str], typer.Option("--kind", help="Only these kinds.")] = [],  # noqa: B006
    since: Annotated[str | None, typer.Option("--since", help="Created since (2h, ISO).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Every signal, open or not.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List signals: open ones and those of the last day by default, newest first."""
    for s in state:
        if s not in SignalState._value2member_map_:
            raise typer.BadParameter(f"unknown state {s!r}")
    desk = _open(journal, config)
    now = time.time_ns()
    since_ns = _since(since, now)
    if state or show_all or since_ns is not None:
        rows = desk.store.records(state, kind, since_ns=since_ns, limit=limit)
    else:  # open, plus anything of the last day
        recent = desk.store.records((), kind, since_ns=now - NS_PER_DAY, limit=limit)
        opened = desk.store.records(_OPEN, kind, limit=limit)
        seen = {r["id"] for r in recent}
        rows = sorted(
            recent + [r for r in opened if r["id"] not in seen],
            key=lambda r: (r["created_ns"], r["id"]),
            reverse=True,
        )[:limit]
    lines = [
        f"{r['id']:<40} {r['kind']:<16} {r['state']:<10} size {r['size']:>14} "
        f"net {r['net_edge_bps']:>9} bps  created {_iso(r['created_ns'])}"
        for r in rows
    ]
    _emit(as_json, {"signals": rows}, "\n".join(lines) if lines else "no signals")


def show_command(
    signal_id: IdArg, journal: JournalOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one signal: record, transitions, operator actions, leg figures, round trip."""
    desk = _open(journal, config)
    try:
        record = desk.store.record(signal_id)
        trip = desk.round_trip(signal_id)
    except (DeskError, ValueError) as exc:
        _fail(2, str(exc))
    transitions: list[dict[str, Any]] = [
        {"from": f, "to": t, "at_ns": at, "reason": why}
        for f, t, at, why in desk.journal.transitions(signal_id)
    ]
    actions: list[dict[str, Any]] = [
        {
            "seq": a.seq,
            "action": a.action,
            "by": a.actor,
            "at_ns": a.at_ns,
            "args": a.args,
            "status": a.status,
            "outcome": a.outcome,
            "done_ns": a.done_ns,
        }
        for a in desk.store.actions(signal_id)
    ]
    steps: list[dict[str, Any]] = [
        {
            "state": s.state.value,
            "at_ns": s.at_ns,
            "by": s.actor,
            "source": s.source,
            "figures": s.figures,
        }
        for s in desk.store.steps(signal_id)
    ]
    data = {
        "signal": record,
        "transitions": transitions,
        "actions": actions,
        "steps": steps,
        "round_trip": trip.to_dict(),
    }
    text = [
        f"{record['id']}  {record['kind']}  {record['state']}"
        + (f" ({record['reason']})" if record.get("reason") else ""),
        f"  size {record['size']} at vwap {record['vwap']} (fair {record['fair']}), "
        f"net edge {record['net_edge_bps']} bps, expected {record['expected_profit']}",
        f"  created {_iso(record['created_ns'])}, expires {_iso(record['expires_ns'])}",
        "  transitions:",
        *(
            f"    {_iso(t['at_ns'])} {t['from'] or '-'} → {t['to']} {t['reason']}".rstrip()
            for t in transitions
        ),
        "  actions:",
        *(
            f"    #{a['seq']} {_iso(a['at_ns'])} {a['action']} by {a['by']}: {a['status']}"
            + (f" ({a['outcome']})" if a["outcome"] else "")
            for a in actions
        ),
        "  steps:",
        *(
            f"    {_iso(s['at_ns'])} {s['state']} by {s['by']} [{s['source']}] "
            + " ".join(f"{k}={v}" for k, v in sorted(s["figures"].items()))
            for s in steps
        ),
        "  " + _trip_line(trip),
    ]
    _emit(as_json, data, "\n".join(text))


def _trip_line(trip: RoundTrip) -> str:
    if trip.pnl is not None and trip.closed:
        return f"round trip closed: realised PnL {trip.to_dict()['pnl_quote']} (quote)"
    so_far = f"PnL so far {trip.to_dict()['pnl_quote']}; " if trip.pnl is not None else ""
    return f"round trip open: {so_far}missing {', '.join(trip.missing)}"


def pnl_command(
    signal_id: Annotated[
        str | None, typer.Argument(help="One signal (default: all closed).")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Closed since (2h, ISO).")] = None,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Realised round-trip PnL: one signal's, or every closed round trip's with totals."""
    desk = _open(journal, config)
    if signal_id is not None:
        try:
            trip = desk.round_trip(signal_id)
        except DeskError as exc:
            _fail(2, str(exc))
        _emit(as_json, trip.to_dict(), f"{signal_id}  {trip.kind.value}  " + _trip_line(trip))
        return
    trips = desk.store.round_trips(_since(since, time.time_ns()) or 0)
    by_kind: dict[str, Decimal] = {}
    for t in trips:
        by_kind[t["kind"]] = by_kind.get(t["kind"], Decimal(0)) + Decimal(t["pnl_quote"])
    total = sum(by_kind.values(), Decimal(0))
    data = {
        "round_trips": trips,
        "total_pnl_quote": decimal_str(total),
        "by_kind": {k: decimal_str(v) for k, v in sorted(by_kind.items())},
    }
    lines = [
        f"{t['signal_id']:<40} {t['kind']:<16} {t['pnl_quote']:>14}  closed {_iso(t['closed_ns'])}"
        for t in trips
    ]
    lines.append(f"{len(trips)} round trips, realised PnL {decimal_str(total)} (quote)")
    _emit(as_json, data, "\n".join(lines))


# -- decisions (the running bot applies them) ----------------------------------------------------


def _decide(
    desk: SignalDesk,
    signal_id: str,
    action: str,
    by: str,
    args: dict[str, Any],
    wait: float,
    as_json: bool,
) -> None:
    try:
        seq = desk.decide(signal_id, action, by, args)
    except DeskError as exc:
        _fail(2, str(exc))
    done = desk.wait(seq, wait)
    data = {
        "seq": done.seq,
        "signal_id": signal_id,
        "action": action,
        "by": by,
        "status": done.status,
        "outcome": done.outcome,
    }
    if done.status == "applied":
        state = desk.store.record(signal_id)["state"]
        data["state"] = state
        _emit(as_json, data, f"{signal_id}: {action} applied by the running bot, now {state}")
        return
    if as_json:
        _emit(True, data, "")
    if done.outcome.startswith("withdrawn"):
        _fail(1, f"{signal_id}: {action} {done.outcome}")
    _fail(2, f"{signal_id}: {action} refused by the bot: {done.outcome}")


def approve_command(
    signal_id: IdArg,
    by: ByOpt = None,
    wait: WaitOpt = 10.0,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a proposed signal (the running bot applies it)."""
    _decide(_open(journal, config), signal_id, "approve", _by(by), {}, wait, as_json)


def reject_command(
    signal_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (journaled).")],
    by: ByOpt = None,
    wait: WaitOpt = 10.0,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a proposed or approved signal (the running bot applies it)."""
    if not reason.strip():
        raise typer.BadParameter("--reason must say why")
    desk = _open(journal, config)
    _decide(desk, signal_id, "reject", _by(by), {"reason": reason}, wait, as_json)


def executed_command(
    signal_id: IdArg,
    ref: Annotated[str | None, typer.Option("--ref", help="The issuer leg's reference.")] = None,
    qty: Annotated[str | None, typer.Option("--qty", help="Base traded on the exchange.")] = None,
    price: Annotated[str | None, typer.Option("--price", help="Its average price.")] = None,
    fee: Annotated[str | None, typer.Option("--fee", help="Exchange fee, in quote.")] = None,
    order: Annotated[
        str | None, typer.Option("--order", help="Client order id whose fills are the leg.")
    ] = None,
    by: ByOpt = None,
    wait: WaitOpt = 10.0,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The exchange leg is done (with --ref: the mint/redemption is filed with the issuer).

    On an approved signal the running bot marks it executed (and requested when --ref is
    given); on an already executed one (auto-execution) --ref records the request.
    """
    if order is not None and (qty or price or fee):
        raise typer.BadParameter("give --order, or --qty/--price/--fee, not both")
    args: dict[str, Any] = {
        k: v
        for k, v in (
            ("qty", _number("--qty", qty)),
            ("price", _number("--price", price)),
            ("fee", _number("--fee", fee)),
            ("order", order),
            ("ref", ref),
        )
        if v is not None
    }
    desk = _open(journal, config)
    try:
        state = desk.store.record(signal_id)["state"]
    except (DeskError, ValueError) as exc:
        _fail(2, str(exc))
    if state == SignalState.EXECUTED.value:
        if not ref:
            _fail(2, f"signal {signal_id} is executed already: give --ref to record the request")
        extra = {k: v for k, v in args.items() if k != "ref"}
        if extra:
            _fail(2, f"signal {signal_id} is executed already: its exchange leg is recorded")
        _fact(desk, signal_id, SignalState.REQUESTED, _by(by), {"ref": ref or ""}, "", as_json)
        return
    _decide(desk, signal_id, "executed", _by(by), args, wait, as_json)


# -- issuer-leg facts (recorded directly) ---------------------------------------------------------


def _fact(
    desk: SignalDesk,
    signal_id: str,
    to: SignalState,
    by: str,
    figures: dict[str, str],
    reason: str,
    as_json: bool,
) -> None:
    try:
        record = desk.record_fact(signal_id, to, by, figures, reason)
    except DeskError as exc:
        _fail(2, str(exc))
    trip = desk.round_trip(signal_id)
    data = {
        "signal_id": signal_id,
        "state": record["state"],
        "by": by,
        "figures": figures,
        "round_trip": trip.to_dict(),
    }
    text = f"{signal_id}: {to.value} (by {by})"
    if to is SignalState.DEPOSITED:
        text += "\n  " + _trip_line(trip)
    _emit(as_json, data, text)


AmountOpt = Annotated[str | None, typer.Option("--amount", help="Base amount (KGST).")]
QuoteOpt = Annotated[
    str | None, typer.Option("--quote", help="The som leg's value in the quote currency.")
]
FeeOpt = Annotated[str | None, typer.Option("--fee", help="Issuer fee, in quote.")]
TransferOpt = Annotated[
    str | None, typer.Option("--transfer", help="Gas, deposit, withdrawal, bank fees (quote).")
]


def _figures(**values: str | None) -> dict[str, str]:
    return {
        k: v for k, v in ((k, _number(f"--{k}", v)) for k, v in values.items()) if v is not None
    }


def confirmed_command(
    signal_id: IdArg,
    amount: AmountOpt = None,
    fee: FeeOpt = None,
    transfer: TransferOpt = None,
    by: ByOpt = None,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The issuer confirmed the mint or redemption."""
    figures = _figures(amount=amount, fee=fee, transfer=transfer)
    _fact(_open(journal, config), signal_id, SignalState.CONFIRMED, _by(by), figures, "", as_json)


def settled_command(
    signal_id: IdArg,
    amount: Annotated[str, typer.Option("--amount", help="KGST minted or redeemed.")],
    kgs: Annotated[str | None, typer.Option("--kgs", help="Som paid or received.")] = None,
    quote: QuoteOpt = None,
    fee: FeeOpt = None,
    transfer: TransferOpt = None,
    by: ByOpt = None,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tokens were minted, or som paid for a redemption."""
    figures = _figures(amount=amount, kgs=kgs, quote=quote, fee=fee, transfer=transfer)
    _fact(_open(journal, config), signal_id, SignalState.SETTLED, _by(by), figures, "", as_json)


def deposited_command(
    signal_id: IdArg,
    amount: AmountOpt = None,
    quote: QuoteOpt = None,
    fee: FeeOpt = None,
    transfer: TransferOpt = None,
    by: ByOpt = None,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The proceeds are back on the exchange: the round trip closes (PnL realised)."""
    figures = _figures(amount=amount, quote=quote, fee=fee, transfer=transfer)
    _fact(_open(journal, config), signal_id, SignalState.DEPOSITED, _by(by), figures, "", as_json)


def failed_command(
    signal_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the issuer leg failed.")],
    by: ByOpt = None,
    journal: JournalOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The issuer leg cannot complete (refused, cancelled); the position is for a human."""
    if not reason.strip():
        raise typer.BadParameter("--reason must say why")
    desk = _open(journal, config)
    _fact(desk, signal_id, SignalState.FAILED, _by(by), {}, reason, as_json)


def register(app: typer.Typer) -> None:
    """Add the operator commands to ``pegbot signals`` (the group is :mod:`pegbot.peg.cli`'s)."""
    del app  # the group is registered by the peg room
    for name, fn in (
        ("list", list_command),
        ("show", show_command),
        ("pnl", pnl_command),
        ("approve", approve_command),
        ("reject", reject_command),
        ("executed", executed_command),
        ("confirmed", confirmed_command),
        ("settled", settled_command),
        ("deposited", deposited_command),
        ("failed", failed_command),
    ):
        signals_app.command(name)(fn)
