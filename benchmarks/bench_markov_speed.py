"""Markov order 1 on a million paths: crm-research against ChannelAttribution, and against itself before.

Run on demand in the reference environment (ChannelAttribution is installed there):
    .bench-venv/bin/python benchmarks/bench_markov_speed.py [--paths 1000000] [--rounds 5]

Input: ``bench_attribution.make_paths`` (a path table of ``--paths`` rows, 12 channels, lengths
1..20, 10.5 touches per path, almost every path distinct, an object column as ``pd.read_csv``
gives). Timed in one process, alternating, after one untimed call of each (the order rotates
every round):

* **crm-research** -- ``MarkovAttribution(order=1).fit(table)`` end to end: reading the path
  strings (``path_data``), the transition counts and the exact absorbing-chain solve with one
  removal per channel;
* **crm-research, paths read once** -- ``MarkovAttribution(order=1).fit(data)`` on the
  ``PathData`` read once (what ``compare_models``, ``bootstrap`` and a second model reuse), and
  one bootstrap replicate (``_attribute`` on the kept preparation);
* **ChannelAttribution** -- ``markov_model(table, "path", "total_conversions",
  var_value="total_conversion_value", var_null="total_null", order=1, sep=">", ncore=1,
  flg_pro=False)``, its default convergence settings, seed = round number (its ``sep=">"``
  with names trimmed reads ``"a > b"`` as ours does with ``" > "``);
* **previous crm-research** -- the ``pathdata``, ``base`` and ``markov`` modules of commit
  ``PREVIOUS`` (``git show``), loaded beside the current ones.

Figures are medians over the rounds of wall seconds and of this process's CPU seconds; the
1-minute load average is printed before and after (2 shared cores). **Asserted**: the current
credits (conversions, value, removal effects), conversion probability, expected value and
transition table equal the previous implementation's to 1e-9 (relative), on this input, on
``make_paths(100_000, seed=1)``, on the hand-written export of the exactness tests and on the
small synthetic company's journey table.

Output: a markdown section on stdout (for benchmarks/results.md).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_attribution import make_paths  # noqa: E402
from side_by_side import alternate  # noqa: E402

PREVIOUS = "5a3f836"  # the last commit with the Arrow split_pattern reading and the bincount chain


def previous_markov():
    """``MarkovAttribution`` and ``path_data`` of commit PREVIOUS, loaded as separate modules."""
    mods = {}
    for name in ("pathdata", "base", "markov"):
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{PREVIOUS}:src/crm_research/attribution/{name}.py"],
                             check=True, capture_output=True, text=True).stdout
        for dep in ("pathdata", "base"):
            src = src.replace(f"crm_research.attribution.{dep} import", f"_previous_{dep} import")
        mod = types.ModuleType(f"_previous_{name}")
        sys.modules[mod.__name__] = mod
        exec(compile(src, f"{PREVIOUS}:{name}.py", "exec"), mod.__dict__)
        mods[name] = mod
    return mods["markov"].MarkovAttribution, mods["pathdata"].path_data


def same_fit(new, old, tol: float = 1e-9) -> dict:
    """Largest relative difference of every fitted number; raises when one exceeds ``tol``."""
    out = {}
    a, b = new.credits_, old.credits_
    assert a["channel"].tolist() == b["channel"].tolist()
    for col in ("conversions", "value", "share", "removal_effect", "value_removal_effect"):
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        out[col] = float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300))) if len(x) else 0.0
    for att in ("conversion_probability_", "expected_value_"):
        x, y = getattr(new, att), getattr(old, att)
        out[att] = abs(x - y) / max(abs(y), 1e-300)
    ta, tb = new.transitions_, old.transitions_
    assert ta[["from_state", "to_state"]].equals(tb[["from_state", "to_state"]])
    for col in ("count", "probability"):
        x, y = ta[col].to_numpy(float), tb[col].to_numpy(float)
        out[f"transitions.{col}"] = float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300)))
    bad = {k: v for k, v in out.items() if not v <= tol}
    assert not bad, f"differs from {PREVIOUS}: {bad}"
    return out


def test_tables() -> dict[str, pd.DataFrame]:
    """The path tables of the exactness tests: a hand-written export with loops and repeats
    (``tests/test_needs_attribution.py``) and the journey table of the small synthetic company."""
    from crm_research import synthetic
    from crm_research.attribution import paths

    export = pd.DataFrame({
        "path": ["email > search", "display > email > display", "search", "display",
                 "email > email > search > email", ""],
        "total_conversions": [5, 1, 4, 0, 2, 3], "total_conversion_value": [500, 40, 300, 0, 90, 120],
        "total_null": [2, 6, 3, 9, 1, 30]})
    tables, _, _ = synthetic.generate(2_000, seed=11)
    journeys = paths(tables["events"], tables["orders"], tables["customers"], as_of="2026-01-01")
    return {"hand-written export with loops": export,
            f"synthetic company journeys ({len(journeys):,})": journeys}


def main() -> None:
    from crm_research.attribution import MarkovAttribution, path_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-ca", action="store_true", help="skip ChannelAttribution (equality checks only)")
    args = ap.parse_args()
    Prev, prev_path_data = previous_markov()

    checks = {}
    for label, table in {"make_paths(100,000)": make_paths(100_000, seed=1), **test_tables()}.items():
        checks[label] = same_fit(MarkovAttribution(1).fit(table), Prev(1).fit(table))

    table = make_paths(args.paths)
    data = path_data(table)
    model = MarkovAttribution(1)
    prep = model._prepare(data)
    model._attribute(prep, data.conv, data.null, data.value)
    fns = {
        "crm-research": lambda r: MarkovAttribution(1).fit(table),
        "crm-research, paths read once": lambda r: MarkovAttribution(1).fit(data),
        "crm-research, one bootstrap replicate": lambda r: model._attribute(prep, data.conv, data.null, data.value),
        f"crm-research {PREVIOUS} (previous)": lambda r: Prev(1).fit(table),
    }
    if not args.no_ca:
        from ChannelAttribution import markov_model

        def ca(r):
            with contextlib.redirect_stdout(io.StringIO()):
                return markov_model(table, "path", "total_conversions", var_value="total_conversion_value",
                                    var_null="total_null", order=1, sep=">", seed=r, ncore=1, verbose=False,
                                    flg_pro=False)
        fns["ChannelAttribution markov_model (ncore=1)"] = ca
    load0 = os.getloadavg()
    stats = alternate(fns, args.rounds)["stats"]
    load1 = os.getloadavg()
    checks[f"make_paths({args.paths:,})"] = same_fit(MarkovAttribution(1).fit(table), Prev(1).fit(table))

    ours = stats["crm-research"]
    print(f"### Markov order 1, {args.paths:,} paths ({len(data.tokens):,} touches, {len(data.channels)} channels)\n")
    print(f"{args.rounds} alternating rounds after one untimed call each; medians. Load average (1, 5, 15 min) "
          f"{load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} before, {load1[0]:.1f} / {load1[1]:.1f} / "
          f"{load1[2]:.1f} after; {os.cpu_count()} cores.\n")
    print("| implementation | wall s | CPU s | x crm-research (wall) | x crm-research (CPU) | CPU s of the rounds |")
    print("|---|---:|---:|---:|---:|---|")
    for name, s in stats.items():
        print(f"| {name} | {s['wall']:.3f} | {s['cpu']:.3f} | {s['wall'] / ours['wall']:.2f} | "
              f"{s['cpu'] / ours['cpu']:.2f} | {', '.join(f'{c:.2f}' for c in s['cpus'])} |")
    print("\nEquality with the previous implementation (largest relative difference, asserted <= 1e-9):\n")
    for label, c in checks.items():
        print(f"- {label}: " + (c if isinstance(c, str) else ", ".join(f"{k} {v:.1e}" for k, v in c.items())))


if __name__ == "__main__":
    main()
