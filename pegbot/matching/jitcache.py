"""Keep numba's on-disk cache of compiled code honest across modules.

numba caches a compiled function by the source file it is defined in: a change to *that*
file recompiles it, a change to a function it calls from another module does not. The
matching rules are defined once and compiled into callers in other modules (the fill
engine's twin, the backtest venue, the replay core), so an edited rule would otherwise be
ignored until the caller's file changes. :func:`guard` stamps each caller module's cache with
a digest of the sources it compiles in and empties that cache when the digest changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from numba.core.registry import CPUDispatcher

__all__ = ["guard"]


def guard(namespace: Mapping[str, Any], deps: Iterable[ModuleType]) -> None:
    """Empty the cache of ``namespace``'s compiled functions if any source in ``deps`` changed.

    Args:
        namespace: The calling module's ``globals()``.
        deps: Modules whose code the module's compiled functions compile in (itself
            included).
    """
    name = namespace["__name__"]
    own = [v for v in namespace.values() if isinstance(v, CPUDispatcher) and v.__module__ == name]
    caches: list[Any] = [getattr(d, "_cache", None) for d in own]
    caches = [c for c in caches if hasattr(c, "flush")]
    if not caches:
        return
    h = hashlib.sha256()
    for mod in deps:
        if mod.__file__:
            h.update(Path(mod.__file__).read_bytes())
    digest = h.hexdigest()
    try:
        stamp = Path(caches[0].cache_path) / f"{name}.deps"
        if stamp.is_file() and stamp.read_text() == digest:
            return
        for c in caches:
            c.flush()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        return  # a read-only cache location: numba then compiles in memory anyway
