"""The garbage collector runs between decisions, not inside them.

CPython collects its young generation whenever allocations outrun deallocations by a
threshold (700 objects), wherever the program is: inside a decision step, between a book
message and the order it asks for. Measured in ``benchmarks/bench_tick_to_quote.py``, one
decision in seven met a young collection (0.3 ms, up to 0.7) and one in seventy a
middle-generation one (1.3 ms): most of the tail of tick-to-quote that was not the process
waiting for a CPU.

:class:`IdleCollector` raises the automatic threshold far enough that it is only a safety
net, and the decision loop calls :meth:`IdleCollector.collect_if_due` once a decision's
requests and bookkeeping are done and no book change is waiting: the same collections, at
the same pace, where they delay nothing. The older generations follow CPython's own
cadence (one older collection per ``threshold1`` / ``threshold2`` younger ones).
"""

from __future__ import annotations

import gc

__all__ = ["IdleCollector"]

#: The automatic young-generation threshold while installed: reached only when the loop
#: does not come back to collect (a long burst), as a safety net.
SAFETY_THRESHOLD = 50_000


class IdleCollector:
    """Young-generation collections moved to the decision loop's idle points.

    Args:
        young: Collect once this many net allocations have accumulated (CPython's own
            default threshold, so the pace is unchanged).
    """

    def __init__(self, young: int = 700) -> None:
        self.young = young
        self._saved: tuple[int, int, int] | None = None
        self.collections = [0, 0, 0]

    def install(self) -> None:
        """Raise the automatic threshold (the previous settings are kept for restore)."""
        if self._saved is None:
            self._saved = gc.get_threshold()
            _, t1, t2 = self._saved
            gc.set_threshold(max(SAFETY_THRESHOLD, self._saved[0]), t1, t2)

    def restore(self) -> None:
        """Put back the thresholds :meth:`install` found."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def collect_if_due(self) -> int | None:
        """Collect if the young generation is due; returns the generation collected."""
        if self._saved is None or not gc.isenabled():
            return None
        count0, count1, count2 = gc.get_count()
        if count0 < self.young:
            return None
        _, t1, t2 = self._saved
        # CPython's cadence: an older generation with each threshold-th younger collection.
        generation = 2 if count1 + 1 >= t1 and count2 + 1 >= t2 else 1 if count1 + 1 >= t1 else 0
        gc.collect(generation)
        self.collections[generation] += 1
        return generation
