"""The bot's configuration for an evaluation: the shipped example, pointed at the simulator.

An evaluation measures the bot the desk would run, so its settings are the shipped example's
(``examples/sim.toml``) with only what ties it to one machine changed: the venues' REST and
WebSocket URLs and the rate sources' host (the simulator's ephemeral port), the journal path,
the metrics port and the control directory (the run's folder). Keys go in the environment,
never in the file. Everything else — strategy, risk, loop, the rate poll interval — is read,
not assumed: :func:`rate_poll_s` tells the harness how often this bot reads the official
rate.

The file is written with a small TOML writer (no TOML writer ships with Python) and read
back: what the bot reads must equal what was meant, or :func:`write_bot_config` raises.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pegbot

__all__ = [
    "EXAMPLE",
    "bot_env",
    "dump_toml",
    "rate_poll_s",
    "read_example",
    "simulator_config",
    "write_bot_config",
]

#: The shipped example the evaluations run (a source checkout's ``examples/sim.toml``).
EXAMPLE = Path(pegbot.__file__).resolve().parents[1] / "examples" / "sim.toml"


def read_example(path: Path = EXAMPLE) -> dict[str, Any]:
    """The example configuration as a dict."""
    with path.open("rb") as fh:
        return tomllib.load(fh)


def rate_poll_s(config: Mapping[str, Any]) -> float | None:
    """The shortest poll interval of the configuration's official-rate sources (None: none)."""
    sources = config.get("peg", {}).get("sources", [])
    intervals = [float(s["interval_s"]) for s in sources if s.get("kind") == "nbkr"]
    return min(intervals) if intervals else None


def _rehost(url: str, http_url: str) -> str:
    # Keep the path (the fixture serves the bank's path), move scheme and host to the simulator.
    new, old = urlsplit(http_url), urlsplit(url)
    return urlunsplit((new.scheme, new.netloc, old.path, old.query, old.fragment))


#: The run's journal, in its folder.
JOURNAL_FILE = "journal.sqlite"


def simulator_config(
    example: Mapping[str, Any],
    http_url: str,
    ws_url: str,
    workdir: Path,
    metrics_port: int,
) -> dict[str, Any]:
    """``example`` pointed at the simulator, with this run's journal, metrics port and folder."""
    cfg = copy.deepcopy(dict(example))
    for venue in cfg.get("venues", {}).values():
        venue["rest_url"] = http_url
        venue["ws_url"] = ws_url
    for source in cfg.get("peg", {}).get("sources", []):
        if "url" in source:
            source["url"] = _rehost(str(source["url"]), http_url)
    cfg.setdefault("journal", {})["path"] = str(workdir / JOURNAL_FILE)
    cfg.setdefault("metrics", {})["port"] = metrics_port
    cfg.setdefault("loop", {})["control_dir"] = str(workdir)
    return cfg


def bot_env(config: Mapping[str, Any], api_key: str, api_secret: str) -> dict[str, str]:
    """The venues' keys as ``PEGBOT_VENUES__<NAME>__API_KEY`` / ``__API_SECRET`` variables."""
    env = {}
    for name in config.get("venues", {}):
        prefix = f"PEGBOT_VENUES__{name.upper()}__"
        env[prefix + "API_KEY"] = api_key
        env[prefix + "API_SECRET"] = api_secret
    return env


def write_bot_config(config: Mapping[str, Any], path: Path) -> Path:
    """Write ``config`` as TOML to ``path`` and check it reads back the same."""
    text = dump_toml(config)
    if tomllib.loads(text) != config:
        raise ValueError("the TOML writer did not round-trip the bot configuration")
    path.write_text(text, encoding="utf-8")
    return path


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML for nested tables of strings, numbers, booleans and lists (of scalars or tables).

    Lists of tables are written inline (``[{ name = "x" }]``), as the example writes them.
    """
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(data: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    if path and (scalars or not tables):
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables.items():
        _table(v, [*path, k], lines)


def _key(k: str) -> str:
    bare = k.replace("_", "").replace("-", "").isalnum() and k.isascii()
    return k if bare else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"TOML has no {v}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")
