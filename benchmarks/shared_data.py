"""Where the benchmarks find the real recordings: relative to the repository, overridable.

The shared data lives beside the repository (``../shared/data`` from its root), wherever the
repository is cloned. ``PEGBOT_SHARED_DATA`` names another directory holding the same layout
(``binance_ws_raw/...``). Only this module knows the location; a missing directory means
"synthetic inputs only", never an error.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = "PEGBOT_SHARED_DATA"


def data_dir() -> Path:
    """The shared data directory: ``$PEGBOT_SHARED_DATA``, else ``<repo>/../shared/data``."""
    override = os.environ.get(ENV)
    return Path(override).expanduser().resolve() if override else ROOT.parent / "shared" / "data"


BINANCE_RAW = data_dir() / "binance_ws_raw"
HFTBACKTEST_EXAMPLES = BINANCE_RAW / "hftbacktest_examples"
