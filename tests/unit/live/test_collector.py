"""The idle collector: CPython's collections, at CPython's pace, moved out of decisions."""

from __future__ import annotations

import gc

from pegbot.live.collector import SAFETY_THRESHOLD, IdleCollector


def _allocate(n: int) -> list[object]:
    return [[] for _ in range(n)]  # tracked containers: each counts toward the young count


def test_install_raises_the_automatic_threshold_and_restore_puts_it_back() -> None:
    before = gc.get_threshold()
    c = IdleCollector()
    c.install()
    try:
        assert gc.get_threshold() == (max(SAFETY_THRESHOLD, before[0]), *before[1:])
    finally:
        c.restore()
    assert gc.get_threshold() == before


def test_collects_only_when_the_young_generation_is_due() -> None:
    c = IdleCollector(young=500)
    assert c.collect_if_due() is None  # not installed: nothing
    c.install()
    try:
        gc.collect()
        assert c.collect_if_due() is None  # just collected: not due
        keep = _allocate(2_000)  # above young, below the raised automatic threshold
        assert gc.get_count()[0] >= 500
        assert c.collect_if_due() is not None
        assert gc.get_count()[0] < 500
        del keep
    finally:
        c.restore()


def test_older_generations_follow_cpythons_cadence() -> None:
    c = IdleCollector(young=100)
    c.install()
    try:
        gc.collect()
        t1 = gc.get_threshold()[1]
        seen = []
        held = []
        for _ in range(t1 * 2):
            held.append(_allocate(200))
            seen.append(c.collect_if_due())
        # One middle-generation collection per t1 young ones (the rest young-only).
        assert seen.count(1) + seen.count(2) == 2, seen
        assert seen.count(0) == 2 * t1 - 2
    finally:
        c.restore()
