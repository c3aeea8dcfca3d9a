"""The decision path and the scorecard compiled with mypyc: built, and loaded only when fresh.

A backtest spends its time in the Python decision step (the strategy, the reconciler's
diff, the order tracker, the shell around them): one per fill on most tapes. mypyc compiles
those modules, type-checked as they are, into C extensions of the same source (one
definition, the one the live bot runs), and a backtest whose time is the decision path runs
typically 10–30 % faster (figures in ``benchmarks/README.md``). The strategy stays plain
Python. The scorecard that scores a backtest's records afterwards (``pegbot.scorecard``'s
events, fold, card and records; about as long again as the replay on most tapes) is
compiled too.

The build is opt-in twice: built with ``make native`` (or ``pegbot native --build``) outside
the source tree (``build/native/`` beside the package, or ``$PEGBOT_NATIVE_DIR``), and loaded
only by a process started with ``PEGBOT_NATIVE=1`` (a backtest, a sweep, a benchmark): the
live bot and the test suite run the source unless asked. The manifest holds the digest of
every ``pegbot`` source file the build came from; :func:`install` loads the compiled modules
only when it equals the sources' now. An edit anywhere in ``pegbot`` (a constant mypyc
inlined, a class it assumed) makes the whole build stale, and the source runs, with a warning.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: What is compiled: the shared decision path, the backtest's shell around it, and the
#: scorecard its results are scored by (after the replay, as long again on most tapes).
MODULES = (
    "pegbot.execution.decision",
    "pegbot.execution.orders",
    "pegbot.execution.reconciler",
    "pegbot.backtest.book",
    "pegbot.backtest.engine",
    "pegbot.backtest.fair",
    "pegbot.backtest.venue",
    "pegbot.scorecard.events",
    "pegbot.scorecard.fold",
    "pegbot.scorecard.card",
    "pegbot.scorecard.records",
)
MANIFEST = "manifest.json"
_PACKAGE = Path(__file__).resolve().parent


def build_dir() -> Path:
    """Where the build is read from and written to."""
    where = os.environ.get("PEGBOT_NATIVE_DIR")
    return Path(where) if where else _PACKAGE.parent / "build" / "native"


def source_digest() -> str:
    """SHA-256 over every ``pegbot`` source file (path and content) and the interpreter's ABI."""
    h = hashlib.sha256(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules of a fresh build (first on ``sys.meta_path``)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, file)


_state = "source"


def status() -> str:
    """``native``, ``source`` (not asked for) or ``stale`` (asked for; missing or old)."""
    return _state


def install() -> str:
    """With ``PEGBOT_NATIVE=1``, load the build's modules from now on if it is fresh."""
    global _state
    if os.environ.get("PEGBOT_NATIVE") != "1" or _state == "native":
        return _state
    where = build_dir()
    files, why = _fresh_build(where)
    if files is None:
        _state = "stale"
        _warn("native_build_stale", "native build %s: %s; running the source", where, why)
    elif any(name in sys.modules for name in MODULES):
        # Too late to swap: two versions of one module's classes must never meet.
        _warn("native_build_late", "native build not loaded: its modules are imported already")
    else:
        sys.meta_path.insert(0, _Finder(files))
        _state = "native"
    return _state


def _fresh_build(where: Path) -> tuple[dict[str, Path] | None, str]:
    # The build's files when it came from these sources, else None and why not.
    try:
        manifest = json.loads((where / MANIFEST).read_text())
    except FileNotFoundError:
        return None, "there is no native build (make native)"
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest ({exc})"
    try:
        files = {name: where / rel for name, rel in manifest["files"].items()}
        built_from = manifest["digest"]
    except (KeyError, TypeError, AttributeError) as exc:
        return None, f"unreadable manifest ({exc!r})"
    if built_from != source_digest():
        return None, "stale: pegbot's sources changed since it was built (make native)"
    if not all(f.is_file() for f in files.values()):
        return None, "files missing (make native)"
    return files, ""


def _warn(event: str, msg: str, *args: object) -> None:
    # The event log is imported only here: `import pegbot` stays light without a build.
    from pegbot.logging import event_log

    event_log(__name__).warning(event, msg, *args)


def build(out: Path) -> None:
    """Compile :data:`MODULES` with mypyc into ``out`` and write the manifest last."""
    import shutil
    import tempfile

    from mypyc.build import mypycify
    from setuptools import Distribution

    root = _PACKAGE.parent
    digest = source_digest()
    sources = [str(Path(*name.split(".")).with_suffix(".py")) for name in MODULES]
    out = out.resolve()
    if (out / MANIFEST).exists():
        (out / MANIFEST).unlink()  # a half-replaced build must never look fresh
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as temp:
        os.chdir(root)  # mypyc names the modules by their paths from here
        try:
            extensions = mypycify(sources, opt_level="3", target_dir=os.path.join(temp, "c"))
            dist = Distribution({"name": "pegbot-native", "ext_modules": extensions})
            cmd = dist.get_command_obj("build_ext")
            cmd.build_lib = os.path.join(temp, "lib")  # type: ignore[attr-defined]
            cmd.build_temp = os.path.join(temp, "obj")  # type: ignore[attr-defined]
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
        if source_digest() != digest:
            raise RuntimeError("pegbot's sources changed during the build; build again")
        built = Path(temp, "lib")
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        files: dict[str, str] = {}
        out.mkdir(parents=True, exist_ok=True)
        for so in sorted(built.rglob(f"*{suffix}")):
            rel = so.relative_to(built)
            name = rel.as_posix()[: -len(suffix)].replace("/", ".")
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(so, out / rel)
            files[name] = rel.as_posix()
    missing = set(MODULES) - set(files)
    if missing:
        raise RuntimeError(f"mypyc built no extension for {sorted(missing)}")
    manifest = {"digest": digest, "files": files, "modules": list(MODULES)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
