"""A scenario's targets against a scorecard: one :class:`Check` per target (and per jump).

A figure that does not exist where a target needs it fails, and says why: a jump target with
no jump in the span, a jump the bot never pulled or requoted within its window, a rate it
never read. "Not applicable" passes with a note only where there is nothing to hold the bot
to (orders per fill without any fill). Runs without the bot are not checked: the targets are
the bot's.
"""

from __future__ import annotations

from dataclasses import dataclass

from pegbot.scorecard import Scorecard

from .scenario import FxStep, Scenario

__all__ = ["Check", "check_targets"]


@dataclass(frozen=True, slots=True)
class Check:
    """One target: its limit, the figure, and whether it holds."""

    target: str
    limit: float | bool
    value: float | bool | None
    ok: bool
    note: str = ""


def _at_least(name: str, limit: float, value: float | None, note: str = "") -> Check:
    return Check(name, limit, value, value is not None and value >= limit, note)


def _at_most(name: str, limit: float, value: float | None, note: str = "") -> Check:
    return Check(name, limit, value, value is not None and value <= limit, note)


def check_targets(sc: Scenario, card: Scorecard) -> list[Check]:
    """Every target of ``sc`` set, checked against ``card``."""
    t = sc.targets
    out: list[Check] = []
    if t.min_two_sided is not None:
        out.append(_at_least("min_two_sided", t.min_two_sided, card.two_sided_uptime))
    if t.max_one_sided_s is not None:
        out.append(_at_most("max_one_sided_s", t.max_one_sided_s, card.longest_one_sided_s))
    if t.max_side_empty_s is not None:
        worst = max(card.longest_empty_s.values())
        out.append(_at_most("max_side_empty_s", t.max_side_empty_s, worst))
    out += _jump_checks(sc, card)
    if t.max_mid_p90_bps is not None:
        out.append(_at_most("max_mid_p90_bps", t.max_mid_p90_bps, card.mid["p90"]))
    for band, share in sorted(t.min_mid_within.items()):
        value = card.mid["within"][f"{band}bps"]
        out.append(_at_least(f"min_mid_within[{band}bps]", share, value))
    if t.max_placed_per_fill is not None:
        ratio = card.orders["placed_per_fill"]
        if ratio is None:
            out.append(Check("max_placed_per_fill", t.max_placed_per_fill, None, True, "no fills"))
        else:
            out.append(_at_most("max_placed_per_fill", t.max_placed_per_fill, ratio))
    if t.obligations_pass:
        ob = card.obligations
        note = f"uptime {ob['uptime']:.4f} against min_uptime {sc.obligations.min_uptime}"
        out.append(Check("obligations_pass", True, bool(ob["pass"]), bool(ob["pass"]), note))
    return out


def _jump_checks(sc: Scenario, card: Scorecard) -> list[Check]:
    t = sc.targets
    limits = {
        "max_pull_after_learn_s": t.max_pull_after_learn_s,
        "max_requote_s": t.max_requote_s,
        "max_requote_after_learn_s": t.max_requote_after_learn_s,
    }
    wanted = {k: v for k, v in limits.items() if v is not None}
    out: list[Check] = []
    steps = any(isinstance(e, FxStep) for e in sc.events)
    if wanted and steps and not card.jumps:
        for name, limit in wanted.items():
            note = f"no FX jump of {sc.scorecard.jump_bps} bps or more in the span"
            out.append(Check(name, limit, None, False, note))
    for i, j in enumerate(card.jumps, 1):
        unread = "" if j.learned_s is not None else "the bot did not read the new rate in time"
        values = {
            "max_pull_after_learn_s": (j.pull_after_learn_s, unread),
            "max_requote_s": (j.requote_s, ""),
            "max_requote_after_learn_s": (j.requote_after_learn_s, unread),
        }
        for name, limit in wanted.items():
            value, note = values[name]
            if value is None and not note:
                note = f"not done within the jump's {j.window_s:.0f} s window"
            out.append(_at_most(f"{name}[jump {i}]", limit, value, note))
    if t.max_wrong_side_fills is not None:
        total = sum(j.wrong_side_fills for j in card.jumps)
        out.append(_at_most("max_wrong_side_fills", t.max_wrong_side_fills, total))
    if t.max_wrong_side_fills_after_learn is not None:
        limit = t.max_wrong_side_fills_after_learn
        total = sum(j.wrong_side_fills_after_learn for j in card.jumps)
        out.append(_at_most("max_wrong_side_fills_after_learn", limit, total))
    return out
