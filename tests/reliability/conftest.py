"""Fixtures of the reliability suite and the report printed at its end.

``reliability`` (session) is the :class:`Report` every test adds its figures to; the
``pytest_terminal_summary`` hook prints it, and writes it as JSON where
``PEGBOT_RELIABILITY_JSON`` says (``benchmarks/reliability_report.py`` keeps it in
``benchmarks/RELIABILITY.md``). ``sim`` is a fresh simulator on an ephemeral loopback port,
as in the integration tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pegbot.sim.config import SimConfig
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle, default_sim_config

_HERE = Path(__file__).resolve().parent
_SCRIPT = _HERE.parents[1] / "benchmarks" / "reliability_report.py"


def _load_report_module() -> Any:
    name = "pegbot_reliability_report"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


_report_mod = _load_report_module()
REPORT = _report_mod.Report()


@pytest.fixture(scope="session")
def reliability() -> Any:
    """The session's :class:`Report`."""
    return REPORT


@pytest.fixture
def sim_config() -> SimConfig:
    """Override in a module to start the simulator with another configuration."""
    return default_sim_config()


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[SimHandle]:
    """A fresh simulator on an ephemeral loopback port."""
    server = SimServer(sim_config, host="127.0.0.1", port=0)
    await server.start()
    handle = SimHandle(server)
    try:
        yield handle
    finally:
        await handle.close_clients()
        await server.stop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each reliability test's outcome for the report."""
    if _HERE not in Path(str(report.fspath)).resolve().parents:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        xfail = getattr(report, "wasxfail", None)
        REPORT.outcomes[report.nodeid] = f"xfailed: {xfail}" if xfail else report.outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the reliability report (and write its JSON if asked)."""
    if not REPORT.outcomes:
        return
    data = REPORT.as_dict()
    out = os.environ.get(_report_mod.ENV_JSON)
    if out:
        Path(out).write_text(json.dumps(data, indent=1, default=str))
    terminalreporter.write_sep("=", "pegbot reliability report")
    terminalreporter.write_line(_report_mod.render(data))
