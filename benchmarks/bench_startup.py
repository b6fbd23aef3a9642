"""Notebook start-up: the CPU cost of each notebook's imports, and the demo run end to end.

Imports: each notebook's import cell (its first code cell after the parameters) is cut into its
``import`` statements; for each notebook two programs are timed in fresh interpreters, its
package imports alone (``from crm_research ...``) and all its imports (matplotlib, IPython,
scikit-learn's ``adjusted_rand_score`` in 02 ...), against ``import pandas, numpy``. CPU time
(user + system of the child) of ``python -c``, several alternating rounds, medians.

Demo: ``crm-research run -p as_of 2026-01-01`` into a new folder, wall time and per-notebook
durations from the manifest; with ``--compare DIR`` the new ``tables/`` are compared byte for byte
with an earlier run's.

Usage::

    .venv/bin/python benchmarks/bench_startup.py imports --rounds 7
    .venv/bin/python benchmarks/bench_startup.py demo --out /tmp/h5demo_after --compare /tmp/h5demo_before/run-...

Prints Markdown tables; nothing is written except the demo's run folder.
"""

from __future__ import annotations

import argparse
import ast
import filecmp
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
HEAVY = ("scipy.stats", "scipy.optimize", "sklearn", "lifelines", "statsmodels", "pandera", "matplotlib.pyplot",
         "pyspark")


def import_lines(notebook: Path, package_only: bool) -> str:
    """The import statements of the notebook's import cell (package ones only if asked)."""
    cells = [c for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    src = "".join(cells[1]["source"])
    lines = src.splitlines()
    out = []
    for node in ast.parse(src).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if package_only and not (mod or "").startswith("crm_research"):
                continue
            out.append("\n".join(lines[node.lineno - 1: node.end_lineno]))
    return "\n".join(out)


ENV = dict(os.environ)


def cpu_of(code: str) -> float:
    """CPU seconds (user + system) of a fresh ``python -c code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([PYTHON, "-c", code], cwd=ROOT, check=True, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_loaded(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([PYTHON, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True,
                         env=ENV).stdout
    return [m for m in out.strip().split(",") if m]


def bench_imports(rounds: int) -> None:
    programs = {"pandas+numpy": "import pandas, numpy"}
    for nb in NOTEBOOKS:
        programs[f"{nb.stem} package"] = import_lines(nb, True)
        programs[f"{nb.stem} all"] = import_lines(nb, False)
    times: dict[str, list[float]] = {k: [] for k in programs}
    for _ in range(rounds):  # alternating: every program once per round
        for name, code in programs.items():
            times[name].append(cpu_of(code))
    base = statistics.median(times["pandas+numpy"])
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min)\n")
    print(f"| imports | CPU s (median of {rounds}) | x pandas+numpy | heavy modules loaded |")
    print("|---|---:|---:|---|")
    for name, code in programs.items():
        med = statistics.median(times[name])
        heavy = ", ".join(heavy_loaded(code)) if name != "pandas+numpy" else ""
        print(f"| {name} | {med:.2f} | {med / base:.2f} | {heavy} |")


def bench_demo(out: Path, compare: Path | None) -> None:
    load = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "crm-research"), "run", "-p", "as_of", "2026-01-01", "--out", str(out)],
                   cwd=ROOT, check=True)
    wall = time.perf_counter() - t0
    run = max(out.glob("run-*"), key=lambda p: p.stat().st_mtime)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    print(f"load average before: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; after: "
          f"{os.getloadavg()[0]:.2f}\n")
    print(f"demo: {wall:.1f} s wall (runner's own duration {manifest['duration_s']:.1f} s), run folder {run}\n")
    print("| notebook | s |\n|---|---:|")
    for m in manifest["notebooks"]:
        print(f"| {m['name']} | {m['duration_s']:.1f} |")
    if compare is not None:
        cmp = filecmp.dircmp(compare / "tables", run / "tables")
        same = not (cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files)
        n = len(list((run / "tables").iterdir()))
        print(f"\ntables/ against {compare}: {'identical' if same else 'DIFFERENT'} ({n} files)"
              + ("" if same else f": {cmp.diff_files + cmp.left_only + cmp.right_only}"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("imports")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--src", type=Path, help="import the package from this src/ folder (e.g. an older commit's, "
                   "from `git archive`), with the current notebooks' import cells")
    p = sub.add_parser("demo")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--compare", type=Path)
    args = parser.parse_args(argv)
    if args.what == "imports":
        if args.src is not None:
            ENV["PYTHONPATH"] = str(args.src.resolve())
        bench_imports(args.rounds)
    else:
        bench_demo(args.out, args.compare)


if __name__ == "__main__":
    sys.exit(main())
