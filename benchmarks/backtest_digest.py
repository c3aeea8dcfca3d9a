"""What a backtest did, as digests: the gate every backtest speed change must pass unchanged.

Runs a scenario (the cross-check market maker by default) on the tapes of
``bench_backtest.py`` and hashes the venue's records — every order event (sent, acked,
cancelled, filled, ...) with its time, client id, side, price and size; every fill with its
fee and what it left; every quote snapshot — and the shell's end account. Two code versions
that make the same decisions give the same digests; the printed counts say where to look when
they do not. Decisions (strategy calls) are printed beside the digest, not in it: a change of
when the strategy is asked must still give the same orders and fills.

    .venv/bin/python benchmarks/backtest_digest.py [--inputs kgst,thin-quiet,...]
        [--rows 2000000] [--scenario backtests/hftbacktest_crosscheck.toml] [--set k=v ...]
        [--strategy-inputs fair,inventory,best_prices] [--save F.json | --check F.json]

``--check`` compares with a file ``--save`` wrote and exits 1 on any difference.
``--strategy-inputs`` overrides what the strategy declares it reads (an experiment on when
the strategy is asked; ``all`` for every input).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from bench_backtest import INPUTS, PARAMS, SCENARIO, _tape


def _hash_table(table: dict[str, np.ndarray[Any, Any]]) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    for name, col in table.items():
        h.update(name.encode())
        n = len(col)
        if col.dtype == object:
            h.update("\x1f".join(map(str, col.tolist())).encode())
        else:
            h.update(np.ascontiguousarray(col.astype(np.int64)).tobytes())
    return h.hexdigest()[:16], n


def digest(tape: Path, scenario: Path, overrides: list[str], inputs: str | None) -> dict[str, Any]:
    """Run the scenario on ``tape``; the digests of its records, counts and decisions."""
    from pegbot.backtest.scenario import build_backtest, load_scenario
    from pegbot.strategy import ALL_INPUTS, Input

    sc, where = load_scenario(scenario, overrides)
    bt = build_backtest(sc, where, tape=tape)
    if inputs:
        chosen = ALL_INPUTS if inputs == "all" else frozenset(Input(x) for x in inputs.split(","))
        # The engine reads the declaration when it is built: override it on the class (this
        # process only) and build again.
        type(bt.strategy).inputs = chosen
        bt = build_backtest(sc, where, tape=tape)
    run = bt.run()
    cols = run.venue.columns()
    out: dict[str, Any] = {"decisions": run.evaluations}
    for name in ("orders", "fills", "quotes"):
        out[name], out[f"n_{name}"] = _hash_table(cols[name])
    out["account"] = [run.local.base_units, run.local.cash_tu, str(run.venue.account.fees)]
    out["wall_s"] = round(run.wall_s, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", default="kgst,kgst-like,thin-quiet,busy,bursts,spot-slice")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--scenario", default=str(SCENARIO))
    ap.add_argument("--set", action="append", default=[], help="scenario override key=value")
    ap.add_argument("--strategy-inputs", help="what the strategy declares it reads")
    ap.add_argument("--save")
    ap.add_argument("--check")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    for key in args.inputs.split(","):
        if key not in INPUTS:
            raise SystemExit(f"unknown input {key!r}; one of {', '.join(INPUTS)}")
        made = _tape(key, args.rows)
        if isinstance(made, str):
            print(made, file=sys.stderr)
            continue
        _, tape, params = made
        overrides = list(args.set)
        if Path(args.scenario).resolve() == SCENARIO.resolve():
            size, limit = PARAMS[params]
            overrides = [f"strategy.params.size_lots={size}",
                         f"strategy.params.limit_lots={limit}", *overrides]  # fmt: skip
        r = digest(tape, Path(args.scenario), overrides, args.strategy_inputs)
        results[f"{key}:{tape.name}"] = r
        print(key, json.dumps(r), flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=1))
    if args.check:
        ref = json.loads(Path(args.check).read_text())
        bad = 0
        for k, r in results.items():
            want = ref.get(k)
            if want is None:
                print(f"{k}: not in {args.check}")
                continue
            diff = [f for f in ("orders", "fills", "quotes", "account") if r[f] != want[f]]
            if r["decisions"] != want["decisions"]:
                print(f"{k}: decisions {want['decisions']} -> {r['decisions']} (not in the gate)")
            print(f"{k}: {'SAME' if not diff else 'DIFFERENT ' + ','.join(diff)}")
            bad += bool(diff)
        raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
