"""The decision path compiled with mypyc: built for real, loaded only when asked and fresh.

One build (gcc and mypyc, about a minute and a half) serves the module. Each check runs in
its own interpreter, as a user's process would: the build is chosen when ``pegbot`` is
imported, so the test process itself (which imported it long ago) never changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pegbot import native

ROOT = Path(__file__).resolve().parents[2]

# A cross-check backtest on a small KGST-like tape: which files ran, and what it produced.
_RUN = """
import hashlib, json, sys
sys.path.insert(0, {bench!r})
import pegbot.execution.reconciler as reconciler, pegbot.backtest.engine as engine
from pegbot import native
from pegbot.backtest import results
from pegbot.backtest.scenario import build_backtest, load_scenario
from synth import make_columns, write_tape
write_tape({tape!r}, make_columns(20_000))
sc, where = load_scenario({scenario!r}, ["fair.source=mid", "risk.enabled=true"])
run = build_backtest(sc, where, tape={tape!r}).run()
t = results.tables(run)
digest = hashlib.sha256()
for name in ("orders", "fills", "quotes"):
    digest.update(t[name].to_csv(index=False).encode())
import pegbot.scorecard.fold as fold
print(json.dumps({{"status": native.status(),
                  "files": [reconciler.__file__, engine.__file__, fold.__file__],
                  "digest": digest.hexdigest(), "fills": len(t["fills"]),
                  "decisions": run.evaluations, "scorecard": results.scorecard(run, t)}}))
"""


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PEGBOT_NATIVE")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _backtest(tmp: Path, **env: str) -> tuple[dict[str, object], str]:
    code = _RUN.format(
        bench=str(ROOT / "benchmarks"),
        tape=str(tmp / "tape.parquet"),
        scenario=str(ROOT / "backtests/hftbacktest_crosscheck.toml"),
    )
    done = _python(code, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("native")
    done = subprocess.run(
        [sys.executable, "-m", "pegbot.cli", "native", "--build", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_build_holds_every_module_and_a_manifest_of_its_sources(build: Path) -> None:
    manifest = json.loads((build / native.MANIFEST).read_text())
    assert manifest["digest"] == native.source_digest()
    assert set(native.MODULES) <= set(manifest["files"])
    for rel in manifest["files"].values():
        assert (build / rel).is_file()


def test_a_fresh_build_runs_and_decides_as_the_source(build: Path, tmp_path: Path) -> None:
    compiled, _ = _backtest(tmp_path, PEGBOT_NATIVE_DIR=str(build), PEGBOT_NATIVE="1")
    source, _ = _backtest(tmp_path, PEGBOT_NATIVE_DIR=str(build))  # built, not asked for
    assert compiled["status"] == "native" and source["status"] == "source"
    assert all(str(f).endswith(".so") for f in compiled["files"])  # type: ignore[attr-defined]
    assert all(str(f).endswith(".py") for f in source["files"])  # type: ignore[attr-defined]
    assert compiled["fills"] and compiled["decisions"]
    # Every order, fill and quote record the same, to the nanosecond and the unit.
    assert compiled["digest"] == source["digest"]
    assert (compiled["fills"], compiled["decisions"]) == (source["fills"], source["decisions"])
    assert compiled["scorecard"] == source["scorecard"]  # the compiled fold scores the same


def test_a_stale_build_is_not_loaded_and_says_so(build: Path, tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    shutil.copytree(build, stale)
    manifest = json.loads((stale / native.MANIFEST).read_text())
    manifest["digest"] = "0" * 64  # built from other sources than these
    (stale / native.MANIFEST).write_text(json.dumps(manifest))
    result, stderr = _backtest(tmp_path, PEGBOT_NATIVE_DIR=str(stale), PEGBOT_NATIVE="1")
    assert result["status"] == "stale"
    assert all(str(f).endswith(".py") for f in result["files"])  # type: ignore[attr-defined]
    assert "stale" in stderr and "make native" in stderr

    (stale / native.MANIFEST).write_text("{not json")
    result, stderr = _backtest(tmp_path, PEGBOT_NATIVE_DIR=str(stale), PEGBOT_NATIVE="1")
    assert result["status"] == "stale" and "unreadable manifest" in stderr

    result, stderr = _backtest(
        tmp_path, PEGBOT_NATIVE_DIR=str(tmp_path / "none"), PEGBOT_NATIVE="1"
    )
    assert result["status"] == "stale" and "no native build" in stderr


def test_the_decision_path_tests_pass_compiled(build: Path) -> None:
    # The same unit tests, against the compiled modules: mypyc checks types at run time and
    # its classes take no new attributes, so what passes as source must pass compiled.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/unit/backtest",
            "tests/unit/execution",
            "tests/unit/scorecard",
            "tests/unit/strategies",
        ],
        cwd=ROOT,
        env={**os.environ, "PEGBOT_NATIVE_DIR": str(build), "PEGBOT_NATIVE": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    check = _python(
        "from pegbot import native; print(native.status())",
        PEGBOT_NATIVE_DIR=str(build),
        PEGBOT_NATIVE="1",
    )
    assert check.stdout.strip() == "native"
