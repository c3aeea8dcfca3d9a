"""The main job on its embedded default (placeholder until the replay demo lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``pegbot demo``."""
